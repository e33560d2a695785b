#pragma once
// Tokens of the WebAssembly text format (shared by the module parser and the .wast script
// parser), and the literal conversions the text format needs.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rw::wasm::text {

enum class TokenKind : uint8_t {
  LParen,
  RParen,
  Keyword,   // starts with a lowercase letter: "i32.add", "offset=4", "nan:0x1"
  Number,    // starts with a digit or a sign: "42", "-0x1p3", "+inf"
  Id,        // "$name" or "$\"quoted\""; Token::value holds the name without '$'
  String,    // Token::value holds the decoded bytes
  Reserved,  // any other run of id characters and strings; always an error where used
  Eof,
};

struct Token {
  TokenKind kind = TokenKind::Eof;
  uint32_t offset = 0;  // byte offset in the source text
  uint32_t length = 0;
  std::string_view text;  // the raw token text
  std::string value;      // Id: name; String: decoded bytes
};

// An error at a text position. Thrown inside the text parsers and turned into rw::Error at their
// boundaries.
struct TextError {
  size_t offset;
  std::string reason;
};

// "line:col" (both 1-based) of a byte offset in `source`.
std::string line_col(std::string_view source, size_t offset);
// "<line>:<col>: <reason>", the message format of every text error.
std::string format_text_error(std::string_view source, const TextError& error);

// Splits `source` into tokens, ending with one Eof token. Throws TextError on lexical errors
// (unclosed comment or string, bad escape, characters outside the token alphabet).
std::vector<Token> tokenize(std::string_view source);

// Literal conversions. Each returns nullopt when the text is not a literal of that shape or is
// out of range for the type; `out_of_range` (when given) tells the two apart.
struct IntLiteral {
  uint64_t magnitude = 0;
  bool negative = false;
  bool has_sign = false;
};
// Natural or signed integer with optional '_' separators and 0x prefix; nullopt if malformed or
// above 2^64-1 in magnitude.
std::optional<IntLiteral> parse_int_literal(std::string_view text);
// i32/i64 constants accept -2^(N-1)..2^N-1 and are returned as two's complement bits.
std::optional<uint32_t> parse_i32(std::string_view text, bool* out_of_range = nullptr);
std::optional<uint64_t> parse_i64(std::string_view text, bool* out_of_range = nullptr);
// Unsigned 32-bit natural number without sign (indices, limits, alignments).
std::optional<uint32_t> parse_u32(std::string_view text, bool* out_of_range = nullptr);
// Float constants, bit exact: decimal and hex floats rounded to nearest even, inf, nan,
// nan:0xPAYLOAD. Values that round to infinity are out of range.
std::optional<uint32_t> parse_f32(std::string_view text, bool* out_of_range = nullptr);
std::optional<uint64_t> parse_f64(std::string_view text, bool* out_of_range = nullptr);

}  // namespace rw::wasm::text
