#include "wasm/validator/validator.h"

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "wasm/common/instr_reader.h"

namespace rw::wasm {
namespace {

// An operand type: a ValType byte, or kUnknown for the stack-polymorphic bottom type that
// unreachable code pops.
using Ty = uint8_t;
constexpr Ty kUnknown = 0;
constexpr Ty ty(ValType t) { return static_cast<Ty>(t); }

// Validation stops at the first error; throwing keeps the checks on the hot path to a compare
// and a branch.
struct Failure {
  Error error;
};

[[noreturn]] void fail(Error::Kind kind, size_t offset, std::string message) {
  throw Failure{Error{kind, std::move(message), offset}};
}
[[noreturn]] void invalid(size_t offset, std::string message) {
  fail(Error::Kind::Invalid, offset, std::move(message));
}
[[noreturn]] void malformed(size_t offset, std::string message) {
  fail(Error::Kind::Malformed, offset, std::move(message));
}

Error::Kind kind_of(const std::string& reason) {
  return std::string_view(reason).starts_with("unsupported feature") ? Error::Kind::Unsupported
                                                                     : Error::Kind::Malformed;
}

std::string type_name(Ty t) { return t == kUnknown ? "_" : to_string(static_cast<ValType>(t)); }

void reject_simd(ValType t, size_t offset) {
  if (t == ValType::V128) {
    fail(Error::Kind::Unsupported, offset, "unsupported feature: SIMD (v128 value type)");
  }
}

// A list of value types that lives elsewhere (a FuncType in the module, or kSingle below), so
// control frames can refer to block types without allocating.
struct TypeList {
  const ValType* data = nullptr;
  uint32_t size = 0;
  ValType operator[](uint32_t i) const { return data[i]; }
  bool operator==(const TypeList& o) const {
    if (size != o.size) return false;
    for (uint32_t i = 0; i < size; ++i) {
      if (data[i] != o.data[i]) return false;
    }
    return true;
  }
};

TypeList list_of(const std::vector<ValType>& v) {
  return TypeList{v.data(), static_cast<uint32_t>(v.size())};
}

struct SingleTypes {
  ValType types[256];
  constexpr SingleTypes() : types() {
    for (int i = 0; i < 256; ++i) types[i] = static_cast<ValType>(i);
  }
};
constexpr SingleTypes kSingle;
TypeList one(ValType t) { return TypeList{&kSingle.types[static_cast<uint8_t>(t)], 1}; }

std::string list_name(TypeList l) {
  std::string s = "[";
  for (uint32_t i = 0; i < l.size; ++i) {
    if (i) s += ' ';
    s += to_string(l[i]);
  }
  return s + "]";
}

// Fixed operand signatures from opcodes.def ("ii:i"), decoded once.
struct Signature {
  bool fixed = false;
  uint8_t num_params = 0;
  uint8_t num_results = 0;
  std::array<Ty, 3> params{};
  Ty result = kUnknown;
};

Ty sig_char(char c) {
  switch (c) {
    case 'i': return ty(ValType::I32);
    case 'I': return ty(ValType::I64);
    case 'f': return ty(ValType::F32);
    case 'F': return ty(ValType::F64);
    default: return kUnknown;
  }
}

const std::array<Signature, static_cast<size_t>(Opcode::Count_)>& signatures() {
  static const auto table = [] {
    std::array<Signature, static_cast<size_t>(Opcode::Count_)> t{};
    for (size_t i = 0; i < t.size(); ++i) {
      std::string_view s = opcode_info(static_cast<Opcode>(i)).signature;
      size_t colon = s.find(':');
      if (colon == std::string_view::npos) continue;
      Signature& sig = t[i];
      sig.fixed = true;
      for (size_t k = 0; k < colon && k < 3; ++k) sig.params[sig.num_params++] = sig_char(s[k]);
      if (colon + 1 < s.size()) {
        sig.num_results = 1;
        sig.result = sig_char(s[colon + 1]);
      }
    }
    return t;
  }();
  return table;
}

// log2 of the natural alignment of a load or store.
uint32_t natural_alignment(Opcode op) {
  switch (op) {
    case Opcode::I32Load8S:
    case Opcode::I32Load8U:
    case Opcode::I64Load8S:
    case Opcode::I64Load8U:
    case Opcode::I32Store8:
    case Opcode::I64Store8: return 0;
    case Opcode::I32Load16S:
    case Opcode::I32Load16U:
    case Opcode::I64Load16S:
    case Opcode::I64Load16U:
    case Opcode::I32Store16:
    case Opcode::I64Store16: return 1;
    case Opcode::I32Load:
    case Opcode::F32Load:
    case Opcode::I64Load32S:
    case Opcode::I64Load32U:
    case Opcode::I32Store:
    case Opcode::F32Store:
    case Opcode::I64Store32: return 2;
    default: return 3;
  }
}

constexpr uint64_t kMaxLocals = uint64_t{1} << 24;

enum class FrameKind : uint8_t { Function, Block, Loop, If, Else, Try, Catch, CatchAll, TryTable };

struct Frame {
  FrameKind kind;
  bool unreachable;
  uint32_t height;
  TypeList params;
  TypeList results;
};

// Module-wide facts the function validator looks up.
struct ModuleContext {
  const Module& m;
  std::vector<uint8_t> declared_funcs;  // 1 when ref.func may name the function
  uint32_t total_funcs;
  uint32_t total_tables;
  uint32_t total_memories;
  uint32_t total_globals;
  uint32_t total_tags;

