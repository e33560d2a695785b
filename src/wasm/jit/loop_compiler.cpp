#include "wasm/jit/loop_compiler.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string_view>

#include "rewind/engine.h"
#include "wasm/jit/x64_emitter.h"

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <sys/mman.h>
#include <unistd.h>
#define RW_JIT_X64 1
#endif

namespace rw::internal::jit {

using wasm::Opcode;

using namespace x64;

#if RW_JIT_X64

bool available() {
  static const bool ok = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 23))) return false;  // POPCNT
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!(b & (1u << 3)) || !(b & (1u << 8))) return false;                          // BMI1, BMI2
    if (!__get_cpuid(0x80000001, &a, &b, &c, &d) || !(c & (1u << 5))) return false;  // LZCNT
    return true;
  }();
  return ok;
}

CodeBlock* CodeBlock::create(const std::vector<uint8_t>& code) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t size = (code.size() + page - 1) / page * page;
  if (size == 0) return nullptr;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  std::memcpy(p, code.data(), code.size());
  if (mprotect(p, size, PROT_READ | PROT_EXEC) != 0) {
    munmap(p, size);
    return nullptr;
  }
  return new CodeBlock(static_cast<uint8_t*>(p), size);
}

CodeBlock::~CodeBlock() { munmap(base_, size_); }

namespace {

// Register roles. The frame pointer and memory base stay in callee-saved registers; operand
// stack positions get caller-saved temporaries; the most used locals get what is left. RAX and
// RDX are scratch for addresses, division and the stubs.
constexpr Reg kFp = R15;
constexpr Reg kMem = R14;
constexpr Reg kTemps[] = {R8, R9, R10, R11, RSI, RDI};
constexpr Reg kLocalRegs[] = {RBX, RBP, R12, R13, RCX};
constexpr uint32_t kMaxDepth = std::size(kTemps);
// The caller-saved registers a callback may clobber (RAX twice keeps the stack 16-byte aligned).
constexpr Reg kSaved[] = {RAX, RCX, RDX, RSI, RDI, R8, R9, R10, R11, RAX};
constexpr int32_t kSavedBytes = 8 * static_cast<int32_t>(std::size(kSaved));
// The stack frame below the six pushed callee-saved registers.
constexpr int32_t kFrameCtx = 0, kFrameMemSize = 8, kFrameStamps = 16, kFrameAttention = 24,
                  kFrameGlobals = 32;
constexpr int32_t kFrameBytes = 40;  // 6 pushes + 40 + the return address: 16-byte aligned

constexpr int32_t off(size_t o) { return static_cast<int32_t>(o); }
#define CTX_FIELD(f) off(offsetof(Context, f))

bool is_int(ValType t) { return t == ValType::I32 || t == ValType::I64; }

enum class Kind : uint8_t { Reg, Const, Local, Flags };
struct Entry {
  Kind kind = Kind::Reg;
  bool w = false;  // 64-bit
  uint64_t value = 0;
  uint32_t local = 0;
  Cond cc = kE;
};

struct Ctrl {
  Opcode op = Opcode::Block;
  uint32_t base = 0;
  Emitter::Label label = 0;  // loop: the header; block/if: the end
  Emitter::Label else_label = 0;
  bool has_else = false;
};

struct TrapSite {
  Emitter::Label stub;
  uint32_t kind;
};
struct TrackStub {
  Emitter::Label stub, resume;
  Reg address;
  int32_t offset;
  uint32_t size;
};
struct AttentionStub {
  Emitter::Label stub, resume;
  uint32_t site;
};

class LoopCompiler {
 public:
  LoopCompiler(const LoopInput& in, CompiledLoop& out) : in_(in), out_(out) {}

  bool run(std::vector<uint8_t>& buffer) {
    if (!scan()) return false;
    if (!emit_all()) return false;
    out_.entry = buffer.size();
    buffer.insert(buffer.end(), e_.bytes().begin(), e_.bytes().end());
    return true;
  }

