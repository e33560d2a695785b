#include "wasm/text/wast.h"

#include <algorithm>

#include "wasm/text/lexer.h"
#include "wasm/text/module_parser.h"
#include "wasm/text/wat.h"

namespace rw::wasm {
namespace text {
namespace {

class ScriptParser {
 public:
  explicit ScriptParser(std::string_view src) : src_(src), toks_(tokenize(src)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src.size(); ++i)
      if (src[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<WastCommand> run() {
    std::vector<WastCommand> commands;
    if (peek().kind == TokenKind::LParen && peek(1).kind == TokenKind::Keyword &&
        is_module_field(peek(1).text)) {
      // A script made only of module fields is one module.
      WastCommand cmd;
      cmd.kind = WastCommand::Kind::Module;
      cmd.line = 1;
      cmd.module.emplace();
      cmd.module->binary = encode_module_fields(src_, toks_, 0, toks_.size() - 1);
      commands.push_back(std::move(cmd));
      return commands;
    }
    while (peek().kind != TokenKind::Eof) commands.push_back(parse_command());
    return commands;
  }

 private:
  static bool is_module_field(std::string_view kw) {
    return kw == "type" || kw == "import" || kw == "func" || kw == "table" || kw == "memory" ||
           kw == "global" || kw == "export" || kw == "start" || kw == "elem" || kw == "data" ||
           kw == "tag";
  }

  const Token& peek(size_t k = 0) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  const Token& next() {
    const Token& t = toks_[pos_];
    if (pos_ + 1 < toks_.size()) ++pos_;
    return t;
  }
  [[noreturn]] void fail(const Token& t, std::string reason) const {
    throw TextError{t.offset, std::move(reason)};
  }
  [[noreturn]] void unexpected(const Token& t) const {
    if (t.kind == TokenKind::Eof) fail(t, "unexpected end of input");
    fail(t, "unexpected token " + std::string(t.text));
  }
  void expect_lparen() {
    if (peek().kind != TokenKind::LParen) unexpected(peek());
    next();
  }
  void expect_rparen() {
    if (peek().kind != TokenKind::RParen) unexpected(peek());
    next();
  }
  bool at_kw(std::string_view kw, size_t k = 0) const {
    return peek(k).kind == TokenKind::Keyword && peek(k).text == kw;
  }
  bool at_lparen_kw(std::string_view kw) const {
    return peek().kind == TokenKind::LParen && at_kw(kw, 1);
  }
  std::string expect_string() {
    if (peek().kind != TokenKind::String) unexpected(peek());
    return next().value;
  }
  std::optional<std::string> opt_id() {
    if (peek().kind == TokenKind::Id) return next().value;
    return std::nullopt;
  }
  uint32_t line_of(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    return static_cast<uint32_t>(it - line_starts_.begin());
  }

  WastCommand parse_command() {
    const Token& open = peek();
    expect_lparen();
    const Token& kw = next();
    if (kw.kind != TokenKind::Keyword) unexpected(kw);
    WastCommand cmd;
    cmd.line = line_of(open.offset);
    std::string_view k = kw.text;
    if (k == "module") {
      pos_ -= 2;
      cmd.kind = WastCommand::Kind::Module;
      cmd.module = parse_module();
      return cmd;
    }
    if (k == "register") {
      cmd.kind = WastCommand::Kind::Register;
      cmd.register_as = expect_string();
      cmd.register_module = opt_id();
    } else if (k == "invoke" || k == "get") {
      pos_ -= 2;
      cmd.kind = WastCommand::Kind::Action;
      cmd.action = parse_action();
      return cmd;
    } else if (k == "assert_return") {
      cmd.kind = WastCommand::Kind::AssertReturn;
      cmd.action = parse_action();
      while (peek().kind == TokenKind::LParen) cmd.expected.push_back(parse_expected());
    } else if (k == "assert_trap") {
      cmd.kind = WastCommand::Kind::AssertTrap;
      if (at_lparen_kw("module")) {
        cmd.module = parse_module();
      } else {
        cmd.action = parse_action();
      }
      cmd.text = expect_string();
    } else if (k == "assert_exhaustion") {
      cmd.kind = WastCommand::Kind::AssertExhaustion;
      cmd.action = parse_action();
      cmd.text = expect_string();
    } else if (k == "assert_exception") {
      cmd.kind = WastCommand::Kind::AssertException;
      cmd.action = parse_action();
    } else if (k == "assert_invalid" || k == "assert_malformed" || k == "assert_unlinkable" ||
               k == "assert_uninstantiable") {
      cmd.kind = k == "assert_invalid"      ? WastCommand::Kind::AssertInvalid
                 : k == "assert_malformed"  ? WastCommand::Kind::AssertMalformed
                 : k == "assert_unlinkable" ? WastCommand::Kind::AssertUnlinkable
                                            : WastCommand::Kind::AssertUninstantiable;
      cmd.module = parse_module();
      cmd.text = expect_string();
    } else {
      fail(kw, "unknown command " + std::string(k));
    }
    expect_rparen();
    return cmd;
  }

  WastModule parse_module() {
    expect_lparen();
    if (!at_kw("module")) unexpected(peek());
    next();
    WastModule m;
    m.name = opt_id();
    if (at_kw("binary") || at_kw("quote")) {
      bool binary = at_kw("binary");
      next();
      std::string data;
      while (peek().kind == TokenKind::String) data += next().value;
      expect_rparen();
      if (binary) {
        m.form = WastModule::Form::Binary;
        m.binary.assign(data.begin(), data.end());
      } else {
        m.form = WastModule::Form::Quote;
        m.quote = std::move(data);
      }
      return m;
    }
    m.form = WastModule::Form::Text;
    size_t begin = pos_;
    size_t after = skip_group(toks_, begin - 2 - (m.name ? 1 : 0));
    try {
      m.binary = encode_module_fields(src_, toks_, begin, after - 1);
    } catch (const TextError& e) {
      Error err;
      err.kind = Error::Kind::Malformed;
      err.offset = e.offset;
      err.message = format_text_error(src_, e);
      m.text_error = std::move(err);
    }
    pos_ = after;
    return m;
  }

  WastAction parse_action() {
    expect_lparen();
    WastAction a;
    if (at_kw("invoke")) {
      a.kind = WastAction::Kind::Invoke;
    } else if (at_kw("get")) {
      a.kind = WastAction::Kind::Get;
    } else {
      unexpected(peek());
    }
    next();
    a.module = opt_id();
    a.name = expect_string();
    while (peek().kind == TokenKind::LParen) a.args.push_back(parse_value(/*expected=*/false));
    expect_rparen();
    return a;
  }

  std::vector<WastValue> parse_expected() {
    if (at_lparen_kw("either")) {
      next();
      next();
      std::vector<WastValue> alternatives;
      while (peek().kind == TokenKind::LParen) alternatives.push_back(parse_value(true));
      expect_rparen();
      return alternatives;
    }
    return {parse_value(true)};
  }

  WastValue parse_value(bool expected) {
    expect_lparen();
    const Token& kw = next();
    if (kw.kind != TokenKind::Keyword) unexpected(kw);
    WastValue v;
    std::string_view k = kw.text;
    if (k == "i32.const" || k == "i64.const" || k == "f32.const" || k == "f64.const") {
      const Token& t = next();
      bool range = false;
      bool is_f32 = k == "f32.const", is_f64 = k == "f64.const";
      v.type = k == "i32.const"   ? ValType::I32
               : k == "i64.const" ? ValType::I64
               : is_f32           ? ValType::F32
                                  : ValType::F64;
      if ((is_f32 || is_f64) && expected && t.kind == TokenKind::Keyword &&
          (t.text == "nan:canonical" || t.text == "nan:arithmetic")) {
        v.kind = t.text == "nan:canonical" ? WastValue::Kind::NanCanonical
                                           : WastValue::Kind::NanArithmetic;
      } else {
        std::optional<uint64_t> bits;
        if (t.kind == TokenKind::Number || t.kind == TokenKind::Keyword) {
          if (v.type == ValType::I32)
            bits = parse_i32(t.text, &range);
          else if (v.type == ValType::I64)
            bits = parse_i64(t.text, &range);
          else if (is_f32)
            bits = parse_f32(t.text, &range);
          else
            bits = parse_f64(t.text, &range);
        }
        if (!bits) fail(t, range ? "constant out of range" : "malformed constant");
        v.bits = *bits;
      }
    } else if (k == "ref.null") {
      const Token& t = next();
      if (t.text == "func")
        v.type = ValType::FuncRef;
      else if (t.text == "extern")
        v.type = ValType::ExternRef;
      else if (t.text == "exn")
        v.type = ValType::ExnRef;
      else
        unexpected(t);
      v.is_null = true;
    } else if (k == "ref.extern" || k == "ref.func") {
      v.type = k == "ref.extern" ? ValType::ExternRef : ValType::FuncRef;
      if (peek().kind == TokenKind::Number) {
        const Token& t = next();
        auto n = parse_u32(t.text);
        if (!n) fail(t, "malformed reference");
        v.bits = uint64_t{*n} + 1;
      } else {
        v.kind = WastValue::Kind::AnyRef;
      }
      if (k == "ref.func" && v.kind == WastValue::Kind::Exact) {
        v.kind = WastValue::Kind::AnyRef;  // function identity is not observable by index
      }
    } else {
      fail(kw, "unknown value " + std::string(k));
    }
    expect_rparen();
    return v;
  }

  std::string_view src_;
  std::vector<Token> toks_;
  std::vector<size_t> line_starts_;
  size_t pos_ = 0;
};

}  // namespace
}  // namespace text

Result<std::vector<WastCommand>> parse_wast(std::string_view source) {
  try {
    text::ScriptParser parser(source);
    return parser.run();
  } catch (const text::TextError& e) {
    Error err;
    err.kind = Error::Kind::Malformed;
    err.offset = e.offset;
    err.message = text::format_text_error(source, e);
    return err;
  }
}

Result<std::vector<uint8_t>> quote_module_to_binary(std::string_view text) {
  return wat_to_binary(text);
}

}  // namespace rw::wasm
