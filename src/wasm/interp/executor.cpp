// The interpreter loop: direct-threaded dispatch (computed goto) over the compiled code, with an
// explicit frame stack so guest recursion never consumes native stack.

#include <pthread.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <ctime>
#include <limits>
#include <mutex>

#include "wasm/interp/compiler.h"
#include "wasm/interp/cpu_watchdog.h"
#include "wasm/interp/runtime.h"
#include "wasm/jit/loop_compiler.h"

namespace rw::internal {

using wasm::Opcode;

namespace {

template <class F>
F wasm_min(F a, F b) {
  if (a != a || b != b) return a + b;  // an arithmetic NaN
  if (a == 0 && b == 0) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}
template <class F>
F wasm_max(F a, F b) {
  if (a != a || b != b) return a + b;
  if (a == 0 && b == 0) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
template <class F>
F wasm_nearest(F a) {
  return __builtin_roundeven(a);
}
inline float f32_of(uint64_t s) { return std::bit_cast<float>(static_cast<uint32_t>(s)); }
inline double f64_of(uint64_t s) { return std::bit_cast<double>(s); }
inline uint64_t slot_f32(float f) { return std::bit_cast<uint32_t>(f); }
inline uint64_t slot_f64(double d) { return std::bit_cast<uint64_t>(d); }

enum class Status { Ok, Exception, Trap };

struct ExecOut {
  TrapKind trap = TrapKind::Unreachable;
  std::string message;
  ExnObject* exn = nullptr;
  std::vector<RawBacktraceFrame> backtrace;
  std::shared_ptr<const CallResult> nested;  // an aborted nested entry we keep unwinding for
};

struct HostCallOutcome {
  Status status = Status::Ok;
  ExnObject* exn = nullptr;
  TrapKind trap = TrapKind::HostAbort;
  std::string message;
  std::shared_ptr<const CallResult> nested;
};

HostCallOutcome call_host(StoreImpl* s, FuncInst* f, uint64_t* args_and_results,
                          InstanceImpl* caller) {
  HostCallOutcome out;
  const FuncType& t = f->type;
  Value argv_small[8];
  Value resv_small[8];
  std::vector<Value> argv_big, resv_big;
  std::span<Value> argv, resv;
  if (t.params.size() <= 8) {
    argv = std::span<Value>(argv_small, t.params.size());
  } else {
    argv_big.resize(t.params.size());
    argv = argv_big;
  }
  if (t.results.size() <= 8) {
    resv = std::span<Value>(resv_small, t.results.size());
  } else {
    resv_big.resize(t.results.size());
    resv = resv_big;
  }
  for (size_t i = 0; i < t.params.size(); ++i) {
    argv[i] = slot_to_value(t.params[i], args_and_results[i]);
    // The host may keep it: from now on no exception object is freed before the store is.
    if (t.params[i] == ValType::ExnRef && argv[i].ref) s->exnref_escaped = true;
  }
  for (size_t i = 0; i < t.results.size(); ++i) resv[i] = Value::zero(t.results[i]);

  HostContext ctx(s->self, caller ? caller->self : nullptr);
  HostResult r;
  ++s->host_nesting;
  try {
    r = f->host(ctx, std::span<const Value>(argv.data(), argv.size()), resv);
  } catch (...) {
    r = HostResult::fail(std::current_exception(), "host function threw a C++ exception");
  }
  --s->host_nesting;

  if (s->terminated && s->options.terminate_on_abort && s->nested_abort) {
    // A nested entry aborted and terminated the store: keep unwinding whatever the host said.
    out.status = Status::Trap;
    out.trap = s->nested_abort->trap;
    out.message = s->nested_abort->message;
    out.nested = s->nested_abort;
    return out;
  }

  auto make_exn = [&](TagInst* tag, const std::vector<Value>& payload) {
    ExnObject* e = s->new_exception();
    e->tag = tag;
    e->payload.reserve(payload.size());
    for (const Value& v : payload) e->payload.push_back(value_to_slot(v));
    return e;
  };

  switch (r.kind) {
    case HostResult::Kind::Ok:
      for (size_t i = 0; i < t.results.size(); ++i) args_and_results[i] = value_to_slot(resv[i]);
      return out;
    case HostResult::Kind::Error: {
      ExnObject* e = s->new_exception();
      e->tag = &s->host_error_tag;
      e->host_error = r.error;
      e->message = r.message;
      out.status = Status::Exception;
      out.exn = e;
      return out;
    }
    case HostResult::Kind::Abort:
      out.status = Status::Trap;
      out.trap = TrapKind::HostAbort;
      out.message = r.message;
      return out;
    case HostResult::Kind::Throw: {
      TagInst* tag = r.tag.impl();
      if (!tag || tag->type.params.size() != r.payload.size()) {
        out.status = Status::Trap;
        out.trap = TrapKind::HostAbort;
        out.message = "host function threw an exception with an invalid tag or payload";
        return out;
      }
      out.status = Status::Exception;
      out.exn = make_exn(tag, r.payload);
      return out;
    }
    case HostResult::Kind::Propagate: {
      const CallResult* nested = r.propagated.get();
      if (!nested) {
        out.status = Status::Trap;
        out.trap = TrapKind::HostAbort;
        out.message = "host function propagated nothing";
        return out;
      }
      switch (nested->outcome) {
        case Outcome::Ok:
          for (size_t i = 0; i < t.results.size() && i < nested->values.size(); ++i)
            args_and_results[i] = value_to_slot(nested->values[i]);
          return out;
        case Outcome::Panic:
          out.status = Status::Exception;
          if (!nested->exception_tag.valid()) {
            out.status = Status::Trap;
            out.message = nested->message;
            return out;
          }
          out.exn = make_exn(nested->exception_tag.impl(), nested->exception_payload);
          return out;
        case Outcome::HostError: {
          ExnObject* e = s->new_exception();
          e->tag = &s->host_error_tag;
          e->host_error = nested->host_error;
          e->message = nested->message;
          out.status = Status::Exception;
          out.exn = e;
          return out;
        }
        case Outcome::Abort:
          out.status = Status::Trap;
          out.trap = nested->trap;
          out.message = nested->message;
          out.nested = r.propagated;
          return out;
        case Outcome::Terminated:
          out.status = Status::Trap;
          out.trap = TrapKind::HostAbort;
          out.message = nested->message.empty() ? "store terminated" : nested->message;
          return out;
      }
      return out;
    }
  }
  return out;
}

// Calls a host function from guest code; kept out of line so the interpreter loop holds no
// objects with destructors.
[[gnu::noinline]] Status host_call_into(StoreImpl* s, FuncInst* f, uint64_t* slots,
                                        InstanceImpl* caller, ExecOut& out, ExnObject*& exn) {
  HostCallOutcome r = call_host(s, f, slots, caller);
  if (r.status == Status::Exception) exn = r.exn;
  if (r.status == Status::Trap) {
    out.trap = r.trap;
    out.message = std::move(r.message);
    out.nested = std::move(r.nested);
  }
  return r.status;
}

// A memory access's address: base + addend wraps at 32 bits (it is the i32 the access would have
// popped, with a folded `i32.add` included), then the static offset is added without wrapping.
inline uint64_t effective_address(uint64_t base, uint64_t addend, uint32_t offset) {
  return static_cast<uint64_t>(static_cast<uint32_t>(base + addend)) + offset;
}

// The store fast path's half of note_write (runtime.h): whether a write of n bytes at `address`
// touches a page not yet recorded in this epoch.
inline bool page_write_unrecorded(const uint32_t* stamps, uint32_t epoch, uint64_t address,
                                  size_t n) {
  return stamps[address >> kTrackPageShift] != epoch ||
         stamps[(address + n - 1) >> kTrackPageShift] != epoch;
}

// The slow half: once per page and epoch, so out of line and out of the handlers' way.
[[gnu::cold, gnu::noinline]] void record_first_write(MemoryInst* mem, uint64_t address, size_t n) {
  note_write(mem, address, n);
}

// Why the attention flag was set: -1 when nothing asks the guest to stop (go on), else the
// TrapKind to stop with. The flag is cleared before the reasons are read, so a request made
// meanwhile sets it again. Shared by the executor's check_attention and compiled loops.
int32_t pending_stop(StoreImpl* s) {
  s->attention.exchange(0, std::memory_order_acquire);
  int requested = s->interrupt_kind.exchange(-1, std::memory_order_relaxed);
  if (requested >= 0) return requested;
  if (s->cpu_watch.expired.load(std::memory_order_relaxed)) {
    // Spent for the rest of the outermost call: any later look (after a host function swallowed
    // a nested call's trap, say) stops the guest again.
    s->attention.store(1, std::memory_order_relaxed);
    return static_cast<int32_t>(TrapKind::CpuLimit);
  }
  return -1;
}
const char* stop_message(TrapKind kind) {
  return kind == TrapKind::CpuLimit ? "cpu time limit exceeded" : "interrupted";
}

// Callbacks of compiled loops (src/wasm/jit/loop_compiler.h). A stop is marked with
// kAttentionTrap so that its message says why.
constexpr int32_t kAttentionTrap = 0x100;
int32_t jit_check_attention(jit::Context* ctx) {
  int32_t stop = pending_stop(static_cast<StoreImpl*>(ctx->host));
  return stop < 0 ? stop : stop | kAttentionTrap;
}
void jit_note_write(jit::Context* ctx, uint64_t address, uint64_t n) {
  note_write(static_cast<MemoryInst*>(ctx->host2), address, n);
}
// UBSan's -fsanitize=function checks a type signature stored in front of every function it
// calls through a pointer; generated code has none, so this one call is exempt.
#if defined(__clang__)
[[clang::no_sanitize("function")]]
#endif
uint32_t
run_compiled_loop(jit::LoopFn fn, jit::Context* ctx) {
  return fn(ctx);
}

const char* jit_trap_message(uint32_t trap) {
  auto kind = static_cast<TrapKind>(trap & 0xff);
  if (trap & kAttentionTrap) return stop_message(kind);
  switch (kind) {
    case TrapKind::MemoryOutOfBounds: return "out of bounds memory access";
    case TrapKind::IntegerDivideByZero: return "integer divide by zero";
    case TrapKind::IntegerOverflow: return "integer overflow";
    default: return "unreachable";
  }
}

CompiledFunc* code_of(FuncInst* f) {
  if (f->code->ready.load(std::memory_order_acquire)) return f->code;
  const wasm::Module* ir = f->instance->ir;
  return f->instance->module->compiled().get(f->func_index - ir->num_imported_funcs);
}

Status execute(StoreImpl* s, FuncInst* entry_func, uint64_t* entry_fp, ExecOut& out) {
#define WASM_OP(name, prefix, code, text, imm, sig) &&L_##name,
  static void* const kTable[] = {
#include "wasm/common/opcodes.def"
      &&L_Copy,
      &&L_Const32,
      &&L_Const64,
      &&L_Jump,
      &&L_JumpIf,
      &&L_JumpUnless,
      &&L_JumpTable,
      &&L_CallFunc,
      &&L_CallDirect,
      &&L_CallIndirectOp,
      &&L_ReturnCallFunc,
      &&L_ReturnCallIndirectOp,
      &&L_Ret,
      &&L_ThrowOp,
      &&L_ThrowRefOp,
      &&L_SelectOp,
      &&L_JumpIfI64Eqz,
      &&L_JumpIfI64Nez,
      &&L_JumpIfLoad8U,
      &&L_JumpUnlessLoad8U,
      &&L_JumpIfLoad32,
      &&L_JumpUnlessLoad32,
#define RW_X(name) &&L_##name##Imm,
      RW_IMM_BINOPS(RW_X)
#undef RW_X
#define RW_X(name) &&L_JumpIf##name, &&L_JumpIf##name##Imm,
              RW_INT_COMPARES(RW_X)
#undef RW_X
#define RW_X(name) &&L_SelectIf##name, &&L_SelectIf##name##Imm,
                  RW_INT_COMPARES(RW_X)
#undef RW_X
#define RW_X(name) &&L_##name##Imm,
                      RW_STORES(RW_X)
#undef RW_X
#define RW_X(W, C) \
  &&L_##W##Add##C, &&L_##W##Add##C##Imm, &&L_##W##AddImm##C, &&L_##W##AddImm##C##Imm,
                          RW_LATCHES(RW_X)
#undef RW_X
          && L_I32AddNz,
      &&L_I32AddImmNz,
      &&L_I64AddNz,
      &&L_I64AddImmNz,
#define RW_X(name) &&L_##name##RR,
      RW_LOADS(RW_X) RW_STORES(RW_X)
#undef RW_X
#define RW_X(name) &&L_##name##Imm,
              RW_DIV_IMMS(RW_X)
#undef RW_X
#define RW_X(name) &&L_CondAdd##name##Imm,
                  RW_I32_COMPARES(RW_X)
#undef RW_X
#define RW_X(binop, load) &&L_##binop##From##load,
                      RW_LOAD_BINOPS(RW_X)
#undef RW_X
          && L_I32XorMulImm,
      &&L_I32XorMulImmXorMulImm,
      &&L_I32XorLoad8UMulImm,
      &&L_F32AddAdd,
      &&L_F64AddAdd,
      &&L_F32AddAddR,
      &&L_F64AddAddR,
#define RW_X(binop, load) &&L_##binop##From##load##s,
      RW_LOADS_BINOPS(RW_X)
#undef RW_X
#define RW_X(binop, load) &&L_##binop##From##load##sIR,
              RW_LOADS_BINOPS(RW_X)
#undef RW_X
#define RW_X(binop, load) &&L_##binop##From##load##sRI,
                  RW_LOADS_BINOPS(RW_X)
#undef RW_X
#define RW_X(binop, load) &&L_##binop##From##load##sRR,
                      RW_LOADS_BINOPS(RW_X)
#undef RW_X
#define RW_X(name) &&L_I32AddCondAdd##name##Imm,
                          RW_I32_COMPARES(RW_X)
#undef RW_X
          && L_I32AddThenAdd,
      &&L_I32AddThenAddImm,
      &&L_I32AddImmThenAdd,
      &&L_I32AddImmThenAddImm,
#define RW_X(name) &&L_##name##Twice,
      RW_LOADS(RW_X)
#undef RW_X
          && L_I32DivUMagic,
      &&L_I32RemUMagic,
      &&L_I32LoadTwiceJumpIfEq,
      &&L_I32LoadTwiceJumpIfNe,
      &&L_I32Load8UTwiceJumpIfEq,
      &&L_I32Load8UTwiceJumpIfNe,
      &&L_JitLoop,
  };
  static_assert(sizeof(kTable) / sizeof(kTable[0]) == op_id(IOp::Count_));
  const char* const dispatch_base = reinterpret_cast<const char*>(&&L_Unreachable);
  if (s == nullptr) {
    // Export mode (see dispatch_offsets): the handler offsets the compiler writes as op words.
    int32_t* offsets = reinterpret_cast<int32_t*>(entry_fp);
    for (size_t i = 0; i < op_id(IOp::Count_); ++i)
      offsets[i] = static_cast<int32_t>(reinterpret_cast<const char*>(kTable[i]) - dispatch_base);
    return Status::Ok;
  }

  // The innermost frame lives in `fr` while guest code runs; SYNC_FRAMES() stores it back into
  // the store before anything outside this loop can look at the frame stack.
  const StoreLimits& limits = s->options.limits;
  FrameStack& frames = s->frames;
  Frame* const entry_fr = frames.top;  // this entry's first frame
  Frame* fr = entry_fr - 1;
  Frame* const depth_limit = frames.base + limits.max_call_depth;
  const uint64_t* const stack_limit = s->stack_limit;

  FuncInst* callee = entry_func;
  uint64_t* nfp = entry_fp;
  const uint32_t* pc = nullptr;
  uint64_t* fp = nullptr;
  InstanceImpl* inst = nullptr;
  MemoryInst* mem0 = nullptr;
  uint8_t* mem = nullptr;
  uint64_t mem_size = 0;
  const uint32_t* track_stamps = nullptr;  // mem0's dirty-page tracking, null when off
  uint32_t track_epoch = 0;
  // Set by Store::interrupt and by the CPU watchdog (cpu_watchdog.h); polled, never counted.
  const std::atomic<uint8_t>* const attention = &s->attention;
  ExnObject* exn = nullptr;
  size_t call_len = 0;
  bool tail = false;

#define ZERO_LOCALS(frame, func)                                                        \
  do {                                                                                  \
    uint64_t* locals_ = (frame) + (func)->num_params;                                   \
    uint32_t n_ = (func)->num_locals - (func)->num_params;                              \
    static_assert(kZeroedLocals == 4);                                                  \
    locals_[0] = locals_[1] = locals_[2] = locals_[3] = 0;                              \
    if (__builtin_expect(n_ > kZeroedLocals, 0))                                        \
      std::memset(locals_ + kZeroedLocals, 0, (n_ - kZeroedLocals) * sizeof(uint64_t)); \
  } while (0)
#define SYNC_FRAMES() (frames.top = fr + 1)
#define NEXT() goto* const_cast<char*>(dispatch_base + static_cast<int32_t>(*pc))
// Dirty-page tracking state is copied next to the memory base: it changes only outside guest
// code (host calls, memory.grow, between entries), and every store checks it.
#define RELOAD_MEM()                   \
  do {                                 \
    mem0 = inst->memory0;              \
    mem = mem0->base;                  \
    mem_size = mem0->size;             \
    track_stamps = mem0->track_stamps; \
    track_epoch = mem0->track_epoch;   \
  } while (0)
// Whether an interrupt or the CPU deadline wants the loop's attention (cpu_watchdog.h).
#define ATTENTION() __builtin_expect(attention->load(std::memory_order_relaxed) != 0, 0)
// A taken branch. Loops have no check instruction of their own: every iteration of a loop takes a
// backward branch, which looks at the attention flag, so an endless loop still sees interrupts
// and deadlines. `word` indexes the instruction's target word, which holds the target relative
// to itself.
#define BRANCH(word)                                                      \
  do {                                                                    \
    const uint32_t* to_ = pc + (word) + static_cast<int32_t>(pc[(word)]); \
    if (to_ <= pc && ATTENTION()) {                                       \
      pc = to_;                                                           \
      goto check_attention;                                               \
    }                                                                     \
    pc = to_;                                                             \
    NEXT();                                                               \
  } while (0)
#define TRAP(kind, msg)        \
  do {                         \
    out.trap = TrapKind::kind; \
    out.message = msg;         \
    goto trap;                 \
  } while (0)

  // Entry: set up the first frame like a call.
  tail = false;
  goto enter_guest;

enter_guest : {
  // `callee` is a guest function, `nfp` its frame base with the arguments in place.
  CompiledFunc* cc = callee->code;
  if (__builtin_expect(!cc->ready.load(std::memory_order_acquire), 0)) {
    cc = code_of(callee);
    if (!cc) {
      if (fr >= entry_fr) fr->pc = pc;
      TRAP(Unreachable, "function could not be translated");
    }
  }
  if ((!tail && fr + 1 >= depth_limit) || nfp + cc->frame_slots > stack_limit) {
    if (fr >= entry_fr) fr->pc = pc;
    TRAP(StackOverflow, "call stack exhausted");
  }
  // Zero the declared locals. Never call memset for zero locals: with a zero size glibc's
  // AVX-512 memset issues a fully masked store that can touch the unmapped page below the value
  // stack, which costs a slow microcode assist on every call. Up to kZeroedLocals are zeroed by
  // plain stores, without a branch on the count (frames always have room for them).
  ZERO_LOCALS(nfp, cc);
  if (!tail) ++fr;
  *fr = Frame{callee->instance, cc, nfp, nullptr};
  pc = cc->code.data();
  fp = nfp;
  if (callee->instance != inst) {
    inst = callee->instance;
    RELOAD_MEM();
  }
  if (ATTENTION()) goto check_attention;
  NEXT();
}

check_attention : {
  int32_t stop = pending_stop(s);
  if (stop < 0) NEXT();
  fr->pc = pc;
  out.trap = static_cast<TrapKind>(stop);
  out.message = stop_message(out.trap);
  goto trap;
}

  // ---------------------------------------------------------------------------------------
  // Opcodes that never appear in compiled code.
L_Block:
L_Loop:
L_If:
L_Else:
L_Try:
L_Catch:
L_Throw:
L_Rethrow:
L_ThrowRef:
L_End:
L_Br:
L_BrIf:
L_BrTable:
L_Return:
L_Call:
L_CallIndirect:
L_ReturnCall:
L_ReturnCallIndirect:
L_Delegate:
L_CatchAll:
L_Drop:
L_Select:
L_SelectT:
L_TryTable:
L_LocalGet:
L_LocalSet:
L_LocalTee:
L_Nop:
L_I32Const:
L_I64Const:
L_F32Const:
L_F64Const:
L_RefNull:
  fr->pc = pc;
  TRAP(Unreachable, "internal error: invalid compiled instruction");

L_Unreachable:
  fr->pc = pc;
  TRAP(Unreachable, "unreachable");

  // ---------------------------------------------------------------------------------------
  // Internal operations
L_Copy:
  fp[pc[1]] = fp[pc[2]];
  pc += 3;
  NEXT();
L_Const32:
  fp[pc[1]] = pc[2];
  pc += 3;
  NEXT();
L_Const64:
  fp[pc[1]] = static_cast<uint64_t>(pc[2]) | (static_cast<uint64_t>(pc[3]) << 32);
  pc += 4;
  NEXT();
L_Jump:
  BRANCH(1);
L_JumpIf:
  if (static_cast<uint32_t>(fp[pc[1]]) != 0) BRANCH(2);
  pc += 3;
  NEXT();
L_JumpUnless:
  if (static_cast<uint32_t>(fp[pc[1]]) == 0) BRANCH(2);
  pc += 3;
  NEXT();
L_JumpTable : {
  uint32_t i = static_cast<uint32_t>(fp[pc[1]]);
  uint32_t n = pc[2];
  if (i > n) i = n;
  BRANCH(3 + i);
}
L_SelectOp:
  fp[pc[1]] = static_cast<uint32_t>(fp[pc[4]]) != 0 ? fp[pc[2]] : fp[pc[3]];
  pc += 5;
  NEXT();

L_CallFunc:
  callee = inst->funcs[pc[1]];
  nfp = fp + pc[2];
  call_len = 5;
  tail = false;
  goto do_call;
L_CallDirect : {
  // A call within the module: the callee's code is named by the instruction and its instance is
  // this one, so only the frame and the checks remain. Its first call goes the generic way,
  // which compiles it.
  CompiledFunc* cc;
  std::memcpy(&cc, pc + 3, sizeof cc);
  uint64_t* new_fp = fp + pc[2];
  if (__builtin_expect(!cc->ready.load(std::memory_order_acquire), 0)) goto L_CallFunc;
  fr->pc = pc;
  if (__builtin_expect(fr + 1 >= depth_limit || new_fp + cc->frame_slots > stack_limit, 0)) {
    callee = inst->funcs[pc[1]];
    nfp = new_fp;
    tail = false;
    goto enter_guest;  // which reports the overflow
  }
  ZERO_LOCALS(new_fp, cc);
  ++fr;
  *fr = Frame{inst, cc, new_fp, nullptr};
  pc = cc->code.data();
  fp = new_fp;
  if (ATTENTION()) goto check_attention;
  NEXT();
}
L_CallIndirectOp : {
  TableInst* t = inst->tables[pc[2]];
  uint32_t i = static_cast<uint32_t>(fp[pc[3]]);
  fr->pc = pc;
  if (i >= t->elems.size()) TRAP(TableOutOfBounds, "undefined element");
  callee = static_cast<FuncInst*>(t->elems[i]);
  if (!callee) TRAP(IndirectCallNull, "uninitialized element");
  if (callee->type_id != inst->type_ids[pc[1]])
    TRAP(IndirectCallSignature, "indirect call type mismatch");
  nfp = fp + pc[4];
  call_len = 5;
  tail = false;
  goto do_call;
}
L_ReturnCallFunc : {
  callee = inst->funcs[pc[1]];
  uint32_t n = static_cast<uint32_t>(callee->type.params.size());
  std::memmove(fp, fp + pc[2], n * sizeof(uint64_t));
  nfp = fp;
  call_len = 5;
  tail = true;
  goto do_call;
}
L_ReturnCallIndirectOp : {
  TableInst* t = inst->tables[pc[2]];
  uint32_t i = static_cast<uint32_t>(fp[pc[3]]);
  fr->pc = pc;
  if (i >= t->elems.size()) TRAP(TableOutOfBounds, "undefined element");
  callee = static_cast<FuncInst*>(t->elems[i]);
  if (!callee) TRAP(IndirectCallNull, "uninitialized element");
  if (callee->type_id != inst->type_ids[pc[1]])
    TRAP(IndirectCallSignature, "indirect call type mismatch");
  uint32_t n = static_cast<uint32_t>(callee->type.params.size());
  std::memmove(fp, fp + pc[4], n * sizeof(uint64_t));
  nfp = fp;
  call_len = 5;
  tail = true;
  goto do_call;
}

do_call:
  fr->pc = pc;
  if (!callee->is_host()) goto enter_guest;
  {
    if (s->host_nesting >= limits.max_host_nesting) TRAP(StackOverflow, "call stack exhausted");
    SYNC_FRAMES();
    Status host_status = host_call_into(s, callee, nfp, inst, out, exn);
    RELOAD_MEM();
    if (host_status == Status::Exception) goto throw_exn;
    if (host_status == Status::Trap) goto trap;
    if (tail) goto L_Ret;  // results are at fp[0..]
    pc += call_len;
    if (ATTENTION()) goto check_attention;
    NEXT();
  }

L_Ret : {
  if (--fr < entry_fr) {
    SYNC_FRAMES();
    return Status::Ok;
  }
  Frame& caller = *fr;
  fp = caller.fp;
  pc = caller.pc;
  pc += 5;
  // Within one instance the memory locals are current: memory.grow and host calls reload them.
  if (caller.inst != inst) {
    inst = caller.inst;
    RELOAD_MEM();
  }
  NEXT();
}

L_ThrowOp : {
  TagInst* tag = inst->tags[pc[1]];
  SYNC_FRAMES();  // new_exception may scan the value stack
  ExnObject* e = s->new_exception();
  e->tag = tag;
  size_t n = tag->type.params.size();
  e->payload.assign(fp + pc[2], fp + pc[2] + n);
  exn = e;
  fr->pc = pc;
  goto throw_exn;
}
L_ThrowRefOp : {
  exn = reinterpret_cast<ExnObject*>(fp[pc[1]]);
  fr->pc = pc;
  if (!exn) TRAP(NullReference, "null exception reference");
  goto throw_exn;
}

throw_exn : {
  // Search the handler tables up the frame stack; frames without a handler are unwound. A
  // rethrown exception continues the backtrace it had when it was caught, within the bound one
  // unwinding could reach (an exnref rethrown in a loop must not grow it without end).
  out.backtrace = std::move(exn->unwound);
  if (out.backtrace.size() >= limits.max_call_depth) out.backtrace.clear();
  for (;;) {
    Frame& f = *fr;
    CompiledFunc* c = f.code;
    uint32_t at = static_cast<uint32_t>(f.pc - c->code.data());
    uint32_t filter = UINT32_MAX;
    for (const Handler& h : c->handlers) {
      if (h.depth > filter || at < h.begin || at >= h.end) continue;
      if (h.kind == Handler::Kind::Delegate) {
        filter = h.delegate_depth;
        continue;
      }
      if (h.kind == Handler::Kind::Catch && exn->tag != f.inst->tags[h.tag]) continue;
      uint64_t* dst = f.fp + h.dst;
      size_t n = 0;
      if (h.kind == Handler::Kind::Catch) {
        n = exn->payload.size();
        if (n) std::memcpy(dst, exn->payload.data(), n * sizeof(uint64_t));
      }
      if (h.push_ref) dst[n] = reinterpret_cast<uint64_t>(exn);
      if (h.exn_slot != UINT32_MAX) f.fp[h.exn_slot] = reinterpret_cast<uint64_t>(exn);
      fp = f.fp;
      pc = c->code.data() + h.target;
      inst = f.inst;
      RELOAD_MEM();
      exn->unwound = std::move(out.backtrace);
      out.backtrace.clear();
      // A handler may continue at a loop's start: look at the flag like a backward branch.
      if (ATTENTION()) goto check_attention;
      NEXT();
    }
    out.backtrace.push_back({f.inst->funcs[c->func_index], at});
    if (--fr < entry_fr) {
      SYNC_FRAMES();
      out.exn = exn;
      return Status::Exception;
    }
  }
}

L_JitLoop : {
  // A loop compiled to machine code (see IOp::JitLoop): locals in their slots on entry and exit.
  jit::Context ctx;
  ctx.fp = fp;
  ctx.mem = mem;
  ctx.mem_size = mem_size;
  ctx.track_stamps = track_stamps;
  ctx.track_epoch = track_epoch;
  ctx.attention = attention;
  ctx.globals = reinterpret_cast<void* const*>(inst->globals.data());
  ctx.check_attention = &jit_check_attention;
  ctx.note_write = &jit_note_write;
  ctx.host = s;
  ctx.host2 = mem0;
  auto fn = reinterpret_cast<jit::LoopFn>(static_cast<uintptr_t>(pc[1]) |
                                          (static_cast<uintptr_t>(pc[2]) << 32));
  uint32_t exit = run_compiled_loop(fn, &ctx);
  const uint32_t* sites = pc + 4 + pc[3];  // the trap site count, then one word per site
  if (exit == 0) {
    pc = sites + 1 + sites[0];
    NEXT();
  }
  if (exit < jit::kTrapExit) BRANCH(4 + (exit - 1));
  fr->pc = sites + 1 + (exit & ~jit::kTrapExit);
  out.trap = static_cast<TrapKind>(ctx.trap_kind & 0xff);
  out.message = jit_trap_message(ctx.trap_kind);
  goto trap;
}

trap : {
  // Traps are never caught: unwind every frame of this entry without running handlers.
  out.backtrace.clear();
  for (Frame* f = fr; f >= entry_fr; --f) {
    const uint32_t* at = f->pc ? f->pc : f->code->code.data();
    out.backtrace.push_back(
        {f->inst->funcs[f->code->func_index], static_cast<uint32_t>(at - f->code->code.data())});
  }
  frames.top = entry_fr;
  return Status::Trap;
}

  // ---------------------------------------------------------------------------------------
  // Variables, tables, references

L_GlobalGet:
  fp[pc[1]] = inst->globals[pc[2]]->value;
  pc += 3;
  NEXT();
L_GlobalSet:
  inst->globals[pc[1]]->value = fp[pc[2]];
  pc += 3;
  NEXT();
L_TableGet : {
  TableInst* t = inst->tables[pc[2]];
  uint32_t i = static_cast<uint32_t>(fp[pc[3]]);
  if (i >= t->elems.size()) {
    fr->pc = pc;
    TRAP(TableOutOfBounds, "out of bounds table access");
  }
  fp[pc[1]] = reinterpret_cast<uint64_t>(t->elems[i]);
  pc += 4;
  NEXT();
}
L_TableSet : {
  TableInst* t = inst->tables[pc[1]];
  uint32_t i = static_cast<uint32_t>(fp[pc[2]]);
  if (i >= t->elems.size()) {
    fr->pc = pc;
    TRAP(TableOutOfBounds, "out of bounds table access");
  }
  t->elems[i] = reinterpret_cast<void*>(fp[pc[3]]);
  ++t->writes;  // lifecycle rollback: see TableInst::writes
  pc += 4;
  NEXT();
}
L_TableSize:
  fp[pc[1]] = static_cast<uint32_t>(inst->tables[pc[2]]->elems.size());
  pc += 3;
  NEXT();
L_TableGrow : {
  TableInst* t = inst->tables[pc[2]];
  uint64_t n = static_cast<uint32_t>(fp[pc[4]]);
  uint64_t old = t->elems.size();
  if (old + n > t->max_elems) {
    fp[pc[1]] = static_cast<uint32_t>(-1);
  } else {
    t->elems.resize(old + n, reinterpret_cast<void*>(fp[pc[3]]));
    t->type.limits.min = old + n;
    ++t->writes;
    fp[pc[1]] = static_cast<uint32_t>(old);
  }
  pc += 5;
  NEXT();
}
L_TableFill : {
  TableInst* t = inst->tables[pc[1]];
  uint64_t i = static_cast<uint32_t>(fp[pc[2]]);
  uint64_t n = static_cast<uint32_t>(fp[pc[4]]);
  if (i + n > t->elems.size()) {
    fr->pc = pc;
    TRAP(TableOutOfBounds, "out of bounds table access");
  }
  void* v = reinterpret_cast<void*>(fp[pc[3]]);
  for (uint64_t k = 0; k < n; ++k) t->elems[i + k] = v;
  ++t->writes;
  pc += 5;
  NEXT();
}
L_TableCopy : {
  TableInst* dt = inst->tables[pc[1]];
  TableInst* st = inst->tables[pc[2]];
  uint64_t d = static_cast<uint32_t>(fp[pc[3]]);
  uint64_t sidx = static_cast<uint32_t>(fp[pc[4]]);
  uint64_t n = static_cast<uint32_t>(fp[pc[5]]);
  if (d + n > dt->elems.size() || sidx + n > st->elems.size()) {
    fr->pc = pc;
    TRAP(TableOutOfBounds, "out of bounds table access");
  }
  if (n) std::memmove(dt->elems.data() + d, st->elems.data() + sidx, n * sizeof(void*));
  ++dt->writes;
  pc += 6;
  NEXT();
}
L_TableInit : {
  const std::vector<void*>& seg = inst->elem_segments[pc[1]];
  TableInst* t = inst->tables[pc[2]];
  uint64_t d = static_cast<uint32_t>(fp[pc[3]]);
  uint64_t sidx = static_cast<uint32_t>(fp[pc[4]]);
  uint64_t n = static_cast<uint32_t>(fp[pc[5]]);
  if (sidx + n > seg.size() || d + n > t->elems.size()) {
    fr->pc = pc;
    TRAP(TableOutOfBounds, "out of bounds table access");
  }
  for (uint64_t k = 0; k < n; ++k) t->elems[d + k] = seg[sidx + k];
  ++t->writes;
  pc += 6;
  NEXT();
}
L_ElemDrop:
  inst->elem_segments[pc[1]].clear();
  inst->elem_segments[pc[1]].shrink_to_fit();
  pc += 2;
  NEXT();
L_RefIsNull:
  fp[pc[1]] = fp[pc[2]] == 0 ? 1 : 0;
  pc += 3;
  NEXT();
L_RefFunc:
  fp[pc[1]] = reinterpret_cast<uint64_t>(inst->funcs[pc[2]]);
  pc += 3;
  NEXT();

  // ---------------------------------------------------------------------------------------
  // Memory

// Loads and stores: op, [dst,] address slot, [value slot,] offset, addend; the address is
// effective_address(slot, addend, offset), the compiler having folded an `i32.add` of a constant
// into the addend.
// Reads the T that the load instruction at pc addresses into v, or traps.
#define LOAD_VALUE(T, addend, v)                                \
  do {                                                          \
    uint64_t ea_ = effective_address(fp[pc[2]], addend, pc[3]); \
    if (ea_ + sizeof(T) > mem_size) goto oob;                   \
    std::memcpy(&v, mem + ea_, sizeof(T));                      \
  } while (0)
#define LOAD_AT(name, T, addend, expr) \
  L_##name : {                         \
    T v;                               \
    LOAD_VALUE(T, addend, v);          \
    fp[pc[1]] = (expr);                \
    pc += 5;                           \
    NEXT();                            \
  }
// Two loads in a row (the second traps as itself: pc is on it by then).
#define LOAD_TWICE(name, T, expr) \
  L_##name##Twice : {             \
    T v;                          \
    LOAD_VALUE(T, pc[4], v);      \
    fp[pc[1]] = (expr);           \
    pc += 5;                      \
    LOAD_VALUE(T, pc[4], v);      \
    fp[pc[1]] = (expr);           \
    pc += 5;                      \
    NEXT();                       \
  }
#define LOAD(name, T, expr)             \
  LOAD_AT(name, T, pc[4], expr)         \
  LOAD_AT(name##RR, T, fp[pc[4]], expr) \
  LOAD_TWICE(name, T, expr)
  LOAD(I32Load, uint32_t, v)
  LOAD(I64Load, uint64_t, v)
  LOAD(F32Load, uint32_t, v)
  LOAD(F64Load, uint64_t, v)
  LOAD(I32Load8S, int8_t, static_cast<uint32_t>(static_cast<int32_t>(v)))
  LOAD(I32Load8U, uint8_t, static_cast<uint32_t>(v))
  LOAD(I32Load16S, int16_t, static_cast<uint32_t>(static_cast<int32_t>(v)))
  LOAD(I32Load16U, uint16_t, static_cast<uint32_t>(v))
  LOAD(I64Load8S, int8_t, static_cast<uint64_t>(static_cast<int64_t>(v)))
  LOAD(I64Load8U, uint8_t, static_cast<uint64_t>(v))
  LOAD(I64Load16S, int16_t, static_cast<uint64_t>(static_cast<int64_t>(v)))
  LOAD(I64Load16U, uint16_t, static_cast<uint64_t>(v))
  LOAD(I64Load32S, int32_t, static_cast<uint64_t>(static_cast<int64_t>(v)))
  LOAD(I64Load32U, uint32_t, static_cast<uint64_t>(v))
// Two loads, then the branch on their values (pc is on each instruction as it runs).
#define LOADS_THEN_JUMP(label, T, cond) \
  label : {                             \
    T v1, v2;                           \
    LOAD_VALUE(T, pc[4], v1);           \
    fp[pc[1]] = v1;                     \
    pc += 5;                            \
    LOAD_VALUE(T, pc[4], v2);           \
    fp[pc[1]] = v2;                     \
    pc += 5;                            \
    if (cond) BRANCH(3);                \
    pc += 4;                            \
    NEXT();                             \
  }
  LOADS_THEN_JUMP(L_I32LoadTwiceJumpIfEq, uint32_t, v1 == v2)
  LOADS_THEN_JUMP(L_I32LoadTwiceJumpIfNe, uint32_t, v1 != v2)
  LOADS_THEN_JUMP(L_I32Load8UTwiceJumpIfEq, uint8_t, v1 == v2)
  LOADS_THEN_JUMP(L_I32Load8UTwiceJumpIfNe, uint8_t, v1 != v2)
#undef LOADS_THEN_JUMP
#undef LOAD
#undef LOAD_TWICE
#undef LOAD_AT
#undef LOAD_VALUE

#define STORE_AT(name, T, addend, value)                                 \
  L_##name : {                                                           \
    uint64_t ea = effective_address(fp[pc[1]], addend, pc[3]);           \
    if (ea + sizeof(T) > mem_size) goto oob;                             \
    T v = static_cast<T>(value);                                         \
    if (__builtin_expect(track_stamps != nullptr, 0) &&                  \
        page_write_unrecorded(track_stamps, track_epoch, ea, sizeof(T))) \
      record_first_write(mem0, ea, sizeof(T));                           \
    std::memcpy(mem + ea, &v, sizeof(T));                                \
    pc += 5;                                                             \
    NEXT();                                                              \
  }
#define STORE(name, T)                        \
  STORE_AT(name, T, pc[4], fp[pc[2]])         \
  STORE_AT(name##RR, T, fp[pc[4]], fp[pc[2]]) \
  STORE_AT(name##Imm, T, pc[4],               \
           static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(pc[2]))))
  STORE(I32Store, uint32_t)
  STORE(I64Store, uint64_t)
  STORE(F32Store, uint32_t)
  STORE(F64Store, uint64_t)
  STORE(I32Store8, uint8_t)
  STORE(I32Store16, uint16_t)
  STORE(I64Store8, uint8_t)
  STORE(I64Store16, uint16_t)
  STORE(I64Store32, uint32_t)
#undef STORE
#undef STORE_AT

