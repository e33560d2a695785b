// WebAssembly text format -> binary. Two passes over the module's tokens: the first collects the
// identifiers of every index space and the explicit type definitions (so fields can refer to
// ones defined later), the second parses each field fully and encodes it into its section.

#include "wasm/text/wat.h"

#include <algorithm>
#include <optional>
#include <string>
#include <unordered_map>

#include "rewind/types.h"
#include "wasm/common/module.h"
#include "wasm/common/opcodes.h"
#include "wasm/common/reader.h"
#include "wasm/text/lexer.h"
#include "wasm/text/module_parser.h"

namespace rw::wasm {
namespace text {
namespace {

class Bytes {
 public:
  std::vector<uint8_t> v;

  void u8(uint8_t b) { v.push_back(b); }
  void u32(uint32_t x) {
    do {
      uint8_t b = x & 0x7F;
      x >>= 7;
      if (x) b |= 0x80;
      v.push_back(b);
    } while (x);
  }
  void s64(int64_t x) {
    while (true) {
      uint8_t b = x & 0x7F;
      x >>= 7;  // arithmetic shift
      bool done = (x == 0 && !(b & 0x40)) || (x == -1 && (b & 0x40));
      if (!done) b |= 0x80;
      v.push_back(b);
      if (done) break;
    }
  }
  void s32(int32_t x) { s64(x); }
  void fixed32(uint32_t bits) {
    for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(bits >> (8 * i)));
  }
  void fixed64(uint64_t bits) {
    for (int i = 0; i < 8; ++i) v.push_back(static_cast<uint8_t>(bits >> (8 * i)));
  }
  void name(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    v.insert(v.end(), s.begin(), s.end());
  }
  void append(const Bytes& o) { v.insert(v.end(), o.v.begin(), o.v.end()); }
  void opcode(Opcode op) {
    const OpcodeInfo& info = opcode_info(op);
    if (info.prefix) {
      u8(info.prefix);
      u32(info.code);
    } else {
      u8(static_cast<uint8_t>(info.code));
    }
  }
};

enum Space { kType, kFunc, kTable, kMemory, kGlobal, kTag, kElem, kData, kSpaceCount };
constexpr const char* kSpaceNames[kSpaceCount] = {"type",   "function", "table", "memory",
                                                  "global", "tag",      "elem",  "data"};
// Word used in "duplicate ..." errors, as the reference interpreter spells them.
constexpr const char* kDuplicateNames[kSpaceCount] = {"type",   "func", "table", "memory",
                                                      "global", "tag",  "elem",  "data"};

struct NameSpace {
  std::unordered_map<std::string, uint32_t> ids;
  uint32_t count = 0;
};

struct TypeUse {
  std::optional<uint32_t> index;
  bool index_known = false;  // the index names an existing type
  FuncType ft;
  std::vector<std::string> param_names;  // parallel to ft.params; "" when unnamed
  bool has_inline = false;
  const Token* at = nullptr;
};

struct FuncCtx {
  std::unordered_map<std::string, uint32_t> locals;
  std::vector<std::string> labels;  // innermost last; "" for unnamed
};

bool is_block_terminator(std::string_view kw) {
  return kw == "end" || kw == "else" || kw == "catch" || kw == "catch_all" || kw == "delegate";
}

class ModuleParser {
 public:
  ModuleParser(std::string_view src, const std::vector<Token>& toks, size_t begin, size_t end,
               bool name_section)
      : src_(src),
        toks_(toks),
        begin_(begin),
        end_(end),
        pos_(begin),
        name_section_(name_section) {}

  std::vector<uint8_t> run() {
    collect();
    pos_ = begin_;
    counters_reset();
    while (pos_ < end_) parse_field();
    return assemble();
  }

 private:
  // ---- cursor --------------------------------------------------------------------------------
  const Token& peek(size_t k = 0) const { return toks_[std::min(pos_ + k, end_)]; }
  const Token& next() {
    const Token& t = toks_[pos_];
    if (pos_ < end_) ++pos_;
    return t;
  }
  [[noreturn]] void fail(const Token& t, std::string reason) const {
    throw TextError{t.offset, std::move(reason)};
  }
  [[noreturn]] void unexpected(const Token& t) const {
    if (t.kind == TokenKind::Eof) fail(t, "unexpected end of input");
    if (t.kind == TokenKind::Reserved) fail(t, "unknown operator " + std::string(t.text));
    fail(t, "unexpected token " + std::string(t.text));
  }
  bool at_lparen_kw(std::string_view kw, size_t k = 0) const {
    return peek(k).kind == TokenKind::LParen && peek(k + 1).kind == TokenKind::Keyword &&
           peek(k + 1).text == kw;
  }
  bool at_kw(std::string_view kw) const {
    return peek().kind == TokenKind::Keyword && peek().text == kw;
  }
  void expect_lparen() {
    if (peek().kind != TokenKind::LParen) unexpected(peek());
    next();
  }
  void expect_rparen() {
    if (peek().kind != TokenKind::RParen) unexpected(peek());
    next();
  }
  void expect_kw(std::string_view kw) {
    if (!at_kw(kw)) unexpected(peek());
    next();
  }
  bool at_var() const { return peek().kind == TokenKind::Number || peek().kind == TokenKind::Id; }
  std::string expect_string() {
    if (peek().kind != TokenKind::String) unexpected(peek());
    return next().value;
  }
  std::string expect_name() {
    const Token& t = peek();
    std::string s = expect_string();
    if (!is_valid_utf8(s)) fail(t, "malformed UTF-8 encoding");
    return s;
  }
  std::optional<std::string> opt_id() {
    if (peek().kind == TokenKind::Id) return next().value;
    return std::nullopt;
  }
  uint32_t expect_u32() {
    const Token& t = peek();
    if (t.kind != TokenKind::Number) unexpected(t);
    next();
    bool range = false;
    auto v = parse_u32(t.text, &range);
    if (!v)
      fail(t, range ? "i32 constant out of range" : "unknown operator " + std::string(t.text));
    return *v;
  }

  // A literal that did not convert: out of range, not a literal at all (the reference lexer
  // calls such tokens unknown operators), or some other token.
  [[noreturn]] void literal_error(const Token& t, bool out_of_range, const char* range_reason) {
    if (out_of_range) fail(t, range_reason);
    if (t.text == "nan:canonical" || t.text == "nan:arithmetic") unexpected(t);  // script-only
    if (t.kind == TokenKind::Number || t.kind == TokenKind::Keyword ||
        t.kind == TokenKind::Reserved)
      fail(t, "unknown operator " + std::string(t.text));
    unexpected(t);
  }

  // ---- pass 1: identifiers and explicit types ------------------------------------------------
  void counters_reset() {
    for (auto& s : spaces_) s.count = 0;
  }

  void define(Space space, const std::optional<std::string>& id, const Token& at) {
    uint32_t index = spaces_[space].count++;
    if (id) {
      if (!spaces_[space].ids.emplace(*id, index).second)
        fail(at, std::string("duplicate ") + kDuplicateNames[space] + " $" + *id);
    }
  }

