// A JSON API worker: parses request bodies with a small JSON parser of its own.
//
//   POST /sum    {"numbers": [1, 2.5, 3]}  ->  {"count":3,"sum":6.5}
//   POST /echo   any JSON value            ->  {"echo": <the value, re-serialised>}
//   GET  /headers  the request's headers: {"headers":[[name,value],...],"user-agent":...}
//   GET  /       a short usage text
//
// Malformed JSON is the client's fault: 400 with {"error": "...", "offset": N}. The parser
// reports it by throwing, and the handler catches it, so that exception never reaches the host.
// Anything else that escapes (a bug) is a panic: the host answers 500 and the instance lives on.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <rewind/worker.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

struct Json {
  enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;  // in source order

  const Json* find(std::string_view key) const {
    for (const auto& [k, v] : object)
      if (k == key) return &v;
    return nullptr;
  }
};

struct ParseError : std::runtime_error {
  ParseError(const std::string& what, size_t at) : std::runtime_error(what), offset(at) {}
  size_t offset;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Json parse_document() {
    Json v = value(0);
    skip_space();
    if (i_ != s_.size()) fail("unexpected data after the value");
    return v;
  }

 private:
  // Deep nesting would use up the guest's shadow stack; refuse it as malformed instead.
  static constexpr int kMaxDepth = 64;

  [[noreturn]] void fail(const std::string& why) const { throw ParseError(why, i_); }

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }

  bool consume(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }

  void literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) fail("invalid literal");
    i_ += word.size();
  }

  Json value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than 64 levels");
    skip_space();
    if (i_ >= s_.size()) fail("unexpected end of input");
    Json v;
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.type = Json::Type::Object;
      if (consume('}')) return v;
      do {
        skip_space();
        if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string key");
        std::string key = string();
        expect(':');
        v.object.emplace_back(std::move(key), value(depth + 1));
      } while (consume(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.type = Json::Type::Array;
      if (consume(']')) return v;
      do v.array.push_back(value(depth + 1));
      while (consume(','));
      expect(']');
    } else if (c == '"') {
      v.type = Json::Type::String;
      v.string = string();
    } else if (c == 't') {
      literal("true");
      v.type = Json::Type::Bool;
      v.boolean = true;
    } else if (c == 'f') {
      literal("false");
      v.type = Json::Type::Bool;
    } else if (c == 'n') {
      literal("null");
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.type = Json::Type::Number;
      v.number = number();
    } else {
      fail("unexpected character");
    }
    return v;
  }

  double number() {
    size_t start = i_;
    auto digits = [&] {
      size_t from = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      if (i_ == from) fail("expected a digit");
    };
    if (s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0')
      ++i_;
    else
      digits();
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      digits();
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      digits();
    }
    std::string text(s_.substr(start, i_ - start));
    return std::strtod(text.c_str(), nullptr);
  }

  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  uint32_t hex4() {
    if (i_ + 4 > s_.size()) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      int d = hex_digit(s_[i_++]);
      if (d < 0) fail("invalid \\u escape");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    return v;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
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

  std::string string() {
    ++i_;  // opening quote
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (s_.substr(i_, 2) != "\\u") fail("unpaired surrogate");
            i_ += 2;
            uint32_t low = hex4();
            if (low < 0xDC00 || low >= 0xE000) fail("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("unpaired surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default: fail("invalid escape");
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

void write_string(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void write_number(std::string& out, double d) {
  char buf[32];
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15)
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(d));
  else if (std::isfinite(d))
    std::snprintf(buf, sizeof buf, "%.17g", d);
  else
    std::snprintf(buf, sizeof buf, "null");  // JSON has no infinities
  out += buf;
}

void write(std::string& out, const Json& v) {
  switch (v.type) {
    case Json::Type::Null: out += "null"; break;
    case Json::Type::Bool: out += v.boolean ? "true" : "false"; break;
    case Json::Type::Number: write_number(out, v.number); break;
    case Json::Type::String: write_string(out, v.string); break;
    case Json::Type::Array:
      out += '[';
      for (size_t i = 0; i < v.array.size(); ++i) {
        if (i) out += ',';
        write(out, v.array[i]);
      }
      out += ']';
      break;
    case Json::Type::Object:
      out += '{';
      for (size_t i = 0; i < v.object.size(); ++i) {
        if (i) out += ',';
        write_string(out, v.object[i].first);
        out += ':';
        write(out, v.object[i].second);
      }
      out += '}';
      break;
  }
}

void reply(rw::worker::Response& response, int status, const std::string& body) {
  response.status(status).header("content-type", "application/json").write(body + "\n");
}

void error(rw::worker::Response& response, int status, const std::string& message,
           long offset = -1) {
  std::string body = "{\"error\":";
  write_string(body, message);
  if (offset >= 0) body += ",\"offset\":" + std::to_string(offset);
  body += '}';
  reply(response, status, body);
}

void sum(const Json& doc, rw::worker::Response& response) {
  const Json* numbers = doc.type == Json::Type::Array ? &doc : doc.find("numbers");
  if (!numbers || numbers->type != Json::Type::Array)
    return error(response, 422, "expected {\"numbers\": [...]} or an array of numbers");
  double total = 0;
  for (const Json& n : numbers->array) {
    if (n.type != Json::Type::Number) return error(response, 422, "every element must be a number");
    total += n.number;
  }
  std::string body = "{\"count\":" + std::to_string(numbers->array.size()) + ",\"sum\":";
  write_number(body, total);
  body += '}';
  reply(response, 200, body);
}

void handle(rw::worker::Request& request, rw::worker::Response& response) {
  std::string path = request.path();
  const std::string& method = request.method();
  if (path == "/") {
    response.header("content-type", "text/plain")
        .write("POST /sum {\"numbers\":[1,2,3]}\nPOST /echo <any JSON>\n");
    return;
  }
  if (path == "/headers") {
    // The request's headers as [[name, value], ...], in the order received.
    std::string body = "{\"headers\":[";
    bool first = true;
    for (const auto& [name, value] : request.headers()) {
      if (!first) body += ',';
      first = false;
      body += '[';
      write_string(body, name);
      body += ',';
      write_string(body, value);
      body += ']';
    }
    body += "],\"user-agent\":";
    auto agent = request.header("User-Agent");
    if (agent)
      write_string(body, *agent);
    else
      body += "null";
    body += '}';
    return reply(response, 200, body);
  }
  if (path != "/sum" && path != "/echo") return error(response, 404, "no such endpoint");
  if (method != "POST") return error(response, 405, "use POST");

  Json doc;
  try {
    doc = Parser(request.body()).parse_document();
  } catch (const ParseError& e) {
    return error(response, 400, std::string("invalid JSON: ") + e.what(),
                 static_cast<long>(e.offset));
  }
  if (path == "/sum") return sum(doc, response);
  std::string body = "{\"echo\":";
  write(body, doc);
  body += '}';
  reply(response, 200, body);
}

}  // namespace

REWIND_HANDLER(handle)
