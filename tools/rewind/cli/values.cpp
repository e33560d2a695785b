#include "cli/values.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace rw::cli {
namespace {

Error value_error(ValType type, std::string_view text, std::string_view why) {
  Error error;
  error.kind = Error::Kind::Other;
  error.message = fmt::format("invalid {} argument '{}': {}", to_string(type), text, why);
  return error;
}

// Digits of an integer literal without sign or `_`, and its base.
std::optional<std::string> integer_digits(std::string_view text, bool& negative, int& base) {
  negative = false;
  base = 10;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  std::string digits;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '_') {
      // Separators only between digits, as in the text format.
      if (i == 0 || i + 1 == text.size() || text[i + 1] == '_') return std::nullopt;
      continue;
    }
    digits += text[i];
  }
  if (digits.empty()) return std::nullopt;
  return digits;
}

// Parses an integer of `bits` bits, accepting the signed and the unsigned range.
Result<uint64_t> parse_integer(ValType type, std::string_view text, unsigned bits) {
  bool negative;
  int base;
  auto digits = integer_digits(text, negative, base);
  if (!digits) return value_error(type, text, "not an integer");
  uint64_t magnitude = 0;
  auto [end, ec] =
      std::from_chars(digits->data(), digits->data() + digits->size(), magnitude, base);
  if (ec == std::errc::result_out_of_range) return value_error(type, text, "out of range");
  if (ec != std::errc() || end != digits->data() + digits->size())
    return value_error(type, text, "not an integer");
  uint64_t unsigned_max = bits == 64 ? UINT64_MAX : (uint64_t{1} << bits) - 1;
  uint64_t negative_max = uint64_t{1} << (bits - 1);  // magnitude of the most negative value
  if (negative) {
    if (magnitude > negative_max) return value_error(type, text, "out of range");
    return (~magnitude + 1) & unsigned_max;
  }
  if (magnitude > unsigned_max) return value_error(type, text, "out of range");
  return magnitude;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Float bits for nan/inf spellings, or nullopt when `text` is an ordinary number.
template <class Bits>
std::optional<Result<Bits>> special_float(ValType type, std::string_view text) {
  constexpr bool is64 = sizeof(Bits) == 8;
  constexpr unsigned mantissa_bits = is64 ? 52 : 23;
  constexpr Bits exponent_mask = static_cast<Bits>(is64 ? 0x7ff0000000000000ull : 0x7f800000ull);
  constexpr Bits sign_bit = Bits{1} << (is64 ? 63 : 31);
  constexpr Bits mantissa_mask = (Bits{1} << mantissa_bits) - 1;
  std::string s = lower(text);
  bool negative = false;
  std::string_view body = s;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  Bits sign = negative ? sign_bit : 0;
  if (body == "inf" || body == "infinity") return Result<Bits>(sign | exponent_mask);
  if (body == "nan") return Result<Bits>(sign | exponent_mask | (Bits{1} << (mantissa_bits - 1)));
  if (body.starts_with("nan:")) {
    std::string_view payload_text = body.substr(4);
    if (!payload_text.starts_with("0x") || payload_text.size() == 2)
      return Result<Bits>(value_error(type, text, "a NaN payload is written nan:0x..."));
    payload_text.remove_prefix(2);
    uint64_t payload = 0;
    auto [end, ec] = std::from_chars(payload_text.data(), payload_text.data() + payload_text.size(),
                                     payload, 16);
    if (ec != std::errc() || end != payload_text.data() + payload_text.size() || payload == 0 ||
        payload > mantissa_mask)
      return Result<Bits>(value_error(type, text, "NaN payload out of range"));
    return Result<Bits>(sign | exponent_mask | static_cast<Bits>(payload));
  }
  return std::nullopt;
}

Result<Value> parse_float(ValType type, std::string_view text) {
  const bool is64 = type == ValType::F64;
  if (is64) {
    if (auto special = special_float<uint64_t>(type, text)) {
      if (!special->ok()) return special->error();
      return Value::make_f64_bits(special->value());
    }
  } else if (auto special = special_float<uint32_t>(type, text)) {
    if (!special->ok()) return special->error();
    return Value::make_f32_bits(special->value());
  }
  std::string s;
  for (char c : text)
    if (c != '_') s += c;
  // strtod accepts leading spaces and "nan(...)"/"infinity" forms we handled above; refuse the
  // rest of what it would silently accept.
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0])))
    return value_error(type, text, "not a number");
  for (char c : s)
    if (std::isalpha(static_cast<unsigned char>(c)) && !std::strchr("xXpPeEabcdefABCDEF", c))
      return value_error(type, text, "not a number");
  char* end = nullptr;
  errno = 0;
  if (is64) {
    double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size()) return value_error(type, text, "not a number");
    if (errno == ERANGE && std::isinf(d)) return value_error(type, text, "out of range");
    return Value::make_f64(d);
  }
  float f = std::strtof(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return value_error(type, text, "not a number");
  if (errno == ERANGE && std::isinf(f)) return value_error(type, text, "out of range");
  return Value::make_f32(f);
}

template <class Bits, class Float>
std::string format_float(Bits bits, Float value) {
  constexpr bool is64 = sizeof(Bits) == 8;
  constexpr unsigned mantissa_bits = is64 ? 52 : 23;
  constexpr Bits sign_bit = Bits{1} << (is64 ? 63 : 31);
  constexpr Bits mantissa_mask = (Bits{1} << mantissa_bits) - 1;
  constexpr Bits canonical = Bits{1} << (mantissa_bits - 1);
  std::string sign = (bits & sign_bit) ? "-" : "";
  if (std::isnan(value)) {
    Bits payload = bits & mantissa_mask;
    if (payload == canonical) return sign + "nan";
    return fmt::format("{}nan:0x{:x}", sign, payload);
  }
  if (std::isinf(value)) return sign + "inf";
  return fmt::format("{}", value);
}

}  // namespace

Result<Value> parse_value(ValType type, std::string_view text) {
  switch (type) {
    case ValType::I32: {
      auto bits = parse_integer(type, text, 32);
      if (!bits.ok()) return bits.error();
      return Value::make_i32(static_cast<int32_t>(static_cast<uint32_t>(bits.value())));
    }
    case ValType::I64: {
      auto bits = parse_integer(type, text, 64);
      if (!bits.ok()) return bits.error();
      return Value::make_i64(static_cast<int64_t>(bits.value()));
    }
    case ValType::F32:
    case ValType::F64: return parse_float(type, text);
    case ValType::FuncRef:
    case ValType::ExternRef:
    case ValType::ExnRef:
      if (text == "null") return Value::make_null(type);
      return value_error(type, text, "only `null` can be passed for a reference");
    case ValType::V128: break;
  }
  return value_error(type, text, "this type cannot be passed from the command line");
}

std::string format_value(const Value& value) {
  switch (value.type) {
    case ValType::I32: return std::to_string(value.as_i32());
    case ValType::I64: return std::to_string(value.as_i64());
    case ValType::F32: return format_float(value.f32_bits, value.as_f32());
    case ValType::F64: return format_float(value.f64_bits, value.as_f64());
    case ValType::FuncRef:
    case ValType::ExternRef:
    case ValType::ExnRef:
      if (value.is_null()) return "null";
      return fmt::format("{}:{}", to_string(value.type), static_cast<const void*>(value.ref));
    case ValType::V128: break;
  }
  return "?";
}

}  // namespace rw::cli