  static std::optional<Space> space_of_kind(std::string_view kw) {
    if (kw == "func") return kFunc;
    if (kw == "table") return kTable;
    if (kw == "memory") return kMemory;
    if (kw == "global") return kGlobal;
    if (kw == "tag") return kTag;
    return std::nullopt;
  }

  void note_import(const Token& at) {
    if (first_definition_)
      fail(at, std::string("import after ") +
                   (*first_definition_ == kFunc ? "function" : kSpaceNames[*first_definition_]));
  }

  void collect() {
    pos_ = begin_;
    while (pos_ < end_) {
      if (peek().kind != TokenKind::LParen) unexpected(peek());
      size_t open = pos_;
      size_t after = skip_group(toks_, open);
      if (after > end_) unexpected(toks_[end_]);
      const Token& kw = peek(1);
      if (kw.kind != TokenKind::Keyword) unexpected(kw);
      pos_ = open + 2;
      std::optional<std::string> id;
      const Token& id_tok = peek();
      if (kw.text == "type") {
        id = opt_id();
        expect_lparen();
        expect_kw("func");
        FuncType ft = parse_functype_body(/*allow_names=*/true);
        expect_rparen();
        expect_rparen();
        types_.push_back(std::move(ft));
        define(kType, id, id_tok);
      } else if (kw.text == "import") {
        // (import "m" "n" (kind $id? ...))
        if (peek().kind == TokenKind::String && peek(1).kind == TokenKind::String &&
            peek(2).kind == TokenKind::LParen && peek(3).kind == TokenKind::Keyword) {
          auto space = space_of_kind(peek(3).text);
          if (space) {
            note_import(kw);
            const Token& t = peek(4);
            define(*space, t.kind == TokenKind::Id ? std::optional(t.value) : std::nullopt, t);
          }
        }
      } else if (auto space = space_of_kind(kw.text)) {
        id = opt_id();
        bool imported = false, has_inline_segment = false;
        while (peek().kind == TokenKind::LParen) {
          if (at_lparen_kw("export")) {
            pos_ = skip_group(toks_, pos_);
            continue;
          }
          if (at_lparen_kw("import")) imported = true;
          break;
        }
        // Look for an inline (elem ...) / (data ...) among the remaining children.
        for (size_t p = pos_; p < after - 1;) {
          if (toks_[p].kind == TokenKind::LParen) {
            if (toks_[p + 1].kind == TokenKind::Keyword &&
                ((*space == kTable && toks_[p + 1].text == "elem") ||
                 (*space == kMemory && toks_[p + 1].text == "data")))
              has_inline_segment = true;
            p = skip_group(toks_, p);
          } else {
            ++p;
          }
        }
        if (imported) {
          note_import(kw);
        } else if (!first_definition_) {
          first_definition_ = *space;
        }
        define(*space, id, id_tok);
        if (has_inline_segment && !imported) define(*space == kTable ? kElem : kData, {}, kw);
      } else if (kw.text == "elem" || kw.text == "data") {
        define(kw.text == "elem" ? kElem : kData, opt_id(), id_tok);
      } else if (kw.text == "export" || kw.text == "start") {
        // Nothing to collect.
      } else {
        fail(kw, "unknown module field " + std::string(kw.text));
      }
      pos_ = after;
    }
  }

  // ---- types ---------------------------------------------------------------------------------
  std::optional<ValType> opt_valtype() {
    const Token& t = peek();
    if (t.kind != TokenKind::Keyword) return std::nullopt;
    std::optional<ValType> vt;
    if (t.text == "i32")
      vt = ValType::I32;
    else if (t.text == "i64")
      vt = ValType::I64;
    else if (t.text == "f32")
      vt = ValType::F32;
    else if (t.text == "f64")
      vt = ValType::F64;
    else if (t.text == "v128")
      vt = ValType::V128;
    else if (t.text == "funcref")
      vt = ValType::FuncRef;
    else if (t.text == "externref")
      vt = ValType::ExternRef;
    else if (t.text == "exnref")
      vt = ValType::ExnRef;
    if (vt) next();
    return vt;
  }
  ValType expect_valtype() {
    auto vt = opt_valtype();
    if (!vt) unexpected(peek());
    return *vt;
  }
  ValType expect_reftype() {
    const Token& t = peek();
    ValType vt = expect_valtype();
    if (!is_reference(vt)) unexpected(t);
    return vt;
  }

  // The inside of `(func ...)` in a type definition, up to its closing parenthesis.
  FuncType parse_functype_body(bool allow_names) {
    TypeUse tu;
    parse_params_results(tu, allow_names);
    return tu.ft;
  }

  void parse_params_results(TypeUse& tu, bool allow_names) {
    while (at_lparen_kw("param")) {
      tu.has_inline = true;
      next();
      next();
      if (peek().kind == TokenKind::Id) {
        if (!allow_names) unexpected(peek());
        std::string name = next().value;
        tu.ft.params.push_back(expect_valtype());
        tu.param_names.push_back(std::move(name));
      } else {
        while (auto vt = opt_valtype()) {
          tu.ft.params.push_back(*vt);
          tu.param_names.emplace_back();
        }
      }
      expect_rparen();
    }
    while (at_lparen_kw("result")) {
      tu.has_inline = true;
      next();
      next();
      while (auto vt = opt_valtype()) tu.ft.results.push_back(*vt);
      expect_rparen();
    }
  }

  TypeUse parse_typeuse(bool allow_names) {
    TypeUse tu;
    tu.at = &peek();
    if (at_lparen_kw("type")) {
      next();
      next();
      tu.index = parse_var(kType);
      tu.index_known = *tu.index < types_.size();
      expect_rparen();
    }
    parse_params_results(tu, allow_names);
    // Out-of-order clauses, e.g. (result) (param) or (param) (type).
    if (at_lparen_kw("param") || at_lparen_kw("type")) unexpected(peek(1));
    return tu;
  }

  // The type index a type use denotes, adding an implicit type definition when needed.
  uint32_t resolve_typeuse(TypeUse& tu) {
    if (tu.index) {
      if (!tu.index_known && tu.has_inline && (!tu.ft.params.empty() || !tu.ft.results.empty()))
        fail(*tu.at, "unknown type");
      if (tu.index_known) {
        const FuncType& def = types_[*tu.index];
        if (tu.has_inline && (!tu.ft.params.empty() || !tu.ft.results.empty()) && !(def == tu.ft))
          fail(*tu.at, "inline function type does not match the referenced type");
        if (!tu.has_inline || (tu.ft.params.empty() && tu.ft.results.empty())) {
          tu.ft = def;
          tu.param_names.assign(def.params.size(), std::string());
        }
      }
      return *tu.index;
    }
    return find_or_add_type(tu.ft);
  }

  uint32_t find_or_add_type(const FuncType& ft) {
    for (size_t i = 0; i < types_.size(); ++i)
      if (types_[i] == ft) return static_cast<uint32_t>(i);
    types_.push_back(ft);
    return static_cast<uint32_t>(types_.size() - 1);
  }