  // Branch on a loaded value: op, address slot, offset, addend, target.
#define JUMP_ON_LOAD(name, T, test)                           \
  L_##name : {                                                \
    uint64_t ea = effective_address(fp[pc[1]], pc[3], pc[2]); \
    if (ea + sizeof(T) > mem_size) goto oob;                  \
    T v;                                                      \
    std::memcpy(&v, mem + ea, sizeof(T));                     \
    if (test) BRANCH(4);                                      \
    pc += 5;                                                  \
    NEXT();                                                   \
  }
  JUMP_ON_LOAD(JumpIfLoad8U, uint8_t, v != 0)
  JUMP_ON_LOAD(JumpUnlessLoad8U, uint8_t, v == 0)
  JUMP_ON_LOAD(JumpIfLoad32, uint32_t, v != 0)
  JUMP_ON_LOAD(JumpUnlessLoad32, uint32_t, v == 0)
#undef JUMP_ON_LOAD

oob:
  fr->pc = pc;
  TRAP(MemoryOutOfBounds, "out of bounds memory access");

L_MemorySize:
  fp[pc[1]] = mem0->pages();
  pc += 2;
  NEXT();
L_MemoryGrow : {
  int64_t old = mem0->grow(static_cast<uint32_t>(fp[pc[2]]));
  if (old < 0) s->grow_failed = true;
  fp[pc[1]] = static_cast<uint32_t>(old);
  RELOAD_MEM();
  pc += 3;
  NEXT();
}
L_MemoryInit : {
  uint32_t seg = pc[1];
  uint64_t d = static_cast<uint32_t>(fp[pc[2]]);
  uint64_t sidx = static_cast<uint32_t>(fp[pc[3]]);
  uint64_t n = static_cast<uint32_t>(fp[pc[4]]);
  const std::vector<uint8_t>& bytes = inst->ir->datas[seg].bytes;
  uint64_t seg_size = inst->data_dropped[seg] ? 0 : bytes.size();
  if (sidx + n > seg_size || d + n > mem_size) goto oob;
  if (n) store_bytes(mem0, mem, d, bytes.data() + sidx, n);
  pc += 5;
  NEXT();
}
L_DataDrop:
  inst->data_dropped[pc[1]] = 1;
  pc += 2;
  NEXT();