  explicit ModuleContext(const Module& module)
      : m(module),
        total_funcs(module.total_funcs()),
        total_tables(module.total_tables()),
        total_memories(module.total_memories()),
        total_globals(module.total_globals()),
        total_tags(module.total_tags()) {}

  void check_func(uint32_t i, size_t at) const {
    if (i >= total_funcs) invalid(at, "unknown function " + std::to_string(i));
  }
  void check_table(uint32_t i, size_t at) const {
    if (i >= total_tables) invalid(at, "unknown table " + std::to_string(i));
  }
  void check_memory(uint32_t i, size_t at) const {
    if (i >= total_memories) invalid(at, "unknown memory " + std::to_string(i));
  }
  void check_global(uint32_t i, size_t at) const {
    if (i >= total_globals) invalid(at, "unknown global " + std::to_string(i));
  }
  void check_tag(uint32_t i, size_t at) const {
    if (i >= total_tags) invalid(at, "unknown tag " + std::to_string(i));
  }
  void check_type(uint32_t i, size_t at) const {
    if (i >= m.types.size()) invalid(at, "unknown type " + std::to_string(i));
  }
  void check_elem(uint32_t i, size_t at) const {
    if (i >= m.elems.size()) invalid(at, "unknown elem segment " + std::to_string(i));
  }
  const FuncType& tag_type(uint32_t i) const { return m.types[m.tag_type_index(i)]; }
};

class FunctionValidator {
 public:
  explicit FunctionValidator(const ModuleContext& ctx)
      : ctx_(ctx), m_(ctx.m), signatures_(signatures().data()) {
    vals_.reserve(1024);
    ctrl_.reserve(256);
  }

  void validate(uint32_t func_index, const FunctionBody& body, bool last_body);

 private:
  void step();

  [[noreturn]] void mismatch(Ty expected, Ty actual, bool empty) {
    invalid(at_, "type mismatch: instruction requires [" + type_name(expected) +
                     "] but stack has [" + (empty ? std::string() : type_name(actual)) + "]");
  }

  void push(Ty t) { vals_.push_back(t); }
  void push(ValType t) { vals_.push_back(ty(t)); }
  void push_list(TypeList l) {
    for (uint32_t i = 0; i < l.size; ++i) vals_.push_back(ty(l[i]));
  }

  Ty pop_any() {
    const Frame& f = ctrl_.back();
    if (vals_.size() == f.height) {
      if (f.unreachable) return kUnknown;
      invalid(at_, "type mismatch: instruction requires a value but stack has []");
    }
    Ty t = vals_.back();
    vals_.pop_back();
    return t;
  }

  Ty pop(Ty expected) {
    const Frame& f = ctrl_.back();
    if (vals_.size() == f.height) {
      if (f.unreachable) return kUnknown;
      mismatch(expected, kUnknown, true);
    }
    Ty actual = vals_.back();
    vals_.pop_back();
    if (actual != expected && actual != kUnknown && expected != kUnknown) {
      mismatch(expected, actual, false);
    }
    return actual;
  }
  Ty pop(ValType expected) { return pop(ty(expected)); }

  void pop_list(TypeList l) {
    for (uint32_t i = l.size; i-- > 0;) pop(ty(l[i]));
  }

  // Checks that the top of the stack matches `l` without popping (br_table's non-default
  // targets).
  void check_top(TypeList l) {
    const Frame& f = ctrl_.back();
    size_t available = vals_.size() - f.height;
    for (uint32_t i = 0; i < l.size; ++i) {
      Ty expected = ty(l[l.size - 1 - i]);
      if (i >= available) {
        if (f.unreachable) return;
        mismatch(expected, kUnknown, true);
      }
      Ty actual = vals_[vals_.size() - 1 - i];
      if (actual != expected && actual != kUnknown) mismatch(expected, actual, false);
    }
  }

  void set_unreachable() {
    Frame& f = ctrl_.back();
    vals_.resize(f.height);
    f.unreachable = true;
  }

  void push_frame(FrameKind kind, TypeList params, TypeList results) {
    ctrl_.push_back(Frame{kind, false, static_cast<uint32_t>(vals_.size()), params, results});
    push_list(params);
  }