  // ---- indices -------------------------------------------------------------------------------
  uint32_t parse_var(Space space) {
    const Token& t = peek();
    if (t.kind == TokenKind::Number) return expect_u32();
    if (t.kind == TokenKind::Id) {
      next();
      auto it = spaces_[space].ids.find(t.value);
      if (it == spaces_[space].ids.end())
        fail(t, std::string("unknown ") + kSpaceNames[space] + " $" + t.value);
      return it->second;
    }
    unexpected(t);
  }

  uint32_t parse_local(FuncCtx& fc) {
    const Token& t = peek();
    if (t.kind == TokenKind::Id) {
      next();
      auto it = fc.locals.find(t.value);
      if (it == fc.locals.end()) fail(t, "unknown local $" + t.value);
      return it->second;
    }
    if (t.kind == TokenKind::Number) return expect_u32();
    unexpected(t);
  }

  uint32_t parse_label(FuncCtx& fc) {
    const Token& t = peek();
    if (t.kind == TokenKind::Id) {
      next();
      for (size_t i = fc.labels.size(); i-- > 0;)
        if (fc.labels[i] == t.value) return static_cast<uint32_t>(fc.labels.size() - 1 - i);
      fail(t, "unknown label $" + t.value);
    }
    if (t.kind == TokenKind::Number) return expect_u32();
    unexpected(t);
  }

  // ---- instructions --------------------------------------------------------------------------
  void parse_instrs(Bytes& out, FuncCtx& fc) {
    while (true) {
      const Token& t = peek();
      if (t.kind == TokenKind::LParen) {
        parse_folded(out, fc);
      } else if (t.kind == TokenKind::Keyword) {
        if (is_block_terminator(t.text)) return;
        parse_plain(out, fc);
      } else if (t.kind == TokenKind::RParen || t.kind == TokenKind::Eof) {
        return;
      } else {
        unexpected(t);
      }
    }
  }

  static bool is_block_kw(std::string_view kw) {
    return kw == "block" || kw == "loop" || kw == "if" || kw == "try" || kw == "try_table";
  }

  Opcode lookup_opcode(const Token& t) {
    auto op = opcode_from_text(t.text);
    if (!op) fail(t, "unknown operator " + std::string(t.text));
    return *op;
  }

  std::string opt_label_id() {
    if (peek().kind == TokenKind::Id) return next().value;
    return std::string();
  }

  // `end $l` / `else $l`: the optional id must repeat the block's label.
  void check_end_label(const std::string& label) {
    if (peek().kind == TokenKind::Id) {
      const Token& t = next();
      if (t.value != label) fail(t, "mismatching label");
    }
  }

  void parse_blocktype(Bytes& out) {
    TypeUse tu = parse_typeuse(/*allow_names=*/false);
    if (!tu.index && tu.ft.params.empty() && tu.ft.results.size() <= 1) {
      if (tu.ft.results.empty()) {
        out.u8(0x40);
      } else {
        out.u8(static_cast<uint8_t>(tu.ft.results[0]));
      }
      return;
    }
    out.s64(resolve_typeuse(tu));
  }

  // try_table's catch clauses; their labels are outside the try_table block.
  void parse_catch_clauses(Bytes& out, FuncCtx& fc) {
    Bytes clauses;
    uint32_t count = 0;
    while (peek().kind == TokenKind::LParen && peek(1).kind == TokenKind::Keyword) {
      std::string_view kw = peek(1).text;
      if (kw == "catch" || kw == "catch_ref") {
        next();
        next();
        clauses.u8(kw == "catch" ? 0x00 : 0x01);
        clauses.u32(parse_var(kTag));
        clauses.u32(parse_label(fc));
      } else if (kw == "catch_all" || kw == "catch_all_ref") {
        next();
        next();
        clauses.u8(kw == "catch_all" ? 0x02 : 0x03);
        clauses.u32(parse_label(fc));
      } else {
        break;
      }
      expect_rparen();
      ++count;
    }
    out.u32(count);
    out.append(clauses);
  }

  // Nesting guard: deeply nested input must fail cleanly rather than exhaust the C++ stack.
  struct DepthGuard {
    ModuleParser& p;
    DepthGuard(ModuleParser& parser, const Token& at) : p(parser) {
      if (++p.depth_ > kMaxNesting) p.fail(at, "nesting too deep");
    }
    ~DepthGuard() { --p.depth_; }
  };
  static constexpr int kMaxNesting = 3000;
  int depth_ = 0;

  void parse_plain_block(const Token& kw, Bytes& out, FuncCtx& fc) {
    DepthGuard guard(*this, kw);
    Opcode op = lookup_opcode(kw);
    std::string label = opt_label_id();
    out.opcode(op);
    parse_blocktype(out);
    if (op == Opcode::TryTable) parse_catch_clauses(out, fc);
    fc.labels.push_back(label);
    parse_instrs(out, fc);
    if (op == Opcode::If && at_kw("else")) {
      next();
      check_end_label(label);
      out.opcode(Opcode::Else);
      parse_instrs(out, fc);
    }
    if (op == Opcode::Try) {
      bool has_catch = false;
      while (at_kw("catch")) {
        has_catch = true;
        next();
        out.opcode(Opcode::Catch);
        out.u32(parse_var(kTag));
        parse_instrs(out, fc);
      }
      if (at_kw("catch_all")) {
        has_catch = true;
        next();
        out.opcode(Opcode::CatchAll);
        parse_instrs(out, fc);
      }
      if (!has_catch && at_kw("delegate")) {
        next();
        fc.labels.pop_back();
        out.opcode(Opcode::Delegate);
        out.u32(parse_label(fc));
        return;
      }
    }
    expect_kw("end");
    check_end_label(label);
    out.opcode(Opcode::End);
    fc.labels.pop_back();
  }

  void parse_plain(Bytes& out, FuncCtx& fc) {
    const Token& kw = next();
    if (is_block_kw(kw.text)) return parse_plain_block(kw, out, fc);
    parse_operator(kw, out, fc);
  }