L_MemoryCopy : {
  uint64_t d = static_cast<uint32_t>(fp[pc[1]]);
  uint64_t sidx = static_cast<uint32_t>(fp[pc[2]]);
  uint64_t n = static_cast<uint32_t>(fp[pc[3]]);
  if (sidx + n > mem_size || d + n > mem_size) goto oob;
  if (n) move_bytes(mem0, mem, d, sidx, n);
  pc += 4;
  NEXT();
}
L_MemoryFill : {
  uint64_t d = static_cast<uint32_t>(fp[pc[1]]);
  uint8_t v = static_cast<uint8_t>(fp[pc[2]]);
  uint64_t n = static_cast<uint32_t>(fp[pc[3]]);
  if (d + n > mem_size) goto oob;
  if (n) fill_bytes(mem0, mem, d, v, n);
  pc += 4;
  NEXT();
}

// ---------------------------------------------------------------------------------------
// Numeric

#define A32 static_cast<uint32_t>(fp[pc[2]])
#define B32 static_cast<uint32_t>(fp[pc[3]])
#define A64 fp[pc[2]]
#define B64 fp[pc[3]]
#define AF32 f32_of(fp[pc[2]])
#define BF32 f32_of(fp[pc[3]])
#define AF64 f64_of(fp[pc[2]])
#define BF64 f64_of(fp[pc[3]])
#define UN(name, expr)  \
  L_##name : {          \
    fp[pc[1]] = (expr); \
    pc += 3;            \
    NEXT();             \
  }