 private:
  // ---- First pass: is every instruction one this compiler takes, and which locals matter.
  bool scan() {
    wasm::InstrReader reader(in_.code.subspan(in_.loop_at), in_.code_offset + in_.loop_at);
    wasm::Instr ins;
    uint32_t depth = 0, weight = 1;
    std::vector<uint32_t> weights;
    std::vector<uint64_t> uses(in_.local_types.size(), 0);
    if (in_.local_types.size() > (1u << 24)) return false;
    while (reader.next(ins)) {
      switch (ins.op) {
        case Opcode::Block:
        case Opcode::If:
        case Opcode::Loop:
          if (ins.block.kind != wasm::BlockType::Kind::Empty) return false;
          ++depth;
          weights.push_back(weight);
          if (ins.op == Opcode::Loop) weight = std::min<uint32_t>(weight * 8, 1u << 20);
          break;
        case Opcode::End:
          if (depth == 0) return false;
          weight = weights.back();
          weights.pop_back();
          if (--depth == 0) {
            out_.end = in_.loop_at + (reader.offset() - (in_.code_offset + in_.loop_at));
            pick_locals(uses);
            return true;
          }
          break;
        case Opcode::Else:
        case Opcode::Nop:
        case Opcode::Unreachable:
        case Opcode::Drop:
        case Opcode::Select:
        case Opcode::I32Const:
        case Opcode::I64Const: break;
        case Opcode::SelectT:
          if (ins.types.size() != 1 || !is_int(ins.types[0])) return false;
          break;
        case Opcode::Br:
        case Opcode::BrIf:
          if (ins.index >= depth) {
            uint32_t outer = ins.index - depth;
            if (outer >= in_.outer_labels.size()) return false;
            const LoopInput::Label& l = in_.outer_labels[outer];
            if (l.arity != 0 || l.is_function) return false;
          }
          break;
        case Opcode::GlobalGet:
        case Opcode::GlobalSet:
          if (ins.index >= in_.global_types.size() || !is_int(in_.global_types[ins.index]))
            return false;
          break;
        case Opcode::LocalGet:
        case Opcode::LocalSet:
        case Opcode::LocalTee:
          if (ins.index >= in_.local_types.size() || !is_int(in_.local_types[ins.index]))
            return false;
          uses[ins.index] += weight;
          break;
        default:
          if (is_memory_op(ins.op)) {
            if (ins.mem.memory != 0 || ins.mem.offset > 0x7fff0000u) return false;
            break;
          }
          if (!is_integer_op(ins.op)) return false;
          break;
      }
    }
    return false;  // no matching end (the validator would not have let this through)
  }

  // Integer loads and stores: the MemArg instructions without a float in their signature.
  static bool is_memory_op(Opcode op) {
    const wasm::OpcodeInfo& info = wasm::opcode_info(op);
    return info.imm == wasm::ImmKind::MemArg &&
           info.signature.find_first_of("fF") == std::string_view::npos;
  }
  static bool is_store(Opcode op) { return wasm::opcode_info(op).signature.back() == ':'; }
  // Bytes accessed: the mnemonic's width suffix (load8_u, store16, load32_s), else the type's.
  static uint32_t access_size(Opcode op) {
    std::string_view text = wasm::opcode_info(op).text;  // "i64.load32_s"
    std::string_view name = text.substr(text.find('.') + 1);
    if (name.find("8") != std::string_view::npos) return 1;
    if (name.find("16") != std::string_view::npos) return 2;
    if (name.find("32") != std::string_view::npos) return 4;
    return text.starts_with("i64") ? 8 : 4;
  }
  static bool is_integer_op(Opcode op) {
    auto v = static_cast<uint32_t>(op);
    auto in = [v](Opcode a, Opcode b) {
      return v >= static_cast<uint32_t>(a) && v <= static_cast<uint32_t>(b);
    };
    return in(Opcode::I32Eqz, Opcode::I64GeU) || in(Opcode::I32Clz, Opcode::I64Rotr) ||
           op == Opcode::I32WrapI64 || op == Opcode::I64ExtendI32S || op == Opcode::I64ExtendI32U ||
           in(Opcode::I32Extend8S, Opcode::I64Extend32S);
  }

