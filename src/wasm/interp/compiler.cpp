#include "wasm/interp/compiler.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <string_view>

#include "wasm/common/instr_reader.h"
#include "wasm/interp/runtime.h"

namespace rw::internal {

using wasm::Opcode;

uint32_t CompiledFunc::byte_offset_at(uint32_t code_pos) const {
  auto it = std::upper_bound(offsets.begin(), offsets.end(), code_pos,
                             [](uint32_t pos, const auto& entry) { return pos < entry.first; });
  if (it == offsets.begin()) return offsets.empty() ? 0 : offsets.front().second;
  return std::prev(it)->second;
}

namespace {

constexpr uint32_t kNone = UINT32_MAX;

enum class CtrlKind : uint8_t { Func, Block, Loop, If, Else, Try, Catch, TryTable };

struct PendingCatch {
  Handler handler;
  uint32_t target_ctrl = 0;
};

struct Ctrl {
  CtrlKind kind = CtrlKind::Block;
  uint32_t base = 0;  // stack height below the block's parameters
  uint32_t n_params = 0, n_results = 0;
  bool unreachable = false;
  uint32_t loop_start = 0;
  std::vector<uint32_t> fixups;          // code words to patch with the end position
  std::vector<uint32_t> handler_fixups;  // handlers whose target is the end position
  uint32_t else_fixup = kNone;
  uint32_t scratch = kNone;  // if: saved parameters
  uint32_t scratch_count = 0;
  uint32_t exn_local = kNone;  // try: the hidden local holding the caught exception
  uint32_t try_begin = 0, body_end = kNone;
  std::vector<PendingCatch> catches;  // try_table
  uint32_t label_arity() const { return kind == CtrlKind::Loop ? n_params : n_results; }
};

// An operand stack entry at compile time: materialised in its own slot, or a pending read of a
// local, or a pending constant, or a pending `local + constant` (i32.add): loads and stores fold
// that into their address, which saves an instruction on most array accesses.
struct Entry {
  uint32_t local = kNone;
  bool is_const = false;
  bool is_addr = false;  // i32 `local + value`, or `local + local2` when local2 is set
  uint32_t local2 = kNone;
  uint64_t value = 0;
  bool materialized() const { return local == kNone && !is_const; }
  bool pending_local() const { return local != kNone && !is_addr; }
};

// Maps a compare (register or immediate form) to its compare-and-branch operation.
struct CmpInfo {
  uint32_t op = 0;       // the compare op id
  uint32_t jump = 0;     // JumpIf<cmp>[Imm]
  uint32_t negated = 0;  // JumpIf<!cmp>[Imm]
};

#define RW_X(name) Opcode::name,
constexpr Opcode kCompares[] = {RW_INT_COMPARES(RW_X)};
constexpr Opcode kImmBinops[] = {RW_IMM_BINOPS(RW_X)};
#undef RW_X

int index_in(const Opcode* list, size_t n, Opcode op) {
  for (size_t i = 0; i < n; ++i)
    if (list[i] == op) return static_cast<int>(i);
  return -1;
}

// The immediate form of an integer binary op, or 0. IOp lists the immediate forms in
// RW_IMM_BINOPS order, and the compare-and-branch pairs in RW_INT_COMPARES order.
uint32_t imm_variant(Opcode op) {
  int i = index_in(kImmBinops, std::size(kImmBinops), op);
  return i < 0 ? 0 : op_id(IOp::I32AddImm) + static_cast<uint32_t>(i);
}
// The immediate form of a division (RW_DIV_IMMS) when the divisor `v` rules out every trap, or 0.
uint32_t div_imm_variant(Opcode op, uint64_t v) {
#define RW_X(name) Opcode::name,
  constexpr Opcode kDivs[] = {RW_DIV_IMMS(RW_X)};
#undef RW_X
  int i = index_in(kDivs, std::size(kDivs), op);
  if (i < 0) return 0;
  bool is64 = i >= 4;
  int64_t d = is64 ? static_cast<int64_t>(v) : static_cast<int32_t>(static_cast<uint32_t>(v));
  if (d == 0 || d == -1) return 0;
  if (is64 && d != static_cast<int32_t>(d)) return 0;  // the immediate is 32 bits
  return op_id(IOp::I32DivSImm) + static_cast<uint32_t>(i);
}
uint32_t compare_jump(Opcode op, bool imm) {
  int i = index_in(kCompares, std::size(kCompares), op);
  return op_id(IOp::JumpIfI32Eq) + 2 * static_cast<uint32_t>(i) + (imm ? 1 : 0);
}

// The fused add and compare-and-branch (RW_LATCHES) for an add op followed by a jump op, or 0.
uint32_t latch_variant(uint32_t add, uint32_t jump) {
  struct Latch {
    uint32_t add, jump, fused;
  };
  static const std::vector<Latch> table = [] {
    std::vector<Latch> t;
#define RW_X(W, C)                                                                                 \
  t.push_back({op_id(Opcode::W##Add), op_id(IOp::JumpIf##W##C), op_id(IOp::W##Add##C)});           \
  t.push_back({op_id(Opcode::W##Add), op_id(IOp::JumpIf##W##C##Imm), op_id(IOp::W##Add##C##Imm)}); \
  t.push_back({op_id(IOp::W##AddImm), op_id(IOp::JumpIf##W##C), op_id(IOp::W##AddImm##C)});        \
  t.push_back(                                                                                     \
      {op_id(IOp::W##AddImm), op_id(IOp::JumpIf##W##C##Imm), op_id(IOp::W##AddImm##C##Imm)});
    RW_LATCHES(RW_X)
#undef RW_X
    t.push_back({op_id(Opcode::I32Add), op_id(IOp::JumpIf), op_id(IOp::I32AddNz)});
    t.push_back({op_id(IOp::I32AddImm), op_id(IOp::JumpIf), op_id(IOp::I32AddImmNz)});
    t.push_back({op_id(Opcode::I64Add), op_id(IOp::JumpIfI64Nez), op_id(IOp::I64AddNz)});
    t.push_back({op_id(IOp::I64AddImm), op_id(IOp::JumpIfI64Nez), op_id(IOp::I64AddImmNz)});
    return t;
  }();
  for (const Latch& l : table)
    if (l.add == add && l.jump == jump) return l.fused;
  return 0;
}

// JumpIf<cmp> with its operands swapped (a < b is b > a), for register forms; or 0.
uint32_t mirrored_jump(uint32_t jump) {
  using O = Opcode;
  const std::pair<O, O> mirrors[] = {
      {O::I32Eq, O::I32Eq},   {O::I32Ne, O::I32Ne},   {O::I32LtU, O::I32GtU},
      {O::I32GtU, O::I32LtU}, {O::I32LtS, O::I32GtS}, {O::I32GtS, O::I32LtS},
      {O::I32LeU, O::I32GeU}, {O::I32GeU, O::I32LeU}, {O::I32LeS, O::I32GeS},
      {O::I32GeS, O::I32LeS}, {O::I64Eq, O::I64Eq},   {O::I64Ne, O::I64Ne},
      {O::I64LtU, O::I64GtU}, {O::I64GtU, O::I64LtU}, {O::I64LtS, O::I64GtS},
      {O::I64GtS, O::I64LtS}, {O::I64LeU, O::I64GeU}, {O::I64GeU, O::I64LeU},
      {O::I64LeS, O::I64GeS}, {O::I64GeS, O::I64LeS}};
  for (const auto& [from, to] : mirrors)
    if (jump == compare_jump(from, false)) return compare_jump(to, false);
  return 0;
}

// The register-register address form of a load or store.
uint32_t two_slot_variant(Opcode op) {
#define RW_X(name) Opcode::name,
  constexpr Opcode kAccesses[] = {RW_LOADS(RW_X) RW_STORES(RW_X)};
#undef RW_X
  return op_id(IOp::I32LoadRR) +
         static_cast<uint32_t>(index_in(kAccesses, std::size(kAccesses), op));
}

// (binary op, load) pairs in the order of their fused ops.
struct LoadPair {
  Opcode binop, load;
};
#define RW_X(binop, load) LoadPair{Opcode::binop, Opcode::load},
constexpr LoadPair kLoadBinops[] = {RW_LOAD_BINOPS(RW_X)};
constexpr LoadPair kLoadsBinops[] = {RW_LOADS_BINOPS(RW_X)};
#undef RW_X

// One operand loaded by `load_op` (RW_LOAD_BINOPS): the fused op, or 0.
uint32_t load_binary_variant(Opcode op, uint32_t load_op) {
  for (size_t i = 0; i < std::size(kLoadBinops); ++i)
    if (kLoadBinops[i].binop == op && op_id(kLoadBinops[i].load) == load_op)
      return op_id(IOp::I32AddFromI32Load8U) + static_cast<uint32_t>(i);
  return 0;
}
// Both operands loaded: `left_op` and `right_op` are the two loads, each in its immediate-addend
// or its RR form, of the same kind.
uint32_t loads_binary_variant(Opcode op, uint32_t left_op, uint32_t right_op) {
  constexpr uint32_t n = static_cast<uint32_t>(std::size(kLoadsBinops));
  for (uint32_t i = 0; i < n; ++i) {
    const LoadPair& pair = kLoadsBinops[i];
    if (pair.binop != op) continue;
    uint32_t plain = op_id(pair.load), rr = two_slot_variant(pair.load);
    if ((left_op != plain && left_op != rr) || (right_op != plain && right_op != rr)) continue;
    // The four forms are consecutive blocks of n ops: II, IR, RI, RR.
    uint32_t form = (left_op == rr ? 2 : 0) + (right_op == rr ? 1 : 0);
    return op_id(IOp::I32AddFromI32Loads) + form * n + i;
  }
  return 0;
}

bool is_integer_commutative(Opcode op) {
  switch (op) {
    case Opcode::I32Add:
    case Opcode::I32Mul:
    case Opcode::I32And:
    case Opcode::I32Or:
    case Opcode::I32Xor:
    case Opcode::I64Add:
    case Opcode::I64Mul:
    case Opcode::I64And:
    case Opcode::I64Or:
    case Opcode::I64Xor: return true;
    default: return false;
  }
}

// The immediate-value form of a store.
uint32_t store_imm_variant(Opcode op) {
#define RW_X(name) Opcode::name,
  constexpr Opcode kStores[] = {RW_STORES(RW_X)};
#undef RW_X
  return op_id(IOp::I32StoreImm) + static_cast<uint32_t>(index_in(kStores, std::size(kStores), op));
}

// SelectIf<cmp>[Imm] for a compare op id (register or immediate form), or 0.
uint32_t select_variant(uint32_t op) {
  for (size_t i = 0; i < std::size(kCompares); ++i) {
    uint32_t base = op_id(IOp::SelectIfI32Eq) + 2 * static_cast<uint32_t>(i);
    if (op == op_id(kCompares[i])) return base;
    if (op == imm_variant(kCompares[i])) return base + 1;
  }
  return 0;
}

// For an i32 compare-with-immediate op: CondAdd<cmp>Imm, or with `negate` CondAdd<!cmp>Imm; 0 for
// other ops.
uint32_t cond_add_variant(uint32_t op, bool negate) {
  using O = Opcode;
  const std::pair<O, O> negations[] = {{O::I32Eq, O::I32Ne},
                                       {O::I32LtS, O::I32GeS},
                                       {O::I32LtU, O::I32GeU},
                                       {O::I32GtS, O::I32LeS},
                                       {O::I32GtU, O::I32LeU}};
#define RW_X(name) O::name,
  constexpr O kI32Compares[] = {RW_I32_COMPARES(RW_X)};
#undef RW_X
  for (size_t i = 0; i < std::size(kI32Compares); ++i) {
    O cmp = kI32Compares[i];
    if (op != imm_variant(cmp)) continue;
    if (negate) {
      for (const auto& [x, y] : negations) {
        if (x == cmp)
          cmp = y;
        else if (y == cmp)
          cmp = x;
        else
          continue;
        break;
      }
    }
    return op_id(IOp::CondAddI32EqImm) +
           static_cast<uint32_t>(index_in(kI32Compares, std::size(kI32Compares), cmp));
  }
  return 0;
}

const std::vector<CmpInfo>& compare_table() {
  static const std::vector<CmpInfo> table = [] {
    using O = Opcode;
    struct Pair {
      O a, b;
    };
    const Pair negations[] = {{O::I32Eq, O::I32Ne},   {O::I32LtS, O::I32GeS},
                              {O::I32LtU, O::I32GeU}, {O::I32GtS, O::I32LeS},
                              {O::I32GtU, O::I32LeU}, {O::I64Eq, O::I64Ne},
                              {O::I64LtS, O::I64GeS}, {O::I64LtU, O::I64GeU},
                              {O::I64GtS, O::I64LeS}, {O::I64GtU, O::I64LeU}};
    std::vector<CmpInfo> t;
    for (const Pair& p : negations) {
      for (int flip = 0; flip < 2; ++flip) {
        O x = flip ? p.b : p.a, nx = flip ? p.a : p.b;
        t.push_back({op_id(x), compare_jump(x, false), compare_jump(nx, false)});
        t.push_back({imm_variant(x), compare_jump(x, true), compare_jump(nx, true)});
      }
    }
    return t;
  }();
  return table;
}

// The conditional jump taken exactly when `jump` is not, or 0 (latches have no negated forms).
uint32_t negated_jump(uint32_t jump) {
  const std::pair<IOp, IOp> pairs[] = {{IOp::JumpIf, IOp::JumpUnless},
                                       {IOp::JumpIfI64Eqz, IOp::JumpIfI64Nez},
                                       {IOp::JumpIfLoad8U, IOp::JumpUnlessLoad8U},
                                       {IOp::JumpIfLoad32, IOp::JumpUnlessLoad32}};
  for (const auto& [x, y] : pairs) {
    if (jump == op_id(x)) return op_id(y);
    if (jump == op_id(y)) return op_id(x);
  }
  for (const CmpInfo& c : compare_table())
    if (c.jump == jump) return c.negated;
  return 0;
}

bool is_i64_op(Opcode op) {
  std::string_view sig = wasm::opcode_info(op).signature;
  return !sig.empty() && sig[0] == 'I';
}

// Loops run as machine code where the loop compiler takes them, unless REWIND_JIT=0 (for
// comparing with the interpreter, or on a system that forbids executable memory).
bool jit_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("REWIND_JIT");
    return jit::available() && !(v && std::string_view(v) == "0");
  }();
  return enabled;
}

struct CondJump {
  uint32_t op = 0;
  uint32_t a = 0, b = 0, c = 0;
  bool has_b = false, has_c = false;
  uint32_t byte_offset = UINT32_MAX;  // of a fused load, which is what can trap
};

// The deepest nesting of legacy `try` blocks in a function body (an upper bound: unreachable
// code counts too). Malformed bodies are reported by the translation itself.
uint32_t max_legacy_try_depth(std::span<const uint8_t> bytes, size_t base_offset) {
  if (std::find(bytes.begin(), bytes.end(), uint8_t{0x06}) == bytes.end()) return 0;  // no `try`
  std::vector<bool> open_is_try;
  uint32_t depth = 0, max_depth = 0;
  wasm::InstrReader reader(bytes, base_offset);
  wasm::Instr in;
  while (reader.next(in)) {
    switch (in.op) {
      case Opcode::Block:
      case Opcode::Loop:
      case Opcode::If:
      case Opcode::TryTable: open_is_try.push_back(false); break;
      case Opcode::Try:
        open_is_try.push_back(true);
        max_depth = std::max(max_depth, ++depth);
        break;
      case Opcode::End:
      case Opcode::Delegate:
        if (!open_is_try.empty()) {
          if (open_is_try.back()) --depth;
          open_is_try.pop_back();
        }
        break;
      default: break;
    }
  }
  return max_depth;
}

class Compiler {
 public:
  Compiler(const wasm::Module& m, uint32_t defined_index, CompiledFunc& out,
           CompiledFunc* module_funcs, bool fuse, bool jit = true)
      : m_(m),
        out_(out),
        defined_index_(defined_index),
        module_funcs_(module_funcs),
        fuse_(fuse),
        jit_(fuse && jit && jit_enabled()) {}

  bool run(std::string& error);
  bool jit_unmappable() const { return jit_unmappable_; }
  bool compile_loop_natively(std::span<const uint8_t> bytes, size_t code_offset, size_t loop_at,
                             size_t& resume);

 private:
  // Emission
  // Starts an instruction. The op word holds the handler's offset in the executor (threaded
  // code); last_op_ remembers the op id for peephole fusion.
  void begin(uint32_t op) {
    if (out_.offsets.empty() || out_.offsets.back().second != cur_offset_ ||
        out_.offsets.back().first != code().size())
      out_.offsets.emplace_back(static_cast<uint32_t>(code().size()), cur_offset_);
    prev_start_ = last_start_;
    prev_op_ = last_op_;
    last_start_ = fuse_ ? pos() : kNone;
    if (fuse_) {
      while (!starts_.empty() && starts_.back().first >= pos()) starts_.pop_back();  // retracted
      starts_.emplace_back(pos(), op);
    }
    code().push_back(static_cast<uint32_t>(dispatch_[op]));
    last_op_ = op;
    last_dst_pos_ = kNone;
  }
  void word(uint32_t w) { code().push_back(w); }
  std::vector<uint32_t>& code() { return out_.code; }
  uint32_t pos() const { return static_cast<uint32_t>(out_.code.size()); }
  // A label: no fusion may reach across it.
  void bind_here() {
    zero_locals_.clear();  // a label: the code here is no longer only reached from the entry
    last_dst_pos_ = kNone;
    last_start_ = prev_start_ = kNone;
  }
  // The byte offset (in the module) of the instruction emitted at `start`, which is the last one:
  // a fused instruction that can trap where it could reports that offset.
  uint32_t byte_offset_of_last(uint32_t start) const {
    if (!out_.offsets.empty() && out_.offsets.back().first == start)
      return out_.offsets.back().second;
    return cur_offset_;
  }
  // begin() for an instruction whose trap belongs to the one at `byte_offset`.
  void begin_at(uint32_t op, uint32_t byte_offset) {
    uint32_t here = cur_offset_;
    cur_offset_ = byte_offset;
    begin(op);
    cur_offset_ = here;
  }
  // Where a binary op finds the value the last instruction computed into a temporary: its right
  // operand, or (with `left_ok`, for ops whose operands may swap) its left one while the right
  // is a local (so no code came after).
  enum class LastValue { Neither, Right, Left };
  LastValue last_value_operand(bool left_ok) const {
    uint32_t h = height();
    if (last_dst_pos_ == kNone || h < 2) return LastValue::Neither;
    if (stack_[h - 1].materialized() && last_dst_height_ == h - 1) return LastValue::Right;
    if (left_ok && stack_[h - 1].pending_local() && stack_[h - 2].materialized() &&
        last_dst_height_ == h - 2)
      return LastValue::Left;
    return LastValue::Neither;
  }
  // Pops both operands of such a binary op; returns the slot of the other one.
  uint32_t pop_beside_last_value(LastValue where) {
    uint32_t other;
    if (where == LastValue::Right) {
      stack_.pop_back();
      other = pop();
    } else {
      other = pop();  // a local: no code
      stack_.pop_back();
    }
    return other;
  }
  // Removes the instruction just emitted (at `start`) so that a fused one can take its place.
  void retract_last(uint32_t start) {
    out_.code.resize(start);
    last_start_ = prev_start_;
    last_op_ = prev_op_;
    prev_start_ = kNone;
    last_dst_pos_ = kNone;
  }
  // Branch targets are stored relative to the word that holds them, so the executor finds the
  // target from pc alone and keeps no register for the start of the code (nor reloads one after
  // every call and return).
  void set_target(uint32_t word_pos, uint32_t target) { out_.code[word_pos] = target - word_pos; }
  void scratch_word(uint32_t scratch_index) {
    scratch_refs_.push_back(pos());
    word(scratch_index);
  }

  // Abstract stack
  uint32_t height() const { return static_cast<uint32_t>(stack_.size()); }
  uint32_t slot_at(uint32_t i) const { return stack_[i].local != kNone ? stack_[i].local : L_ + i; }
  uint32_t pop() {
    if (stack_.empty()) {
      broken_ = true;
      return 0;
    }
    uint32_t top = height() - 1;
    if (stack_[top].is_const || stack_[top].is_addr) materialize(top);
    uint32_t s = slot_at(top);
    stack_.pop_back();
    return s;
  }
  uint32_t push() {
    stack_.push_back(Entry{});
    max_height_ = std::max(max_height_, height());
    return L_ + height() - 1;
  }
  void push_local(uint32_t local) {
    Entry e;
    e.local = local;
    stack_.push_back(e);
    max_height_ = std::max(max_height_, height());
  }
  void push_const(uint64_t value) {
    Entry e;
    e.is_const = true;
    e.value = value;
    stack_.push_back(e);
    max_height_ = std::max(max_height_, height());
  }
  void emit_const(uint32_t dst, uint64_t value) {
    if (value <= UINT32_MAX) {
      begin(op_id(IOp::Const32));
      word(dst);
      word(static_cast<uint32_t>(value));
    } else {
      begin(op_id(IOp::Const64));
      word(dst);
      word(static_cast<uint32_t>(value));
      word(static_cast<uint32_t>(value >> 32));
    }
  }
  // A memory address: u32(slot + addend), or u32(slot + fp[addend]) for the register-register
  // form of the access (two_slots).
  struct Address {
    uint32_t slot = 0, addend = 0;
    bool two_slots = false;
  };
  Address pop_address(bool allow_two_slots) {
    if (!stack_.empty() && stack_.back().is_addr &&
        (allow_two_slots || stack_.back().local2 == kNone)) {
      Entry e = stack_.back();
      stack_.pop_back();
      if (e.local2 != kNone) return {e.local, e.local2, true};
      return {e.local, static_cast<uint32_t>(e.value), false};
    }
    // An address just computed by i32.wrap_i64: the executor truncates addresses to 32 bits
    // anyway, so the access can read the i64 directly.
    if (!stack_.empty() && stack_.back().materialized() && last_dst_pos_ != kNone &&
        last_dst_height_ == height() - 1 && last_op_ == op_id(Opcode::I32WrapI64)) {
      uint32_t src = out_.code[last_dst_pos_ + 1];
      retract_last(last_dst_pos_ - 1);
      stack_.pop_back();
      return {src, 0, false};
    }
    return {pop(), 0, false};
  }
  // Emits a pending address addition into slot `dst`.
  void emit_address_add(uint32_t dst, const Entry& e) {
    begin(e.local2 != kNone ? op_id(Opcode::I32Add) : op_id(IOp::I32AddImm));
    word(dst);
    word(e.local);
    word(e.local2 != kNone ? e.local2 : static_cast<uint32_t>(e.value));
  }
  void materialize(uint32_t i) {
    Entry& e = stack_[i];
    if (e.is_addr) {
      Entry pending = e;
      e = Entry{};
      emit_address_add(L_ + i, pending);
      return;
    }
    if (e.is_const) {
      uint64_t v = e.value;
      e = Entry{};
      emit_const(L_ + i, v);
      return;
    }
    if (e.local == kNone) return;
    uint32_t src = e.local;
    e = Entry{};
    begin(op_id(IOp::Copy));
    word(L_ + i);
    word(src);
  }
  void flush_all() {
    for (uint32_t i = 0; i < height(); ++i) materialize(i);
  }
  void flush_local(uint32_t local) {
    for (uint32_t i = 0; i < height(); ++i)
      if (stack_[i].local == local || stack_[i].local2 == local) materialize(i);
  }
  void set_height(uint32_t h) {
    stack_.resize(h);
    for (auto& e : stack_) e = Entry{};  // callers only shrink materialised stacks
    max_height_ = std::max(max_height_, h);
  }
  // Pops a branch condition. When the instruction just emitted computed it with an integer
  // compare, that instruction is removed and a compare-and-branch takes its place.
  CondJump pop_condition(bool jump_when_true) {
    CondJump j;
    if (!stack_.empty() && stack_.back().materialized() && last_dst_pos_ != kNone &&
        last_dst_height_ == height() - 1) {
      uint32_t p = last_dst_pos_ - 1;
      uint32_t op = last_op_;
      if (op == op_id(Opcode::I32Eqz) || op == op_id(Opcode::I64Eqz)) {
        bool is64 = op == op_id(Opcode::I64Eqz);
        j.a = out_.code[p + 2];
        if (is64) {
          j.op = op_id(jump_when_true ? IOp::JumpIfI64Eqz : IOp::JumpIfI64Nez);
        } else {
          j.op = op_id(jump_when_true ? IOp::JumpUnless : IOp::JumpIf);
        }
        retract_last(p);
        stack_.pop_back();
        return j;
      }
      if (op == op_id(Opcode::I32Load8U) || op == op_id(Opcode::I32Load)) {
        // Branch on a loaded value (`if (flags[i])`, `while (*p)`): load and test in one op.
        bool byte = op == op_id(Opcode::I32Load8U);
        j.op = byte ? op_id(jump_when_true ? IOp::JumpIfLoad8U : IOp::JumpUnlessLoad8U)
                    : op_id(jump_when_true ? IOp::JumpIfLoad32 : IOp::JumpUnlessLoad32);
        j.a = out_.code[p + 2];  // address slot, offset, addend
        j.b = out_.code[p + 3];
        j.c = out_.code[p + 4];
        j.has_b = j.has_c = true;
        j.byte_offset = byte_offset_of_last(p);
        retract_last(p);
        stack_.pop_back();
        return j;
      }
      for (const CmpInfo& c : compare_table()) {
        if (c.op != op) continue;
        j.op = jump_when_true ? c.jump : c.negated;
        j.a = out_.code[p + 2];
        j.b = out_.code[p + 3];
        j.has_b = true;
        retract_last(p);
        stack_.pop_back();
        return j;
      }
    }
    j.op = op_id(jump_when_true ? IOp::JumpIf : IOp::JumpUnless);
    j.a = pop();
    return j;
  }
  // Emits the jump's op and operands; the caller writes the target word next.
  void emit_cond_jump(const CondJump& j) {
    // A loop latch: the add just emitted computed the value this jump tests (as the left operand;
    // `n != i` and friends test it on the right, which the mirrored compare turns around).
    if (last_start_ != kNone && last_start_ + 4 == pos()) {
      uint32_t sum = out_.code[last_start_ + 1];
      uint32_t fused = 0;
      CondJump jj = j;
      if (j.a == sum) {
        fused = latch_variant(last_op_, j.op);
      } else if (j.has_b && j.b == sum) {
        jj.op = mirrored_jump(j.op);
        std::swap(jj.a, jj.b);
        if (jj.op) fused = latch_variant(last_op_, jj.op);
      }
      if (fused) {
        uint32_t add = last_start_;
        uint32_t dst = out_.code[add + 1], a = out_.code[add + 2], b = out_.code[add + 3];
        retract_last(add);
        begin(fused);
        word(dst);
        word(a);
        word(b);
        word(jj.has_b ? jj.b : 0);
        return;
      }
    }
    begin_at(j.op, j.byte_offset != UINT32_MAX ? j.byte_offset : cur_offset_);  // a load's trap
    word(j.a);
    if (j.has_b) word(j.b);
    if (j.has_c) word(j.c);
  }

  // Emits a result-producing op header and remembers where its destination word is, so that a
  // following local.set can retarget it.
  uint32_t push_result() {
    uint32_t d = push();
    last_dst_pos_ = fuse_ ? pos() : kNone;
    last_dst_height_ = height() - 1;
    word(d);
    return d;
  }

  uint32_t alloc_scratch(uint32_t n) {
    uint32_t s = scratch_top_;
    scratch_top_ += n;
    scratch_max_ = std::max(scratch_max_, scratch_top_);
    return s;
  }

  void block_sig(const wasm::BlockType& bt, uint32_t& np, uint32_t& nr) {
    switch (bt.kind) {
      case wasm::BlockType::Kind::Empty: np = nr = 0; break;
      case wasm::BlockType::Kind::Value:
        np = 0;
        nr = 1;
        break;
      case wasm::BlockType::Kind::Index:
        if (bt.index >= m_.types.size()) {
          broken_ = true;
          np = nr = 0;
          return;
        }
        np = static_cast<uint32_t>(m_.types[bt.index].params.size());
        nr = static_cast<uint32_t>(m_.types[bt.index].results.size());
        break;
    }
  }

  Ctrl& ctrl_at_label(uint32_t label) {
    if (label >= ctrls_.size()) {
      broken_ = true;
      return ctrls_.back();
    }
    return ctrls_[ctrls_.size() - 1 - label];
  }
  uint32_t ctrl_index_of_label(uint32_t label) const {
    return static_cast<uint32_t>(ctrls_.size() - 1 - label);
  }

  void emit_return() {
    uint32_t nr = num_results_;
    // A single result computed just now, alone on the stack: compute it into result slot 0
    // instead of copying it there (slot 0 is read by nothing after this).
    if (nr == 1 && height() == 1 && stack_[0].materialized() && last_dst_pos_ != kNone &&
        last_dst_height_ == 0) {
      out_.code[last_dst_pos_] = 0;
      last_dst_pos_ = kNone;
      begin(op_id(IOp::Ret));
      return;
    }
    if (nr == 1 && height() == 1 && stack_[0].is_addr) {  // likewise for a pending addition
      Entry e = stack_[0];
      stack_.pop_back();
      emit_address_add(0, e);
      begin(op_id(IOp::Ret));
      return;
    }
    flush_all();
    if (height() < nr) {
      broken_ = true;
      return;
    }
    for (uint32_t i = 0; i < nr; ++i) {
      uint32_t src = L_ + height() - nr + i;
      if (src != i) {
        begin(op_id(IOp::Copy));
        word(i);
        word(src);
      }
    }
    begin(op_id(IOp::Ret));
  }
  bool branch_needs_copies(uint32_t target_index) const {
    const Ctrl& t = ctrls_[target_index];
    uint32_t arity = t.label_arity();
    return arity > 0 && height() - arity != t.base;
  }
  void emit_branch_copies(uint32_t target_index) {
    const Ctrl& t = ctrls_[target_index];
    uint32_t arity = t.label_arity();
    if (height() < arity) {
      broken_ = true;
      return;
    }
    for (uint32_t i = 0; i < arity; ++i) {
      uint32_t src = L_ + height() - arity + i, dst = L_ + t.base + i;
      if (src != dst) {
        begin(op_id(IOp::Copy));
        word(dst);
        word(src);
      }
    }
  }
  // Writes the target word for a jump to `target_index`'s label at the current position.
  void target_word(uint32_t target_index) {
    Ctrl& t = ctrls_[target_index];
    if (t.kind == CtrlKind::Loop) {
      word(t.loop_start - pos());  // relative to the word itself (see set_target)
    } else {
      t.fixups.push_back(pos());
      word(0);
    }
  }
  // Unconditional branch to a label (copies, then jump; or return for the function label).
  void emit_branch(uint32_t target_index) {
    if (target_index == 0) {
      emit_return();
      return;
    }
    emit_branch_copies(target_index);
    begin(op_id(IOp::Jump));
    target_word(target_index);
  }
  void set_unreachable() {
    ctrls_.back().unreachable = true;
    if (height() >= ctrls_.back().base) set_height(ctrls_.back().base);
  }

  void emit_unary(Opcode op) {
    uint32_t a = pop();
    begin(op_id(op));
    push_result();
    word(a);
  }
  void emit_binary(Opcode op) {
    if (uint32_t div_op = stack_.empty() || !stack_.back().is_const
                              ? 0
                              : div_imm_variant(op, stack_.back().value)) {
      uint32_t v = static_cast<uint32_t>(stack_.back().value);
      stack_.pop_back();
      uint32_t a = pop();
      // Plain code keeps the hardware divide: it is what fused code is checked against.
      bool magic = fuse_ && (op == Opcode::I32DivU || op == Opcode::I32RemU) && v >= 2;
      begin(magic ? op_id(op == Opcode::I32DivU ? IOp::I32DivUMagic : IOp::I32RemUMagic) : div_op);
      push_result();
      word(a);
      word(v);
      if (magic) {
        uint64_t m = UINT64_MAX / v + 1;  // ceil(2^64 / v) for v >= 2
        word(static_cast<uint32_t>(m));
        word(static_cast<uint32_t>(m >> 32));
      }
      return;
    }
    if (op == Opcode::I32Add && height() >= 2 && stack_.back().pending_local() &&
        stack_[height() - 2].pending_local()) {
      Entry& a = stack_[height() - 2];
      a.is_addr = true;
      a.local2 = stack_.back().local;
      stack_.pop_back();
      last_dst_pos_ = kNone;
      return;
    }
    uint32_t imm_op = imm_variant(op);
    if (imm_op && !stack_.empty() && stack_.back().is_const) {
      uint64_t v = stack_.back().value;
      bool fits = !is_i64_op(op) ||
                  static_cast<int64_t>(v) == static_cast<int64_t>(static_cast<int32_t>(v));
      if (op == Opcode::I32Add && height() >= 2 && stack_[height() - 2].pending_local()) {
        stack_.pop_back();
        stack_.back().is_addr = true;
        stack_.back().value = static_cast<uint32_t>(v);
        last_dst_pos_ = kNone;
        return;
      }
      if (fits && op == Opcode::I32Mul && last_op_ == op_id(Opcode::I32Xor) &&
          last_dst_pos_ != kNone && last_dst_height_ == height() - 2 &&
          stack_[height() - 2].materialized()) {
        // (a ^ b) * k: the xor's value goes nowhere else.
        uint32_t p = last_dst_pos_ - 1;
        uint32_t xa = out_.code[p + 2], xb = out_.code[p + 3];
        retract_last(p);
        stack_.pop_back();
        stack_.pop_back();
        // Two hash steps in a row, the first one's value a temporary only the xor read.
        if (last_start_ != kNone && last_op_ == op_id(IOp::I32XorMulImm) && xa != xb) {
          uint32_t step = out_.code[last_start_ + 1];
          if (step >= L_ && (step == xa || step == xb)) {
            uint32_t a = out_.code[last_start_ + 2], b = out_.code[last_start_ + 3],
                     k = out_.code[last_start_ + 4];
            retract_last(last_start_);
            begin(op_id(IOp::I32XorMulImmXorMulImm));
            push_result();
            word(a);
            word(b);
            word(k);
            word(step == xa ? xb : xa);
            word(static_cast<uint32_t>(v));
            return;
          }
        }
        begin(op_id(IOp::I32XorMulImm));
        push_result();
        word(xa);
        word(xb);
        word(static_cast<uint32_t>(v));
        return;
      }
      if (fits && op == Opcode::I32Mul && last_op_ == op_id(IOp::I32XorFromI32Load8U) &&
          last_dst_pos_ != kNone && last_dst_height_ == height() - 2 &&
          stack_[height() - 2].materialized()) {
        // (a ^ p[i]) * k with the byte loaded by the xor.
        uint32_t p = last_dst_pos_ - 1;
        uint32_t xa = out_.code[p + 2], addr = out_.code[p + 3], offset = out_.code[p + 4],
                 addend = out_.code[p + 5];
        uint32_t load_offset = byte_offset_of_last(p);
        retract_last(p);
        stack_.pop_back();
        stack_.pop_back();
        begin_at(op_id(IOp::I32XorLoad8UMulImm), load_offset);  // a trap is the load's
        push_result();
        word(xa);
        word(addr);
        word(offset);
        word(addend);
        word(static_cast<uint32_t>(v));
        return;
      }
      if (fits) {
        stack_.pop_back();
        uint32_t a = pop();
        begin(imm_op);
        push_result();
        word(a);
        word(static_cast<uint32_t>(v));
        return;
      }
    }
    if (emit_loads_binary(op) || emit_load_binary(op) || emit_add_add(op) ||
        emit_remainder_from_quotient(op))
      return;
    uint32_t b = pop();
    uint32_t a = pop();
    begin(op_id(op));
    push_result();
    word(a);
    word(b);
  }

  // `x - (x / d) * d`, how LLVM computes `x % d` when it also needs `x / d` (number formatting):
  // the multiply and the subtract become one I32RemUMagic beside the division, so the remainder
  // no longer waits for the quotient.
  bool emit_remainder_from_quotient(Opcode op) {
    constexpr uint32_t kDivWords = 6, kMulWords = 4;
    if (op != Opcode::I32Sub || last_op_ != op_id(IOp::I32MulImm) ||
        prev_op_ != op_id(IOp::I32DivUMagic) || prev_start_ == kNone ||
        last_start_ != prev_start_ + kDivWords || pos() != last_start_ + kMulWords)
      return false;
    if (last_value_operand(/*left_ok=*/false) != LastValue::Right) return false;
    const uint32_t* div = &out_.code[prev_start_];
    const uint32_t* mul = &out_.code[last_start_];
    uint32_t x = div[2], d = div[3];
    // The product is of this quotient by the same divisor, and the division did not overwrite x.
    if (mul[2] != div[1] || mul[3] != d || div[1] == x) return false;
    const Entry& left = stack_[height() - 2];
    if (left.pending_local() ? left.local != x : !(left.materialized() && L_ + height() - 2 == x))
      return false;
    uint32_t m_low = div[4], m_high = div[5];
    retract_last(last_start_);
    stack_.pop_back();  // the product
    pop();              // x, a local or the slot the division read
    begin(op_id(IOp::I32RemUMagic));
    push_result();
    word(x);
    word(d);
    word(m_low);
    word(m_high);
    return true;
  }

  // A float add of the sum just computed by another add becomes one F<N>AddAdd[R], which keeps
  // the operand order (the NaN a float add propagates depends on it).
  bool emit_add_add(Opcode op) {
    if ((op != Opcode::F64Add && op != Opcode::F32Add) || last_op_ != op_id(op)) return false;
    LastValue sum = last_value_operand(/*left_ok=*/true);
    if (sum == LastValue::Neither) return false;
    uint32_t p = last_dst_pos_ - 1;
    uint32_t a = out_.code[p + 2], b = out_.code[p + 3];
    retract_last(p);
    uint32_t c = pop_beside_last_value(sum);
    bool f64 = op == Opcode::F64Add;
    begin(op_id(sum == LastValue::Right ? (f64 ? IOp::F64AddAddR : IOp::F32AddAddR)
                                        : (f64 ? IOp::F64AddAdd : IOp::F32AddAdd)));
    push_result();
    word(a);
    word(b);
    word(c);
    return true;
  }

  // Fuses the last two instructions, when they are loads of the binary op's two operands, into
  // the op (RW_LOADS_BINOPS): neither value passes through a slot. Operand order is kept.
  bool emit_loads_binary(Opcode op) {
    constexpr uint32_t kLoadWords = 5;  // op, dst, address slot, offset, addend
    if (last_dst_pos_ == kNone || prev_start_ == kNone) return false;
    uint32_t fused = loads_binary_variant(op, prev_op_, last_op_);
    uint32_t h = height();
    if (!fused || h < 2 || last_dst_height_ != h - 1 || !stack_[h - 1].materialized() ||
        !stack_[h - 2].materialized())
      return false;
    uint32_t left = prev_start_, right = last_dst_pos_ - 1;
    // Adjacent, and the first one loaded the left operand (so nothing was computed in between).
    if (right != left + kLoadWords || out_.code[left + 1] != L_ + h - 2) return false;
    uint32_t left_offset = out_.byte_offset_at(left), right_offset = out_.byte_offset_at(right);
    uint32_t words[6] = {out_.code[left + 2],  out_.code[left + 3],  out_.code[left + 4],
                         out_.code[right + 2], out_.code[right + 3], out_.code[right + 4]};
    retract_last(right);
    retract_last(left);
    while (!out_.offsets.empty() && out_.offsets.back().first >= left) out_.offsets.pop_back();
    stack_.pop_back();
    stack_.pop_back();
    begin_at(fused, left_offset);
    out_.offsets.emplace_back(left + 1, right_offset);  // where the right load's trap is reported
    push_result();
    for (uint32_t w : words) word(w);
    return true;
  }

  // Fuses a load just emitted into the binary op that consumes its value (RW_LOAD_BINOPS): the
  // value then never passes through a slot. The load is the right operand, or the left one of a
  // commutative integer op whose right operand is a local (no code was emitted after the load).
  bool emit_load_binary(Opcode op) {
    uint32_t fused = last_dst_pos_ == kNone ? 0 : load_binary_variant(op, last_op_);
    if (!fused) return false;
    // Float ops keep their operand order: which NaN propagates depends on it.
    LastValue load = last_value_operand(/*left_ok=*/is_integer_commutative(op));
    if (load == LastValue::Neither) return false;
    uint32_t p = last_dst_pos_ - 1;
    uint32_t addr = out_.code[p + 2], offset = out_.code[p + 3], addend = out_.code[p + 4];
    uint32_t load_offset = byte_offset_of_last(p);
    retract_last(p);
    uint32_t a = pop_beside_last_value(load);
    begin_at(fused, load_offset);  // a trap is the load's
    push_result();
    word(a);
    word(addr);
    word(offset);
    word(addend);
    return true;
  }

  // A loop that leaves by a conditional branch and then goes round by an unconditional one
  // (`if (--n == 0) break; continue;`, clang's shape for loops with several exits): the
  // conditional branch is turned around to jump back, and the exit becomes the jump after it, so
  // an iteration takes one branch instead of two (and an add before it can become a latch).
  // Called for `br` to `target_index`; returns whether it emitted the branch.
  bool invert_exit_before_back_edge(uint32_t target_index) {
    const Ctrl& loop = ctrls_[target_index];
    if (!fuse_ || loop.kind != CtrlKind::Loop || branch_needs_copies(target_index) ||
        last_start_ == kNone)
      return false;
    uint32_t negated = negated_jump(last_op_);
    if (!negated) return false;
    // The last instruction must be a forward jump whose target word (its last) is still open.
    uint32_t target_word_pos = pos() - 1;
    Ctrl* exit = nullptr;
    for (Ctrl& c : ctrls_)
      if (c.kind != CtrlKind::Loop && !c.fixups.empty() && c.fixups.back() == target_word_pos)
        exit = &c;
    if (!exit) return false;
    uint32_t start = last_start_;
    CondJump j;
    j.op = negated;
    uint32_t operands = target_word_pos - start - 1;
    j.a = out_.code[start + 1];
    j.has_b = operands >= 2;
    j.has_c = operands >= 3;
    if (j.has_b) j.b = out_.code[start + 2];
    if (j.has_c) j.c = out_.code[start + 3];
    uint32_t jump_offset = byte_offset_of_last(start);
    j.byte_offset = jump_offset;  // a fused load's, when it is one
    exit->fixups.pop_back();
    retract_last(start);
    while (!out_.offsets.empty() && out_.offsets.back().first >= start) out_.offsets.pop_back();
    uint32_t here = cur_offset_;
    cur_offset_ = jump_offset;
    emit_cond_jump(j);
    target_word(target_index);
    cur_offset_ = here;
    begin(op_id(IOp::Jump));
    target_word(static_cast<uint32_t>(exit - ctrls_.data()));
    return true;
  }

  bool handle(const wasm::Instr& in);
  void end_block();
  void fuse_adjacent_pairs();

  const wasm::Module& m_;
  CompiledFunc& out_;
  uint32_t defined_index_;
  CompiledFunc* module_funcs_;
  // Every fusion starts from the instruction just emitted (last_start_, last_dst_pos_): without
  // fusion they never name one.
  bool fuse_;
  bool jit_;
  // Compiled loops: their machine code (mapped executable at the end of run()) and the code
  // words that receive each loop's address.
  std::vector<uint8_t> jit_buffer_;
  std::vector<std::pair<uint32_t, size_t>> jit_patches_;
  std::vector<ValType> local_types_;
  std::vector<ValType> global_types_;
  uint32_t L_ = 0;
  uint32_t num_results_ = 0;
  std::vector<Entry> stack_;
  uint32_t max_height_ = 0;
  std::vector<Ctrl> ctrls_;
  uint32_t scratch_top_ = 0, scratch_max_ = 0;
  std::vector<uint32_t> scratch_refs_;
  uint32_t last_dst_pos_ = kNone, last_dst_height_ = 0;
  uint32_t last_op_ = 0;
  // Until the first label: which locals still hold their initial zero (params never do).
  std::vector<uint8_t> zero_locals_;
  uint32_t last_start_ = kNone;  // position of the last instruction emitted since a label
  uint32_t prev_start_ = kNone, prev_op_ = 0;  // and of the one before
  // (position, op) of every instruction, in order, when fusing (for fuse_adjacent_pairs).
  std::vector<std::pair<uint32_t, uint32_t>> starts_;
  const int32_t* dispatch_ = dispatch_offsets();
  uint32_t cur_offset_ = 0;
  uint32_t skip_depth_ = 0;
  uint32_t exn_locals_base_ = 0;  // first hidden local for caught exceptions
  uint32_t open_tries_ = 0;       // legacy try blocks open at the current position
  bool broken_ = false;
  bool jit_unmappable_ = false;
  bool done_ = false;
};

// Pairs of adjacent instructions that run as one: two i32 additions (pointer and counter bumps,
// `p += 16; q += stride`) and two loads of the same kind (`a[i] != b[i]`); two i32 or byte loads
// followed by an i32.eq or i32.ne branch on exactly their two values make a triple. Only the first
// one's op word changes: the others stay complete instructions of their own, so a branch to one
// still finds it, and nothing moves (targets, offsets, handlers).
void Compiler::fuse_adjacent_pairs() {
  while (!starts_.empty() && starts_.back().first >= pos()) starts_.pop_back();
  // The triple's op for loads `load` and jump `jump`, or 0.
  auto loads_then_jump = [&](size_t i) -> uint32_t {
    if (i + 2 >= starts_.size()) return 0;
    uint32_t load = starts_[i].second, jump = starts_[i + 2].second;
    if (starts_[i + 1].second != load) return 0;
    bool byte = load == op_id(Opcode::I32Load8U);
    if (!byte && load != op_id(Opcode::I32Load)) return 0;
    bool eq = jump == compare_jump(Opcode::I32Eq, false);
    if (!eq && jump != compare_jump(Opcode::I32Ne, false)) return 0;
    uint32_t dst1 = out_.code[starts_[i].first + 1], dst2 = out_.code[starts_[i + 1].first + 1];
    uint32_t x = out_.code[starts_[i + 2].first + 1], y = out_.code[starts_[i + 2].first + 2];
    // The branch compares the two loaded values (either way round: eq and ne are symmetric).
    if (dst1 == dst2 || !((x == dst1 && y == dst2) || (x == dst2 && y == dst1))) return 0;
    return op_id(byte ? (eq ? IOp::I32Load8UTwiceJumpIfEq : IOp::I32Load8UTwiceJumpIfNe)
                      : (eq ? IOp::I32LoadTwiceJumpIfEq : IOp::I32LoadTwiceJumpIfNe));
  };
  auto add_form = [](uint32_t op) {
    return op == op_id(Opcode::I32Add) ? 0 : op == op_id(IOp::I32AddImm) ? 1 : -1;
  };
#define RW_X(name) Opcode::name,
  constexpr Opcode kLoads[] = {RW_LOADS(RW_X)};
#undef RW_X
  for (size_t i = 0; i + 1 < starts_.size(); ++i) {
    if (uint32_t triple = loads_then_jump(i)) {
      out_.code[starts_[i].first] = static_cast<uint32_t>(dispatch_[triple]);
      i += 2;
      continue;
    }
    uint32_t a = starts_[i].second, b = starts_[i + 1].second, fused = 0;
    if (int first = add_form(a), second = add_form(b); first >= 0 && second >= 0) {
      fused = op_id(IOp::I32AddThenAdd) + static_cast<uint32_t>(first * 2 + second);
    } else if (a == b && a < op_id(IOp::FirstInternal)) {
      int load = index_in(kLoads, std::size(kLoads), static_cast<Opcode>(a));
      if (load >= 0) fused = op_id(IOp::I32LoadTwice) + static_cast<uint32_t>(load);
    }
    if (!fused) continue;
    out_.code[starts_[i].first] = static_cast<uint32_t>(dispatch_[fused]);
    ++i;  // the second one is taken
  }
}

// A loop the loop compiler takes becomes one JitLoop instruction (see IOp::JitLoop), and its
// body is not translated for the interpreter at all. `resume` is where translation goes on.
bool Compiler::compile_loop_natively(std::span<const uint8_t> bytes, size_t code_offset,
                                     size_t loop_at, size_t& resume) {
  std::vector<jit::LoopInput::Label> labels;
  for (size_t i = ctrls_.size(); i-- > 0;)
    labels.push_back({ctrls_[i].label_arity(), ctrls_[i].kind == CtrlKind::Func});
  jit::LoopInput input;
  input.code = bytes;
  input.code_offset = code_offset;
  input.loop_at = loop_at;
  input.local_types = local_types_;
  input.global_types = global_types_;
  input.global_value_offset = static_cast<int32_t>(offsetof(GlobalInst, value));
  input.outer_labels = labels;
  jit::CompiledLoop loop;
  if (!jit::compile_loop(input, jit_buffer_, loop)) return false;

  flush_all();  // compiled code reads every local from its slot
  bind_here();
  begin(op_id(IOp::JitLoop));
  jit_patches_.emplace_back(pos(), loop.entry);
  word(0);
  word(0);
  word(static_cast<uint32_t>(loop.exits.size()));
  for (uint32_t label : loop.exits) target_word(ctrl_index_of_label(label));
  word(static_cast<uint32_t>(loop.trap_offsets.size()));
  for (uint32_t offset : loop.trap_offsets) {
    out_.offsets.emplace_back(pos(), offset);  // a trap at this site reports this offset
    word(0);
  }
  bind_here();
  resume = loop.end;
  return true;
}

bool Compiler::run(std::string& error) {
  const wasm::FunctionBody& body = m_.codes[defined_index_];
  const FuncType& type = m_.types[m_.functions[defined_index_]];
  out_.func_index = m_.num_imported_funcs + defined_index_;
  out_.num_params = static_cast<uint32_t>(type.params.size());
  out_.num_results = num_results_ = static_cast<uint32_t>(type.results.size());
  if (body.code_end > m_.bytes.size() || body.code_begin > body.code_end) {
    error = "function body out of range";
    return false;
  }
  std::span<const uint8_t> bytes(m_.bytes.data() + body.code_begin,
                                 body.code_end - body.code_begin);
  // A legacy catch keeps the caught exception for `rethrow` in a hidden local after the declared
  // ones, one per try nesting level. Not in a slot above the operand stack: a callee's frame
  // starts at its arguments and overwrites whatever lies above them, and a call inside the catch
  // body (clang calls __cxa_end_catch before rethrowing) would clobber the exception.
  exn_locals_base_ = out_.num_params + body.local_count;
  L_ = exn_locals_base_ + max_legacy_try_depth(bytes, body.code_begin);
  out_.num_locals = L_;
  zero_locals_.assign(exn_locals_base_, 0);
  std::fill(zero_locals_.begin() + out_.num_params, zero_locals_.end(), 1);

  Ctrl func;
  func.kind = CtrlKind::Func;
  func.n_results = num_results_;
  ctrls_.push_back(func);

  if (jit_) {
    local_types_.assign(type.params.begin(), type.params.end());
    for (const wasm::LocalRun& run : body.locals)
      local_types_.insert(local_types_.end(), run.count, run.type);
    for (uint32_t g = 0; g < m_.total_globals(); ++g)
      global_types_.push_back(m_.global_type(g).type);
  }

  wasm::InstrReader reader(bytes, body.code_begin);
  wasm::Instr in;
  while (!done_ && reader.next(in)) {
    cur_offset_ = in.offset;
    if (in.op == Opcode::Loop && jit_ && !ctrls_.back().unreachable) {
      size_t resume = 0;
      if (compile_loop_natively(bytes, body.code_begin, in.offset - body.code_begin, resume)) {
        reader = wasm::InstrReader(bytes.subspan(resume), body.code_begin + resume);
        continue;
      }
    }
    if (!handle(in) || broken_) {
      error = "cannot translate instruction at offset " + std::to_string(in.offset);
      return false;
    }
  }
  if (!reader.ok()) {
    error = reader.error();
    return false;
  }
  if (!done_) {
    error = "function body without end";
    return false;
  }
  if (fuse_) fuse_adjacent_pairs();
  if (!jit_buffer_.empty()) {
    out_.jit_code.reset(jit::CodeBlock::create(jit_buffer_));
    if (!out_.jit_code) {
      jit_unmappable_ = true;  // compile_function translates again without compiled loops
      return false;
    }
    for (const auto& [word_pos, entry] : jit_patches_) {
      auto address = reinterpret_cast<uintptr_t>(out_.jit_code->base() + entry);
      out_.code[word_pos] = static_cast<uint32_t>(address);
      out_.code[word_pos + 1] = static_cast<uint32_t>(address >> 32);
    }
  }
  uint32_t scratch_base = L_ + max_height_;
  for (uint32_t p : scratch_refs_) out_.code[p] += scratch_base;
  // At least kZeroedLocals slots past the parameters: a call zeroes that many unconditionally.
  out_.frame_slots = std::max(scratch_base + scratch_max_, out_.num_params + kZeroedLocals);
  return true;
}

void Compiler::end_block() {
  Ctrl& c = ctrls_.back();
  if (!c.unreachable) {
    flush_all();
  }
  set_height(c.base + c.n_results);
  if (c.kind == CtrlKind::TryTable) {
    for (PendingCatch& pc : c.catches) {
      Handler h = pc.handler;
      h.begin = c.try_begin;
      h.end = pos();
      Ctrl& t = ctrls_[pc.target_ctrl];
      if (t.kind == CtrlKind::Loop) {
        h.target = t.loop_start;
      } else {
        t.handler_fixups.push_back(static_cast<uint32_t>(out_.handlers.size()));
      }
      out_.handlers.push_back(h);
    }
  }
  uint32_t end_pos = pos();
  bind_here();
  for (uint32_t f : c.fixups) set_target(f, end_pos);
  for (uint32_t h : c.handler_fixups) out_.handlers[h].target = end_pos;
  if (c.else_fixup != kNone) set_target(c.else_fixup, end_pos);
  scratch_top_ -= c.scratch_count;
  if (c.exn_local != kNone) --open_tries_;
  ctrls_.pop_back();
}

bool Compiler::handle(const wasm::Instr& in) {
  if (ctrls_.back().unreachable) {
    switch (in.op) {
      case Opcode::Block:
      case Opcode::Loop:
      case Opcode::If:
      case Opcode::Try:
      case Opcode::TryTable: ++skip_depth_; return true;
      case Opcode::End:
      case Opcode::Delegate:
        if (skip_depth_ > 0) {
          --skip_depth_;
          return true;
        }
        break;
      case Opcode::Else:
      case Opcode::Catch:
      case Opcode::CatchAll:
        if (skip_depth_ > 0) return true;
        break;
      default: return true;
    }
  }

  const Opcode op = in.op;
  switch (op) {
    case Opcode::Unreachable:
      begin(op_id(op));
      set_unreachable();
      return true;
    case Opcode::Nop: return true;

    case Opcode::Block:
    case Opcode::Loop:
    case Opcode::If:
    case Opcode::Try: {
      uint32_t np, nr;
      block_sig(in.block, np, nr);
      CondJump cond;
      if (op == Opcode::If) cond = pop_condition(/*jump_when_true=*/false);
      flush_all();
      if (height() < np) return false;
      Ctrl c;
      c.base = height() - np;
      c.n_params = np;
      c.n_results = nr;
      if (op == Opcode::Block) {
        c.kind = CtrlKind::Block;
      } else if (op == Opcode::Loop) {
        c.kind = CtrlKind::Loop;
        bind_here();
        // No check instruction here: every backward branch looks at the attention flag.
        c.loop_start = pos();
      } else if (op == Opcode::If) {
        c.kind = CtrlKind::If;
        if (np > 0) {
          // The then-branch consumes the parameters in place; keep copies for the else-branch.
          c.scratch = alloc_scratch(np);
          c.scratch_count = np;
          for (uint32_t i = 0; i < np; ++i) {
            begin(op_id(IOp::Copy));
            scratch_word(c.scratch + i);
            word(L_ + c.base + i);
          }
        }
        emit_cond_jump(cond);
        c.else_fixup = pos();
        word(0);
      } else {
        c.kind = CtrlKind::Try;
        c.exn_local = exn_locals_base_ + open_tries_++;
        bind_here();
        c.try_begin = pos();
      }
      ctrls_.push_back(std::move(c));
      return true;
    }
    case Opcode::TryTable: {
      uint32_t np, nr;
      block_sig(in.block, np, nr);
      flush_all();
      if (height() < np) return false;
      Ctrl c;
      c.kind = CtrlKind::TryTable;
      c.base = height() - np;
      c.n_params = np;
      c.n_results = nr;
      uint32_t depth = static_cast<uint32_t>(ctrls_.size());
      for (const wasm::CatchClause& cc : in.catches) {
        if (cc.label >= ctrls_.size()) return false;
        PendingCatch p;
        p.target_ctrl = ctrl_index_of_label(cc.label);
        Handler& h = p.handler;
        h.kind = (cc.kind == wasm::CatchKind::Catch || cc.kind == wasm::CatchKind::CatchRef)
                     ? Handler::Kind::Catch
                     : Handler::Kind::CatchAll;
        h.push_ref =
            cc.kind == wasm::CatchKind::CatchRef || cc.kind == wasm::CatchKind::CatchAllRef;
        h.tag = cc.tag;
        h.depth = depth;
        h.dst = L_ + ctrls_[p.target_ctrl].base;
        if (p.target_ctrl == 0) {
          // Catching into the function label means returning: the values must end up in the
          // result slots, then return. Route through a stub emitted at the end of the try_table.
          // Simplest correct form: results slots start at 0.
          h.dst = 0;
        }
        c.catches.push_back(p);
      }
      bind_here();
      c.try_begin = pos();
      ctrls_.push_back(std::move(c));
      return true;
    }
    case Opcode::Else: {
      Ctrl& c = ctrls_.back();
      if (c.kind != CtrlKind::If) return false;
      if (!c.unreachable) {
        flush_all();
        begin(op_id(IOp::Jump));
        c.fixups.push_back(pos());
        word(0);
      }
      bind_here();
      set_target(c.else_fixup, pos());
      c.else_fixup = kNone;
      set_height(c.base);
      for (uint32_t i = 0; i < c.n_params; ++i) {
        begin(op_id(IOp::Copy));
        word(L_ + c.base + i);
        scratch_word(c.scratch + i);
        push();
      }
      c.kind = CtrlKind::Else;
      c.unreachable = false;
      return true;
    }
    case Opcode::Catch:
    case Opcode::CatchAll: {
      Ctrl& c = ctrls_.back();
      if (c.kind != CtrlKind::Try && c.kind != CtrlKind::Catch) return false;
      if (!c.unreachable) {
        flush_all();
        begin(op_id(IOp::Jump));
        c.fixups.push_back(pos());
        word(0);
      }
      if (c.body_end == kNone) c.body_end = pos();
      bind_here();
      Handler h;
      h.kind = op == Opcode::Catch ? Handler::Kind::Catch : Handler::Kind::CatchAll;
      h.begin = c.try_begin;
      h.end = c.body_end;
      h.depth = static_cast<uint32_t>(ctrls_.size() - 1);
      h.tag = in.index;
      h.target = pos();
      h.dst = L_ + c.base;
      h.exn_slot = c.exn_local;
      out_.handlers.push_back(h);
      set_height(c.base);
      if (op == Opcode::Catch) {
        if (in.index >= m_.total_tags()) return false;
        const FuncType& tt = m_.types[m_.tag_type_index(in.index)];
        for (size_t i = 0; i < tt.params.size(); ++i) push();
      }
      c.kind = CtrlKind::Catch;
      c.unreachable = false;
      return true;
    }
    case Opcode::Delegate: {
      Ctrl& c = ctrls_.back();
      if (c.kind != CtrlKind::Try) return false;
      if (!c.unreachable) flush_all();
      Handler h;
      h.kind = Handler::Kind::Delegate;
      h.begin = c.try_begin;
      h.end = pos();
      h.depth = static_cast<uint32_t>(ctrls_.size() - 1);
      // The label is resolved outside the try-delegate itself.
      if (in.index + 1 >= ctrls_.size()) return false;
      h.delegate_depth = static_cast<uint32_t>(ctrls_.size() - 2 - in.index);
      out_.handlers.push_back(h);
      end_block();
      return true;
    }
    case Opcode::End: {
      if (ctrls_.size() == 1) {
        Ctrl& c = ctrls_.back();
        if (!c.unreachable) {
          emit_return();
        } else {
          begin(op_id(IOp::Ret));
        }
        if (!c.handler_fixups.empty()) {
          // try_table catches that target the function label land their values in the result
          // slots and return.
          bind_here();
          uint32_t ret_pos = pos();
          begin(op_id(IOp::Ret));
          for (uint32_t h : c.handler_fixups) out_.handlers[h].target = ret_pos;
        }
        done_ = true;
        return true;
      }
      end_block();
      return true;
    }
    case Opcode::Br: {
      flush_all();
      if (in.index >= ctrls_.size()) return false;
      if (!invert_exit_before_back_edge(ctrl_index_of_label(in.index)))
        emit_branch(ctrl_index_of_label(in.index));
      set_unreachable();
      return true;
    }
    case Opcode::BrIf: {
      if (in.index >= ctrls_.size()) return false;
      uint32_t t = ctrl_index_of_label(in.index);
      // Whether copies are needed depends only on heights, which popping the condition fixes.
      bool via_skip = t == 0 || (ctrls_[t].label_arity() > 0 &&
                                 height() - 1 - ctrls_[t].label_arity() != ctrls_[t].base);
      CondJump cond = pop_condition(/*jump_when_true=*/!via_skip);
      flush_all();
      if (via_skip) {
        emit_cond_jump(cond);
        uint32_t skip = pos();
        word(0);
        emit_branch(t);
        bind_here();
        set_target(skip, pos());
      } else {
        emit_cond_jump(cond);
        target_word(t);
      }
      return true;
    }
    case Opcode::BrTable: {
      uint32_t index = pop();
      flush_all();
      const auto& targets = in.targets;
      if (targets.empty()) return false;
      for (uint32_t l : targets)
        if (l >= ctrls_.size()) return false;
      begin(op_id(IOp::JumpTable));
      word(index);
      word(static_cast<uint32_t>(targets.size() - 1));
      uint32_t table_pos = pos();
      std::vector<uint32_t> stubs;
      for (uint32_t l : targets) {
        uint32_t t = ctrl_index_of_label(l);
        if (t == 0 || branch_needs_copies(t)) {
          stubs.push_back(pos());
          word(0);
        } else {
          target_word(t);
        }
      }
      // Stubs for targets needing copies (or returns); identical labels share one stub.
      std::vector<std::pair<uint32_t, uint32_t>> stub_for_label;
      for (uint32_t i = 0; i < targets.size(); ++i) {
        uint32_t word_pos = table_pos + i;
        if (std::find(stubs.begin(), stubs.end(), word_pos) == stubs.end()) continue;
        uint32_t l = targets[i];
        auto it = std::find_if(stub_for_label.begin(), stub_for_label.end(),
                               [&](const auto& p) { return p.first == l; });
        if (it != stub_for_label.end()) {
          set_target(word_pos, it->second);
          continue;
        }
        bind_here();
        uint32_t stub = pos();
        stub_for_label.emplace_back(l, stub);
        set_target(word_pos, stub);
        emit_branch(ctrl_index_of_label(l));
      }
      set_unreachable();
      return true;
    }
    case Opcode::Return:
      emit_return();
      set_unreachable();
      return true;

    case Opcode::Call:
    case Opcode::ReturnCall: {
      if (in.index >= m_.total_funcs()) return false;
      const FuncType& ft = m_.func_type(in.index);
      uint32_t np = static_cast<uint32_t>(ft.params.size());
      uint32_t nr = static_cast<uint32_t>(ft.results.size());
      flush_all();
      if (height() < np) return false;
      uint32_t base = L_ + height() - np;
      if (op == Opcode::Call && module_funcs_ && in.index >= m_.num_imported_funcs) {
        // A function of this module: the call names its code, saving the lookups through the
        // instance on every call.
        begin(op_id(IOp::CallDirect));
        word(in.index);
        word(base);
        const CompiledFunc* callee = &module_funcs_[in.index - m_.num_imported_funcs];
        uint64_t bits = reinterpret_cast<uint64_t>(callee);
        word(static_cast<uint32_t>(bits));
        word(static_cast<uint32_t>(bits >> 32));
      } else {
        begin(op_id(op == Opcode::Call ? IOp::CallFunc : IOp::ReturnCallFunc));
        word(in.index);
        word(base);
        // Padding: every call instruction is five words, so a return resumes at call + 5.
        word(0);
        word(0);
      }
      set_height(height() - np);
      if (op == Opcode::ReturnCall) {
        set_unreachable();
      } else {
        for (uint32_t i = 0; i < nr; ++i) push();
      }
      return true;
    }
    case Opcode::CallIndirect:
    case Opcode::ReturnCallIndirect: {
      if (in.index >= m_.types.size()) return false;
      const FuncType& ft = m_.types[in.index];
      uint32_t np = static_cast<uint32_t>(ft.params.size());
      uint32_t nr = static_cast<uint32_t>(ft.results.size());
      uint32_t elem = pop();
      flush_all();
      if (height() < np) return false;
      uint32_t base = L_ + height() - np;
      // The element index may sit in the first slot the callee's frame overwrites; the executor
      // reads it before setting up the frame.
      begin(op_id(op == Opcode::CallIndirect ? IOp::CallIndirectOp : IOp::ReturnCallIndirectOp));
      word(in.index);
      word(in.index2);
      word(elem);
      word(base);
      set_height(height() - np);
      if (op == Opcode::ReturnCallIndirect) {
        set_unreachable();
      } else {
        for (uint32_t i = 0; i < nr; ++i) push();
      }
      return true;
    }
    case Opcode::Throw: {
      if (in.index >= m_.total_tags()) return false;
      const FuncType& tt = m_.types[m_.tag_type_index(in.index)];
      uint32_t n = static_cast<uint32_t>(tt.params.size());
      flush_all();
      if (height() < n) return false;
      begin(op_id(IOp::ThrowOp));
      word(in.index);
      word(L_ + height() - n);
      set_unreachable();
      return true;
    }
    case Opcode::ThrowRef: {
      uint32_t s = pop();
      begin(op_id(IOp::ThrowRefOp));
      word(s);
      set_unreachable();
      return true;
    }
    case Opcode::Rethrow: {
      if (in.index >= ctrls_.size()) return false;
      Ctrl& c = ctrl_at_label(in.index);
      if (c.kind != CtrlKind::Catch) return false;
      begin(op_id(IOp::ThrowRefOp));
      word(c.exn_local);
      set_unreachable();
      return true;
    }

    case Opcode::Drop: pop(); return true;
    case Opcode::Select:
    case Opcode::SelectT: {
      // `select` on a compare just computed: one fused op, no condition through a slot.
      if (!stack_.empty() && stack_.back().materialized() && last_dst_pos_ != kNone &&
          last_dst_height_ == height() - 1) {
        uint32_t p = last_dst_pos_ - 1;
        uint32_t fused = select_variant(last_op_);
        bool eqz = last_op_ == op_id(Opcode::I32Eqz);
        if (fused || eqz) {
          uint32_t x = out_.code[p + 2], y = eqz ? 0 : out_.code[p + 3];  // eqz: 3 words
          uint32_t cmp_op = last_op_;
          retract_last(p);
          stack_.pop_back();
          // select(x + k, x, x <cmp> imm), with x + k still pending (or the mirror image): a
          // conditional add.
          if (!eqz && height() >= 2) {
            Entry& ea = stack_[height() - 2];
            Entry& eb = stack_.back();
            auto is_sum_of_x = [&](const Entry& e) {
              return e.is_addr && e.local2 == kNone && e.local == x;
            };
            bool sum_first = is_sum_of_x(ea) && eb.pending_local() && eb.local == x;
            bool sum_second = is_sum_of_x(eb) && ea.pending_local() && ea.local == x;
            uint32_t cond_add = sum_first || sum_second ? cond_add_variant(cmp_op, sum_second) : 0;
            if (cond_add) {
              uint32_t addend = static_cast<uint32_t>((sum_first ? ea : eb).value);
              stack_.pop_back();
              stack_.pop_back();
              // x was just computed by an i32.add: one op for both.
              if (last_start_ != kNone && last_op_ == op_id(Opcode::I32Add) &&
                  out_.code[last_start_ + 1] == x) {
                uint32_t a = out_.code[last_start_ + 2], b = out_.code[last_start_ + 3];
                retract_last(last_start_);
                begin(cond_add - op_id(IOp::CondAddI32EqImm) + op_id(IOp::I32AddCondAddI32EqImm));
                push_result();
                word(x);
                word(a);
                word(b);
                word(addend);
                word(y);
                return true;
              }
              begin(cond_add);
              push_result();
              word(x);
              word(addend);
              word(y);
              return true;
            }
          }
          uint32_t b = pop();
          uint32_t a = pop();
          if (eqz) {
            // select(a, b, x == 0) is select(b, a, x).
            begin(op_id(IOp::SelectOp));
            push_result();
            word(b);
            word(a);
            word(x);
          } else {
            begin(fused);
            push_result();
            word(a);
            word(b);
            word(x);
            word(y);
          }
          return true;
        }
      }
      uint32_t cond = pop();
      uint32_t b = pop();
      uint32_t a = pop();
      begin(op_id(IOp::SelectOp));
      push_result();
      word(a);
      word(b);
      word(cond);
      return true;
    }

    case Opcode::LocalGet:
      if (in.index >= L_) return false;
      push_local(in.index);
      return true;
    case Opcode::LocalSet:
    case Opcode::LocalTee: {
      uint32_t k = in.index;
      if (k >= L_ || stack_.empty()) return false;
      uint32_t top = height() - 1;
      // Declared locals start at zero: storing zero into one not yet written, on the straight
      // line from the function's entry, changes nothing (clang emits that at function starts).
      if (k < zero_locals_.size() && zero_locals_[k] && stack_[top].is_const &&
          stack_[top].value == 0) {
        stack_.pop_back();
        last_dst_pos_ = kNone;
        if (op == Opcode::LocalTee) push_const(0);
        return true;
      }
      if (k < zero_locals_.size()) zero_locals_[k] = 0;
      bool top_is_k = stack_[top].pending_local() && stack_[top].local == k;
      if (stack_[top].is_addr) {
        Entry e = stack_[top];
        stack_.pop_back();
        flush_local(k);
        emit_address_add(k, e);
        last_dst_pos_ = kNone;
        if (op == Opcode::LocalTee) push_local(k);
        return true;
      }
      if (stack_[top].is_const) {
        uint64_t v = stack_[top].value;
        stack_.pop_back();
        flush_local(k);
        emit_const(k, v);
        last_dst_pos_ = kNone;
        if (op == Opcode::LocalTee) push_const(v);
        return true;
      }
      bool retarget =
          stack_[top].materialized() && last_dst_pos_ != kNone && last_dst_height_ == top;
      uint32_t dst_pos = last_dst_pos_;
      uint32_t src = pop();
      if (!top_is_k) {
        flush_local(k);
        if (retarget && last_dst_pos_ == dst_pos) {
          out_.code[dst_pos] = k;
        } else {
          begin(op_id(IOp::Copy));
          word(k);
          word(src);
        }
      }
      last_dst_pos_ = kNone;
      if (op == Opcode::LocalTee) push_local(k);
      return true;
    }
    case Opcode::GlobalGet: {
      begin(op_id(op));
      push_result();
      word(in.index);
      return true;
    }
    case Opcode::GlobalSet: {
      uint32_t s = pop();
      begin(op_id(op));
      word(in.index);
      word(s);
      return true;
    }
    case Opcode::TableGet: {
      uint32_t i = pop();
      begin(op_id(op));
      push_result();
      word(in.index);
      word(i);
      return true;
    }
    case Opcode::TableSet: {
      uint32_t v = pop();
      uint32_t i = pop();
      begin(op_id(op));
      word(in.index);
      word(i);
      word(v);
      return true;
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
    case Opcode::I64Load32U: {
      Address a = pop_address(/*allow_two_slots=*/true);
      begin(a.two_slots ? two_slot_variant(op) : op_id(op));
      push_result();
      word(a.slot);
      word(static_cast<uint32_t>(in.mem.offset));
      word(a.addend);
      return true;
    }
    case Opcode::I32Store:
    case Opcode::I64Store:
    case Opcode::F32Store:
    case Opcode::F64Store:
    case Opcode::I32Store8:
    case Opcode::I32Store16:
    case Opcode::I64Store8:
    case Opcode::I64Store16:
    case Opcode::I64Store32: {
      // A constant value (sign-extended from 32 bits) goes into the instruction.
      const Entry& top = stack_.empty() ? Entry{} : stack_.back();
      bool wide = op == Opcode::I64Store || op == Opcode::F64Store;
      bool imm =
          top.is_const && (!wide || static_cast<int64_t>(top.value) ==
                                        static_cast<int64_t>(static_cast<int32_t>(top.value)));
      uint32_t v = static_cast<uint32_t>(top.value);
      if (imm) {
        stack_.pop_back();
      } else {
        v = pop();
      }
      Address a = pop_address(/*allow_two_slots=*/!imm);
      begin(imm ? store_imm_variant(op) : a.two_slots ? two_slot_variant(op) : op_id(op));
      word(a.slot);
      word(v);
      word(static_cast<uint32_t>(in.mem.offset));
      word(a.addend);
      return true;
    }
    case Opcode::MemorySize: {
      begin(op_id(op));
      push_result();
      return true;
    }
    case Opcode::MemoryGrow: emit_unary(op); return true;

    case Opcode::I32Const:
    case Opcode::F32Const: push_const(static_cast<uint32_t>(in.value)); return true;
    case Opcode::I64Const:
    case Opcode::F64Const: push_const(in.value); return true;
    case Opcode::RefNull: push_const(0); return true;
    case Opcode::RefIsNull: emit_unary(op); return true;
    case Opcode::RefFunc: {
      begin(op_id(op));
      push_result();
      word(in.index);
      return true;
    }

    case Opcode::MemoryInit: {
      uint32_t n = pop(), s = pop(), d = pop();
      begin(op_id(op));
      word(in.index);
      word(d);
      word(s);
      word(n);
      return true;
    }
    case Opcode::DataDrop:
    case Opcode::ElemDrop:
      begin(op_id(op));
      word(in.index);
      return true;
    case Opcode::MemoryCopy:
    case Opcode::MemoryFill: {
      uint32_t n = pop(), s = pop(), d = pop();
      begin(op_id(op));
      word(d);
      word(s);
      word(n);
      return true;
    }
    case Opcode::TableInit:
    case Opcode::TableCopy: {
      uint32_t n = pop(), s = pop(), d = pop();
      begin(op_id(op));
      word(in.index);
      word(in.index2);
      word(d);
      word(s);
      word(n);
      return true;
    }
    case Opcode::TableGrow: {
      uint32_t n = pop(), init = pop();
      begin(op_id(op));
      push_result();
      word(in.index);
      word(init);
      word(n);
      return true;
    }
    case Opcode::TableSize: {
      begin(op_id(op));
      push_result();
      word(in.index);
      return true;
    }
    case Opcode::TableFill: {
      uint32_t n = pop(), v = pop(), i = pop();
      begin(op_id(op));
      word(in.index);
      word(i);
      word(v);
      word(n);
      return true;
    }

    default: {
      std::string_view sig = wasm::opcode_info(op).signature;
      if (sig == "i:i" || sig == "I:I" || sig == "f:f" || sig == "F:F" || sig.size() == 3) {
        // One operand, one result (all remaining fixed-signature unary ops and conversions).
        if (sig.size() == 3 && sig[1] == ':') {
          emit_unary(op);
          return true;
        }
      }
      if (sig.size() == 4 && sig[2] == ':') {
        emit_binary(op);
        return true;
      }
      return false;
    }
  }
}

}  // namespace

bool compile_function(const wasm::Module& module, uint32_t defined_index, CompiledFunc& out,
                      std::string& error, CompiledFunc* module_funcs, bool fuse,
                      bool compile_loops) {
  if (defined_index >= module.codes.size() || defined_index >= module.functions.size()) {
    error = "no such function";
    return false;
  }
  {
    Compiler c(module, defined_index, out, module_funcs, fuse, compile_loops);
    bool ok = c.run(error);
    if (ok || !c.jit_unmappable()) return ok;
  }
  // No executable memory for compiled loops (a hardened system, say): interpret them.
  out.code.clear();
  out.offsets.clear();
  out.handlers.clear();
  out.jit_code.reset();
  Compiler c(module, defined_index, out, module_funcs, fuse, /*jit=*/false);
  return c.run(error);
}

}  // namespace rw::internal