  void parse_folded(Bytes& out, FuncCtx& fc) {
    DepthGuard guard(*this, peek());
    expect_lparen();
    const Token& kw = next();
    if (kw.kind != TokenKind::Keyword) unexpected(kw);
    if (kw.text == "block" || kw.text == "loop" || kw.text == "try_table") {
      Opcode op = lookup_opcode(kw);
      std::string label = opt_label_id();
      out.opcode(op);
      parse_blocktype(out);
      if (op == Opcode::TryTable) parse_catch_clauses(out, fc);
      fc.labels.push_back(label);
      parse_instrs(out, fc);
      expect_rparen();
      out.opcode(Opcode::End);
      fc.labels.pop_back();
      return;
    }
    if (kw.text == "if") {
      std::string label = opt_label_id();
      Bytes bt;
      parse_blocktype(bt);
      while (peek().kind == TokenKind::LParen && !at_lparen_kw("then")) parse_folded(out, fc);
      out.opcode(Opcode::If);
      out.append(bt);
      fc.labels.push_back(label);
      if (!at_lparen_kw("then")) unexpected(peek());
      next();
      next();
      parse_instrs(out, fc);
      expect_rparen();
      if (at_lparen_kw("else")) {
        next();
        next();
        out.opcode(Opcode::Else);
        parse_instrs(out, fc);
        expect_rparen();
      }
      expect_rparen();
      out.opcode(Opcode::End);
      fc.labels.pop_back();
      return;
    }
    if (kw.text == "try") {
      std::string label = opt_label_id();
      out.opcode(Opcode::Try);
      parse_blocktype(out);
      fc.labels.push_back(label);
      if (!at_lparen_kw("do")) unexpected(peek());
      next();
      next();
      parse_instrs(out, fc);
      expect_rparen();
      bool has_catch = false;
      while (at_lparen_kw("catch")) {
        has_catch = true;
        next();
        next();
        out.opcode(Opcode::Catch);
        out.u32(parse_var(kTag));
        parse_instrs(out, fc);
        expect_rparen();
      }
      if (at_lparen_kw("catch_all")) {
        has_catch = true;
        next();
        next();
        out.opcode(Opcode::CatchAll);
        parse_instrs(out, fc);
        expect_rparen();
      }
      if (!has_catch && at_lparen_kw("delegate")) {
        next();
        next();
        fc.labels.pop_back();
        out.opcode(Opcode::Delegate);
        out.u32(parse_label(fc));
        expect_rparen();
        expect_rparen();
        return;
      }
      expect_rparen();
      out.opcode(Opcode::End);
      fc.labels.pop_back();
      return;
    }
    // Clauses that only belong in a function header or a block are misplaced here.
    if (is_block_terminator(kw.text) || kw.text == "local" || kw.text == "param" ||
        kw.text == "result" || kw.text == "type" || kw.text == "export" || kw.text == "import" ||
        kw.text == "then" || kw.text == "do")
      unexpected(kw);
    Bytes instr;
    parse_operator(kw, instr, fc);
    while (peek().kind == TokenKind::LParen) parse_folded(out, fc);
    expect_rparen();
    out.append(instr);
  }

  static uint32_t natural_alignment_log2(std::string_view text) {
    // "i64.load32_u" -> 32 bits -> 2; "f64.store" -> 3.
    size_t dot = text.find('.');
    std::string_view op = text.substr(dot + 1);
    size_t i = op.starts_with("load") ? 4 : op.starts_with("store") ? 5 : op.size();
    uint32_t bits = 0;
    while (i < op.size() && op[i] >= '0' && op[i] <= '9') bits = bits * 10 + (op[i++] - '0');
    if (bits == 0) bits = text.starts_with("i64") || text.starts_with("f64") ? 64 : 32;
    return bits == 8 ? 0 : bits == 16 ? 1 : bits == 32 ? 2 : 3;
  }

  std::pair<uint32_t, uint32_t> parse_memarg(const Token& kw) {
    uint32_t align_log2 = natural_alignment_log2(kw.text);
    uint32_t offset = 0;
    auto keyword_value = [&](std::string_view prefix) -> std::optional<std::string_view> {
      const Token& t = peek();
      if (t.kind == TokenKind::Keyword && t.text.starts_with(prefix)) {
        next();
        return t.text.substr(prefix.size());
      }
      return std::nullopt;
    };
    const Token& offset_tok = peek();
    if (auto v = keyword_value("offset=")) {
      bool range = false;
      auto n = parse_u32(*v, &range);
      if (!n) fail(offset_tok, range ? "i32 constant out of range" : "malformed offset");
      offset = *n;
    }
    const Token& align_tok = peek();
    if (auto v = keyword_value("align=")) {
      bool range = false;
      auto n = parse_u32(*v, &range);
      if (!n) fail(align_tok, range ? "i32 constant out of range" : "malformed alignment");
      if (*n == 0 || (*n & (*n - 1)) != 0) fail(align_tok, "alignment must be a power of two");
      align_log2 = static_cast<uint32_t>(__builtin_ctz(*n));
    }
    return {align_log2, offset};
  }

