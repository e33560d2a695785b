#pragma once
// Translation of a validated function body into the interpreter's internal code.
//
// The internal code is a stream of 32-bit words: an operation id followed by its operands. The
// operand stack height is static at every instruction, so every local and every stack position
// maps to a fixed 8-byte slot of the frame (slot = local index, or number of locals + height);
// operations are three-address on slot indices. `local.get` produces no code: the consumer reads
// the local's slot directly (the compiler materialises such pending reads when the local is
// written, at control flow and at calls). An operation whose result is immediately stored by
// `local.set` writes the local directly.
//
// Every dispatch costs an indirect jump, and every value passed between two operations goes
// through a frame slot (a store, then a load that waits for it), so the compiler fuses the common
// sequences into one operation each: compare + branch, compare + select, `x + k` into a load's or
// store's address (kept pending like a `local.get` until its consumer is known), constant store
// values, loop latches (add + compare + branch), conditional adds, and the last value computed
// straight into the result slot. Loops have no check instruction: backward branches test the
// store's attention flag (cpu_watchdog.h).
//
// Calling convention: a caller materialises the arguments in consecutive slots at the top of its
// stack; the callee's frame starts there, so the arguments are its first locals, and the callee
// leaves its results at its slots 0..n-1, which is where the caller expects them.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "wasm/common/module.h"
#include "wasm/jit/loop_compiler.h"