  // Pops the frame's results and checks nothing else is left in it.
  void check_frame_end(const Frame& f) {
    pop_list(f.results);
    if (vals_.size() != f.height) {
      std::string extra = "[";
      for (size_t i = f.height; i < vals_.size(); ++i) {
        if (i != f.height) extra += ' ';
        extra += type_name(vals_[i]);
      }
      invalid(at_, "type mismatch: block requires " + list_name(f.results) + " but stack has " +
                       extra + "]");
    }
  }

  const Frame& label(uint32_t depth) {
    if (depth >= ctrl_.size()) invalid(at_, "unknown label " + std::to_string(depth));
    return ctrl_[ctrl_.size() - 1 - depth];
  }
  static TypeList label_types(const Frame& f) {
    return f.kind == FrameKind::Loop ? f.params : f.results;
  }

  void block_type(const BlockType& bt, TypeList& params, TypeList& results) {
    switch (bt.kind) {
      case BlockType::Kind::Empty: params = results = TypeList{}; return;
      case BlockType::Kind::Value:
        reject_simd(bt.type, at_);
        params = TypeList{};
        results = one(bt.type);
        return;
      case BlockType::Kind::Index: {
        ctx_.check_type(bt.index, at_);
        const FuncType& t = m_.types[bt.index];
        params = list_of(t.params);
        results = list_of(t.results);
        return;
      }
    }
  }

  Ty table_element(uint32_t table) {
    ctx_.check_table(table, at_);
    return ty(m_.table_type(table).element);
  }

  void memory_access() {
    ctx_.check_memory(instr_.mem.memory, at_);
    if (instr_.mem.align > natural_alignment(instr_.op)) {
      invalid(at_, "alignment must not be larger than natural");
    }
  }

  // An index out of range is reported first (Invalid), then a missing data count section
  // (Malformed): modules from the text format get no data count section when they have no data
  // segments, and the spec expects "unknown data segment" for those.
  void check_data_count(uint32_t data_index) {
    size_t count = m_.data_count ? *m_.data_count : m_.datas.size();
    if (data_index >= count) invalid(at_, "unknown data segment " + std::to_string(data_index));
    if (!m_.data_count) malformed(at_, "data count section required");
  }