  void parse_operator(const Token& kw, Bytes& out, FuncCtx& fc) {
    if (kw.kind != TokenKind::Keyword) unexpected(kw);
    Opcode op = lookup_opcode(kw);
    const OpcodeInfo& info = opcode_info(op);
    switch (op == Opcode::Select ? ImmKind::SelectT : info.imm) {
      case ImmKind::None: out.opcode(op); break;
      case ImmKind::Block:
      case ImmKind::TryTable: unexpected(kw);  // handled by the block parsers
      case ImmKind::Label:
        out.opcode(op);
        out.u32(parse_label(fc));
        break;
      case ImmKind::BrTable: {
        std::vector<uint32_t> labels;
        while (at_var()) labels.push_back(parse_label(fc));
        if (labels.empty()) unexpected(peek());
        out.opcode(op);
        out.u32(static_cast<uint32_t>(labels.size() - 1));
        for (uint32_t l : labels) out.u32(l);
        break;
      }
      case ImmKind::Func:
        out.opcode(op);
        out.u32(parse_var(kFunc));
        break;
      case ImmKind::CallIndirect: {
        uint32_t table = at_var() ? parse_var(kTable) : 0;
        TypeUse tu = parse_typeuse(/*allow_names=*/false);
        uint32_t type = resolve_typeuse(tu);
        out.opcode(op);
        out.u32(type);
        out.u32(table);
        break;
      }
      case ImmKind::Local:
        out.opcode(op);
        out.u32(parse_local(fc));
        break;
      case ImmKind::Global:
        out.opcode(op);
        out.u32(parse_var(kGlobal));
        break;
      case ImmKind::Table:
        out.opcode(op);
        out.u32(at_var() ? parse_var(kTable) : 0);
        break;
      case ImmKind::MemArg: {
        uint32_t mem = at_var() ? parse_var(kMemory) : 0;
        auto [align_log2, offset] = parse_memarg(kw);
        out.opcode(op);
        if (mem != 0) {
          // Multi-memory form: bit 6 of the alignment says a memory index follows.
          out.u32(align_log2 | 0x40);
          out.u32(mem);
        } else {
          out.u32(align_log2);
        }
        out.u32(offset);
        break;
      }
      case ImmKind::MemIdx:
        out.opcode(op);
        out.u32(at_var() ? parse_var(kMemory) : 0);
        break;
      case ImmKind::I32: {
        const Token& t = next();
        bool range = false;
        auto v = t.kind == TokenKind::Number ? parse_i32(t.text, &range) : std::nullopt;
        if (!v) literal_error(t, range, "i32 constant out of range");
        out.opcode(op);
        out.s32(static_cast<int32_t>(*v));
        break;
      }
      case ImmKind::I64: {
        const Token& t = next();
        bool range = false;
        auto v = t.kind == TokenKind::Number ? parse_i64(t.text, &range) : std::nullopt;
        if (!v) literal_error(t, range, "i64 constant out of range");
        out.opcode(op);
        out.s64(static_cast<int64_t>(*v));
        break;
      }
      case ImmKind::F32: {
        const Token& t = next();
        bool range = false;
        bool numeric = t.kind == TokenKind::Number || t.kind == TokenKind::Keyword;
        auto v = numeric ? parse_f32(t.text, &range) : std::nullopt;
        if (!v) literal_error(t, range, "constant out of range");
        out.opcode(op);
        out.fixed32(*v);
        break;
      }
      case ImmKind::F64: {
        const Token& t = next();
        bool range = false;
        bool numeric = t.kind == TokenKind::Number || t.kind == TokenKind::Keyword;
        auto v = numeric ? parse_f64(t.text, &range) : std::nullopt;
        if (!v) literal_error(t, range, "constant out of range");
        out.opcode(op);
        out.fixed64(*v);
        break;
      }
      case ImmKind::HeapType: {
        const Token& t = next();
        uint8_t ht;
        if (t.kind == TokenKind::Keyword && t.text == "func")
          ht = 0x70;
        else if (t.kind == TokenKind::Keyword && t.text == "extern")
          ht = 0x6F;
        else if (t.kind == TokenKind::Keyword && t.text == "exn")
          ht = 0x69;
        else
          unexpected(t);
        out.opcode(op);
        out.u8(ht);
        break;
      }
      case ImmKind::SelectT: {
        // Both Select and SelectT are spelled "select"; the result annotation picks.
        std::vector<ValType> types;
        bool annotated = false;
        while (at_lparen_kw("result")) {
          annotated = true;
          next();
          next();
          while (auto vt = opt_valtype()) types.push_back(*vt);
          expect_rparen();
        }
        if (!annotated) {
          out.opcode(Opcode::Select);
        } else {
          out.opcode(Opcode::SelectT);
          out.u32(static_cast<uint32_t>(types.size()));
          for (ValType t : types) out.u8(static_cast<uint8_t>(t));
        }
        break;
      }
      case ImmKind::MemoryInit: {
        uses_data_indices_ = true;
        uint32_t first = parse_var_either(kMemory, kData);
        uint32_t mem = 0, data = first;
        if (at_var()) {
          mem = first_as(kMemory);
          data = parse_var(kData);
        }
        out.opcode(op);
        out.u32(data);
        out.u32(mem);
        break;
      }
      case ImmKind::Data:
        uses_data_indices_ = true;
        out.opcode(op);
        out.u32(parse_var(kData));
        break;
      case ImmKind::MemoryCopy: {
        uint32_t dst = 0, src = 0;
        if (at_var()) {
          dst = parse_var(kMemory);
          src = parse_var(kMemory);
        }
        out.opcode(op);
        out.u32(dst);
        out.u32(src);
        break;
      }
      case ImmKind::TableInit: {
        uint32_t first = parse_var_either(kTable, kElem);
        uint32_t table = 0, elem = first;
        if (at_var()) {
          table = first_as(kTable);
          elem = parse_var(kElem);
        }
        out.opcode(op);
        out.u32(elem);
        out.u32(table);
        break;
      }
      case ImmKind::Elem:
        out.opcode(op);
        out.u32(parse_var(kElem));
        break;
      case ImmKind::TableCopy: {
        uint32_t dst = 0, src = 0;
        if (at_var()) {
          dst = parse_var(kTable);
          src = parse_var(kTable);
        }
        out.opcode(op);
        out.u32(dst);
        out.u32(src);
        break;
      }
      case ImmKind::Tag:
        out.opcode(op);
        out.u32(parse_var(kTag));
        break;
    }
  }

  // For `memory.init x y?` / `table.init x y?`: the first index's space depends on whether a
  // second follows, so it is resolved in both and re-read once that is known.
  const Token* pending_first_ = nullptr;
  uint32_t parse_var_either(Space if_two, Space if_one) {
    pending_first_ = &peek();
    bool two = peek(1).kind == TokenKind::Number || peek(1).kind == TokenKind::Id;
    return parse_var(two ? if_two : if_one);
  }
  uint32_t first_as(Space space) {
    size_t saved = pos_;
    pos_ = static_cast<size_t>(pending_first_ - toks_.data());
    uint32_t v = parse_var(space);
    pos_ = saved;
    return v;
  }

  // A constant expression: instructions up to the closing parenthesis, then `end`.
  void parse_const_expr(Bytes& out) {
    FuncCtx fc;
    parse_instrs(out, fc);
    out.opcode(Opcode::End);
  }

  // ---- fields --------------------------------------------------------------------------------
  void add_export(const std::string& name, ExternKind kind, uint32_t index) {
    exports_.name(name);
    exports_.u8(static_cast<uint8_t>(kind));
    exports_.u32(index);
    ++num_exports_;
  }

  // (export "name")* directly after an entity's id.
  std::vector<std::string> parse_inline_exports() {
    std::vector<std::string> names;
    while (at_lparen_kw("export")) {
      next();
      next();
      names.push_back(expect_name());
      expect_rparen();
    }
    return names;
  }

  struct InlineImport {
    std::string module, name;
  };
  std::optional<InlineImport> parse_inline_import() {
    if (!at_lparen_kw("import")) return std::nullopt;
    next();
    next();
    InlineImport imp;
    imp.module = expect_name();
    imp.name = expect_name();
    expect_rparen();
    return imp;
  }

  Limits parse_limits() {
    Limits l;
    l.min = expect_u32();
    if (peek().kind == TokenKind::Number) l.max = expect_u32();
    return l;
  }
  void encode_limits(Bytes& out, const Limits& l) {
    out.u8(l.max ? 0x01 : 0x00);
    out.u32(static_cast<uint32_t>(l.min));
    if (l.max) out.u32(static_cast<uint32_t>(*l.max));
  }

  void parse_globaltype(Bytes& out) {
    if (at_lparen_kw("mut")) {
      next();
      next();
      out.u8(static_cast<uint8_t>(expect_valtype()));
      out.u8(0x01);
      expect_rparen();
    } else {
      out.u8(static_cast<uint8_t>(expect_valtype()));
      out.u8(0x00);
    }
  }

  void begin_import(const InlineImport& imp, ExternKind kind) {
    imports_.name(imp.module);
    imports_.name(imp.name);
    imports_.u8(static_cast<uint8_t>(kind));
    ++num_imports_;
  }

