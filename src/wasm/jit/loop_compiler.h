#pragma once
// The loop compiler: translates a whole wasm `loop` nest of integer code straight to x86-64, with
// the locals it uses most held in machine registers for as long as the loop runs.
//
// Why: the interpreter passes every value through a frame slot, so a loop-carried variable (an
// index, a pointer, a hash) costs a store and a dependent load per iteration however few
// dispatches the loop takes. Loops are where guests spend their time, and most hot loops are
// integer code over memory and globals; this compiles exactly those and leaves everything else
// (calls, floats, tables, exceptions) to the interpreter, which runs a loop it cannot take.
//
// A compiled loop is entered from the interpreter with the frame's locals in their slots and
// leaves with them written back, so neither side sees the other's representation:
//   - at its end, or by a branch to a label outside it (which must carry no values): exit k;
//   - by a trap (bounds, division, `unreachable`) or by the store's attention flag (deadline,
//     interrupt), checked at every loop header: kTrapExit | site, with the trap kind in the
//     context; `site` indexes the trap offsets, so traps keep their exact byte offsets.
// Stores go through the same dirty-page tracking as the interpreter's (an inline stamp check,
// and the tracker's callback on a page's first write), so snapshots and rollback see them.

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "wasm/common/instr_reader.h"

namespace rw::internal::jit {

// What compiled code reads and writes; filled by the executor for each entry.
struct Context {
  uint64_t* fp = nullptr;  // the frame's slots (locals first)
  uint8_t* mem = nullptr;  // memory 0
  uint64_t mem_size = 0;
  const uint32_t* track_stamps = nullptr;  // dirty-page tracking, null when off
  uint32_t track_epoch = 0;
  uint32_t trap_kind = 0;  // out: the TrapKind of a trap exit
  const std::atomic<uint8_t>* attention = nullptr;
  void* const* globals = nullptr;  // the instance's globals (each holds its value at an offset)
  // Called when the attention flag is set: -1 to go on, or the TrapKind to stop with.
  int32_t (*check_attention)(Context*) = nullptr;
  // Called before a store to a page not yet recorded in this epoch.
  void (*note_write)(Context*, uint64_t address, uint64_t n) = nullptr;
  void* host = nullptr;  // for the two callbacks
  void* host2 = nullptr;
};

inline constexpr uint32_t kTrapExit = 0x80000000u;
using LoopFn = uint32_t (*)(Context*);

// Whether this machine runs compiled loops (x86-64 with BMI1/BMI2, LZCNT, POPCNT; Linux).
bool available();

struct LoopInput {
  std::span<const uint8_t> code;          // the function body's instructions
  size_t code_offset = 0;                 // module byte offset of code[0]
  size_t loop_at = 0;                     // index in `code` of the `loop` opcode
  std::span<const ValType> local_types;   // parameters, then declared locals
  std::span<const ValType> global_types;  // the module's globals, imports first
  int32_t global_value_offset = 0;        // where a global holds its value
  // The labels around the loop, innermost first: their arity, and whether it is the function's.
  struct Label {
    uint32_t arity = 0;
    bool is_function = false;
  };
  std::span<const Label> outer_labels;
};

struct CompiledLoop {
  size_t entry = 0;  // offset of the loop's code in the buffer it was appended to
  // Exit 0 continues after the loop; exit k > 0 branches to outer label exits[k - 1] (0 being
  // the innermost label around the loop).
  std::vector<uint32_t> exits;
  std::vector<uint32_t> trap_offsets;  // module byte offset of each trap site
  size_t end = 0;                      // index in `code` just past the loop's `end`
};

// Appends the loop's code to `buffer`. False (buffer unchanged) when the loop uses anything the
// compiler does not take; the interpreter then runs it.
bool compile_loop(const LoopInput& in, std::vector<uint8_t>& buffer, CompiledLoop& out);

// Executable copies of compiled code: mapped read-write, filled, then made read-execute.
class CodeBlock {
 public:
  static CodeBlock* create(const std::vector<uint8_t>& code);  // null when mapping fails
  ~CodeBlock();
  CodeBlock(const CodeBlock&) = delete;
  CodeBlock& operator=(const CodeBlock&) = delete;
  const uint8_t* base() const { return base_; }

 private:
  CodeBlock(uint8_t* base, size_t size) : base_(base), size_(size) {}
  uint8_t* base_;
  size_t size_;
};

}  // namespace rw::internal::jit