  const ModuleContext& ctx_;
  const Module& m_;
  const Signature* signatures_;
  std::vector<Ty> vals_;
  std::vector<Frame> ctrl_;
  std::vector<ValType> locals_;
  Instr instr_;
  size_t at_ = 0;
};

void FunctionValidator::validate(uint32_t func_index, const FunctionBody& body, bool last_body) {
  at_ = body.body_offset;
  if (body.code_begin > body.code_end || body.code_end > m_.bytes.size()) {
    malformed(at_, "function body outside the module bytes");
  }
  const FuncType& type = m_.func_type(func_index);
  locals_.assign(type.params.begin(), type.params.end());
  // The decoder bounds the locals; a Module built some other way gets a sanity bound here.
  uint64_t total = 0;
  for (const LocalRun& run : body.locals) total += run.count;
  if (total > kMaxLocals) malformed(at_, "too many locals");
  for (const LocalRun& run : body.locals) {
    reject_simd(run.type, at_);
    locals_.insert(locals_.end(), run.count, run.type);
  }
  vals_.clear();
  ctrl_.clear();
  ctrl_.push_back(Frame{FrameKind::Function, false, 0, {}, list_of(type.results)});

  std::span<const uint8_t> code(m_.bytes.data() + body.code_begin, body.code_end - body.code_begin);
  InstrReader reader(code, body.code_begin);
  while (!ctrl_.empty()) {
    if (!reader.next(instr_)) {
      if (!reader.ok()) fail(kind_of(reader.error()), reader.error_offset(), reader.error());
      // Worded as the spec interpreter words it: it reads on into the next body when there is
      // one, and runs out of section after the last.
      malformed(reader.offset(), last_body ? "unexpected end of section or function (function body "
                                             "ended before its final end)"
                                           : "END opcode expected (function body ended before its "
                                             "final end)");
    }
    at_ = instr_.offset;
    step();
  }
  if (!reader.at_end()) {
    malformed(reader.offset(), "section size mismatch (bytes after the function's end)");
  }
}

void FunctionValidator::step() {
  const Opcode op = instr_.op;
  switch (op) {
    case Opcode::Unreachable: set_unreachable(); return;
    case Opcode::Nop: return;

    case Opcode::Block:
    case Opcode::Loop:
    case Opcode::If:
    case Opcode::Try: {
      TypeList params, results;
      block_type(instr_.block, params, results);
      if (op == Opcode::If) pop(ValType::I32);
      pop_list(params);
      FrameKind kind = op == Opcode::Block  ? FrameKind::Block
                       : op == Opcode::Loop ? FrameKind::Loop
                       : op == Opcode::If   ? FrameKind::If
                                            : FrameKind::Try;
      push_frame(kind, params, results);
      return;
    }

    case Opcode::Else: {
      Frame& f = ctrl_.back();
      if (f.kind != FrameKind::If) malformed(at_, "else without a matching if");
      check_frame_end(f);
      f.kind = FrameKind::Else;
      f.unreachable = false;
      push_list(f.params);
      return;
    }

    case Opcode::End: {
      const Frame f = ctrl_.back();
      check_frame_end(f);
      if (f.kind == FrameKind::If && !(f.params == f.results)) {
        invalid(at_, "type mismatch: if without else must leave its parameters " +
                         list_name(f.params) + " as its results " + list_name(f.results));
      }
      ctrl_.pop_back();
      if (!ctrl_.empty()) push_list(f.results);
      return;
    }

    case Opcode::Br:
      pop_list(label_types(label(instr_.index)));
      set_unreachable();
      return;

    case Opcode::BrIf: {
      TypeList types = label_types(label(instr_.index));
      pop(ValType::I32);
      pop_list(types);
      push_list(types);
      return;
    }

    case Opcode::BrTable: {
      pop(ValType::I32);
      TypeList fallback = label_types(label(instr_.targets.back()));
      for (size_t i = 0; i + 1 < instr_.targets.size(); ++i) {
        TypeList types = label_types(label(instr_.targets[i]));
        if (types.size != fallback.size) {
          invalid(at_, "type mismatch: br_table targets have different arities");
        }
        check_top(types);
      }
      pop_list(fallback);
      set_unreachable();
      return;
    }

    case Opcode::Return:
      pop_list(ctrl_.front().results);
      set_unreachable();
      return;

    case Opcode::Call:
    case Opcode::ReturnCall: {
      ctx_.check_func(instr_.index, at_);
      const FuncType& callee = m_.func_type(instr_.index);
      if (op == Opcode::ReturnCall && !(list_of(callee.results) == ctrl_.front().results)) {
        invalid(at_, "type mismatch: return_call callee results " +
                         list_name(list_of(callee.results)) + " differ from the caller's " +
                         list_name(ctrl_.front().results));
      }
      pop_list(list_of(callee.params));
      if (op == Opcode::ReturnCall) {
        set_unreachable();
      } else {
        push_list(list_of(callee.results));
      }
      return;
    }

    case Opcode::CallIndirect:
    case Opcode::ReturnCallIndirect: {
      if (table_element(instr_.index2) != ty(ValType::FuncRef)) {
        invalid(at_, "type mismatch: call_indirect needs a funcref table");
      }
      ctx_.check_type(instr_.index, at_);
      const FuncType& callee = m_.types[instr_.index];
      if (op == Opcode::ReturnCallIndirect && !(list_of(callee.results) == ctrl_.front().results)) {
        invalid(at_, "type mismatch: return_call_indirect callee results " +
                         list_name(list_of(callee.results)) + " differ from the caller's " +
                         list_name(ctrl_.front().results));
      }
      pop(ValType::I32);
      pop_list(list_of(callee.params));
      if (op == Opcode::ReturnCallIndirect) {
        set_unreachable();
      } else {
        push_list(list_of(callee.results));
      }
      return;
    }

    case Opcode::Throw:
      ctx_.check_tag(instr_.index, at_);
      pop_list(list_of(ctx_.tag_type(instr_.index).params));
      set_unreachable();
      return;

    case Opcode::ThrowRef:
      pop(ValType::ExnRef);
      set_unreachable();
      return;

    case Opcode::Rethrow: {
      const Frame& f = label(instr_.index);
      if (f.kind != FrameKind::Catch && f.kind != FrameKind::CatchAll) {
        invalid(at_, "invalid rethrow label");
      }
      set_unreachable();
      return;
    }

    case Opcode::Catch:
    case Opcode::CatchAll: {
      Frame& f = ctrl_.back();
      if (f.kind != FrameKind::Try && f.kind != FrameKind::Catch) {
        malformed(at_, op == Opcode::Catch ? "catch without a matching try"
                                           : "catch_all without a matching try");
      }
      check_frame_end(f);
      f.unreachable = false;
      if (op == Opcode::Catch) {
        ctx_.check_tag(instr_.index, at_);
        f.kind = FrameKind::Catch;
        push_list(list_of(ctx_.tag_type(instr_.index).params));
      } else {
        f.kind = FrameKind::CatchAll;
      }
      return;
    }

    case Opcode::Delegate: {
      const Frame f = ctrl_.back();
      if (f.kind != FrameKind::Try) malformed(at_, "delegate without a matching try");
      check_frame_end(f);
      ctrl_.pop_back();
      // The label counts the blocks around the try; the function frame itself is allowed.
      if (instr_.index >= ctrl_.size())
        invalid(at_, "unknown label " + std::to_string(instr_.index));
      push_list(f.results);
      return;
    }

    case Opcode::TryTable: {
      TypeList params, results;
      block_type(instr_.block, params, results);
      pop_list(params);
      for (const CatchClause& c : instr_.catches) {
        TypeList target = label_types(label(c.label));
        TypeList tag_params{};
        if (c.kind == CatchKind::Catch || c.kind == CatchKind::CatchRef) {
          ctx_.check_tag(c.tag, at_);
          tag_params = list_of(ctx_.tag_type(c.tag).params);
        }
        bool with_ref = c.kind == CatchKind::CatchRef || c.kind == CatchKind::CatchAllRef;
        bool ok = target.size == tag_params.size + (with_ref ? 1 : 0);
        for (uint32_t i = 0; ok && i < tag_params.size; ++i) ok = target[i] == tag_params[i];
        if (ok && with_ref) ok = target[target.size - 1] == ValType::ExnRef;
        if (!ok) {
          invalid(at_, "type mismatch: catch clause for label " + std::to_string(c.label) +
                           " delivers values that do not match the label's " + list_name(target));
        }
      }
      push_frame(FrameKind::TryTable, params, results);
      return;
    }

    case Opcode::Drop: pop_any(); return;

    case Opcode::Select: {
      pop(ValType::I32);
      Ty t1 = pop_any();
      Ty t2 = pop_any();
      auto numeric = [](Ty t) { return t == kUnknown || is_numeric(static_cast<ValType>(t)); };
      if (!numeric(t1) || !numeric(t2)) {
        invalid(at_, "type mismatch: select without a type needs numeric operands");
      }
      if (t1 != t2 && t1 != kUnknown && t2 != kUnknown) {
        invalid(at_, "type mismatch: select operands " + type_name(t2) + " and " + type_name(t1));
      }
      push(t1 == kUnknown ? t2 : t1);
      return;
    }

    case Opcode::SelectT: {
      if (instr_.types.size() != 1) invalid(at_, "invalid result arity");
      ValType t = instr_.types[0];
      reject_simd(t, at_);
      pop(ValType::I32);
      pop(t);
      pop(t);
      push(t);
      return;
    }

    case Opcode::LocalGet:
    case Opcode::LocalSet:
    case Opcode::LocalTee: {
      if (instr_.index >= locals_.size()) {
        invalid(at_, "unknown local " + std::to_string(instr_.index));
      }
      ValType t = locals_[instr_.index];
      if (op != Opcode::LocalGet) pop(t);
      if (op != Opcode::LocalSet) push(t);
      return;
    }

    case Opcode::GlobalGet:
    case Opcode::GlobalSet: {
      ctx_.check_global(instr_.index, at_);
      GlobalType g = m_.global_type(instr_.index);
      if (op == Opcode::GlobalGet) {
        push(g.type);
      } else {
        if (!g.is_mutable) invalid(at_, "global is immutable");
        pop(g.type);
      }
      return;
    }

    case Opcode::TableGet: {
      Ty t = table_element(instr_.index);
      pop(ValType::I32);
      push(t);
      return;
    }
    case Opcode::TableSet: {
      Ty t = table_element(instr_.index);
      pop(t);
      pop(ValType::I32);
      return;
    }

    case Opcode::I32Load:
    case Opcode::I64Load:
    case Opcode::F32Load:
    case Opcode::F64Load:
    case Opcode::I32Load8S:
    case Opcode::I32Load8U:
    case Opcode::I32Load16S:
    case Opcode::I32Load16U:
    case Opcode::I64Load8S:
    case Opcode::I64Load8U:
    case Opcode::I64Load16S:
    case Opcode::I64Load16U:
    case Opcode::I64Load32S:
    case Opcode::I64Load32U:
    case Opcode::I32Store:
    case Opcode::I64Store:
    case Opcode::F32Store:
    case Opcode::F64Store:
    case Opcode::I32Store8:
    case Opcode::I32Store16:
    case Opcode::I64Store8:
    case Opcode::I64Store16:
    case Opcode::I64Store32: memory_access(); break;  // typed by the signature table

    case Opcode::MemorySize:
    case Opcode::MemoryGrow:
    case Opcode::MemoryFill: ctx_.check_memory(instr_.index, at_); break;
    case Opcode::MemoryCopy:
      ctx_.check_memory(instr_.index, at_);
      ctx_.check_memory(instr_.index2, at_);
      break;

    case Opcode::RefNull: push(static_cast<Ty>(instr_.value)); return;

    case Opcode::RefIsNull: {
      Ty t = pop_any();
      if (t != kUnknown && !is_reference(static_cast<ValType>(t))) {
        invalid(at_, "type mismatch: ref.is_null needs a reference but stack has [" + type_name(t) +
                         "]");
      }
      push(ValType::I32);
      return;
    }

    case Opcode::RefFunc:
      ctx_.check_func(instr_.index, at_);
      if (!ctx_.declared_funcs[instr_.index]) invalid(at_, "undeclared function reference");
      push(ValType::FuncRef);
      return;

    case Opcode::MemoryInit:
      ctx_.check_memory(instr_.index2, at_);
      check_data_count(instr_.index);
      break;
    case Opcode::DataDrop: check_data_count(instr_.index); break;

    case Opcode::TableInit: {
      Ty t = table_element(instr_.index2);
      ctx_.check_elem(instr_.index, at_);
      if (ty(m_.elems[instr_.index].type) != t) {
        invalid(at_, "type mismatch: table.init element segment and table types differ");
      }
      break;
    }
    case Opcode::ElemDrop: ctx_.check_elem(instr_.index, at_); break;
    case Opcode::TableCopy:
      if (table_element(instr_.index) != table_element(instr_.index2)) {
        invalid(at_, "type mismatch: table.copy between tables of different types");
      }
      break;
    case Opcode::TableGrow: {
      Ty t = table_element(instr_.index);
      pop(ValType::I32);
      pop(t);
      push(ValType::I32);
      return;
    }
    case Opcode::TableSize: table_element(instr_.index); break;
    case Opcode::TableFill: {
      Ty t = table_element(instr_.index);
      pop(ValType::I32);
      pop(t);
      pop(ValType::I32);
      return;
    }

    default: break;
  }

  const Signature& sig = signatures_[static_cast<size_t>(op)];
  if (!sig.fixed) {
    malformed(at_, std::string("illegal opcode ") + std::string(opcode_info(op).text));
  }
  for (int i = sig.num_params; i-- > 0;) pop(sig.params[i]);
  if (sig.num_results) push(sig.result);
}

class ModuleValidator {
 public:
  explicit ModuleValidator(const Module& m) : m_(m), ctx_(m) {}