  void parse_field() {
    size_t open = pos_;
    expect_lparen();
    const Token& kw = next();
    if (kw.text == "type") {
      define_again(kType);
      pos_ = skip_group(toks_, open);
    } else if (kw.text == "import") {
      parse_import();
    } else if (kw.text == "func") {
      parse_func();
    } else if (kw.text == "table") {
      parse_table();
    } else if (kw.text == "memory") {
      parse_memory();
    } else if (kw.text == "global") {
      parse_global();
    } else if (kw.text == "tag") {
      parse_tag();
    } else if (kw.text == "export") {
      std::string name = expect_name();
      expect_lparen();
      const Token& kind_tok = next();
      auto space = space_of_kind(kind_tok.text);
      if (kind_tok.kind != TokenKind::Keyword || !space) unexpected(kind_tok);
      uint32_t index = parse_var(*space);
      expect_rparen();
      expect_rparen();
      add_export(name, kind_of(*space), index);
    } else if (kw.text == "start") {
      uint32_t f = parse_var(kFunc);
      if (start_) fail(kw, "multiple start sections");
      start_ = f;
      expect_rparen();
    } else if (kw.text == "elem") {
      parse_elem();
    } else if (kw.text == "data") {
      parse_data();
    } else {
      fail(kw, "unknown module field");
    }
  }

  static ExternKind kind_of(Space s) {
    switch (s) {
      case kFunc: return ExternKind::Func;
      case kTable: return ExternKind::Table;
      case kMemory: return ExternKind::Memory;
      case kGlobal: return ExternKind::Global;
      default: return ExternKind::Tag;
    }
  }

  // Pass 2 assigns indices in the same order as pass 1.
  uint32_t define_again(Space s) { return spaces_[s].count++; }

  void parse_import() {
    InlineImport imp;
    imp.module = expect_name();
    imp.name = expect_name();
    expect_lparen();
    const Token& kind_tok = next();
    auto space = space_of_kind(kind_tok.text);
    if (kind_tok.kind != TokenKind::Keyword || !space) unexpected(kind_tok);
    opt_id();
    define_again(*space);
    begin_import(imp, kind_of(*space));
    encode_import_desc(*space);
    expect_rparen();
    expect_rparen();
  }

  // The part of an import after its id: type use, table/memory/global type.
  void encode_import_desc(Space space) {
    switch (space) {
      case kFunc: {
        TypeUse tu = parse_typeuse(/*allow_names=*/true);
        imports_.u32(resolve_typeuse(tu));
        break;
      }
      case kTag: {
        TypeUse tu = parse_typeuse(/*allow_names=*/true);
        imports_.u8(0x00);
        imports_.u32(resolve_typeuse(tu));
        break;
      }
      case kTable: {
        Limits l = parse_limits();
        imports_.u8(static_cast<uint8_t>(expect_reftype()));
        encode_limits(imports_, l);
        break;
      }
      case kMemory: encode_limits(imports_, parse_limits()); break;
      case kGlobal: parse_globaltype(imports_); break;
      default: break;
    }
  }

  void parse_func() {
    opt_id();
    uint32_t index = define_again(kFunc);
    for (auto& name : parse_inline_exports()) add_export(name, ExternKind::Func, index);
    if (auto imp = parse_inline_import()) {
      begin_import(*imp, ExternKind::Func);
      encode_import_desc(kFunc);
      expect_rparen();
      return;
    }
    TypeUse tu = parse_typeuse(/*allow_names=*/true);
    uint32_t type = resolve_typeuse(tu);
    functions_.u32(type);
    ++num_functions_;

    FuncCtx fc;
    uint32_t next_local = 0;
    for (auto& name : tu.param_names) {
      if (!name.empty() && !fc.locals.emplace(name, next_local).second)
        fail(*tu.at, "duplicate local $" + name);
      ++next_local;
    }
    std::vector<ValType> locals;
    while (at_lparen_kw("local")) {
      next();
      next();
      if (peek().kind == TokenKind::Id) {
        const Token& id = next();
        if (!fc.locals.emplace(id.value, next_local).second)
          fail(id, "duplicate local $" + id.value);
        locals.push_back(expect_valtype());
        ++next_local;
      } else {
        while (auto vt = opt_valtype()) {
          locals.push_back(*vt);
          ++next_local;
        }
      }
      expect_rparen();
    }
    Bytes body;
    // Runs of equal types.
    std::vector<std::pair<uint32_t, ValType>> runs;
    for (ValType t : locals) {
      if (!runs.empty() && runs.back().second == t) {
        ++runs.back().first;
      } else {
        runs.emplace_back(1, t);
      }
    }
    body.u32(static_cast<uint32_t>(runs.size()));
    for (auto& [count, t] : runs) {
      body.u32(count);
      body.u8(static_cast<uint8_t>(t));
    }
    if (name_section_ && !fc.locals.empty()) {
      std::vector<std::pair<uint32_t, std::string>> names;
      for (const auto& [name, local] : fc.locals) names.emplace_back(local, name);
      std::sort(names.begin(), names.end());
      local_names_.emplace_back(index, std::move(names));
    }
    parse_instrs(body, fc);
    body.opcode(Opcode::End);
    expect_rparen();
    code_.u32(static_cast<uint32_t>(body.v.size()));
    code_.append(body);
  }

  void parse_table() {
    opt_id();
    uint32_t index = define_again(kTable);
    for (auto& name : parse_inline_exports()) add_export(name, ExternKind::Table, index);
    if (auto imp = parse_inline_import()) {
      begin_import(*imp, ExternKind::Table);
      encode_import_desc(kTable);
      expect_rparen();
      return;
    }
    if (peek().kind == TokenKind::Keyword) {
      // reftype (elem ...): limits come from the element count.
      ValType type = expect_reftype();
      if (!at_lparen_kw("elem")) unexpected(peek());
      next();
      next();
      ElemSeg seg;
      seg.mode = SegmentMode::Active;
      seg.table = index;
      seg.offset.opcode(Opcode::I32Const);
      seg.offset.s32(0);
      seg.offset.opcode(Opcode::End);
      seg.type = type;
      if (peek().kind == TokenKind::LParen) {
        parse_elem_exprs(seg);
      } else {
        parse_elem_funcs(seg);
      }
      expect_rparen();
      expect_rparen();
      Limits l;
      l.min = seg.count;
      l.max = seg.count;
      tables_.u8(static_cast<uint8_t>(type));
      encode_limits(tables_, l);
      ++num_tables_;
      define_again(kElem);
      encode_elem(seg);
      return;
    }
    Limits l = parse_limits();
    ValType type = expect_reftype();
    expect_rparen();
    tables_.u8(static_cast<uint8_t>(type));
    encode_limits(tables_, l);
    ++num_tables_;
  }

  void parse_memory() {
    opt_id();
    uint32_t index = define_again(kMemory);
    for (auto& name : parse_inline_exports()) add_export(name, ExternKind::Memory, index);
    if (auto imp = parse_inline_import()) {
      begin_import(*imp, ExternKind::Memory);
      encode_import_desc(kMemory);
      expect_rparen();
      return;
    }
    if (at_lparen_kw("data")) {
      next();
      next();
      std::string bytes;
      while (peek().kind == TokenKind::String) bytes += next().value;
      expect_rparen();
      expect_rparen();
      uint64_t pages = (bytes.size() + kPageSize - 1) / kPageSize;
      Limits l;
      l.min = pages;
      l.max = pages;
      encode_limits(memories_, l);
      ++num_memories_;
      define_again(kData);
      Bytes offset;
      offset.opcode(Opcode::I32Const);
      offset.s32(0);
      offset.opcode(Opcode::End);
      encode_data(SegmentMode::Active, index, offset, bytes);
      return;
    }
    encode_limits(memories_, parse_limits());
    ++num_memories_;
    expect_rparen();
  }

