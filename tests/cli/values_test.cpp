// Parsing and printing of --invoke arguments and results.

#include "cli/values.h"

#include <gtest/gtest.h>

#include <cmath>

namespace rw::cli {
namespace {

Value ok(ValType type, std::string_view text) {
  auto v = parse_value(type, text);
  EXPECT_TRUE(v.ok()) << text << ": " << (v.ok() ? "" : v.error().message);
  return v.ok() ? v.value() : Value();
}

std::string error(ValType type, std::string_view text) {
  auto v = parse_value(type, text);
  EXPECT_FALSE(v.ok()) << text << " parsed";
  return v.ok() ? "" : v.error().message;
}

TEST(ParseValue, I32DecimalHexAndRanges) {
  EXPECT_EQ(ok(ValType::I32, "42").as_i32(), 42);
  EXPECT_EQ(ok(ValType::I32, "-1").as_i32(), -1);
  EXPECT_EQ(ok(ValType::I32, "+7").as_i32(), 7);
  EXPECT_EQ(ok(ValType::I32, "4294967295").as_i32(), -1);  // unsigned range
  EXPECT_EQ(ok(ValType::I32, "-2147483648").i32, 0x80000000u);
  EXPECT_EQ(ok(ValType::I32, "0xff").as_i32(), 255);
  EXPECT_EQ(ok(ValType::I32, "0XFFFFFFFF").as_i32(), -1);
  EXPECT_EQ(ok(ValType::I32, "-0x10").as_i32(), -16);
  EXPECT_EQ(ok(ValType::I32, "1_000_000").as_i32(), 1000000);
  EXPECT_EQ(ok(ValType::I32, "0").type, ValType::I32);
}

TEST(ParseValue, I32Errors) {
  EXPECT_NE(error(ValType::I32, "4294967296").find("out of range"), std::string::npos);
  EXPECT_NE(error(ValType::I32, "-2147483649").find("out of range"), std::string::npos);
  EXPECT_NE(error(ValType::I32, "0x100000000").find("out of range"), std::string::npos);
  EXPECT_NE(error(ValType::I32, "12abc").find("not an integer"), std::string::npos);
  error(ValType::I32, "");
  error(ValType::I32, "-");
  error(ValType::I32, "0x");
  error(ValType::I32, "1.5");
  error(ValType::I32, "_1");
  error(ValType::I32, "1__0");
  error(ValType::I32, "1_");
  error(ValType::I32, " 1");
  error(ValType::I32, "--1");
  EXPECT_NE(error(ValType::I32, "x").find("invalid i32 argument 'x'"), std::string::npos);
}

TEST(ParseValue, I64) {
  EXPECT_EQ(ok(ValType::I64, "-9223372036854775808").i64, 0x8000000000000000ull);
  EXPECT_EQ(ok(ValType::I64, "18446744073709551615").as_i64(), -1);
  EXPECT_EQ(ok(ValType::I64, "0x7fffffffffffffff").as_i64(), INT64_MAX);
  EXPECT_EQ(ok(ValType::I64, "5000000000").as_i64(), 5000000000);
  error(ValType::I64, "18446744073709551616");
  error(ValType::I64, "-9223372036854775809");
}

TEST(ParseValue, Floats) {
  EXPECT_EQ(ok(ValType::F32, "1.5").as_f32(), 1.5f);
  EXPECT_EQ(ok(ValType::F64, "-0.25").as_f64(), -0.25);
  EXPECT_EQ(ok(ValType::F64, "1e300").as_f64(), 1e300);
  EXPECT_EQ(ok(ValType::F64, "0x1p-2").as_f64(), 0.25);
  EXPECT_EQ(ok(ValType::F32, "3").as_f32(), 3.0f);
  EXPECT_EQ(ok(ValType::F64, "-0").f64_bits, 0x8000000000000000ull);
  EXPECT_EQ(ok(ValType::F32, "0.1").f32_bits, 0x3dcccccdu);  // rounded as f32, not via f64
}

TEST(ParseValue, FloatSpecials) {
  EXPECT_EQ(ok(ValType::F32, "inf").f32_bits, 0x7f800000u);
  EXPECT_EQ(ok(ValType::F32, "-inf").f32_bits, 0xff800000u);
  EXPECT_EQ(ok(ValType::F64, "infinity").f64_bits, 0x7ff0000000000000ull);
  EXPECT_EQ(ok(ValType::F64, "+Inf").f64_bits, 0x7ff0000000000000ull);
  EXPECT_EQ(ok(ValType::F32, "nan").f32_bits, 0x7fc00000u);
  EXPECT_EQ(ok(ValType::F32, "-nan").f32_bits, 0xffc00000u);
  EXPECT_EQ(ok(ValType::F64, "nan").f64_bits, 0x7ff8000000000000ull);
  EXPECT_EQ(ok(ValType::F32, "nan:0x1").f32_bits, 0x7f800001u);
  EXPECT_EQ(ok(ValType::F64, "-nan:0x4").f64_bits, 0xfff0000000000004ull);
  error(ValType::F32, "nan:0x800000");  // payload wider than the mantissa
  error(ValType::F32, "nan:0x0");       // that would be infinity
  error(ValType::F32, "nan:12");
  error(ValType::F64, "nan(1)");
}

TEST(ParseValue, FloatErrors) {
  error(ValType::F64, "");
  error(ValType::F64, "abc");
  error(ValType::F64, "1.5x");
  error(ValType::F64, " 1");
  error(ValType::F64, "1e999");
  error(ValType::F32, "1e39");
  error(ValType::F64, "in");
}

TEST(ParseValue, References) {
  Value v = ok(ValType::FuncRef, "null");
  EXPECT_EQ(v.type, ValType::FuncRef);
  EXPECT_TRUE(v.is_null());
  EXPECT_TRUE(ok(ValType::ExternRef, "null").is_null());
  EXPECT_NE(error(ValType::ExternRef, "0x1234").find("only `null`"), std::string::npos);
  error(ValType::V128, "0");
}

TEST(FormatValue, Integers) {
  EXPECT_EQ(format_value(Value::make_i32(-5)), "-5");
  EXPECT_EQ(format_value(Value::make_i32(static_cast<int32_t>(0xffffffffu))), "-1");
  EXPECT_EQ(format_value(Value::make_i64(INT64_MIN)), "-9223372036854775808");
}

TEST(FormatValue, FloatsRoundTrip) {
  EXPECT_EQ(format_value(Value::make_f64(0.1)), "0.1");
  EXPECT_EQ(format_value(Value::make_f32(0.1f)), "0.1");
  EXPECT_EQ(format_value(Value::make_f64(1.5)), "1.5");
  EXPECT_EQ(format_value(Value::make_f64(-0.0)), "-0");
  EXPECT_EQ(format_value(Value::make_f64_bits(0x7ff0000000000000ull)), "inf");
  EXPECT_EQ(format_value(Value::make_f32_bits(0xff800000u)), "-inf");
  EXPECT_EQ(format_value(Value::make_f32_bits(0x7fc00000u)), "nan");
  EXPECT_EQ(format_value(Value::make_f64_bits(0xfff8000000000000ull)), "-nan");
  EXPECT_EQ(format_value(Value::make_f32_bits(0x7fa00000u)), "nan:0x200000");
  for (const char* text : {"3.14159", "1e-300", "123456789", "-2.5e10"}) {
    Value v = ok(ValType::F64, text);
    EXPECT_EQ(ok(ValType::F64, format_value(v)).f64_bits, v.f64_bits) << text;
  }
}

TEST(FormatValue, References) {
  EXPECT_EQ(format_value(Value::make_null(ValType::FuncRef)), "null");
}

}  // namespace
}  // namespace rw::cli