  void pick_locals(const std::vector<uint64_t>& uses) {
    std::vector<uint32_t> order;
    for (uint32_t i = 0; i < uses.size(); ++i)
      if (uses[i] > 0) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return uses[a] != uses[b] ? uses[a] > uses[b] : a < b;
    });
    local_reg_.assign(uses.size(), -1);
    for (size_t i = 0; i < order.size() && i < std::size(kLocalRegs); ++i) {
      local_reg_[order[i]] = kLocalRegs[i];
      cached_.push_back(order[i]);
    }
  }

  // ---- Second pass: code.
  bool emit_all() {
    common_exit_ = e_.new_label();
    // Prologue.
    for (Reg r : {RBX, RBP, R12, R13, R14, R15}) e_.push(r);
    e_.alu_imm(true, Alu::Sub, RSP, kFrameBytes);
    e_.store(true, frame(kFrameCtx), RDI);
    e_.load(true, kFp, Mem{RDI, -1, CTX_FIELD(fp)});
    e_.load(true, kMem, Mem{RDI, -1, CTX_FIELD(mem)});
    e_.load(true, RAX, Mem{RDI, -1, CTX_FIELD(mem_size)});
    e_.store(true, frame(kFrameMemSize), RAX);
    e_.load(true, RAX, Mem{RDI, -1, CTX_FIELD(track_stamps)});
    e_.store(true, frame(kFrameStamps), RAX);
    e_.load(true, RAX, Mem{RDI, -1, CTX_FIELD(attention)});
    e_.store(true, frame(kFrameAttention), RAX);
    e_.load(true, RAX, Mem{RDI, -1, CTX_FIELD(globals)});
    e_.store(true, frame(kFrameGlobals), RAX);
    for (uint32_t x : cached_) e_.load(is64(x), static_cast<Reg>(local_reg_[x]), slot(x));

    wasm::InstrReader reader(in_.code.subspan(in_.loop_at), in_.code_offset + in_.loop_at);
    wasm::Instr ins;
    uint32_t skip = 0;  // > 0 while skipping unreachable code: nesting depth + 1
    while (reader.next(ins)) {
      if (skip > 0) {
        if (ins.op == Opcode::Block || ins.op == Opcode::Loop || ins.op == Opcode::If) {
          ++skip;
          continue;
        }
        if (ins.op == Opcode::Else && skip == 1) {
          skip = 0;
        } else if (ins.op == Opcode::End) {
          if (--skip > 0) continue;
        } else {
          continue;
        }
      }
      if (!emit(ins, skip)) return false;
      if (ctrls_.empty()) break;
    }
    if (!ctrls_.empty()) return false;
    // Falling out of the loop: exit 0.
    e_.mov_imm(RAX, 0);
    e_.bind(common_exit_);
    for (uint32_t x : cached_) e_.store(true, slot(x), static_cast<Reg>(local_reg_[x]));
    e_.alu_imm(true, Alu::Add, RSP, kFrameBytes);
    for (Reg r : {R15, R14, R13, R12, RBP, RBX}) e_.pop(r);
    e_.ret();
    emit_stubs();
    return e_.resolve();
  }

  bool emit(const wasm::Instr& ins, uint32_t& skip) {
    Opcode op = ins.op;
    // A pending compare is consumed only by the instructions that branch or select on it.
    if (op != Opcode::BrIf && op != Opcode::If && op != Opcode::I32Eqz && op != Opcode::Select &&
        op != Opcode::SelectT && !stack_.empty() && stack_.back().kind == Kind::Flags)
      materialize(height() - 1);
    switch (op) {
      case Opcode::Nop: return true;
      case Opcode::Unreachable:
        e_.jmp(trap_site(ins.offset, static_cast<uint32_t>(TrapKind::Unreachable)));
        return unreachable(skip);
      case Opcode::Block:
      case Opcode::Loop: {
        flush_all();
        Ctrl c;
        c.op = op;
        c.base = height();
        c.label = e_.new_label();
        if (op == Opcode::Loop) {
          e_.bind(c.label);
          // Every iteration passes the header: the attention flag is looked at here, and the
          // stub goes on with the body.
          AttentionStub a{e_.new_label(), e_.new_label(), trap_site_index(ins.offset, 0)};
          e_.load(true, RAX, frame(kFrameAttention));
          e_.cmp8_imm(Mem{RAX, -1, 0}, 0);
          e_.jcc(kNE, a.stub);
          e_.bind(a.resume);
          attention_.push_back(a);
        }
        ctrls_.push_back(c);
        return true;
      }
      case Opcode::If: {
        Ctrl c;
        c.op = op;
        c.label = e_.new_label();
        c.else_label = e_.new_label();
        Entry cond = pop();
        flush_all();  // moves only: the flags of a pending compare survive
        c.base = height();
        branch_on(cond, /*when_true=*/false, c.else_label);
        ctrls_.push_back(c);
        return true;
      }
      case Opcode::Else: {
        Ctrl& c = ctrls_.back();
        e_.jmp(c.label);
        e_.bind(c.else_label);
        c.has_else = true;
        set_height(c.base);
        return true;
      }
      case Opcode::End: {
        Ctrl c = ctrls_.back();
        ctrls_.pop_back();
        if (c.op == Opcode::If && !c.has_else) e_.bind(c.else_label);
        if (c.op != Opcode::Loop) e_.bind(c.label);
        set_height(c.base);
        return true;
      }
      case Opcode::Br: e_.jmp(branch_target(ins.index)); return unreachable(skip);
      case Opcode::BrIf: {
        Entry cond = pop();
        branch_on(cond, /*when_true=*/true, branch_target(ins.index));
        return true;
      }
      case Opcode::Drop: pop(); return true;
      case Opcode::Select:
      case Opcode::SelectT: return emit_select();
      case Opcode::LocalGet: {
        Entry e;
        e.kind = Kind::Local;
        e.local = ins.index;
        e.w = is64(ins.index);
        return push(e);
      }
      case Opcode::LocalSet:
      case Opcode::LocalTee: {
        uint32_t x = ins.index;
        // Pending reads of x below the top read the old value: give them their own copies.
        for (uint32_t h = 0; h + 1 < height(); ++h)
          if (stack_[h].kind == Kind::Local && stack_[h].local == x) materialize(h);
        uint32_t h = height() - 1;
        Entry v = stack_[h];
        if (!(v.kind == Kind::Local && v.local == x)) {
          if (local_reg_[x] >= 0) {
            load_into(static_cast<Reg>(local_reg_[x]), h);
          } else {
            Reg r = value_reg(h, RAX);
            e_.store(true, slot(x), r);
          }
        }
        pop();
        if (op == Opcode::LocalTee) {
          Entry e;
          e.kind = Kind::Local;
          e.local = x;
          e.w = is64(x);
          push(e);
        }
        return true;
      }
      case Opcode::GlobalGet: {
        Entry e;
        e.w = in_.global_types[ins.index] == ValType::I64;
        if (!push(e)) return false;
        e_.load(e.w, kTemps[height() - 1], global_value(ins.index));
        return true;
      }
      case Opcode::GlobalSet: {
        Reg v = value_reg(height() - 1, RDX);
        e_.store(true, global_value(ins.index), v);
        pop();
        return true;
      }
      case Opcode::I32Const:
      case Opcode::I64Const: {
        Entry e;
        e.kind = Kind::Const;
        e.w = op == Opcode::I64Const;
        e.value = e.w ? ins.value : static_cast<uint32_t>(ins.value);
        return push(e);
      }
      default: break;
    }
    if (is_memory_op(op)) return emit_memory(ins);
    return emit_numeric(ins);
  }

  bool unreachable(uint32_t& skip) {
    set_height(ctrls_.back().base);
    skip = 1;
    return true;
  }

  // ---- Operand stack.
  uint32_t height() const { return static_cast<uint32_t>(stack_.size()); }
  bool push(Entry e) {
    if (height() >= kMaxDepth) return false;  // the whole loop is left to the interpreter
    stack_.push_back(e);
    return true;
  }
  Entry pop() {
    Entry e = stack_.back();
    stack_.pop_back();
    return e;
  }
  void set_height(uint32_t h) { stack_.resize(h); }
  bool is64(uint32_t local) const { return in_.local_types[local] == ValType::I64; }
  static Mem frame(int32_t at) { return Mem{RSP, -1, at}; }
  // Addresses global g's value through RAX.
  Mem global_value(uint32_t g) {
    e_.load(true, RAX, frame(kFrameGlobals));
    e_.load(true, RAX, Mem{RAX, -1, static_cast<int32_t>(8 * g)});
    return Mem{RAX, -1, in_.global_value_offset};
  }
  static Mem slot(uint32_t local) { return Mem{kFp, -1, static_cast<int32_t>(8 * local)}; }

  // Puts the value at height h into register r (i32 values zero-extended).
  void load_into(Reg r, uint32_t h) {
    const Entry& v = stack_[h];
    switch (v.kind) {
      case Kind::Reg:
        if (kTemps[h] != r) e_.mov(true, r, kTemps[h]);
        break;
      case Kind::Const: e_.mov_imm(r, v.value); break;
      case Kind::Local:
        if (local_reg_[v.local] >= 0) {
          if (local_reg_[v.local] != r) e_.mov(true, r, static_cast<Reg>(local_reg_[v.local]));
        } else {
          e_.load(v.w, r, slot(v.local));
        }
        break;
      case Kind::Flags:
        e_.setcc(v.cc, r);
        e_.movzx8(r, r);
        break;
    }
  }
  void materialize(uint32_t h) {
    if (stack_[h].kind == Kind::Reg) return;
    load_into(kTemps[h], h);
    stack_[h].kind = Kind::Reg;
  }
  void flush_all() {
    for (uint32_t h = 0; h < height(); ++h) materialize(h);
  }
  // A register holding the value at h without changing the entry: its temporary, the local's
  // register, or `scratch` loaded with it.
  Reg value_reg(uint32_t h, Reg scratch) {
    const Entry& v = stack_[h];
    if (v.kind == Kind::Reg) return kTemps[h];
    if (v.kind == Kind::Local && local_reg_[v.local] >= 0)
      return static_cast<Reg>(local_reg_[v.local]);
    load_into(scratch, h);
    return scratch;
  }

  // ---- Branches.
  Emitter::Label branch_target(uint32_t depth) {
    if (depth < ctrls_.size()) {
      const Ctrl& c = ctrls_[ctrls_.size() - 1 - depth];
      return c.label;
    }
    uint32_t outer = depth - static_cast<uint32_t>(ctrls_.size());
    for (size_t k = 0; k < out_.exits.size(); ++k)
      if (out_.exits[k] == outer) return exit_labels_[k];
    out_.exits.push_back(outer);
    exit_labels_.push_back(e_.new_label());
    return exit_labels_.back();
  }
  // Jumps to `target` when the condition is true (or false).
  void branch_on(const Entry& cond, bool when_true, Emitter::Label target) {
    if (cond.kind == Kind::Flags) {
      e_.jcc(when_true ? cond.cc : negate(cond.cc), target);
      return;
    }
    if (cond.kind == Kind::Const) {
      if ((static_cast<uint32_t>(cond.value) != 0) == when_true) e_.jmp(target);
      return;
    }
    if (cond.kind == Kind::Local && local_reg_[cond.local] < 0) {
      e_.alu_imm(false, Alu::Cmp, slot(cond.local), 0);
    } else {
      Reg r = cond.kind == Kind::Reg ? kTemps[height()] : static_cast<Reg>(local_reg_[cond.local]);
      e_.test(false, r, r);
    }
    e_.jcc(when_true ? kNE : kE, target);
  }

  // Trap sites: each has a stub that records the kind and leaves with its index.
  uint32_t trap_site_index(uint32_t offset, uint32_t kind) {
    out_.trap_offsets.push_back(offset);
    trap_sites_.push_back({e_.new_label(), kind});
    return static_cast<uint32_t>(trap_sites_.size() - 1);
  }
  Emitter::Label trap_site(uint32_t offset, uint32_t kind) {
    return trap_sites_[trap_site_index(offset, kind)].stub;
  }

  // ---- Numeric instructions.
  bool emit_select() {
    uint32_t h = height();
    Entry cond = stack_[h - 1];
    // Materialise both values first: only moves, so pending compare flags survive.
    materialize(h - 3);
    Reg b = value_reg(h - 2, RDX);
    Reg dst = kTemps[h - 3];
    if (cond.kind == Kind::Flags) {
      e_.cmov(stack_[h - 3].w || stack_[h - 2].w, negate(cond.cc), dst, b);
    } else {
      Reg c = value_reg(h - 1, RAX);
      e_.test(false, c, c);
      e_.cmov(true, kE, dst, b);
    }
    set_height(h - 2);
    return true;
  }

  bool emit_numeric(const wasm::Instr& ins) {
    Opcode op = ins.op;
    std::string_view sig = wasm::opcode_info(op).signature;
    if (sig.size() == 3) return emit_unary(op, sig[0] == 'I', sig[2] == 'I');
    if (sig.size() != 4) return false;
    bool w = sig[0] == 'I';
    uint32_t h = height();
    if (h < 2) return false;
    auto cmp = compare_cond(op);
    if (cmp) return emit_compare(w, *cmp);
    switch (op) {
      case Opcode::I32Add:
      case Opcode::I64Add: return emit_alu(w, Alu::Add);
      case Opcode::I32Sub:
      case Opcode::I64Sub: return emit_alu(w, Alu::Sub);
      case Opcode::I32And:
      case Opcode::I64And: return emit_alu(w, Alu::And);
      case Opcode::I32Or:
      case Opcode::I64Or: return emit_alu(w, Alu::Or);
      case Opcode::I32Xor:
      case Opcode::I64Xor: return emit_alu(w, Alu::Xor);
      case Opcode::I32Mul:
      case Opcode::I64Mul: return emit_mul(w);
      case Opcode::I32Shl:
      case Opcode::I64Shl: return emit_shift(w, Shift::Shl);
      case Opcode::I32ShrS:
      case Opcode::I64ShrS: return emit_shift(w, Shift::Sar);
      case Opcode::I32ShrU:
      case Opcode::I64ShrU: return emit_shift(w, Shift::Shr);
      case Opcode::I32Rotl:
      case Opcode::I64Rotl: return emit_shift(w, Shift::Rol);
      case Opcode::I32Rotr:
      case Opcode::I64Rotr: return emit_shift(w, Shift::Ror);
      case Opcode::I32DivS:
      case Opcode::I64DivS: return emit_div(ins, w, true, false);
      case Opcode::I32DivU:
      case Opcode::I64DivU: return emit_div(ins, w, false, false);
      case Opcode::I32RemS:
      case Opcode::I64RemS: return emit_div(ins, w, true, true);
      case Opcode::I32RemU:
      case Opcode::I64RemU: return emit_div(ins, w, false, true);
      default: return false;
    }
  }

  static std::optional<Cond> compare_cond(Opcode op) {
    switch (op) {
      case Opcode::I32Eq:
      case Opcode::I64Eq: return kE;
      case Opcode::I32Ne:
      case Opcode::I64Ne: return kNE;
      case Opcode::I32LtS:
      case Opcode::I64LtS: return kL;
      case Opcode::I32LtU:
      case Opcode::I64LtU: return kB;
      case Opcode::I32GtS:
      case Opcode::I64GtS: return kG;
      case Opcode::I32GtU:
      case Opcode::I64GtU: return kA;
      case Opcode::I32LeS:
      case Opcode::I64LeS: return kLE;
      case Opcode::I32LeU:
      case Opcode::I64LeU: return kBE;
      case Opcode::I32GeS:
      case Opcode::I64GeS: return kGE;
      case Opcode::I32GeU:
      case Opcode::I64GeU: return kAE;
      default: return std::nullopt;
    }
  }

  // The right operand of a binary op that takes an immediate, a register or memory.
  bool imm32_of(const Entry& v, bool w, int32_t& imm) const {
    if (v.kind != Kind::Const) return false;
    if (!w) {
      imm = static_cast<int32_t>(static_cast<uint32_t>(v.value));
      return true;
    }
    auto s = static_cast<int64_t>(v.value);
    if (s != static_cast<int32_t>(s)) return false;
    imm = static_cast<int32_t>(s);
    return true;
  }
  template <typename RegFn, typename MemFn, typename ImmFn>
  void with_operand(uint32_t h, bool w, RegFn on_reg, MemFn on_mem, ImmFn on_imm) {
    const Entry& v = stack_[h];
    int32_t imm;
    if (imm32_of(v, w, imm)) return on_imm(imm);
    if (v.kind == Kind::Local && local_reg_[v.local] < 0) return on_mem(slot(v.local));
    on_reg(value_reg(h, RAX));
  }

  bool emit_alu(bool w, Alu op) {
    uint32_t h = height();
    materialize(h - 2);
    Reg dst = kTemps[h - 2];
    with_operand(
        h - 1, w, [&](Reg r) { e_.alu(w, op, dst, r); }, [&](Mem m) { e_.alu(w, op, dst, m); },
        [&](int32_t imm) { e_.alu_imm(w, op, dst, imm); });
    pop();
    return true;
  }
  bool emit_mul(bool w) {
    uint32_t h = height();
    materialize(h - 2);
    Reg dst = kTemps[h - 2];
    with_operand(
        h - 1, w, [&](Reg r) { e_.imul(w, dst, r); }, [&](Mem m) { e_.imul(w, dst, m); },
        [&](int32_t imm) { e_.imul_imm(w, dst, dst, imm); });
    pop();
    return true;
  }
  bool emit_shift(bool w, Shift s) {
    uint32_t h = height();
    materialize(h - 2);
    Reg dst = kTemps[h - 2];
    const Entry& count = stack_[h - 1];
    if (count.kind == Kind::Const) {
      e_.shift_imm(w, s, dst, static_cast<uint8_t>(count.value & (w ? 63 : 31)));
    } else {
      Reg c = value_reg(h - 1, RDX);
      switch (s) {
        case Shift::Shl: e_.shlx(w, dst, dst, c); break;
        case Shift::Shr: e_.shrx(w, dst, dst, c); break;
        case Shift::Sar: e_.sarx(w, dst, dst, c); break;
        case Shift::Rol:
        case Shift::Ror: {
          // x rotl n = (x << n) | (x >> -n), both counts taken modulo the width.
          if (c != RDX) e_.mov(true, RDX, c);
          if (s == Shift::Rol) {
            e_.shlx(w, RAX, dst, RDX);
            e_.neg(true, RDX);
            e_.shrx(w, dst, dst, RDX);
          } else {
            e_.shrx(w, RAX, dst, RDX);
            e_.neg(true, RDX);
            e_.shlx(w, dst, dst, RDX);
          }
          e_.alu(w, Alu::Or, dst, RAX);
          break;
        }
      }
    }
    pop();
    return true;
  }
  bool emit_div(const wasm::Instr& ins, bool w, bool is_signed, bool rem) {
    uint32_t h = height();
    materialize(h - 2);
    materialize(h - 1);
    Reg a = kTemps[h - 2], b = kTemps[h - 1];
    e_.test(w, b, b);
    e_.jcc(kE, trap_site(ins.offset, static_cast<uint32_t>(TrapKind::IntegerDivideByZero)));
    Emitter::Label normal = e_.new_label(), done = e_.new_label();
    if (is_signed) {
      e_.alu_imm(w, Alu::Cmp, b, -1);
      e_.jcc(kNE, normal);
      if (rem) {
        e_.mov_imm(a, 0);
      } else {
        // a / -1 is -a, except that the most negative value has no negation.
        if (w) {
          e_.mov_imm(RAX, 0x8000000000000000ull);
          e_.alu(true, Alu::Cmp, a, RAX);
        } else {
          e_.alu_imm(false, Alu::Cmp, a, INT32_MIN);
        }
        e_.jcc(kE, trap_site(ins.offset, static_cast<uint32_t>(TrapKind::IntegerOverflow)));
        e_.neg(w, a);
      }
      e_.jmp(done);
    }
    e_.bind(normal);
    e_.mov(w, RAX, a);
    if (is_signed) {
      e_.cdq_or_cqo(w);
      e_.idiv(w, b);
    } else {
      e_.mov_imm(RDX, 0);
      e_.div(w, b);
    }
    e_.mov(w, a, rem ? RDX : RAX);
    e_.bind(done);
    pop();
    return true;
  }
  bool emit_compare(bool w, Cond cc) {
    uint32_t h = height();
    const Entry& a = stack_[h - 2];
    Reg left;
    if (a.kind == Kind::Local && local_reg_[a.local] >= 0) {
      left = static_cast<Reg>(local_reg_[a.local]);
    } else if (a.kind == Kind::Local && stack_[h - 1].kind != Kind::Local) {
      // [slot] against a register or an immediate.
      Mem m = slot(a.local);
      with_operand(
          h - 1, w, [&](Reg r) { e_.cmp(w, m, r); }, [&](Mem) {},
          [&](int32_t imm) { e_.alu_imm(w, Alu::Cmp, m, imm); });
      return finish_compare(cc);
    } else {
      materialize(h - 2);
      left = kTemps[h - 2];
    }
    with_operand(
        h - 1, w, [&](Reg r) { e_.alu(w, Alu::Cmp, left, r); },
        [&](Mem m) { e_.alu(w, Alu::Cmp, left, m); },
        [&](int32_t imm) { e_.alu_imm(w, Alu::Cmp, left, imm); });
    return finish_compare(cc);
  }
  bool finish_compare(Cond cc) {
    set_height(height() - 2);
    Entry f;
    f.kind = Kind::Flags;
    f.cc = cc;
    return push(f);
  }

  bool emit_unary(Opcode op, bool w_in, bool w_out) {
    uint32_t h = height();
    if (h < 1) return false;
    if (op == Opcode::I32Eqz || op == Opcode::I64Eqz) {
      Entry v = stack_[h - 1];
      if (v.kind == Kind::Flags) {
        stack_[h - 1].cc = negate(v.cc);
        return true;
      }
      if (v.kind == Kind::Local && local_reg_[v.local] < 0) {
        e_.alu_imm(w_in, Alu::Cmp, slot(v.local), 0);
      } else {
        Reg r = value_reg(h - 1, RAX);
        e_.test(w_in, r, r);
      }
      Entry f;
      f.kind = Kind::Flags;
      f.cc = kE;
      stack_[h - 1] = f;
      return true;
    }
    materialize(h - 1);
    Reg r = kTemps[h - 1];
    switch (op) {
      case Opcode::I32Clz:
      case Opcode::I64Clz: e_.bitcount(w_in, 0xBD, r, r); break;
      case Opcode::I32Ctz:
      case Opcode::I64Ctz: e_.bitcount(w_in, 0xBC, r, r); break;
      case Opcode::I32Popcnt:
      case Opcode::I64Popcnt: e_.bitcount(w_in, 0xB8, r, r); break;
      case Opcode::I32WrapI64:
      case Opcode::I64ExtendI32U: e_.mov(false, r, r); break;
      case Opcode::I64ExtendI32S:
      case Opcode::I64Extend32S: e_.movsxd(r, r); break;
      case Opcode::I32Extend8S:
      case Opcode::I64Extend8S: e_.movsx8(w_out, r, r); break;
      case Opcode::I32Extend16S:
      case Opcode::I64Extend16S: e_.movsx16(w_out, r, r); break;
      default: return false;
    }
    stack_[h - 1].w = w_out;
    return true;
  }

  // ---- Memory.
  // The register holding an i32 address (zero-extended), after checking that `size` bytes at
  // address + offset lie inside memory.
  Reg checked_address(uint32_t h, int32_t offset, uint32_t size, uint32_t byte_offset) {
    Reg a = value_reg(h, RAX);
    e_.lea(RDX, Mem{a, -1, offset + static_cast<int32_t>(size)});
    e_.alu(true, Alu::Cmp, RDX, frame(kFrameMemSize));
    e_.jcc(kA, trap_site(byte_offset, static_cast<uint32_t>(TrapKind::MemoryOutOfBounds)));
    return a;
  }

  bool emit_memory(const wasm::Instr& ins) {
    Opcode op = ins.op;
    auto offset = static_cast<int32_t>(ins.mem.offset);
    uint32_t h = height();
    uint32_t size = access_size(op);
    if (!is_store(op)) {
      if (h < 1) return false;
      Reg a = checked_address(h - 1, offset, size, ins.offset);
      Reg dst = kTemps[h - 1];
      Mem m{kMem, a, offset};
      switch (op) {
        case Opcode::I32Load:
        case Opcode::I64Load32U: e_.load(false, dst, m); break;
        case Opcode::I64Load: e_.load(true, dst, m); break;
        case Opcode::I32Load8U:
        case Opcode::I64Load8U: e_.movzx8(dst, m); break;
        case Opcode::I32Load8S: e_.movsx8(false, dst, m); break;
        case Opcode::I64Load8S: e_.movsx8(true, dst, m); break;
        case Opcode::I32Load16U:
        case Opcode::I64Load16U: e_.movzx16(dst, m); break;
        case Opcode::I32Load16S: e_.movsx16(false, dst, m); break;
        case Opcode::I64Load16S: e_.movsx16(true, dst, m); break;
        case Opcode::I64Load32S: e_.movsxd(dst, m); break;
        default: return false;
      }
      Entry& v = stack_[h - 1];
      v.kind = Kind::Reg;
      v.w = !(op == Opcode::I32Load || op == Opcode::I32Load8U || op == Opcode::I32Load8S ||
              op == Opcode::I32Load16U || op == Opcode::I32Load16S);
      return true;
    }
    if (h < 2) return false;
    materialize(h - 1);  // the value, in its temporary (byte stores need a register anyway)
    Reg value = kTemps[h - 1];
    Reg a = checked_address(h - 2, offset, size, ins.offset);
    TrackStub t{e_.new_label(), e_.new_label(), a, offset, size};
    e_.alu_imm(true, Alu::Cmp, frame(kFrameStamps), 0);
    e_.jcc(kNE, t.stub);
    e_.bind(t.resume);
    track_.push_back(t);
    Mem m{kMem, a, offset};
    switch (size) {
      case 1: e_.store8(m, value); break;
      case 2: e_.store16(m, value); break;
      case 4: e_.store(false, m, value); break;
      default: e_.store(true, m, value); break;
    }
    set_height(h - 2);
    return true;
  }

  // ---- Out-of-line code: exits, traps, attention checks, dirty-page tracking.
  void save_caller_saved() {
    for (Reg r : kSaved) e_.push(r);
  }
  void restore_caller_saved() {
    for (size_t i = std::size(kSaved); i-- > 0;) e_.pop(kSaved[i]);
  }

  void emit_stubs() {
    for (size_t k = 0; k < exit_labels_.size(); ++k) {
      e_.bind(exit_labels_[k]);
      e_.mov_imm(RAX, k + 1);
      e_.jmp(common_exit_);
    }
    for (size_t i = 0; i < trap_sites_.size(); ++i) {
      e_.bind(trap_sites_[i].stub);
      e_.load(true, RDX, frame(kFrameCtx));
      e_.mov_imm(RAX, trap_sites_[i].kind);
      e_.store(false, Mem{RDX, -1, CTX_FIELD(trap_kind)}, RAX);
      e_.mov_imm(RAX, kTrapExit | static_cast<uint32_t>(i));
      e_.jmp(common_exit_);
    }
    for (const AttentionStub& a : attention_) {
      e_.bind(a.stub);
      save_caller_saved();
      e_.load(true, RDI, frame(kFrameCtx + kSavedBytes));
      e_.load(true, RAX, Mem{RDI, -1, CTX_FIELD(check_attention)});
      e_.call(RAX);
      Emitter::Label go_on = e_.new_label();
      e_.test(false, RAX, RAX);
      e_.jcc(kS, go_on);
      e_.alu_imm(true, Alu::Add, RSP, kSavedBytes);
      e_.load(true, RDX, frame(kFrameCtx));
      e_.store(false, Mem{RDX, -1, CTX_FIELD(trap_kind)}, RAX);
      e_.mov_imm(RAX, kTrapExit | a.site);
      e_.jmp(common_exit_);
      e_.bind(go_on);
      restore_caller_saved();
      e_.jmp(a.resume);
    }
    for (const TrackStub& t : track_) {
      // Fast path: the store stays inside one page already recorded in this epoch.
      Emitter::Label slow = e_.new_label();
      e_.bind(t.stub);
      e_.lea(RDX, Mem{t.address, -1, t.offset});
      e_.push(RCX);
      e_.push(RAX);
      e_.mov(true, RCX, RDX);
      e_.lea(RAX, Mem{RDX, -1, static_cast<int32_t>(t.size - 1)});
      e_.shift_imm(true, Shift::Shr, RCX, 12);
      e_.shift_imm(true, Shift::Shr, RAX, 12);
      e_.alu(true, Alu::Cmp, RCX, RAX);
      e_.jcc(kNE, slow);
      e_.load(true, RDX, frame(kFrameStamps + 16));
      e_.load(false, RAX, Mem{RDX, RCX, 0, 2});
      e_.load(true, RDX, frame(kFrameCtx + 16));
      e_.alu(false, Alu::Cmp, RAX, Mem{RDX, -1, CTX_FIELD(track_epoch)});
      e_.jcc(kNE, slow);
      e_.pop(RAX);
      e_.pop(RCX);
      e_.jmp(t.resume);
      e_.bind(slow);
      e_.pop(RAX);
      e_.pop(RCX);
      save_caller_saved();
      e_.lea(RSI, Mem{t.address, -1, t.offset});  // before RDI, which may be the address
      e_.load(true, RDI, frame(kFrameCtx + kSavedBytes));
      e_.mov_imm(RDX, t.size);
      e_.load(true, RAX, Mem{RDI, -1, CTX_FIELD(note_write)});
      e_.call(RAX);
      restore_caller_saved();
      e_.jmp(t.resume);
    }
  }

  const LoopInput& in_;
  CompiledLoop& out_;
  Emitter e_;
  std::vector<int> local_reg_;    // per local: its register, or -1 (in its slot)
  std::vector<uint32_t> cached_;  // the locals held in registers
  std::vector<Entry> stack_;
  std::vector<Ctrl> ctrls_;
  std::vector<Emitter::Label> exit_labels_;
  std::vector<TrapSite> trap_sites_;
  std::vector<TrackStub> track_;
  std::vector<AttentionStub> attention_;
  Emitter::Label common_exit_ = 0;
};

}  // namespace

bool compile_loop(const LoopInput& in, std::vector<uint8_t>& buffer, CompiledLoop& out) {
  if (!available()) return false;
  CompiledLoop result;
  LoopCompiler c(in, result);
  if (!c.run(buffer)) return false;
  out = std::move(result);
  return true;
}

#else  // not x86-64 Linux: the interpreter runs every loop.

bool available() { return false; }
bool compile_loop(const LoopInput&, std::vector<uint8_t>&, CompiledLoop&) { return false; }
CodeBlock* CodeBlock::create(const std::vector<uint8_t>&) { return nullptr; }
CodeBlock::~CodeBlock() = default;

#endif

}  // namespace rw::internal::jit