  void parse_global() {
    opt_id();
    uint32_t index = define_again(kGlobal);
    for (auto& name : parse_inline_exports()) add_export(name, ExternKind::Global, index);
    if (auto imp = parse_inline_import()) {
      begin_import(*imp, ExternKind::Global);
      encode_import_desc(kGlobal);
      expect_rparen();
      return;
    }
    parse_globaltype(globals_);
    parse_const_expr(globals_);
    expect_rparen();
    ++num_globals_;
  }

  void parse_tag() {
    opt_id();
    uint32_t index = define_again(kTag);
    for (auto& name : parse_inline_exports()) add_export(name, ExternKind::Tag, index);
    if (auto imp = parse_inline_import()) {
      begin_import(*imp, ExternKind::Tag);
      encode_import_desc(kTag);
      expect_rparen();
      return;
    }
    TypeUse tu = parse_typeuse(/*allow_names=*/true);
    tags_.u8(0x00);
    tags_.u32(resolve_typeuse(tu));
    expect_rparen();
    ++num_tags_;
  }

  struct ElemSeg {
    SegmentMode mode = SegmentMode::Passive;
    uint32_t table = 0;
    Bytes offset;  // with its `end`
    ValType type = ValType::FuncRef;
    bool as_exprs = false;
    Bytes items;  // function indices, or expressions with their `end`
    uint32_t count = 0;
    // When every expression is `ref.func x`, the segment is encoded with function indices,
    // as the reference encoder does.
    bool all_ref_func = true;
    Bytes func_indices;
  };

  // Records whether `expr` (one element expression with its `end`) is a lone `ref.func x`.
  static void note_elem_expr(ElemSeg& seg, const Bytes& expr) {
    const auto& v = expr.v;
    bool ref_func = v.size() >= 3 && v.front() == 0xD2 && v.back() == 0x0B;
    if (ref_func) {
      for (size_t i = 1; i + 2 < v.size(); ++i) ref_func = ref_func && (v[i] & 0x80);
      ref_func = ref_func && !(v[v.size() - 2] & 0x80);
    }
    if (!ref_func) {
      seg.all_ref_func = false;
      return;
    }
    seg.func_indices.v.insert(seg.func_indices.v.end(), v.begin() + 1, v.end() - 1);
  }

  void parse_elem_funcs(ElemSeg& seg) {
    while (at_var()) {
      seg.items.u32(parse_var(kFunc));
      ++seg.count;
    }
  }

  void parse_elem_exprs(ElemSeg& seg) {
    seg.as_exprs = true;
    while (peek().kind == TokenKind::LParen) {
      Bytes expr;
      if (at_lparen_kw("item")) {
        next();
        next();
        parse_const_expr(expr);
        expect_rparen();
      } else {
        FuncCtx fc;
        parse_folded(expr, fc);
        expr.opcode(Opcode::End);
      }
      note_elem_expr(seg, expr);
      seg.items.append(expr);
      ++seg.count;
    }
  }

  void parse_offset(Bytes& out) {
    if (at_lparen_kw("offset")) {
      next();
      next();
      parse_const_expr(out);
      expect_rparen();
    } else {
      FuncCtx fc;
      parse_folded(out, fc);
      out.opcode(Opcode::End);
    }
  }

  void parse_elem() {
    opt_id();
    define_again(kElem);
    ElemSeg seg;
    if (at_kw("declare")) {
      next();
      seg.mode = SegmentMode::Declarative;
    } else {
      bool has_table = false;
      if (at_lparen_kw("table")) {
        next();
        next();
        seg.table = parse_var(kTable);
        expect_rparen();
        has_table = true;
      } else if (at_var()) {
        seg.table = parse_var(kTable);  // legacy `(elem 0 (offset) ...)`
        has_table = true;
      }
      if (peek().kind == TokenKind::LParen) {
        seg.mode = SegmentMode::Active;
        parse_offset(seg.offset);
      } else if (has_table) {
        unexpected(peek());
      }
    }
    if (at_kw("func")) {
      next();
      parse_elem_funcs(seg);
    } else if (peek().kind == TokenKind::Keyword) {
      seg.type = expect_reftype();
      parse_elem_exprs(seg);
    } else if (seg.mode == SegmentMode::Active) {
      parse_elem_funcs(seg);  // `(elem (offset) $f ...)` abbreviation
    }
    expect_rparen();
    encode_elem(seg);
  }

  void encode_elem(ElemSeg seg) {
    if (seg.as_exprs && seg.type == ValType::FuncRef && seg.all_ref_func) {
      seg.as_exprs = false;
      seg.items = std::move(seg.func_indices);
    }
    Bytes& out = elems_;
    ++num_elems_;
    bool funcref = seg.type == ValType::FuncRef;
    if (!seg.as_exprs) {
      switch (seg.mode) {
        case SegmentMode::Active:
          if (seg.table == 0) {
            out.u8(0x00);
            out.append(seg.offset);
          } else {
            out.u8(0x02);
            out.u32(seg.table);
            out.append(seg.offset);
            out.u8(0x00);
          }
          break;
        case SegmentMode::Passive:
          out.u8(0x01);
          out.u8(0x00);
          break;
        case SegmentMode::Declarative:
          out.u8(0x03);
          out.u8(0x00);
          break;
      }
    } else {
      switch (seg.mode) {
        case SegmentMode::Active:
          if (seg.table == 0 && funcref) {
            out.u8(0x04);
            out.append(seg.offset);
          } else {
            out.u8(0x06);
            out.u32(seg.table);
            out.append(seg.offset);
            out.u8(static_cast<uint8_t>(seg.type));
          }
          break;
        case SegmentMode::Passive:
          out.u8(0x05);
          out.u8(static_cast<uint8_t>(seg.type));
          break;
        case SegmentMode::Declarative:
          out.u8(0x07);
          out.u8(static_cast<uint8_t>(seg.type));
          break;
      }
    }
    out.u32(seg.count);
    out.append(seg.items);
  }

  void parse_data() {
    opt_id();
    define_again(kData);
    SegmentMode mode = SegmentMode::Passive;
    uint32_t memory = 0;
    bool has_memory = false;
    if (at_lparen_kw("memory")) {
      next();
      next();
      memory = parse_var(kMemory);
      expect_rparen();
      has_memory = true;
    } else if (at_var()) {
      memory = parse_var(kMemory);
      has_memory = true;
    }
    Bytes offset;
    if (peek().kind == TokenKind::LParen) {
      mode = SegmentMode::Active;
      parse_offset(offset);
    } else if (has_memory) {
      unexpected(peek());
    }
    std::string bytes;
    while (peek().kind == TokenKind::String) bytes += next().value;
    expect_rparen();
    encode_data(mode, memory, offset, bytes);
  }