#define BIN(name, expr) \
  L_##name : {          \
    fp[pc[1]] = (expr); \
    pc += 4;            \
    NEXT();             \
  }
#define B(x) static_cast<uint64_t>((x) ? 1 : 0)
#define S32(x) static_cast<int32_t>(x)
#define S64(x) static_cast<int64_t>(x)
#define U32(x) static_cast<uint64_t>(static_cast<uint32_t>(x))

// Integer binary operations: register and immediate forms; compares also fused with branches.
#define GEN_I32(name, expr)      \
  L_##name : {                   \
    uint32_t a = A32, b = B32;   \
    fp[pc[1]] = (expr);          \
    pc += 4;                     \
    NEXT();                      \
  }                              \
  L_##name##Imm : {              \
    uint32_t a = A32, b = pc[3]; \
    fp[pc[1]] = (expr);          \
    pc += 4;                     \
    NEXT();                      \
  }
#define GEN_I64(name, expr)                                                        \
  L_##name : {                                                                     \
    uint64_t a = A64, b = B64;                                                     \
    fp[pc[1]] = (expr);                                                            \
    pc += 4;                                                                       \
    NEXT();                                                                        \
  }                                                                                \
  L_##name##Imm : {                                                                \
    uint64_t a = A64, b = static_cast<uint64_t>(static_cast<int64_t>(S32(pc[3]))); \
    fp[pc[1]] = (expr);                                                            \
    pc += 4;                                                                       \
    NEXT();                                                                        \
  }