  void run();

 private:
  void check_consistency();
  void check_table_limits(const Limits& l, size_t at);
  void check_memory_limits(const Limits& l, size_t at);
  void check_tag_type(uint32_t type_index, size_t at);
  void const_expr(const ConstExpr& e, ValType expected);
  void collect_declared_funcs();

  const Module& m_;
  ModuleContext ctx_;
  std::vector<Ty> const_stack_;
};

void ModuleValidator::check_consistency() {
  // Modules built by other means than the decoder (the text parser) get the same guarantees.
  uint32_t counts[5] = {};
  for (const Import& imp : m_.imports) ++counts[static_cast<size_t>(imp.kind)];
  if (counts[0] != m_.num_imported_funcs || counts[1] != m_.num_imported_tables ||
      counts[2] != m_.num_imported_memories || counts[3] != m_.num_imported_globals ||
      counts[4] != m_.num_imported_tags) {
    fail(Error::Kind::Other, Error::kNoOffset, "inconsistent module: import counts");
  }
  if (m_.codes.size() != m_.functions.size()) {
    malformed(Error::kNoOffset, "function and code section have inconsistent lengths");
  }
  if (m_.data_count && *m_.data_count != m_.datas.size()) {
    malformed(Error::kNoOffset, "data count and data section have inconsistent lengths");
  }
  for (const FuncType& t : m_.types) {
    for (ValType v : t.params) reject_simd(v, Error::kNoOffset);
    for (ValType v : t.results) reject_simd(v, Error::kNoOffset);
  }
  for (const Global& g : m_.globals) reject_simd(g.type.type, g.init.offset);
  for (const Import& imp : m_.imports) {
    if (imp.kind == ExternKind::Global) reject_simd(imp.global.type, Error::kNoOffset);
  }
}

void ModuleValidator::check_table_limits(const Limits& l, size_t at) {
  if (l.min > 0xFFFFFFFFu || (l.max && *l.max > 0xFFFFFFFFu)) {
    invalid(at, "table size must be at most 2^32-1");
  }
  if (l.max && l.min > *l.max) invalid(at, "size minimum must not be greater than maximum");
}

void ModuleValidator::check_memory_limits(const Limits& l, size_t at) {
  if (l.min > kMaxPages || (l.max && *l.max > kMaxPages)) {
    invalid(at, "memory size must be at most 65536 pages (4GiB)");
  }
  if (l.max && l.min > *l.max) invalid(at, "size minimum must not be greater than maximum");
}

void ModuleValidator::check_tag_type(uint32_t type_index, size_t at) {
  ctx_.check_type(type_index, at);
  if (!m_.types[type_index].results.empty()) invalid(at, "non-empty tag result type");
}

void ModuleValidator::const_expr(const ConstExpr& e, ValType expected) {
  const size_t at = e.offset;
  const_stack_.clear();
  auto pop = [&](ValType t) {
    if (const_stack_.empty() || const_stack_.back() != ty(t)) {
      invalid(at, std::string("type mismatch: constant expression needs ") + to_string(t));
    }
    const_stack_.pop_back();
  };
  for (const ConstInstr& ci : e.instrs) {
    switch (ci.op) {
      case Opcode::I32Const: const_stack_.push_back(ty(ValType::I32)); break;
      case Opcode::I64Const: const_stack_.push_back(ty(ValType::I64)); break;
      case Opcode::F32Const: const_stack_.push_back(ty(ValType::F32)); break;
      case Opcode::F64Const: const_stack_.push_back(ty(ValType::F64)); break;
      case Opcode::RefNull: {
        ValType t;
        if (ci.imm > 0xFF || !decode_value_type(static_cast<uint8_t>(ci.imm), t) ||
            !is_reference(t)) {
          malformed(at, "malformed reference type");
        }
        const_stack_.push_back(ty(t));
        break;
      }
      case Opcode::RefFunc:
        if (ci.imm >= ctx_.total_funcs) invalid(at, "unknown function " + std::to_string(ci.imm));
        const_stack_.push_back(ty(ValType::FuncRef));
        break;
      case Opcode::GlobalGet: {
        // 2.0: only imported globals are visible in constant expressions, and only immutable
        // ones are constant.
        if (ci.imm >= m_.num_imported_globals) {
          invalid(at, "unknown global " + std::to_string(ci.imm));
        }
        GlobalType g = m_.global_type(static_cast<uint32_t>(ci.imm));
        if (g.is_mutable) invalid(at, "constant expression required");
        const_stack_.push_back(ty(g.type));
        break;
      }
      case Opcode::I32Add:
      case Opcode::I32Sub:
      case Opcode::I32Mul:
        pop(ValType::I32);
        pop(ValType::I32);
        const_stack_.push_back(ty(ValType::I32));
        break;
      case Opcode::I64Add:
      case Opcode::I64Sub:
      case Opcode::I64Mul:
        pop(ValType::I64);
        pop(ValType::I64);
        const_stack_.push_back(ty(ValType::I64));
        break;
      default: invalid(at, "constant expression required");
    }
  }
  if (const_stack_.size() != 1 || const_stack_[0] != ty(expected)) {
    invalid(at, std::string("type mismatch: constant expression must produce [") +
                    to_string(expected) + "]");
  }
}

void ModuleValidator::collect_declared_funcs() {
  ctx_.declared_funcs.assign(ctx_.total_funcs, 0);
  auto mark = [&](const ConstExpr& e) {
    for (const ConstInstr& ci : e.instrs) {
      if (ci.op == Opcode::RefFunc && ci.imm < ctx_.total_funcs) ctx_.declared_funcs[ci.imm] = 1;
    }
  };
  for (const ElemSegment& seg : m_.elems) {
    for (const ConstExpr& item : seg.items) mark(item);
  }
  for (const Global& g : m_.globals) mark(g.init);
  for (const Export& e : m_.exports) {
    if (e.kind == ExternKind::Func && e.index < ctx_.total_funcs) ctx_.declared_funcs[e.index] = 1;
  }
}

void ModuleValidator::run() {
  check_consistency();

  for (const Import& imp : m_.imports) {
    switch (imp.kind) {
      case ExternKind::Func: ctx_.check_type(imp.type_index, Error::kNoOffset); break;
      case ExternKind::Table: check_table_limits(imp.table.limits, Error::kNoOffset); break;
      case ExternKind::Memory: check_memory_limits(imp.memory.limits, Error::kNoOffset); break;
      case ExternKind::Global: break;
      case ExternKind::Tag: check_tag_type(imp.type_index, Error::kNoOffset); break;
    }
  }
  for (uint32_t type_index : m_.functions) ctx_.check_type(type_index, Error::kNoOffset);
  for (const TableType& t : m_.tables) check_table_limits(t.limits, Error::kNoOffset);
  for (const MemoryType& t : m_.memories) check_memory_limits(t.limits, Error::kNoOffset);
  if (ctx_.total_memories > 1) invalid(Error::kNoOffset, "multiple memories");
  for (uint32_t type_index : m_.tags) check_tag_type(type_index, Error::kNoOffset);
  for (const Global& g : m_.globals) const_expr(g.init, g.type.type);

  std::unordered_set<std::string_view> export_names;
  export_names.reserve(m_.exports.size());
  for (const Export& e : m_.exports) {
    switch (e.kind) {
      case ExternKind::Func: ctx_.check_func(e.index, Error::kNoOffset); break;
      case ExternKind::Table: ctx_.check_table(e.index, Error::kNoOffset); break;
      case ExternKind::Memory: ctx_.check_memory(e.index, Error::kNoOffset); break;
      case ExternKind::Global: ctx_.check_global(e.index, Error::kNoOffset); break;
      case ExternKind::Tag: ctx_.check_tag(e.index, Error::kNoOffset); break;
    }
    if (!export_names.insert(e.name).second) {
      invalid(Error::kNoOffset, "duplicate export name \"" + e.name + "\"");
    }
  }

  if (m_.start) {
    ctx_.check_func(*m_.start, Error::kNoOffset);
    const FuncType& t = m_.func_type(*m_.start);
    if (!t.params.empty() || !t.results.empty()) {
      invalid(Error::kNoOffset, "start function must have type [] -> []");
    }
  }

  for (const ElemSegment& seg : m_.elems) {
    if (seg.mode == SegmentMode::Active) {
      ctx_.check_table(seg.table, seg.offset.offset);
      const_expr(seg.offset, ValType::I32);
      if (m_.table_type(seg.table).element != seg.type) {
        invalid(seg.offset.offset, "type mismatch: element segment type differs from the table's");
      }
    }
    for (const ConstExpr& item : seg.items) const_expr(item, seg.type);
  }
  for (const DataSegment& seg : m_.datas) {
    if (seg.mode == SegmentMode::Active) {
      ctx_.check_memory(seg.memory, seg.offset.offset);
      const_expr(seg.offset, ValType::I32);
    }
  }

  collect_declared_funcs();
  FunctionValidator functions(ctx_);
  for (uint32_t i = 0; i < m_.codes.size(); ++i) {
    functions.validate(m_.num_imported_funcs + i, m_.codes[i], i + 1 == m_.codes.size());
  }
}

}  // namespace

Result<void> validate_module(const Module& module) {
  try {
    ModuleValidator(module).run();
  } catch (Failure& f) {
    return std::move(f.error);
  }
  return {};
}

void detect_instruction_features(Module& module) {
  module.features = features_with_instructions(module);
}

FeatureSet features_with_instructions(const Module& module) {
  FeatureSet fs = module.features;
  Instr instr;
  for (const FunctionBody& body : module.codes) {
    if (body.code_begin > body.code_end || body.code_end > module.bytes.size()) continue;
    InstrReader reader(std::span<const uint8_t>(module.bytes.data() + body.code_begin,
                                                body.code_end - body.code_begin),
                       body.code_begin);
    while (reader.next(instr)) {
      switch (instr.op) {
        case Opcode::I32Extend8S:
        case Opcode::I32Extend16S:
        case Opcode::I64Extend8S:
        case Opcode::I64Extend16S:
        case Opcode::I64Extend32S: fs.sign_extension = true; break;
        case Opcode::I32TruncSatF32S:
        case Opcode::I32TruncSatF32U:
        case Opcode::I32TruncSatF64S:
        case Opcode::I32TruncSatF64U:
        case Opcode::I64TruncSatF32S:
        case Opcode::I64TruncSatF32U:
        case Opcode::I64TruncSatF64S:
        case Opcode::I64TruncSatF64U: fs.saturating_float_to_int = true; break;
        case Opcode::MemoryInit:
        case Opcode::DataDrop:
        case Opcode::MemoryCopy:
        case Opcode::MemoryFill:
        case Opcode::TableInit:
        case Opcode::ElemDrop:
        case Opcode::TableCopy: fs.bulk_memory = true; break;
        case Opcode::RefNull:
        case Opcode::RefIsNull:
        case Opcode::RefFunc:
        case Opcode::TableGet:
        case Opcode::TableSet:
        case Opcode::TableGrow:
        case Opcode::TableSize:
        case Opcode::TableFill:
        case Opcode::SelectT: fs.reference_types = true; break;
        case Opcode::CallIndirect:
          if (instr.index2 != 0) fs.reference_types = true;
          break;
        case Opcode::Try:
        case Opcode::Catch:
        case Opcode::CatchAll:
        case Opcode::Delegate:
        case Opcode::Rethrow:
        case Opcode::Throw: fs.exceptions_legacy = true; break;
        case Opcode::TryTable:
        case Opcode::ThrowRef: fs.exceptions_exnref = true; break;
        case Opcode::ReturnCall:
        case Opcode::ReturnCallIndirect: fs.tail_calls = true; break;
        default: break;
      }
      if ((instr.op == Opcode::Block || instr.op == Opcode::Loop || instr.op == Opcode::If ||
           instr.op == Opcode::Try || instr.op == Opcode::TryTable) &&
          instr.block.kind == BlockType::Kind::Index && instr.block.index < module.types.size()) {
        const FuncType& t = module.types[instr.block.index];
        if (!t.params.empty() || t.results.size() > 1) fs.multi_value = true;
      }
    }
  }
  return fs;
}

}  // namespace rw::wasm