  void encode_data(SegmentMode mode, uint32_t memory, const Bytes& offset,
                   const std::string& bytes) {
    Bytes& out = datas_;
    ++num_datas_;
    if (mode == SegmentMode::Passive) {
      out.u8(0x01);
    } else if (memory == 0) {
      out.u8(0x00);
      out.append(offset);
    } else {
      out.u8(0x02);
      out.u32(memory);
      out.append(offset);
    }
    out.name(bytes);
  }

  // ---- output --------------------------------------------------------------------------------
  std::vector<uint8_t> assemble() {
    Bytes out;
    for (uint8_t b : {0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00}) out.u8(b);
    auto section = [&out](uint8_t id, uint32_t count, const Bytes& body) {
      Bytes content;
      content.u32(count);
      content.append(body);
      out.u8(id);
      out.u32(static_cast<uint32_t>(content.v.size()));
      out.append(content);
    };
    if (!types_.empty()) {
      Bytes body;
      for (const FuncType& ft : types_) {
        body.u8(0x60);
        body.u32(static_cast<uint32_t>(ft.params.size()));
        for (ValType t : ft.params) body.u8(static_cast<uint8_t>(t));
        body.u32(static_cast<uint32_t>(ft.results.size()));
        for (ValType t : ft.results) body.u8(static_cast<uint8_t>(t));
      }
      section(1, static_cast<uint32_t>(types_.size()), body);
    }
    if (num_imports_) section(2, num_imports_, imports_);
    if (num_functions_) section(3, num_functions_, functions_);
    if (num_tables_) section(4, num_tables_, tables_);
    if (num_memories_) section(5, num_memories_, memories_);
    if (num_tags_) section(13, num_tags_, tags_);
    if (num_globals_) section(6, num_globals_, globals_);
    if (num_exports_) section(7, num_exports_, exports_);
    if (start_) {
      Bytes content;
      content.u32(*start_);
      out.u8(8);
      out.u32(static_cast<uint32_t>(content.v.size()));
      out.append(content);
    }
    if (num_elems_) section(9, num_elems_, elems_);
    // Like the reference encoders, only when code refers to data segments by index.
    if (uses_data_indices_) {
      Bytes content;
      content.u32(num_datas_);
      out.u8(12);
      out.u32(static_cast<uint32_t>(content.v.size()));
      out.append(content);
    }
    if (num_functions_) section(10, num_functions_, code_);
    if (num_datas_) section(11, num_datas_, datas_);
    if (name_section_) append_name_section(out);
    return std::move(out.v);
  }

  // The custom "name" section: function names (subsection 1), local names (2), global names (7),
  // each sorted by index as the format requires.
  void append_name_section(Bytes& out) const {
    auto sorted = [](const NameSpace& space) {
      std::vector<std::pair<uint32_t, std::string>> v;
      for (const auto& [name, index] : space.ids) v.emplace_back(index, name);
      std::sort(v.begin(), v.end());
      return v;
    };
    auto name_map = [](Bytes& b, const std::vector<std::pair<uint32_t, std::string>>& names) {
      b.u32(static_cast<uint32_t>(names.size()));
      for (const auto& [index, name] : names) {
        b.u32(index);
        b.name(name);
      }
    };
    Bytes content;
    content.name("name");
    auto subsection = [&content](uint8_t id, const Bytes& body) {
      content.u8(id);
      content.u32(static_cast<uint32_t>(body.v.size()));
      content.append(body);
    };
    if (auto funcs = sorted(spaces_[kFunc]); !funcs.empty()) {
      Bytes b;
      name_map(b, funcs);
      subsection(1, b);
    }
    if (!local_names_.empty()) {
      auto by_func = local_names_;
      std::sort(by_func.begin(), by_func.end(),
                [](const auto& x, const auto& y) { return x.first < y.first; });
      Bytes b;
      b.u32(static_cast<uint32_t>(by_func.size()));
      for (const auto& [func, names] : by_func) {
        b.u32(func);
        name_map(b, names);
      }
      subsection(2, b);
    }
    if (auto globals = sorted(spaces_[kGlobal]); !globals.empty()) {
      Bytes b;
      name_map(b, globals);
      subsection(7, b);
    }
    out.u8(0);
    out.u32(static_cast<uint32_t>(content.v.size()));
    out.append(content);
  }

  std::string_view src_;
  const std::vector<Token>& toks_;
  size_t begin_, end_, pos_;
  bool name_section_;
  std::vector<std::pair<uint32_t, std::vector<std::pair<uint32_t, std::string>>>> local_names_;

  NameSpace spaces_[kSpaceCount];
  std::optional<Space> first_definition_;
  std::vector<FuncType> types_;

  Bytes imports_, functions_, tables_, memories_, tags_, globals_, exports_, elems_, code_, datas_;
  uint32_t num_imports_ = 0, num_functions_ = 0, num_tables_ = 0, num_memories_ = 0, num_tags_ = 0,
           num_globals_ = 0, num_exports_ = 0, num_elems_ = 0, num_datas_ = 0;
  std::optional<uint32_t> start_;
  bool uses_data_indices_ = false;
};

}  // namespace

size_t skip_group(const std::vector<Token>& tokens, size_t open) {
  size_t depth = 0;
  for (size_t p = open; p < tokens.size(); ++p) {
    if (tokens[p].kind == TokenKind::LParen) {
      ++depth;
    } else if (tokens[p].kind == TokenKind::RParen) {
      if (--depth == 0) return p + 1;
    } else if (tokens[p].kind == TokenKind::Eof) {
      break;
    }
  }
  throw TextError{tokens[open].offset, "unclosed parenthesis"};
}

std::vector<uint8_t> encode_module_fields(std::string_view source, const std::vector<Token>& tokens,
                                          size_t begin, size_t end, bool name_section) {
  ModuleParser parser(source, tokens, begin, end, name_section);
  return parser.run();
}

}  // namespace text

Result<std::vector<uint8_t>> wat_to_binary(std::string_view source, TextOptions options) {
  using namespace text;
  try {
    std::vector<Token> tokens = tokenize(source);
    size_t begin = 0, end = tokens.size() - 1;  // Eof
    if (tokens.size() >= 3 && tokens[0].kind == TokenKind::LParen &&
        tokens[1].kind == TokenKind::Keyword && tokens[1].text == "module") {
      size_t after = skip_group(tokens, 0);
      if (tokens[after].kind != TokenKind::Eof)
        throw TextError{tokens[after].offset, "unexpected token after module"};
      begin = 2;
      if (tokens[begin].kind == TokenKind::Id) ++begin;
      end = after - 1;
    }
    return encode_module_fields(source, tokens, begin, end, options.name_section);
  } catch (const TextError& e) {
    Error err;
    err.kind = Error::Kind::Malformed;
    err.offset = e.offset;
    err.message = format_text_error(source, e);
    return err;
  }
}

}  // namespace rw::wasm