namespace rw::internal {

// Integer binary operations that also exist with an immediate right operand (`<op>Imm dst, a,
// imm`; i64 immediates are sign-extended from 32 bits).
#define RW_INT_COMPARES(X) \
  X(I32Eq)                 \
  X(I32Ne)                 \
  X(I32LtS)                \
  X(I32LtU)                \
  X(I32GtS)                \
  X(I32GtU)                \
  X(I32LeS)                \
  X(I32LeU)                \
  X(I32GeS)                \
  X(I32GeU)                \
  X(I64Eq) X(I64Ne) X(I64LtS) X(I64LtU) X(I64GtS) X(I64GtU) X(I64LeS) X(I64LeU) X(I64GeS) X(I64GeU)
#define RW_IMM_BINOPS(X)                                                                      \
  X(I32Add)                                                                                   \
  X(I32Sub)                                                                                   \
  X(I32Mul)                                                                                   \
  X(I32And)                                                                                   \
  X(I32Or)                                                                                    \
  X(I32Xor)                                                                                   \
  X(I32Shl)                                                                                   \
  X(I32ShrS)                                                                                  \
  X(I32ShrU)                                                                                  \
  X(I32Rotl)                                                                                  \
  X(I32Rotr)                                                                                  \
  X(I64Add)                                                                                   \
  X(I64Sub) X(I64Mul) X(I64And) X(I64Or) X(I64Xor) X(I64Shl) X(I64ShrS) X(I64ShrU) X(I64Rotl) \
      X(I64Rotr) RW_INT_COMPARES(X)

// Conditional add, the form clang gives `if (x >= m) x -= m`: CondAdd<cmp>Imm dst, x, addend,
// imm sets dst = x <cmp> imm ? x + addend : x (i32). One op instead of an add, a compare and a
// select, and a dependency chain through one slot instead of three.
#define RW_I32_COMPARES(X) \
  X(I32Eq) X(I32Ne) X(I32LtS) X(I32LtU) X(I32GtS) X(I32GtU) X(I32LeS) X(I32LeU) X(I32GeS) X(I32GeU)

// Divisions by an immediate that is neither 0 nor -1, so they cannot trap (`<op>Imm dst, a, imm`,
// sign-extended from 32 bits).
#define RW_DIV_IMMS(X) \
  X(I32DivS) X(I32DivU) X(I32RemS) X(I32RemU) X(I64DivS) X(I64DivU) X(I64RemS) X(I64RemU)

// Loads (and the stores below) also exist with a register-register address: `<access>RR ...,
// offset, slot2` addresses u32(fp[slot] + fp[slot2]) + offset (an i32.add of two locals folded).
#define RW_LOADS(X) \
  X(I32Load)        \
  X(I64Load)        \
  X(F32Load)        \
  X(F64Load)        \
  X(I32Load8S)      \
  X(I32Load8U)      \
  X(I32Load16S)     \
  X(I32Load16U) X(I64Load8S) X(I64Load8U) X(I64Load16S) X(I64Load16U) X(I64Load32S) X(I64Load32U)

// Stores that also exist with an immediate value (`<store>Imm address, imm, offset, addend`; the
// value is the immediate sign-extended from 32 bits).
#define RW_STORES(X) \
  X(I32Store)        \
  X(I64Store)        \
  X(F32Store) X(F64Store) X(I32Store8) X(I32Store16) X(I64Store8) X(I64Store16) X(I64Store32)

// Loop latches: an add whose sum a compare-and-branch tests right away (`i += step; if (i < n)
// continue`). <W>Add[Imm]<C>[Imm] dst, a, b, c, target: dst = a + b (or imm); jump if dst <C> c
// (or imm). <W>Add[Imm]Nz dst, a, b, 0, target: jump if the sum is not zero.
#define RW_LATCHES(X) \
  X(I32, Ne)          \
  X(I32, LtU)         \
  X(I32, LtS) X(I32, GtU) X(I32, GtS) X(I64, Ne) X(I64, LtU) X(I64, LtS) X(I64, GtU) X(I64, GtS)

// Binary operations with an operand straight from memory (`x + a[i]`, `h ^ p[i]`, `a[i] * b[j]`):
// <Binop>From<Load> dst, a, address slot, offset, addend computes a <binop> load(address). The
// load is the right operand; for a commutative integer binop it may have been the left one.
#define RW_LOAD_BINOPS(X) \
  X(I32Add, I32Load8U)    \
  X(I32Add, I32Load)      \
  X(I32Sub, I32Load)      \
  X(I32Xor, I32Load8U)    \
  X(I32Xor, I32Load)      \
  X(I32And, I32Load)      \
  X(I32Or, I32Load)       \
  X(I32Mul, I32Load)      \
  X(I64Add, I64Load)      \
  X(I64Xor, I64Load)      \
  X(F32Add, F32Load) X(F32Mul, F32Load) X(F64Add, F64Load) X(F64Sub, F64Load) X(F64Mul, F64Load)

// Binary operations with both operands straight from memory (`a[i] * b[j]`, `x[i] + y[i]`):
// <Binop>From<Load>s dst, address slot 1, offset 1, addend 1, address slot 2, offset 2, addend 2
// computes load(address 1) <binop> load(address 2), checking the left load first. A trap of the
// right load is reported at the instruction's second word, which the code's offsets table maps
// to that load's byte offset. The addends are immediates; in the IR, RI and RR forms the right,
// the left or both are slots instead, as in the loads' RR forms (`a[i * n + k] * b[k * n + j]`
// adds a row and a column offset held in locals).
#define RW_LOADS_BINOPS(X) \
  X(I32Add, I32Load)       \
  X(I32Mul, I32Load)       \
  X(I64Add, I64Load)       \
  X(I64Mul, I64Load) X(F32Add, F32Load) X(F32Mul, F32Load) X(F64Add, F64Load) X(F64Mul, F64Load)

// Internal operations. The first Opcode::Count_ ids are the wasm opcodes themselves, used for
// operations that keep their wasm meaning (numeric, memory, tables...); the rest are internal.
enum class IOp : uint32_t {
  FirstInternal = static_cast<uint32_t>(wasm::Opcode::Count_),
  Copy = FirstInternal,  // dst, src
  Const32,               // dst, imm
  Const64,               // dst, lo, hi
  Jump,                  // target
  JumpIf,                // cond, target
  JumpUnless,            // cond, target
  JumpTable,             // index, count, targets[count + 1]
  CallFunc,              // func index, arg slot, 2 padding words (all calls are 5 words)
  CallDirect,            // func index, arg slot, CompiledFunc* of the callee (2 words)
  CallIndirectOp,        // type index, table index, element slot, arg slot
  ReturnCallFunc,        // func index, arg slot, 2 padding words
  ReturnCallIndirectOp,  // type index, table index, element slot, arg slot
  Ret,                   // (results already in slots 0..n-1)
  ThrowOp,               // tag index, payload slot
  ThrowRefOp,            // slot
  SelectOp,              // dst, a, b, cond
  JumpIfI64Eqz,          // a, target
  JumpIfI64Nez,          // a, target
  JumpIfLoad8U,          // address slot, offset, addend, target (branch on the loaded value)
  JumpUnlessLoad8U,      // likewise
  JumpIfLoad32,          // likewise, i32.load
  JumpUnlessLoad32,      // likewise
#define RW_X(name) name##Imm,
  RW_IMM_BINOPS(RW_X)
#undef RW_X
// Compare and branch: JumpIf<cmp> a, b, target and JumpIf<cmp>Imm a, imm, target.
#define RW_X(name) JumpIf##name, JumpIf##name##Imm,
      RW_INT_COMPARES(RW_X)
#undef RW_X
// Compare and select: SelectIf<cmp> dst, a, b, x, y and SelectIf<cmp>Imm dst, a, b, x, imm
// (dst = x <cmp> y ? a : b).
#define RW_X(name) SelectIf##name, SelectIf##name##Imm,
          RW_INT_COMPARES(RW_X)
#undef RW_X
#define RW_X(name) name##Imm,
              RW_STORES(RW_X)
#undef RW_X
#define RW_X(W, C) W##Add##C, W##Add##C##Imm, W##AddImm##C, W##AddImm##C##Imm,
                  RW_LATCHES(RW_X)
#undef RW_X
                      I32AddNz,
  I32AddImmNz,
  I64AddNz,
  I64AddImmNz,
#define RW_X(name) name##RR,
  RW_LOADS(RW_X) RW_STORES(RW_X)
#undef RW_X
#define RW_X(name) name##Imm,
      RW_DIV_IMMS(RW_X)
#undef RW_X
#define RW_X(name) CondAdd##name##Imm,
          RW_I32_COMPARES(RW_X)
#undef RW_X
#define RW_X(binop, load) binop##From##load,
              RW_LOAD_BINOPS(RW_X)
#undef RW_X
                  I32XorMulImm,  // dst, a, b, imm: (a ^ b) * imm, the step of multiplicative hashes
  I32XorMulImmXorMulImm,         // dst, a, b, imm, c, imm2: (((a ^ b) * imm) ^ c) * imm2, two steps
  // dst, a, address slot, offset, addend, imm: (a ^ load8_u(address)) * imm, a byte step of FNV-1a
  I32XorLoad8UMulImm,
  // dst, a, b, c: (a + b) + c with both sums rounded, so a running float sum (`s += x + y`) does
  // not pass through a slot between its two additions; AddAddR: c + (a + b), the same operand
  // order as the unfused code (which NaN propagates is unspecified, and the C++ compiler may
  // order a host add's operands either way, so only the rounding is guaranteed to match).
  F32AddAdd,
  F64AddAdd,
  F32AddAddR,
  F64AddAddR,
#define RW_X(binop, load) binop##From##load##s,
  RW_LOADS_BINOPS(RW_X)
#undef RW_X
#define RW_X(binop, load) binop##From##load##sIR,
      RW_LOADS_BINOPS(RW_X)
#undef RW_X
#define RW_X(binop, load) binop##From##load##sRI,
          RW_LOADS_BINOPS(RW_X)
#undef RW_X
#define RW_X(binop, load) binop##From##load##sRR,
              RW_LOADS_BINOPS(RW_X)
#undef RW_X
// An i32.add whose sum a conditional add takes right away (`a += x; if (a >= m) a -= m`):
// I32AddCondAdd<cmp>Imm dst, sum, a, b, addend, imm sets sum = a + b, then dst = sum <cmp> imm ?
// sum + addend : sum. The sum is still written to its local, but the conditional add does not
// wait for it to come back from the frame.
#define RW_X(name) I32AddCondAdd##name##Imm,
                  RW_I32_COMPARES(RW_X)
#undef RW_X
  // Two adjacent i32 additions, each in its register or immediate form, run by one dispatch:
  // the words are the two instructions unchanged (4 + 4), and only the first op word differs.
  I32AddThenAdd,
  I32AddThenAddImm,
  I32AddImmThenAdd,
  I32AddImmThenAddImm,
// Two adjacent loads of the same kind (`a[i] != b[i]`, `p->x, p->y`), likewise unchanged words
// (5 + 5) under one op word; the second load traps as itself.
#define RW_X(name) name##Twice,
  RW_LOADS(RW_X)
#undef RW_X
  // Unsigned 32-bit division and remainder by an immediate d >= 2 without a divide
  // instruction: dst, a, d, M low, M high with M = ceil(2^64 / d); a / d is the high half of
  // the 128-bit product M * a, and a % d that of (M * a mod 2^64) * d (Lemire, Kaser and
  // Kurz, "Faster remainder by direct computation", 2019). A hardware divide takes 10 to 40
  // cycles and sits on the dependency chain of loops like `do { digit = n % 10; n /= 10; }`.
  I32DivUMagic,
  I32RemUMagic,
  // Two i32 or byte loads, then a branch if their values are equal (not equal): the three
  // instructions unchanged (5 + 5 + 4 words) under the first op word, each load trapping as
  // itself. The loaded values are still written to their slots.
  I32LoadTwiceJumpIfEq,
  I32LoadTwiceJumpIfNe,
  I32Load8UTwiceJumpIfEq,
  I32Load8UTwiceJumpIfNe,
  // A loop compiled to machine code (src/wasm/jit/loop_compiler.h) in place of its translation:
  // address low, address high, exit count E, E exit targets (exit k > 0 branches through target
  // k - 1; exit 0 goes on after the instruction), trap site count S, S site words. A trap at
  // site i is reported at site word i, which the offsets table maps to the trapping
  // instruction's byte offset.
  JitLoop,
  Count_
};

inline constexpr uint32_t op_id(wasm::Opcode op) { return static_cast<uint32_t>(op); }
inline constexpr uint32_t op_id(IOp op) { return static_cast<uint32_t>(op); }

// An exception handler: covers the code words [begin, end).
struct Handler {
  enum class Kind : uint8_t { Catch, CatchAll, Delegate };
  Kind kind = Kind::Catch;
  bool push_ref = false;  // catch_ref / catch_all_ref: the exnref follows the payload
  uint32_t begin = 0, end = 0;
  uint32_t depth = 0;  // control depth of the try construct (for delegate filtering)
  uint32_t delegate_depth = 0;
  uint32_t tag = 0;                // Catch: module tag index
  uint32_t target = 0;             // code position to continue at
  uint32_t dst = 0;                // slot of the first payload value
  uint32_t exn_slot = UINT32_MAX;  // legacy catch: where the caught exception is kept for rethrow
};

// A call zeroes this many slots after the parameters without looking at the count (the locals,
// then operand stack slots whose contents do not matter), so frames have at least that many.
inline constexpr uint32_t kZeroedLocals = 4;

struct CompiledFunc {
  // Set (release) once the fields below are filled in: a module gives each defined function one
  // CompiledFunc for its whole life, compiled on first call, so calls within the module can
  // name the callee's code directly.
  std::atomic<bool> ready{false};
  std::vector<uint32_t> code;
  uint32_t func_index = 0;  // in the module's function index space (imports first)
  uint32_t num_params = 0;
  uint32_t num_results = 0;
  uint32_t num_locals = 0;   // including parameters
  uint32_t frame_slots = 0;  // locals + maximum stack height + scratch
  std::vector<Handler> handlers;
  // (code position, byte offset in the module) for every instruction start, ascending.
  std::vector<std::pair<uint32_t, uint32_t>> offsets;
  // The machine code of the loops compiled natively (IOp::JitLoop), or null.
  std::unique_ptr<jit::CodeBlock> jit_code;

  uint32_t byte_offset_at(uint32_t code_pos) const;
};

// For every internal op, the offset of its handler from the executor's dispatch base: the op word
// of an instruction in compiled code (direct threading without a table lookup per instruction).
const int32_t* dispatch_offsets();

// Translates defined function `defined_index` of a validated module. Returns false (with a
// reason) only on input validation should have rejected.
// `module_funcs`, when given, holds the CompiledFunc of every defined function of the module
// (compiled or not yet): calls to them become CallDirect. With `fuse` false no sequence of
// instructions is fused into one (operands are still folded into instructions), and no loop is
// compiled to machine code; with `compile_loops` false only the latter.
bool compile_function(const wasm::Module& module, uint32_t defined_index, CompiledFunc& out,
                      std::string& error, CompiledFunc* module_funcs = nullptr, bool fuse = true,
                      bool compile_loops = true);

}  // namespace rw::internal
