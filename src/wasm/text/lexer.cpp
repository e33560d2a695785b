#include "wasm/text/lexer.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace rw::wasm::text {

std::string line_col(std::string_view source, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < source.size(); ++i) {
    if (source[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

std::string format_text_error(std::string_view source, const TextError& error) {
  return line_col(source, error.offset) + ": " + error.reason;
}

namespace {

bool is_id_char(char c) {
  if (c >= '0' && c <= '9') return true;
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  return std::strchr("!#$%&'*+-./:<=>?@\\^_`|~", c) != nullptr && c != '\0';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Reads a string literal starting at the opening quote; returns the decoded bytes and advances
// `i` past the closing quote.
std::string read_string(std::string_view src, size_t& i) {
  size_t start = i;
  ++i;  // opening quote
  std::string out;
  while (true) {
    if (i >= src.size()) throw TextError{start, "unclosed string"};
    unsigned char c = static_cast<unsigned char>(src[i]);
    if (c == '"') {
      ++i;
      return out;
    }
    if (c == '\n') throw TextError{start, "unclosed string"};
    if (c < 0x20 || c == 0x7F) throw TextError{i, "illegal control character in string"};
    if (c != '\\') {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t esc = i;
    ++i;
    if (i >= src.size()) throw TextError{start, "unclosed string"};
    char e = src[i];
    switch (e) {
      case 'n':
        out += '\n';
        ++i;
        break;
      case 't':
        out += '\t';
        ++i;
        break;
      case 'r':
        out += '\r';
        ++i;
        break;
      case '"':
        out += '"';
        ++i;
        break;
      case '\'':
        out += '\'';
        ++i;
        break;
      case '\\':
        out += '\\';
        ++i;
        break;
      case 'u': {
        ++i;
        if (i >= src.size() || src[i] != '{') throw TextError{esc, "illegal escape"};
        ++i;
        uint32_t cp = 0;
        bool any = false, prev_digit = false;
        while (i < src.size() && src[i] != '}') {
          if (src[i] == '_' && prev_digit) {
            prev_digit = false;
            ++i;
            continue;
          }
          int h = hex_value(src[i]);
          if (h < 0) throw TextError{esc, "illegal escape"};
          cp = cp * 16 + static_cast<uint32_t>(h);
          if (cp > 0x10FFFF) throw TextError{esc, "illegal escape"};
          any = prev_digit = true;
          ++i;
        }
        if (i >= src.size() || !any || !prev_digit) throw TextError{esc, "illegal escape"};
        ++i;  // '}'
        if (cp >= 0xD800 && cp < 0xE000) throw TextError{esc, "illegal escape"};
        append_utf8(out, cp);
        break;
      }
      default: {
        int h1 = hex_value(e);
        int h2 = i + 1 < src.size() ? hex_value(src[i + 1]) : -1;
        if (h1 < 0 || h2 < 0) throw TextError{esc, "illegal escape"};
        out += static_cast<char>(h1 * 16 + h2);
        i += 2;
        break;
      }
    }
  }
}

void skip_block_comment(std::string_view src, size_t& i) {
  size_t start = i;
  int depth = 0;
  while (i < src.size()) {
    if (src[i] == '(' && i + 1 < src.size() && src[i + 1] == ';') {
      ++depth;
      i += 2;
    } else if (src[i] == ';' && i + 1 < src.size() && src[i + 1] == ')') {
      --depth;
      i += 2;
      if (depth == 0) return;
    } else {
      ++i;
    }
  }
  throw TextError{start, "unclosed comment"};
}

}  // namespace

std::vector<Token> tokenize(std::string_view src) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (true) {
    // Whitespace and comments.
    while (i < src.size()) {
      char c = src[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i;
      } else if (c == ';' && i + 1 < src.size() && src[i + 1] == ';') {
        while (i < src.size() && src[i] != '\n' && src[i] != '\r') ++i;
      } else if (c == '(' && i + 1 < src.size() && src[i + 1] == ';') {
        skip_block_comment(src, i);
      } else {
        break;
      }
    }
    Token tok;
    tok.offset = static_cast<uint32_t>(i);
    if (i >= src.size()) {
      tok.kind = TokenKind::Eof;
      tokens.push_back(std::move(tok));
      return tokens;
    }
    char c = src[i];
    if (c == '(') {
      tok.kind = TokenKind::LParen;
      ++i;
    } else if (c == ')') {
      tok.kind = TokenKind::RParen;
      ++i;
    } else if (c == '"' || is_id_char(c)) {
      // A maximal run of id characters and strings. Exactly one string, or id characters alone,
      // make a proper token; `$` followed by exactly one string is a quoted identifier.
      size_t strings = 0, idchars = 0;
      std::string last_string;
      bool dollar_then_string = false;
      while (i < src.size()) {
        if (src[i] == '"') {
          if (strings == 0 && idchars == 1 && src[tok.offset] == '$') dollar_then_string = true;
          last_string = read_string(src, i);
          ++strings;
        } else if (is_id_char(src[i])) {
          ++idchars;
          ++i;
        } else {
          break;
        }
      }
      tok.text = src.substr(tok.offset, i - tok.offset);
      if (strings == 1 && idchars == 0) {
        tok.kind = TokenKind::String;
        tok.value = std::move(last_string);
      } else if (strings == 1 && idchars == 1 && dollar_then_string) {
        tok.kind = TokenKind::Id;
        tok.value = std::move(last_string);
        if (tok.value.empty()) tok.kind = TokenKind::Reserved;
      } else if (strings > 0) {
        tok.kind = TokenKind::Reserved;
      } else if (c == '$') {
        tok.kind = tok.text.size() > 1 ? TokenKind::Id : TokenKind::Reserved;
        tok.value = std::string(tok.text.substr(1));
      } else if (c >= 'a' && c <= 'z') {
        tok.kind = TokenKind::Keyword;
      } else if ((c >= '0' && c <= '9') || c == '+' || c == '-') {
        tok.kind = TokenKind::Number;
      } else {
        tok.kind = TokenKind::Reserved;
      }
    } else {
      // Outside strings and comments only the token alphabet is allowed.
      throw TextError{i, "malformed token: unexpected character"};
    }
    tok.length = static_cast<uint32_t>(i - tok.offset);
    if (tok.text.empty()) tok.text = src.substr(tok.offset, tok.length);
    tokens.push_back(std::move(tok));
  }
}

// ---------------------------------------------------------------------------------------------
// Literals

namespace {

// Reads `digit ('_'? digit)*` in base 10 or 16 starting at i; appends the digits to `out`.
bool take_digits(std::string_view s, size_t& i, bool hex, std::string& out) {
  auto is_digit = [hex](char c) { return hex ? hex_value(c) >= 0 : (c >= '0' && c <= '9'); };
  if (i >= s.size() || !is_digit(s[i])) return false;
  while (i < s.size()) {
    if (is_digit(s[i])) {
      out += s[i++];
    } else if (s[i] == '_' && i + 1 < s.size() && is_digit(s[i + 1])) {
      ++i;
    } else {
      break;
    }
  }
  return true;
}

}  // namespace

namespace {

// Parses an integer literal; `overflow` says the shape was right but the magnitude above 2^64-1.
std::optional<IntLiteral> parse_int_impl(std::string_view text, bool& overflow) {
  overflow = false;
  IntLiteral lit;
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    lit.has_sign = true;
    lit.negative = text[i] == '-';
    ++i;
  }
  bool hex = text.substr(i, 2) == "0x";
  if (hex) i += 2;
  std::string digits;
  if (!take_digits(text, i, hex, digits) || i != text.size()) return std::nullopt;
  uint64_t base = hex ? 16 : 10;
  uint64_t v = 0;
  for (char c : digits) {
    uint64_t d = static_cast<uint64_t>(hex_value(c));
    if (v > (UINT64_MAX - d) / base) {
      overflow = true;
      return std::nullopt;
    }
    v = v * base + d;
  }
  lit.magnitude = v;
  return lit;
}

}  // namespace

std::optional<IntLiteral> parse_int_literal(std::string_view text) {
  bool overflow;
  return parse_int_impl(text, overflow);
}

namespace {

template <class T>
std::optional<T> signed_or_unsigned(std::string_view text, unsigned bits, bool* out_of_range) {
  if (out_of_range) *out_of_range = false;
  bool overflow = false;
  auto lit = parse_int_impl(text, overflow);
  if (!lit) {
    if (out_of_range) *out_of_range = overflow;
    return std::nullopt;
  }
  uint64_t umax = bits == 64 ? UINT64_MAX : ((uint64_t{1} << bits) - 1);
  uint64_t neg_max = uint64_t{1} << (bits - 1);
  if (lit->negative) {
    if (lit->magnitude > neg_max) {
      if (out_of_range) *out_of_range = true;
      return std::nullopt;
    }
    return static_cast<T>((~lit->magnitude + 1) & umax);
  }
  if (lit->magnitude > umax) {
    if (out_of_range) *out_of_range = true;
    return std::nullopt;
  }
  return static_cast<T>(lit->magnitude);
}

struct FloatFormat {
  int mant_bits;  // stored fraction bits: 23 or 52
  int exp_bits;   // 8 or 11
};

// Rounds m * 2^exp (with `sticky` meaning some nonzero bits below m were dropped) to the format,
// nearest even. Returns nullopt on overflow.
std::optional<uint64_t> round_binary(uint64_t m, int64_t exp, bool sticky, FloatFormat f) {
  const int p = f.mant_bits + 1;
  const int64_t bias = (int64_t{1} << (f.exp_bits - 1)) - 1;
  const int64_t emin = 1 - bias;
  if (m == 0) return uint64_t{0};
  int h = 63 - __builtin_clzll(m);
  int64_t e = h + exp;  // value in [2^e, 2^(e+1))
  int64_t lsb_exp = (e < emin ? emin : e) - (p - 1);
  int64_t shift = lsb_exp - exp;
  uint64_t r;
  if (shift <= 0) {
    // Exact: fewer significant bits than the format holds.
    if (-shift >= 64) return std::nullopt;
    r = m << (-shift);
  } else if (shift > 100) {
    r = 0;  // far below half the smallest subnormal
  } else {
    unsigned __int128 wide = m;
    unsigned __int128 one = 1;
    unsigned __int128 kept = shift >= 128 ? 0 : (wide >> shift);
    unsigned __int128 rem = wide - (kept << shift);
    unsigned __int128 half = one << (shift - 1);
    bool round_up = rem > half || (rem == half && (sticky || (kept & 1)));
    if (rem == half && !sticky && !(kept & 1)) round_up = false;
    r = static_cast<uint64_t>(kept) + (round_up ? 1 : 0);
  }
  if (r >> p) {  // the rounding carried into a new bit
    r >>= 1;
    ++lsb_exp;
  }
  uint64_t implicit = uint64_t{1} << (p - 1);
  if (r >= implicit) {
    int64_t biased = lsb_exp + (p - 1) + bias;
    if (biased >= (int64_t{1} << f.exp_bits) - 1) return std::nullopt;
    return (static_cast<uint64_t>(biased) << f.mant_bits) | (r - implicit);
  }
  return r;  // subnormal (or zero)
}

std::optional<uint64_t> parse_float_bits(std::string_view text, FloatFormat f, bool* out_of_range) {
  if (out_of_range) *out_of_range = false;
  uint64_t sign_bit = uint64_t{1} << (f.mant_bits + f.exp_bits);
  uint64_t exp_all = ((uint64_t{1} << f.exp_bits) - 1) << f.mant_bits;
  uint64_t mant_mask = (uint64_t{1} << f.mant_bits) - 1;
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    negative = text[i] == '-';
    ++i;
  }
  uint64_t sign = negative ? sign_bit : 0;
  std::string_view rest = text.substr(i);
  if (rest == "inf") return sign | exp_all;
  if (rest == "nan") return sign | exp_all | (uint64_t{1} << (f.mant_bits - 1));
  if (rest.substr(0, 6) == "nan:0x") {
    size_t j = 6;
    std::string digits;
    if (!take_digits(rest, j, true, digits) || j != rest.size()) return std::nullopt;
    uint64_t payload = 0;
    for (char c : digits) {
      if (payload > mant_mask) break;
      payload = payload * 16 + static_cast<uint64_t>(hex_value(c));
    }
    if (payload == 0 || payload > mant_mask) {
      if (out_of_range) *out_of_range = true;
      return std::nullopt;
    }
    return sign | exp_all | payload;
  }
  if (rest.substr(0, 2) == "0x") {
    size_t j = 2;
    std::string int_digits, frac_digits, exp_digits;
    if (!take_digits(rest, j, true, int_digits)) return std::nullopt;
    if (j < rest.size() && rest[j] == '.') {
      ++j;
      if (j < rest.size() && hex_value(rest[j]) >= 0) take_digits(rest, j, true, frac_digits);
    }
    bool exp_negative = false;
    if (j < rest.size() && (rest[j] == 'p' || rest[j] == 'P')) {
      ++j;
      if (j < rest.size() && (rest[j] == '+' || rest[j] == '-')) exp_negative = rest[j++] == '-';
      if (!take_digits(rest, j, false, exp_digits)) return std::nullopt;
    }
    if (j != rest.size()) return std::nullopt;
    uint64_t m = 0;
    int64_t exp = 0;
    bool sticky = false;
    auto add_digit = [&](int d, bool fraction) {
      if (m < (uint64_t{1} << 59)) {
        m = m * 16 + static_cast<uint64_t>(d);
        if (fraction) exp -= 4;
      } else {
        sticky |= d != 0;
        if (!fraction) exp += 4;
      }
    };
    for (char c : int_digits) add_digit(hex_value(c), false);
    for (char c : frac_digits) add_digit(hex_value(c), true);
    int64_t e = 0;
    for (char c : exp_digits) {
      e = e * 10 + (c - '0');
      if (e > 100000000) e = 100000000;  // saturate: far beyond any float's range
    }
    exp += exp_negative ? -e : e;
    if (m == 0) return sign;
    auto bits = round_binary(m, exp, sticky, f);
    if (!bits) {
      if (out_of_range) *out_of_range = true;
      return std::nullopt;
    }
    return sign | *bits;
  }
  // Decimal: validate the grammar ourselves, then let strtod/strtof round (correctly).
  size_t j = 0;
  std::string clean = negative ? "-" : "";
  std::string digits;
  if (!take_digits(rest, j, false, digits)) return std::nullopt;
  clean += digits;
  if (j < rest.size() && rest[j] == '.') {
    ++j;
    clean += '.';
    if (j < rest.size() && rest[j] >= '0' && rest[j] <= '9') {
      digits.clear();
      take_digits(rest, j, false, digits);
      clean += digits;
    }
  }
  if (j < rest.size() && (rest[j] == 'e' || rest[j] == 'E')) {
    ++j;
    clean += 'e';
    if (j < rest.size() && (rest[j] == '+' || rest[j] == '-')) clean += rest[j++];
    digits.clear();
    if (!take_digits(rest, j, false, digits)) return std::nullopt;
    clean += digits;
  }
  if (j != rest.size()) return std::nullopt;
  errno = 0;
  uint64_t bits;
  bool is_inf;
  if (f.mant_bits == 23) {
    float v = std::strtof(clean.c_str(), nullptr);
    is_inf = std::isinf(v);
    uint32_t b;
    std::memcpy(&b, &v, 4);
    bits = b;
  } else {
    double v = std::strtod(clean.c_str(), nullptr);
    is_inf = std::isinf(v);
    std::memcpy(&bits, &v, 8);
  }
  if (is_inf) {
    if (out_of_range) *out_of_range = true;
    return std::nullopt;
  }
  return bits;
}

}  // namespace

std::optional<uint32_t> parse_i32(std::string_view text, bool* out_of_range) {
  return signed_or_unsigned<uint32_t>(text, 32, out_of_range);
}

std::optional<uint64_t> parse_i64(std::string_view text, bool* out_of_range) {
  return signed_or_unsigned<uint64_t>(text, 64, out_of_range);
}

std::optional<uint32_t> parse_u32(std::string_view text, bool* out_of_range) {
  if (out_of_range) *out_of_range = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) return std::nullopt;
  return signed_or_unsigned<uint32_t>(text, 32, out_of_range);
}

std::optional<uint32_t> parse_f32(std::string_view text, bool* out_of_range) {
  auto bits = parse_float_bits(text, FloatFormat{23, 8}, out_of_range);
  if (!bits) return std::nullopt;
  return static_cast<uint32_t>(*bits);
}

std::optional<uint64_t> parse_f64(std::string_view text, bool* out_of_range) {
  return parse_float_bits(text, FloatFormat{52, 11}, out_of_range);
}

}  // namespace rw::wasm::text
