// Number literals (bit exact) and the lexer.

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "wasm/text/lexer.h"

namespace rw::wasm::text {
namespace {

uint32_t f32(const char* text) {
  bool range = false;
  auto v = parse_f32(text, &range);
  EXPECT_TRUE(v.has_value()) << text << (range ? " (out of range)" : " (malformed)");
  return v.value_or(0xDEADBEEF);
}

uint64_t f64(const char* text) {
  bool range = false;
  auto v = parse_f64(text, &range);
  EXPECT_TRUE(v.has_value()) << text << (range ? " (out of range)" : " (malformed)");
  return v.value_or(0xDEADBEEF);
}

bool f32_out_of_range(const char* text) {
  bool range = false;
  return !parse_f32(text, &range) && range;
}

bool f64_out_of_range(const char* text) {
  bool range = false;
  return !parse_f64(text, &range) && range;
}

TEST(FloatLiterals, HexF32EdgeCases) {
  EXPECT_EQ(f32("0x1p-149"), 0x00000001u);
  EXPECT_EQ(f32("0x1p-126"), 0x00800000u);
  EXPECT_EQ(f32("0x1.fffffep127"), 0x7F7FFFFFu);
  EXPECT_EQ(f32("-0x0p0"), 0x80000000u);
  EXPECT_EQ(f32("0x0p0"), 0x00000000u);
  EXPECT_EQ(f32("0x1.8p3"), 0x41400000u);  // 12.0
  EXPECT_EQ(f32("0x1P+3"), 0x41000000u);
  EXPECT_EQ(f32("0x1.p1"), 0x40000000u);
  EXPECT_EQ(f32("0x1_0p0"), 0x41800000u);  // 16.0
  EXPECT_EQ(f32("0x10"), 0x41800000u);
}

TEST(FloatLiterals, HexF32RoundsToNearestEven) {
  // 1 + 2^-24 is halfway between 1 and the next float: ties go to the even mantissa (1.0).
  EXPECT_EQ(f32("0x1.000001p0"), 0x3F800000u);
  // Any bit beyond the halfway point rounds up, however far down it is.
  EXPECT_EQ(f32("0x1.0000010000000000000000001p0"), 0x3F800001u);
  // 1 + 3*2^-24: halfway between odd 1+2^-23 and even 1+2^-22 -> up.
  EXPECT_EQ(f32("0x1.000003p0"), 0x3F800002u);
  // Subnormals: half the smallest subnormal ties to 0, 1.5 of it rounds up to 2 units.
  EXPECT_EQ(f32("0x1p-150"), 0x00000000u);
  EXPECT_EQ(f32("0x1.8p-150"), 0x00000001u);
  EXPECT_EQ(f32("0x3p-150"), 0x00000002u);
  // Rounding up from the largest subnormal gives the smallest normal.
  EXPECT_EQ(f32("0x1.fffffffp-127"), 0x00800000u);
  // Tiny values go to zero instead of failing.
  EXPECT_EQ(f32("0x1p-1000000"), 0x00000000u);
}

TEST(FloatLiterals, HexOverflowIsOutOfRange) {
  EXPECT_TRUE(f32_out_of_range("0x1p128"));
  EXPECT_TRUE(f32_out_of_range("0x1.ffffffp127"));  // rounds up to 2^128
  EXPECT_EQ(f32("0x1.fffffefp127"), 0x7F7FFFFFu);   // below the halfway point: stays finite
  EXPECT_TRUE(f32_out_of_range("-0x1p999999999999"));
  EXPECT_TRUE(f64_out_of_range("0x1p1024"));
  EXPECT_TRUE(f64_out_of_range("0x1.fffffffffffff8p1023"));
}

TEST(FloatLiterals, HexF64) {
  EXPECT_EQ(f64("0x1p-1074"), 0x0000000000000001ull);
  EXPECT_EQ(f64("0x1.fffffffffffffp1023"), 0x7FEFFFFFFFFFFFFFull);
  EXPECT_EQ(f64("0x1.fffffffffffff8p0"), 0x4000000000000000ull);  // tie, odd -> up to 2
  EXPECT_EQ(f64("0x1.00000000000008p0"), 0x3FF0000000000000ull);  // tie, even -> down
  EXPECT_EQ(f64("-0x0.0p0"), 0x8000000000000000ull);
}

TEST(FloatLiterals, DecimalRoundsCorrectly) {
  EXPECT_EQ(f32("16777217"), 0x4B800000u);  // 2^24 + 1: tie to even (2^24)
  EXPECT_EQ(f32("16777219"), 0x4B800002u);  // tie to even (2^24 + 4)
  EXPECT_EQ(f32("0.1"), 0x3DCCCCCDu);       // rounded as f32 directly, not via f64
  EXPECT_EQ(f32("1_000.000_1"), f32("1000.0001"));
  EXPECT_EQ(f32("1.e1"), 0x41200000u);
  EXPECT_EQ(f32("-1E-1"), 0xBDCCCCCDu);
  EXPECT_EQ(f32("3.4028235e38"), 0x7F7FFFFFu);
  // Exactly halfway between the largest float and 2^128: the tie goes to the even side, infinity.
  EXPECT_TRUE(f32_out_of_range("340282356779733661637539395458142568448"));
  EXPECT_EQ(f32("340282356779733661637539395458142568447"), 0x7F7FFFFFu);
  EXPECT_TRUE(f32_out_of_range("1e39"));
  EXPECT_EQ(f64("9007199254740993"), 0x4340000000000000ull);  // 2^53 + 1: tie to even
  EXPECT_EQ(f64("0.1"), 0x3FB999999999999Aull);
  EXPECT_EQ(f64("2.2250738585072011e-308"), 0x000FFFFFFFFFFFFFull);
  EXPECT_EQ(f64("4.9e-324"), 0x0000000000000001ull);
  EXPECT_EQ(f64("1e-400"), 0x0000000000000000ull);
  EXPECT_TRUE(f64_out_of_range("1e309"));
}

TEST(FloatLiterals, InfinityAndNan) {
  EXPECT_EQ(f32("inf"), 0x7F800000u);
  EXPECT_EQ(f32("-inf"), 0xFF800000u);
  EXPECT_EQ(f32("+inf"), 0x7F800000u);
  EXPECT_EQ(f32("nan"), 0x7FC00000u);
  EXPECT_EQ(f32("-nan"), 0xFFC00000u);
  EXPECT_EQ(f32("nan:0x200000"), 0x7FA00000u);
  EXPECT_EQ(f32("-nan:0x7fffff"), 0xFFFFFFFFu);
  EXPECT_EQ(f64("nan"), 0x7FF8000000000000ull);
  EXPECT_EQ(f64("-nan:0x1"), 0xFFF0000000000001ull);
  EXPECT_EQ(f64("nan:0xf_ffff_ffff_ffff"), 0x7FFFFFFFFFFFFFFFull);
  EXPECT_TRUE(f32_out_of_range("nan:0x0"));
  EXPECT_TRUE(f32_out_of_range("nan:0x800000"));
  EXPECT_TRUE(f64_out_of_range("nan:0x10000000000000"));
}

TEST(FloatLiterals, MalformedShapes) {
  for (const char* bad : {"", "-", "0x", "1e", "1e+", ".5", "1._5", "1__0", "_1", "1_", "0x1p",
                          "0x.8", "infinity", "nan:0x", "nan:1", "1.5f", "0x1.8q3", "--1"}) {
    bool range = true;
    EXPECT_FALSE(parse_f32(bad, &range).has_value()) << bad;
    EXPECT_FALSE(range) << bad;
    EXPECT_FALSE(parse_f64(bad).has_value()) << bad;
  }
}

TEST(IntLiterals, RangesAndSeparators) {
  EXPECT_EQ(parse_i32("4294967295"), 0xFFFFFFFFu);
  EXPECT_EQ(parse_i32("-2147483648"), 0x80000000u);
  EXPECT_EQ(parse_i32("-1"), 0xFFFFFFFFu);
  EXPECT_EQ(parse_i32("+0x7fff_ffff"), 0x7FFFFFFFu);
  EXPECT_EQ(parse_i32("1_000"), 1000u);
  bool range = false;
  EXPECT_FALSE(parse_i32("4294967296", &range).has_value());
  EXPECT_TRUE(range);
  EXPECT_FALSE(parse_i32("-2147483649", &range).has_value());
  EXPECT_TRUE(range);
  EXPECT_FALSE(parse_i32("99999999999999999999999", &range).has_value());
  EXPECT_TRUE(range);
  EXPECT_EQ(parse_i64("-9223372036854775808"), 0x8000000000000000ull);
  EXPECT_EQ(parse_i64("18446744073709551615"), 0xFFFFFFFFFFFFFFFFull);
  EXPECT_FALSE(parse_i64("18446744073709551616", &range).has_value());
  EXPECT_TRUE(range);
  for (const char* bad : {"0x_1", "1__0", "_1", "1_", "0x", "1.0", "1e3", "abc", "- 1"}) {
    EXPECT_FALSE(parse_i32(bad, &range).has_value()) << bad;
    EXPECT_FALSE(range) << bad;
  }
  EXPECT_EQ(parse_u32("0x10"), 16u);
  EXPECT_FALSE(parse_u32("+1").has_value());
  EXPECT_FALSE(parse_u32("-0").has_value());
}

TEST(Lexer, TokenKindsAndStrings) {
  auto toks = tokenize(R"src(( $x $"quoted id" "a\n\t\\\'\"\41\u{1F600}" i32.add -1.5 ) ;; c
    (; nested (; block ;) comment ;) offset=4 "a"x))src");
  ASSERT_EQ(toks.size(), 11u);
  EXPECT_EQ(toks[0].kind, TokenKind::LParen);
  EXPECT_EQ(toks[1].kind, TokenKind::Id);
  EXPECT_EQ(toks[1].value, "x");
  EXPECT_EQ(toks[2].kind, TokenKind::Id);
  EXPECT_EQ(toks[2].value, "quoted id");
  EXPECT_EQ(toks[3].kind, TokenKind::String);
  EXPECT_EQ(toks[3].value, "a\n\t\\'\"A\xF0\x9F\x98\x80");
  EXPECT_EQ(toks[4].kind, TokenKind::Keyword);
  EXPECT_EQ(toks[5].kind, TokenKind::Number);
  EXPECT_EQ(toks[6].kind, TokenKind::RParen);
  EXPECT_EQ(toks[7].kind, TokenKind::Keyword);
  EXPECT_EQ(toks[7].text, "offset=4");
  EXPECT_EQ(toks[8].kind, TokenKind::Reserved);  // a string glued to id characters
  EXPECT_EQ(toks[9].kind, TokenKind::RParen);
  EXPECT_EQ(toks[10].kind, TokenKind::Eof);
}

TEST(Lexer, LineCommentsEndAtCarriageReturnToo) {
  auto toks = tokenize("a ;; comment\rb ;; comment\r\nc ;; last");
  ASSERT_EQ(toks.size(), 4u);
  EXPECT_EQ(toks[1].text, "b");
  EXPECT_EQ(toks[2].text, "c");
}

TEST(Lexer, RawBytesInStrings) {
  auto toks = tokenize("\"\\00\\ff\"");
  ASSERT_EQ(toks[0].kind, TokenKind::String);
  EXPECT_EQ(toks[0].value, std::string("\x00\xff", 2));
}

void expect_lex_error(const std::string& source, const std::string& reason, size_t offset) {
  try {
    tokenize(source);
    ADD_FAILURE() << "no error for " << source;
  } catch (const TextError& e) {
    EXPECT_NE(e.reason.find(reason), std::string::npos) << e.reason;
    EXPECT_EQ(e.offset, offset) << source;
  }
}

TEST(Lexer, Errors) {
  expect_lex_error("(func \"abc", "unclosed string", 6);
  expect_lex_error("\"a\nb\"", "unclosed string", 0);
  expect_lex_error("(; (; ;)", "unclosed comment", 0);
  expect_lex_error("\"\\q\"", "illegal escape", 1);
  expect_lex_error("\"\\u{110000}\"", "illegal escape", 1);
  expect_lex_error("\"\\u{d800}\"", "illegal escape", 1);
  expect_lex_error("\"\\u{}\"", "illegal escape", 1);
  expect_lex_error("\"\\4\"", "illegal escape", 1);
  expect_lex_error("\"a\x01\"", "control character", 2);
  expect_lex_error("(func [)", "unexpected character", 6);
  expect_lex_error("(func \xc3\xa9)", "unexpected character", 6);
}

TEST(Lexer, LineColumn) {
  EXPECT_EQ(line_col("ab\ncd\n", 0), "1:1");
  EXPECT_EQ(line_col("ab\ncd\n", 4), "2:2");
  EXPECT_EQ(format_text_error("x\ny", TextError{2, "oops"}), "2:1: oops");
}

}  // namespace
}  // namespace rw::wasm::text