#define GEN_CMP32(name, cond)                      \
  GEN_I32(name, B(cond))                           \
  L_JumpIf##name : {                               \
    uint32_t a = static_cast<uint32_t>(fp[pc[1]]); \
    uint32_t b = static_cast<uint32_t>(fp[pc[2]]); \
    if (cond) BRANCH(3);                           \
    pc += 4;                                       \
    NEXT();                                        \
  }                                                \
  L_JumpIf##name##Imm : {                          \
    uint32_t a = static_cast<uint32_t>(fp[pc[1]]); \
    uint32_t b = pc[2];                            \
    if (cond) BRANCH(3);                           \
    pc += 4;                                       \
    NEXT();                                        \
  }                                                \
  L_SelectIf##name : {                             \
    uint32_t a = static_cast<uint32_t>(fp[pc[4]]); \
    uint32_t b = static_cast<uint32_t>(fp[pc[5]]); \
    fp[pc[1]] = (cond) ? fp[pc[2]] : fp[pc[3]];    \
    pc += 6;                                       \
    NEXT();                                        \
  }                                                \
  L_SelectIf##name##Imm : {                        \
    uint32_t a = static_cast<uint32_t>(fp[pc[4]]); \
    uint32_t b = pc[5];                            \
    fp[pc[1]] = (cond) ? fp[pc[2]] : fp[pc[3]];    \
    pc += 6;                                       \
    NEXT();                                        \
  }                                                \
  L_CondAdd##name##Imm : {                         \
    uint32_t a = static_cast<uint32_t>(fp[pc[2]]); \
    uint32_t b = pc[4];                            \
    fp[pc[1]] = (cond) ? U32(a + pc[3]) : U32(a);  \
    pc += 5;                                       \
    NEXT();                                        \
  }                                                \
  L_I32AddCondAdd##name##Imm : {                   \
    uint64_t sum = U32(fp[pc[3]] + fp[pc[4]]);     \
    uint32_t a = static_cast<uint32_t>(sum);       \
    uint32_t b = pc[6];                            \
    fp[pc[2]] = sum;                               \
    fp[pc[1]] = (cond) ? U32(a + pc[5]) : sum;     \
    pc += 7;                                       \
    NEXT();                                        \
  }
#define GEN_CMP64(name, cond)                                             \
  GEN_I64(name, B(cond))                                                  \
  L_JumpIf##name : {                                                      \
    uint64_t a = fp[pc[1]];                                               \
    uint64_t b = fp[pc[2]];                                               \
    if (cond) BRANCH(3);                                                  \
    pc += 4;                                                              \
    NEXT();                                                               \
  }                                                                       \
  L_JumpIf##name##Imm : {                                                 \
    uint64_t a = fp[pc[1]];                                               \
    uint64_t b = static_cast<uint64_t>(static_cast<int64_t>(S32(pc[2]))); \
    if (cond) BRANCH(3);                                                  \
    pc += 4;                                                              \
    NEXT();                                                               \
  }                                                                       \
  L_SelectIf##name : {                                                    \
    uint64_t a = fp[pc[4]];                                               \
    uint64_t b = fp[pc[5]];                                               \
    fp[pc[1]] = (cond) ? fp[pc[2]] : fp[pc[3]];                           \
    pc += 6;                                                              \
    NEXT();                                                               \
  }                                                                       \
  L_SelectIf##name##Imm : {                                               \
    uint64_t a = fp[pc[4]];                                               \
    uint64_t b = static_cast<uint64_t>(static_cast<int64_t>(S32(pc[5]))); \
    fp[pc[1]] = (cond) ? fp[pc[2]] : fp[pc[3]];                           \
    pc += 6;                                                              \
    NEXT();                                                               \
  }
  GEN_CMP32(I32Eq, a == b)
  GEN_CMP32(I32Ne, a != b)
  GEN_CMP32(I32LtS, S32(a) < S32(b))
  GEN_CMP32(I32LtU, a < b)
  GEN_CMP32(I32GtS, S32(a) > S32(b))
  GEN_CMP32(I32GtU, a > b)
  GEN_CMP32(I32LeS, S32(a) <= S32(b))
  GEN_CMP32(I32LeU, a <= b)
  GEN_CMP32(I32GeS, S32(a) >= S32(b))
  GEN_CMP32(I32GeU, a >= b)
  GEN_CMP64(I64Eq, a == b)
  GEN_CMP64(I64Ne, a != b)
  GEN_CMP64(I64LtS, S64(a) < S64(b))
  GEN_CMP64(I64LtU, a < b)
  GEN_CMP64(I64GtS, S64(a) > S64(b))
  GEN_CMP64(I64GtU, a > b)
  GEN_CMP64(I64LeS, S64(a) <= S64(b))
  GEN_CMP64(I64LeU, a <= b)
  GEN_CMP64(I64GeS, S64(a) >= S64(b))
  GEN_CMP64(I64GeU, a >= b)
  // Binary operations with the right operand loaded: op, dst, a, address slot, offset, addend.
#define LOAD_BINOP(binop, load, LoadT, T, get_a, of_load, expr) \
  L_##binop##From##load : {                                     \
    uint64_t ea = effective_address(fp[pc[3]], pc[5], pc[4]);   \
    if (ea + sizeof(LoadT) > mem_size) goto oob;                \
    LoadT v;                                                    \
    std::memcpy(&v, mem + ea, sizeof(LoadT));                   \
    T a = get_a(fp[pc[2]]);                                     \
    T b = of_load(v);                                           \
    fp[pc[1]] = (expr);                                         \
    pc += 6;                                                    \
    NEXT();                                                     \
  }
#define AS_U32(x) static_cast<uint32_t>(x)
#define AS_U64(x) static_cast<uint64_t>(x)
  LOAD_BINOP(I32Add, I32Load8U, uint8_t, uint32_t, AS_U32, AS_U32, U32(a + b))
  LOAD_BINOP(I32Add, I32Load, uint32_t, uint32_t, AS_U32, AS_U32, U32(a + b))
  LOAD_BINOP(I32Sub, I32Load, uint32_t, uint32_t, AS_U32, AS_U32, U32(a - b))
  LOAD_BINOP(I32Xor, I32Load8U, uint8_t, uint32_t, AS_U32, AS_U32, U32(a ^ b))
  LOAD_BINOP(I32Xor, I32Load, uint32_t, uint32_t, AS_U32, AS_U32, U32(a ^ b))
  LOAD_BINOP(I32And, I32Load, uint32_t, uint32_t, AS_U32, AS_U32, U32(a & b))
  LOAD_BINOP(I32Or, I32Load, uint32_t, uint32_t, AS_U32, AS_U32, U32(a | b))
  LOAD_BINOP(I32Mul, I32Load, uint32_t, uint32_t, AS_U32, AS_U32, U32(a * b))
  LOAD_BINOP(I64Add, I64Load, uint64_t, uint64_t, AS_U64, AS_U64, a + b)
  LOAD_BINOP(I64Xor, I64Load, uint64_t, uint64_t, AS_U64, AS_U64, a ^ b)
  LOAD_BINOP(F32Add, F32Load, uint32_t, float, f32_of, f32_of, slot_f32(a + b))
  LOAD_BINOP(F32Mul, F32Load, uint32_t, float, f32_of, f32_of, slot_f32(a * b))
  LOAD_BINOP(F64Add, F64Load, uint64_t, double, f64_of, f64_of, slot_f64(a + b))
  LOAD_BINOP(F64Sub, F64Load, uint64_t, double, f64_of, f64_of, slot_f64(a - b))
  LOAD_BINOP(F64Mul, F64Load, uint64_t, double, f64_of, f64_of, slot_f64(a * b))
#undef LOAD_BINOP
#define LOADS_BINOP_AT(label, LoadT, T, of_load, addend1, addend2, expr)       \
  label : {                                                                    \
    uint64_t ea1 = effective_address(fp[pc[2]], addend1, pc[3]);               \
    if (ea1 + sizeof(LoadT) > mem_size) goto oob;                              \
    uint64_t ea2 = effective_address(fp[pc[5]], addend2, pc[6]);               \
    if (ea2 + sizeof(LoadT) > mem_size) {                                      \
      ++pc; /* the right load's byte offset is recorded for the second word */ \
      goto oob;                                                                \
    }                                                                          \
    LoadT v1, v2;                                                              \
    std::memcpy(&v1, mem + ea1, sizeof(LoadT));                                \
    std::memcpy(&v2, mem + ea2, sizeof(LoadT));                                \
    T a = of_load(v1);                                                         \
    T b = of_load(v2);                                                         \
    fp[pc[1]] = (expr);                                                        \
    pc += 8;                                                                   \
    NEXT();                                                                    \
  }
#define LOADS_BINOP(binop, load, LoadT, T, of_load, expr)                               \
  LOADS_BINOP_AT(L_##binop##From##load##s, LoadT, T, of_load, pc[4], pc[7], expr)       \
  LOADS_BINOP_AT(L_##binop##From##load##sIR, LoadT, T, of_load, pc[4], fp[pc[7]], expr) \
  LOADS_BINOP_AT(L_##binop##From##load##sRI, LoadT, T, of_load, fp[pc[4]], pc[7], expr) \
  LOADS_BINOP_AT(L_##binop##From##load##sRR, LoadT, T, of_load, fp[pc[4]], fp[pc[7]], expr)
  LOADS_BINOP(I32Add, I32Load, uint32_t, uint32_t, AS_U32, U32(a + b))
  LOADS_BINOP(I32Mul, I32Load, uint32_t, uint32_t, AS_U32, U32(a * b))
  LOADS_BINOP(I64Add, I64Load, uint64_t, uint64_t, AS_U64, a + b)
  LOADS_BINOP(I64Mul, I64Load, uint64_t, uint64_t, AS_U64, a * b)
  LOADS_BINOP(F32Add, F32Load, uint32_t, float, f32_of, slot_f32(a + b))
  LOADS_BINOP(F32Mul, F32Load, uint32_t, float, f32_of, slot_f32(a * b))
  LOADS_BINOP(F64Add, F64Load, uint64_t, double, f64_of, slot_f64(a + b))
  LOADS_BINOP(F64Mul, F64Load, uint64_t, double, f64_of, slot_f64(a * b))
#undef LOADS_BINOP
#undef LOADS_BINOP_AT
#undef AS_U32
#undef AS_U64

#define ADD_OPERAND(i, imm) (imm ? pc[i] : static_cast<uint32_t>(fp[pc[i]]))
#define ADD_THEN_ADD(label, imm1, imm2)                                     \
  label:                                                                    \
  fp[pc[1]] = U32(static_cast<uint32_t>(fp[pc[2]]) + ADD_OPERAND(3, imm1)); \
  fp[pc[5]] = U32(static_cast<uint32_t>(fp[pc[6]]) + ADD_OPERAND(7, imm2)); \
  pc += 8;                                                                  \
  NEXT();
  ADD_THEN_ADD(L_I32AddThenAdd, false, false)
  ADD_THEN_ADD(L_I32AddThenAddImm, false, true)
  ADD_THEN_ADD(L_I32AddImmThenAdd, true, false)
  ADD_THEN_ADD(L_I32AddImmThenAddImm, true, true)
#undef ADD_THEN_ADD
#undef ADD_OPERAND

L_I32XorLoad8UMulImm : {
  uint64_t ea = effective_address(fp[pc[3]], pc[5], pc[4]);
  if (ea + 1 > mem_size) goto oob;
  fp[pc[1]] = U32((static_cast<uint32_t>(fp[pc[2]]) ^ mem[ea]) * pc[6]);
  pc += 7;
  NEXT();
}
L_F32AddAdd:
  fp[pc[1]] = slot_f32((f32_of(fp[pc[2]]) + f32_of(fp[pc[3]])) + f32_of(fp[pc[4]]));
  pc += 5;
  NEXT();
L_F64AddAdd:
  fp[pc[1]] = slot_f64((f64_of(fp[pc[2]]) + f64_of(fp[pc[3]])) + f64_of(fp[pc[4]]));
  pc += 5;
  NEXT();
L_F32AddAddR:
  fp[pc[1]] = slot_f32(f32_of(fp[pc[4]]) + (f32_of(fp[pc[2]]) + f32_of(fp[pc[3]])));
  pc += 5;
  NEXT();
L_F64AddAddR:
  fp[pc[1]] = slot_f64(f64_of(fp[pc[4]]) + (f64_of(fp[pc[2]]) + f64_of(fp[pc[3]])));
  pc += 5;
  NEXT();
L_I32XorMulImm:
  fp[pc[1]] = U32((static_cast<uint32_t>(fp[pc[2]]) ^ static_cast<uint32_t>(fp[pc[3]])) * pc[4]);
  pc += 5;
  NEXT();
L_I32XorMulImmXorMulImm : {
  uint32_t step = (static_cast<uint32_t>(fp[pc[2]]) ^ static_cast<uint32_t>(fp[pc[3]])) * pc[4];
  fp[pc[1]] = U32((step ^ static_cast<uint32_t>(fp[pc[5]])) * pc[6]);
  pc += 7;
  NEXT();
}

  GEN_I32(I32Add, U32(a + b))
  GEN_I32(I32Sub, U32(a - b))
  GEN_I32(I32Mul, U32(a * b))
  GEN_I32(I32And, U32(a & b))
  GEN_I32(I32Or, U32(a | b))
  GEN_I32(I32Xor, U32(a ^ b))
  GEN_I32(I32Shl, U32(a << (b & 31)))
  GEN_I32(I32ShrS, U32(S32(a) >> (b & 31)))
  GEN_I32(I32ShrU, U32(a >> (b & 31)))
  GEN_I32(I32Rotl, U32(std::rotl(a, static_cast<int>(b & 31))))
  GEN_I32(I32Rotr, U32(std::rotr(a, static_cast<int>(b & 31))))
  GEN_I64(I64Add, a + b)
  GEN_I64(I64Sub, a - b)
  GEN_I64(I64Mul, a * b)
  GEN_I64(I64And, a & b)
  GEN_I64(I64Or, a | b)
  GEN_I64(I64Xor, a ^ b)
  GEN_I64(I64Shl, a << (b & 63))
  GEN_I64(I64ShrS, static_cast<uint64_t>(S64(a) >> (b & 63)))
  GEN_I64(I64ShrU, a >> (b & 63))
  GEN_I64(I64Rotl, std::rotl(a, static_cast<int>(b & 63)))
  GEN_I64(I64Rotr, std::rotr(a, static_cast<int>(b & 63)))
  // Loop latches (RW_LATCHES): dst = a + b, then compare the sum and branch.
#define LATCH_ONE(label, T, b_expr, c_expr, cond) \
  label : {                                       \
    T a = static_cast<T>(fp[pc[2]]) + (b_expr);   \
    fp[pc[1]] = a;                                \
    [[maybe_unused]] T b = (c_expr);              \
    if (cond) BRANCH(5);                          \
    pc += 6;                                      \
    NEXT();                                       \
  }
#define IMM32 pc[3]
#define IMM64 static_cast<uint64_t>(static_cast<int64_t>(S32(pc[3])))
#define CIMM32 pc[4]
#define CIMM64 static_cast<uint64_t>(static_cast<int64_t>(S32(pc[4])))
#define LATCH32(C, cond)                                                             \
  LATCH_ONE(L_I32Add##C, uint32_t, B32, static_cast<uint32_t>(fp[pc[4]]), cond)      \
  LATCH_ONE(L_I32Add##C##Imm, uint32_t, B32, CIMM32, cond)                           \
  LATCH_ONE(L_I32AddImm##C, uint32_t, IMM32, static_cast<uint32_t>(fp[pc[4]]), cond) \
  LATCH_ONE(L_I32AddImm##C##Imm, uint32_t, IMM32, CIMM32, cond)
#define LATCH64(C, cond)                                      \
  LATCH_ONE(L_I64Add##C, uint64_t, B64, fp[pc[4]], cond)      \
  LATCH_ONE(L_I64Add##C##Imm, uint64_t, B64, CIMM64, cond)    \
  LATCH_ONE(L_I64AddImm##C, uint64_t, IMM64, fp[pc[4]], cond) \
  LATCH_ONE(L_I64AddImm##C##Imm, uint64_t, IMM64, CIMM64, cond)
  LATCH32(Ne, a != b)
  LATCH32(LtU, a < b)
  LATCH32(LtS, S32(a) < S32(b))
  LATCH32(GtU, a > b)
  LATCH32(GtS, S32(a) > S32(b))
  LATCH64(Ne, a != b)
  LATCH64(LtU, a < b)
  LATCH64(LtS, S64(a) < S64(b))
  LATCH64(GtU, a > b)
  LATCH64(GtS, S64(a) > S64(b))
  LATCH_ONE(L_I32AddNz, uint32_t, B32, 0, a != 0)
  LATCH_ONE(L_I32AddImmNz, uint32_t, IMM32, 0, a != 0)
  LATCH_ONE(L_I64AddNz, uint64_t, B64, 0, a != 0)
  LATCH_ONE(L_I64AddImmNz, uint64_t, IMM64, 0, a != 0)
#undef LATCH32
#undef LATCH64
#undef LATCH_ONE
#undef IMM32
#undef IMM64
#undef CIMM32
#undef CIMM64
  // Divisions by an immediate other than 0 and -1 (see RW_DIV_IMMS): no trap is possible.
#define DIV_IMM(name, T, expr)                                               \
  L_##name##Imm : {                                                          \
    T a = static_cast<T>(fp[pc[2]]);                                         \
    T b = static_cast<T>(static_cast<int64_t>(static_cast<int32_t>(pc[3]))); \
    fp[pc[1]] = (expr);                                                      \
    pc += 4;                                                                 \
    NEXT();                                                                  \
  }
  DIV_IMM(I32DivS, int32_t, U32(a / b))
  DIV_IMM(I32DivU, uint32_t, U32(a / b))
  DIV_IMM(I32RemS, int32_t, U32(a % b))
  DIV_IMM(I32RemU, uint32_t, U32(a % b))
  DIV_IMM(I64DivS, int64_t, static_cast<uint64_t>(a / b))
  DIV_IMM(I64DivU, uint64_t, a / b)
  DIV_IMM(I64RemS, int64_t, static_cast<uint64_t>(a % b))
  DIV_IMM(I64RemU, uint64_t, a % b)
#undef DIV_IMM
  // Unsigned division and remainder by a constant d >= 2 through its reciprocal (compiler.h).
L_I32DivUMagic : {
  uint64_t m = static_cast<uint64_t>(pc[4]) | (static_cast<uint64_t>(pc[5]) << 32);
  uint32_t a = static_cast<uint32_t>(fp[pc[2]]);
  fp[pc[1]] = static_cast<uint32_t>((static_cast<unsigned __int128>(m) * a) >> 64);
  pc += 6;
  NEXT();
}
L_I32RemUMagic : {
  uint64_t m = static_cast<uint64_t>(pc[4]) | (static_cast<uint64_t>(pc[5]) << 32);
  uint64_t fraction = m * static_cast<uint32_t>(fp[pc[2]]);  // mod 2^64
  fp[pc[1]] = static_cast<uint32_t>((static_cast<unsigned __int128>(fraction) * pc[3]) >> 64);
  pc += 6;
  NEXT();
}
L_JumpIfI64Eqz:
  if (fp[pc[1]] == 0) BRANCH(2);
  pc += 3;
  NEXT();
L_JumpIfI64Nez:
  if (fp[pc[1]] != 0) BRANCH(2);
  pc += 3;
  NEXT();

  UN(I32Eqz, B(A32 == 0))
  UN(I64Eqz, B(A64 == 0))
  BIN(F32Eq, B(AF32 == BF32))
  BIN(F32Ne, B(AF32 != BF32))
  BIN(F32Lt, B(AF32 < BF32))
  BIN(F32Gt, B(AF32 > BF32))
  BIN(F32Le, B(AF32 <= BF32))
  BIN(F32Ge, B(AF32 >= BF32))
  BIN(F64Eq, B(AF64 == BF64))
  BIN(F64Ne, B(AF64 != BF64))
  BIN(F64Lt, B(AF64 < BF64))
  BIN(F64Gt, B(AF64 > BF64))
  BIN(F64Le, B(AF64 <= BF64))
  BIN(F64Ge, B(AF64 >= BF64))

  UN(I32Clz, U32(std::countl_zero(A32)))
  UN(I32Ctz, U32(std::countr_zero(A32)))
  UN(I32Popcnt, U32(std::popcount(A32)))
L_I32DivS : {
  int32_t a = S32(A32), b = S32(B32);
  if (b == 0) goto div_zero;
  if (a == std::numeric_limits<int32_t>::min() && b == -1) goto int_overflow;
  fp[pc[1]] = U32(a / b);
  pc += 4;
  NEXT();
}
L_I32DivU : {
  uint32_t a = A32, b = B32;
  if (b == 0) goto div_zero;
  fp[pc[1]] = U32(a / b);
  pc += 4;
  NEXT();
}
L_I32RemS : {
  int32_t a = S32(A32), b = S32(B32);
  if (b == 0) goto div_zero;
  fp[pc[1]] = (b == -1) ? 0 : U32(a % b);
  pc += 4;
  NEXT();
}
L_I32RemU : {
  uint32_t a = A32, b = B32;
  if (b == 0) goto div_zero;
  fp[pc[1]] = U32(a % b);
  pc += 4;
  NEXT();
}
  UN(I64Clz, static_cast<uint64_t>(std::countl_zero(A64)))
  UN(I64Ctz, static_cast<uint64_t>(std::countr_zero(A64)))
  UN(I64Popcnt, static_cast<uint64_t>(std::popcount(A64)))
L_I64DivS : {
  int64_t a = S64(A64), b = S64(B64);
  if (b == 0) goto div_zero;
  if (a == std::numeric_limits<int64_t>::min() && b == -1) goto int_overflow;
  fp[pc[1]] = static_cast<uint64_t>(a / b);
  pc += 4;
  NEXT();
}
L_I64DivU : {
  uint64_t a = A64, b = B64;
  if (b == 0) goto div_zero;
  fp[pc[1]] = a / b;
  pc += 4;
  NEXT();
}
L_I64RemS : {
  int64_t a = S64(A64), b = S64(B64);
  if (b == 0) goto div_zero;
  fp[pc[1]] = (b == -1) ? 0 : static_cast<uint64_t>(a % b);
  pc += 4;
  NEXT();
}
L_I64RemU : {
  uint64_t a = A64, b = B64;
  if (b == 0) goto div_zero;
  fp[pc[1]] = a % b;
  pc += 4;
  NEXT();
}

  UN(F32Abs, U32(A32 & 0x7fffffffu))
  UN(F32Neg, U32(A32 ^ 0x80000000u))
  UN(F32Ceil, slot_f32(std::ceil(AF32)))
  UN(F32Floor, slot_f32(std::floor(AF32)))
  UN(F32Trunc, slot_f32(std::trunc(AF32)))
  UN(F32Nearest, slot_f32(wasm_nearest(AF32)))
  UN(F32Sqrt, slot_f32(std::sqrt(AF32)))
  BIN(F32Add, slot_f32(AF32 + BF32))
  BIN(F32Sub, slot_f32(AF32 - BF32))
  BIN(F32Mul, slot_f32(AF32 * BF32))
  BIN(F32Div, slot_f32(AF32 / BF32))
  BIN(F32Min, slot_f32(wasm_min(AF32, BF32)))
  BIN(F32Max, slot_f32(wasm_max(AF32, BF32)))
  BIN(F32Copysign, U32((A32 & 0x7fffffffu) | (B32 & 0x80000000u)))
  UN(F64Abs, A64 & 0x7fffffffffffffffull)
  UN(F64Neg, A64 ^ 0x8000000000000000ull)
  UN(F64Ceil, slot_f64(std::ceil(AF64)))
  UN(F64Floor, slot_f64(std::floor(AF64)))
  UN(F64Trunc, slot_f64(std::trunc(AF64)))
  UN(F64Nearest, slot_f64(wasm_nearest(AF64)))
  UN(F64Sqrt, slot_f64(std::sqrt(AF64)))
  BIN(F64Add, slot_f64(AF64 + BF64))
  BIN(F64Sub, slot_f64(AF64 - BF64))
  BIN(F64Mul, slot_f64(AF64 * BF64))
  BIN(F64Div, slot_f64(AF64 / BF64))
  BIN(F64Min, slot_f64(wasm_min(AF64, BF64)))
  BIN(F64Max, slot_f64(wasm_max(AF64, BF64)))
  BIN(F64Copysign, (A64 & 0x7fffffffffffffffull) | (B64 & 0x8000000000000000ull))

  UN(I32WrapI64, U32(A64))
  // Trapping float -> int truncations: NaN is an invalid conversion, out of range an overflow.
#define TRUNC(name, F, get, T, lo_ok, hi_ok, store) \
  L_##name : {                                      \
    F x = get;                                      \
    if (x != x) goto invalid_conv;                  \
    if (!(lo_ok) || !(hi_ok)) goto int_overflow;    \
    fp[pc[1]] = store(static_cast<T>(x));           \
    pc += 3;                                        \
    NEXT();                                         \
  }
#define STORE32(v) U32(v)
#define STORE64(v) static_cast<uint64_t>(v)
  TRUNC(I32TruncF32S, float, AF32, int32_t, x >= -2147483648.0f, x < 2147483648.0f, STORE32)
  TRUNC(I32TruncF32U, float, AF32, uint32_t, x > -1.0f, x < 4294967296.0f, STORE32)
  TRUNC(I32TruncF64S, double, AF64, int32_t, x > -2147483649.0, x < 2147483648.0, STORE32)
  TRUNC(I32TruncF64U, double, AF64, uint32_t, x > -1.0, x < 4294967296.0, STORE32)
  TRUNC(I64TruncF32S, float, AF32, int64_t, x >= -9223372036854775808.0f,
        x < 9223372036854775808.0f, STORE64)
  TRUNC(I64TruncF32U, float, AF32, uint64_t, x > -1.0f, x < 18446744073709551616.0f, STORE64)
  TRUNC(I64TruncF64S, double, AF64, int64_t, x >= -9223372036854775808.0, x < 9223372036854775808.0,
        STORE64)
  TRUNC(I64TruncF64U, double, AF64, uint64_t, x > -1.0, x < 18446744073709551616.0, STORE64)
#undef TRUNC
  UN(I64ExtendI32S, static_cast<uint64_t>(static_cast<int64_t>(S32(A32))))
  UN(I64ExtendI32U, static_cast<uint64_t>(A32))
  UN(F32ConvertI32S, slot_f32(static_cast<float>(S32(A32))))
  UN(F32ConvertI32U, slot_f32(static_cast<float>(A32)))
  UN(F32ConvertI64S, slot_f32(static_cast<float>(S64(A64))))
  UN(F32ConvertI64U, slot_f32(static_cast<float>(A64)))
  UN(F32DemoteF64, slot_f32(static_cast<float>(AF64)))
  UN(F64ConvertI32S, slot_f64(static_cast<double>(S32(A32))))
  UN(F64ConvertI32U, slot_f64(static_cast<double>(A32)))
  UN(F64ConvertI64S, slot_f64(static_cast<double>(S64(A64))))
  UN(F64ConvertI64U, slot_f64(static_cast<double>(A64)))
  UN(F64PromoteF32, slot_f64(static_cast<double>(AF32)))
  UN(I32ReinterpretF32, U32(A32))
  UN(I64ReinterpretF64, A64)
  UN(F32ReinterpretI32, U32(A32))
  UN(F64ReinterpretI64, A64)
  UN(I32Extend8S, U32(static_cast<int32_t>(static_cast<int8_t>(A32))))
  UN(I32Extend16S, U32(static_cast<int32_t>(static_cast<int16_t>(A32))))
  UN(I64Extend8S, static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(A64))))
  UN(I64Extend16S, static_cast<uint64_t>(static_cast<int64_t>(static_cast<int16_t>(A64))))
  UN(I64Extend32S, static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(A64))))

  // Saturating truncations.
#define TRUNC_SAT(name, F, get, T, lo, hi, store) \
  L_##name : {                                    \
    F x = get;                                    \
    T r;                                          \
    if (x != x)                                   \
      r = 0;                                      \
    else if (!(lo))                               \
      r = std::numeric_limits<T>::min();          \
    else if (!(hi))                               \
      r = std::numeric_limits<T>::max();          \
    else                                          \
      r = static_cast<T>(x);                      \
    fp[pc[1]] = store(r);                         \
    pc += 3;                                      \
    NEXT();                                       \
  }
  TRUNC_SAT(I32TruncSatF32S, float, AF32, int32_t, x >= -2147483648.0f, x < 2147483648.0f, STORE32)
  TRUNC_SAT(I32TruncSatF32U, float, AF32, uint32_t, x > -1.0f, x < 4294967296.0f, STORE32)
  TRUNC_SAT(I32TruncSatF64S, double, AF64, int32_t, x > -2147483649.0, x < 2147483648.0, STORE32)
  TRUNC_SAT(I32TruncSatF64U, double, AF64, uint32_t, x > -1.0, x < 4294967296.0, STORE32)
  TRUNC_SAT(I64TruncSatF32S, float, AF32, int64_t, x >= -9223372036854775808.0f,
            x < 9223372036854775808.0f, STORE64)
  TRUNC_SAT(I64TruncSatF32U, float, AF32, uint64_t, x > -1.0f, x < 18446744073709551616.0f, STORE64)
  TRUNC_SAT(I64TruncSatF64S, double, AF64, int64_t, x >= -9223372036854775808.0,
            x < 9223372036854775808.0, STORE64)
  TRUNC_SAT(I64TruncSatF64U, double, AF64, uint64_t, x > -1.0, x < 18446744073709551616.0, STORE64)
#undef TRUNC_SAT

div_zero:
  fr->pc = pc;
  TRAP(IntegerDivideByZero, "integer divide by zero");
int_overflow:
  fr->pc = pc;
  TRAP(IntegerOverflow, "integer overflow");
invalid_conv:
  fr->pc = pc;
  TRAP(InvalidConversion, "invalid conversion to integer");
}

}  // namespace

const int32_t* dispatch_offsets() {
  static int32_t offsets[op_id(IOp::Count_)];
  static std::once_flag once;
  std::call_once(once, [] {
    ExecOut unused;
    execute(nullptr, nullptr, reinterpret_cast<uint64_t*>(offsets), unused);
  });
  return offsets;
}

namespace {

std::vector<BacktraceFrame> resolve_backtrace(const std::vector<RawBacktraceFrame>& raw) {
  std::vector<BacktraceFrame> bt;
  bt.reserve(raw.size());
  for (const RawBacktraceFrame& r : raw) {
    BacktraceFrame f;
    if (r.func->is_host()) {
      f.name = r.func->host_name;
    } else {
      f.func_index = r.func->func_index;
      f.name = r.func->instance->ir->function_name(r.func->func_index);
      CompiledFunc* c = r.func->code;
      if (c->ready.load(std::memory_order_acquire)) f.offset = c->byte_offset_at(r.code_pos);
    }
    bt.push_back(std::move(f));
  }
  return bt;
}

}  // namespace

CallResult invoke(StoreImpl* s, FuncInst* func, std::span<const Value> args, Instance* caller) {
  CallResult result;
  if (s->terminated) {
    result.outcome = Outcome::Terminated;
    result.message = "store terminated";
    return result;
  }
  const FuncType& type = func->type;
  if (args.size() != type.params.size()) {
    result.outcome = Outcome::Abort;
    result.trap = TrapKind::HostAbort;
    result.message = "argument count mismatch: expected " + std::to_string(type.params.size()) +
                     ", got " + std::to_string(args.size());
    return result;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].type != type.params[i]) {
      result.outcome = Outcome::Abort;
      result.trap = TrapKind::HostAbort;
      result.message = "argument " + std::to_string(i) + " has type " + to_string(args[i].type) +
                       ", expected " + to_string(type.params[i]);
      return result;
    }
  }
  const bool outermost = s->frames.empty() && s->host_nesting == 0;
  struct WatchedWhileInScope {
    CpuWatch* watch = nullptr;
    ~WatchedWhileInScope() {
      if (watch) unwatch_cpu(*watch);
    }
  } cpu_watched;
  if (!outermost && s->host_nesting > s->options.limits.max_host_nesting) {
    result.outcome = Outcome::Abort;
    result.trap = TrapKind::StackOverflow;
    result.message = "call stack exhausted";
    return result;
  }
  if (!s->ensure_stack()) {
    result.outcome = Outcome::Abort;
    result.trap = TrapKind::StackOverflow;
    result.message = "cannot reserve the value stack";
    return result;
  }
  if (outermost) {
    s->grow_failed = false;
    s->nested_abort.reset();
    // A deadline left over from an earlier call is cleared; an interrupt requested between
    // calls (or while this one starts) stops this one.
    // (A full barrier only when there is something to clear: calls are short.)
    if (s->attention.load(std::memory_order_relaxed) != 0) {
      s->attention.store(0);
      if (s->interrupt_kind.load() >= 0) s->attention.store(1);
    }
    auto limit = s->options.limits.cpu_time_per_call.count();
    if (limit > 0) {
      s->cpu_watch.attention = &s->attention;
      s->cpu_watch.budget_ns = static_cast<uint64_t>(limit);
      if (pthread_getcpuclockid(pthread_self(), &s->cpu_watch.clock) == 0) {
        watch_cpu(s->cpu_watch);
        cpu_watched.watch = &s->cpu_watch;
      }
    }
  }

  uint64_t* fp = s->stack_base;
  if (!s->frames.empty()) {
    const Frame& top = s->frames.back();
    fp = top.fp + top.code->frame_slots;
  }
  size_t n = std::max(type.params.size(), type.results.size());
  if (fp + n > s->stack_limit) {
    result.outcome = Outcome::Abort;
    result.trap = TrapKind::StackOverflow;
    result.message = "call stack exhausted";
    return result;
  }
  for (size_t i = 0; i < args.size(); ++i) fp[i] = value_to_slot(args[i]);

  // The shadow stack pointer of the callee's instance, restored after a panic or host error.
  GlobalInst* stack_pointer = nullptr;
  uint64_t saved_sp = 0;
  if (s->options.restore_stack_pointer && func->instance) {
    const CompiledModule& cm = func->instance->module->compiled();
    if (cm.stack_pointer_global) {
      stack_pointer = func->instance->globals[*cm.stack_pointer_global];
      saved_sp = stack_pointer->value;
    }
  }

  Status status;
  ExecOut out;
  if (func->is_host()) {
    HostCallOutcome r = call_host(s, func, fp, caller ? caller->impl() : nullptr);
    status = r.status;
    out.exn = r.exn;
    out.trap = r.trap;
    out.message = std::move(r.message);
    out.nested = std::move(r.nested);
  } else {
    status = execute(s, func, fp, out);
  }

  switch (status) {
    case Status::Ok:
      result.values.reserve(type.results.size());
      for (size_t i = 0; i < type.results.size(); ++i)
        result.values.push_back(slot_to_value(type.results[i], fp[i]));
      break;
    case Status::Exception: {
      ExnObject* e = out.exn;
      result.backtrace = resolve_backtrace(out.backtrace);
      if (e->tag == &s->host_error_tag) {
        result.outcome = Outcome::HostError;
        result.host_error = e->host_error;
        result.message = e->message.empty() ? "host error" : e->message;
      } else {
        result.outcome = Outcome::Panic;
        result.exception_tag = Tag(e->tag);
        result.exception_payload.reserve(e->payload.size());
        for (size_t i = 0; i < e->payload.size(); ++i)
          result.exception_payload.push_back(slot_to_value(e->tag->type.params[i], e->payload[i]));
        result.message = "uncaught exception";
      }
      if (stack_pointer) stack_pointer->value = saved_sp;
      break;
    }
    case Status::Trap: {
      result.outcome = Outcome::Abort;
      result.trap = out.trap;
      result.message = std::move(out.message);
      if (out.nested) result.backtrace = out.nested->backtrace;
      auto own = resolve_backtrace(out.backtrace);
      result.backtrace.insert(result.backtrace.end(), own.begin(), own.end());
      if (s->grow_failed) result.trap = TrapKind::OutOfMemory;
      if (s->options.terminate_on_abort) {
        s->terminated = true;
        if (!outermost) s->nested_abort = std::make_shared<CallResult>(result);
      }
      break;
    }
  }
  // An exnref in a nested entry's result reaches the host function that made the call.
  auto holds_exnref = [](const std::vector<Value>& values) {
    return std::any_of(values.begin(), values.end(),
                       [](const Value& v) { return v.type == ValType::ExnRef && v.ref; });
  };
  if (holds_exnref(result.values) || holds_exnref(result.exception_payload))
    s->exnref_escaped = true;
  if (outermost) {
    s->nested_abort.reset();
    if (!s->exceptions.empty()) s->collect_exceptions();
  }
  return result;
}

}  // namespace rw::internal
