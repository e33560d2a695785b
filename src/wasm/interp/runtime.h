#pragma once
// The engine's runtime objects: what a Store owns and what the executor works on.
//
// Values live in 8-byte slots. i32/f32 occupy the low 32 bits (the upper bits are zero after any
// write by the executor), references are stored as pointers.

#include <atomic>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rewind/engine.h"
#include "wasm/common/module.h"
#include "wasm/interp/cpu_watchdog.h"

namespace rw::internal {

struct CompiledFunc;
struct InstanceImpl;
struct StoreImpl;
struct RawBacktraceFrame;

// Store-wide canonical id of a function type, so signature checks are one integer compare.
using TypeId = uint32_t;

struct FuncInst {
  FuncType type;
  TypeId type_id = 0;
  StoreImpl* store = nullptr;
  // Guest functions:
  InstanceImpl* instance = nullptr;
  uint32_t func_index = 0;       // in the defining module's index space
  CompiledFunc* code = nullptr;  // the module's, compiled on first call (CompiledFunc::ready)
  // Host functions:
  HostCallback host;
  std::string host_name;

  bool is_host() const { return instance == nullptr; }
};

struct TableInst {
  TableType type;  // limits.min tracks the current size
  std::vector<void*> elems;
  uint32_t max_elems = 0;  // effective maximum (type max and store limit)
  // Bumped by every mutation (table.set/fill/copy/init/grow, Table::set/grow), so the lifecycle
  // layer (src/wasm/lifecycle) copies a table back on rollback only when a call changed it.
  uint64_t writes = 0;
};

// Linear memory: the whole maximum is reserved up front (PROT_NONE) and committed on grow, so the
// base pointer never moves. Every guest store goes through store_bytes() below, the single place
// where a lifecycle layer can add dirty-page tracking.
struct MemoryInst {
  MemoryType type;  // limits.min tracks the current size in pages
  uint8_t* base = nullptr;
  uint64_t size = 0;       // bytes currently accessible
  uint64_t reserved = 0;   // bytes of address space reserved
  uint32_t max_pages = 0;  // effective maximum (type max and store limit)

  MemoryInst() = default;
  MemoryInst(const MemoryInst&) = delete;
  MemoryInst& operator=(const MemoryInst&) = delete;
  ~MemoryInst();

  // Dirty-page tracking, installed by the lifecycle layer (src/wasm/lifecycle) for snapshots,
  // reset and per-call rollback; off while track_stamps is null. Granularity: 4 KiB pages. A page
  // whose stamp equals track_epoch is already recorded; a write to any other page first calls
  // track_first_write (before the bytes change, so the tracker can save the page's pre-image).
  uint32_t* track_stamps = nullptr;
  uint32_t track_epoch = 0;
  void (*track_first_write)(MemoryInst* mem, uint64_t first_page, uint64_t last_page) = nullptr;
  void* tracker = nullptr;

  // Reserves and commits the initial size; false when the address space cannot be reserved.
  bool init(MemoryType t, uint32_t store_max_pages);
  // Returns the old size in pages or -1.
  int64_t grow(uint64_t delta_pages);
  uint32_t pages() const { return static_cast<uint32_t>(size / kPageSize); }
};

constexpr uint32_t kTrackPageShift = 12;  // dirty tracking granularity: 4 KiB

// Records a write of [address, address + n) for the lifecycle layer, before it happens. When
// tracking is off this is one predictable branch; when on, one stamp compare per touched page.
inline void note_write(MemoryInst* mem, uint64_t address, size_t n) {
  const uint32_t* stamps = mem->track_stamps;
  if (__builtin_expect(stamps == nullptr, 1) || n == 0) return;
  uint64_t first = address >> kTrackPageShift;
  uint64_t last = (address + n - 1) >> kTrackPageShift;
  if (last - first > 1 || stamps[first] != mem->track_epoch || stamps[last] != mem->track_epoch)
    mem->track_first_write(mem, first, last);
}

// Every write to linear memory by guest code goes through these three functions (and
// Memory::write through store_bytes): the one place to add dirty-page tracking.
inline void store_bytes(MemoryInst* mem, uint8_t* base, uint64_t address, const void* src,
                        size_t n) {
  note_write(mem, address, n);
  __builtin_memcpy(base + address, src, n);
}
inline void move_bytes(MemoryInst* mem, uint8_t* base, uint64_t dst, uint64_t src, size_t n) {
  note_write(mem, dst, n);
  __builtin_memmove(base + dst, base + src, n);
}
inline void fill_bytes(MemoryInst* mem, uint8_t* base, uint64_t dst, uint8_t value, size_t n) {
  note_write(mem, dst, n);
  __builtin_memset(base + dst, value, n);
}

// The memory of instances that have none: zero bytes, so every access is out of bounds.
MemoryInst* empty_memory();

struct GlobalInst {
  GlobalType type;
  uint64_t value = 0;
};

struct TagInst {
  FuncType type;
  TypeId type_id = 0;
};

// An exception object (the target of an exnref). The store owns them.
struct ExnObject {
  TagInst* tag = nullptr;
  std::vector<uint64_t> payload;
  std::exception_ptr host_error;  // set when tag is the store's host-error tag
  std::string message;
  // Frames already unwound before a handler caught it, innermost first. A rethrow (legacy
  // `rethrow`, `throw_ref`) continues this backtrace, so a panic reports where it was thrown,
  // not where a cleanup last rethrew it.
  std::vector<RawBacktraceFrame> unwound;
};

// Per-module compiled state, shared by all instances of the module in all stores.
struct CompiledModule {
  wasm::Module ir;
  std::mutex compile_mutex;
  // The code of every defined function, at a fixed address from the start (compiled code calls
  // through these addresses); filled in under compile_mutex on first call.
  std::unique_ptr<CompiledFunc[]> code;
  // Whether the compiler fuses instruction sequences (set before the first call). Off only to
  // check the fused code against plain code (fuzz/exec_fuzz.cpp runs every module both ways).
  bool fuse = true;
  // Whether loops the loop compiler takes run as machine code (src/wasm/jit); only with `fuse`.
  // Off to test or fuzz the interpreter's own translation of them.
  bool compile_loops = true;
  // Index of the shadow stack pointer global (LLVM's __stack_pointer), if one was found.
  std::optional<uint32_t> stack_pointer_global;

  explicit CompiledModule(wasm::Module m);
  ~CompiledModule();
  // Returns the compiled code of defined function `defined_index`, compiling it on first use.
  // Null only if translation failed (which validation should rule out).
  CompiledFunc* get(uint32_t defined_index);
};

struct InstanceImpl {
  StoreImpl* store = nullptr;
  Instance* self = nullptr;
  std::shared_ptr<const Module> module;
  const wasm::Module* ir = nullptr;
  std::vector<FuncInst*> funcs;
  std::vector<TableInst*> tables;
  std::vector<MemoryInst*> memories;
  std::vector<GlobalInst*> globals;
  std::vector<TagInst*> tags;
  std::vector<TypeId> type_ids;  // module type index -> store type id
  // Element segments as resolved references; dropped segments are cleared.
  std::vector<std::vector<void*>> elem_segments;
  std::vector<uint8_t> data_dropped;
  MemoryInst* memory0 = nullptr;
};

// The explicit guest call stack. The executor never recurses natively for wasm->wasm calls.
// The function of a frame is `inst->funcs[code->func_index]`: a call within an instance stores
// the instance it already holds instead of loading the callee's FuncInst.
struct Frame {
  InstanceImpl* inst = nullptr;
  CompiledFunc* code = nullptr;
  uint64_t* fp = nullptr;
  const uint32_t* pc = nullptr;  // the instruction executing (the call, for callers)
};

// The guest call stack: max_call_depth frames reserved once with the value stack (pages never
// touched cost nothing), so a call pushes with a pointer bump and no capacity check. While guest
// code runs the executor keeps the top in a register and stores it back here before anything
// else can look (host calls, unwinding, returning to the host).
struct FrameStack {
  Frame* base = nullptr;
  Frame* top = nullptr;  // one past the innermost frame
  size_t reserved_bytes = 0;

  bool empty() const { return top == base; }
  Frame& back() { return top[-1]; }
  const Frame& back() const { return top[-1]; }
};

struct RawBacktraceFrame {
  FuncInst* func;
  uint32_t code_pos;
};

struct StoreImpl {
  StoreOptions options;
  Store* self = nullptr;

  std::deque<std::unique_ptr<FuncInst>> funcs;
  std::deque<std::unique_ptr<TableInst>> tables;
  std::deque<std::unique_ptr<MemoryInst>> memories;
  std::deque<std::unique_ptr<GlobalInst>> globals;
  std::deque<std::unique_ptr<TagInst>> tags;
  std::deque<std::unique_ptr<Instance>> instances;
  std::vector<std::unique_ptr<ExnObject>> exceptions;

  struct TypeLess {
    bool operator()(const FuncType& a, const FuncType& b) const {
      return a.params != b.params ? a.params < b.params : a.results < b.results;
    }
  };
  std::map<FuncType, TypeId, TypeLess> type_ids_by_type;
  std::vector<const FuncType*> types_by_id;
  TagInst host_error_tag;

  // Value stack: reserved once (lazily), committed by the OS on touch.
  uint64_t* stack_base = nullptr;
  uint64_t* stack_limit = nullptr;
  size_t stack_reserved_bytes = 0;
  FrameStack frames;

  uint32_t host_nesting = 0;
  bool terminated = false;
  std::atomic<int> interrupt_kind{-1};  // TrapKind requested by Store::interrupt, or -1
  // State of the outermost call.
  bool grow_failed = false;
  // Polled by the executor on backward branches and calls: set by Store::interrupt and by the
  // CPU watchdog when the outermost call's budget (cpu_watch) is spent.
  std::atomic<uint8_t> attention{0};
  CpuWatch cpu_watch;
  // When a nested entry aborts, its result is kept here so the outer executor can keep
  // unwinding with the same trap.
  std::shared_ptr<const CallResult> nested_abort;
  // Set once an exnref has been handed to the host; from then on exception objects are kept
  // until the store is destroyed.
  bool exnref_escaped = false;
  // Exception objects are freed when the outermost call ends, and during a call whenever their
  // number reaches this mark (a guest throwing and catching in a loop would otherwise hold on
  // to every one it ever threw until the call ends).
  static constexpr size_t kMinExceptionCollection = 1024;
  size_t exception_collection_at = kMinExceptionCollection;

  explicit StoreImpl(StoreOptions o);
  ~StoreImpl();

  TypeId intern_type(const FuncType& t);
  bool ensure_stack();
  // The executor stores its frame stack top back (frames.top) before calling this: a collection
  // scans the value stack up to the innermost frame.
  ExnObject* new_exception();
  // Frees exception objects once nothing can refer to them any more.
  void collect_exceptions();
  // During a call: frees the exception objects nothing on the value stack refers to any more.
  void collect_unreachable_exceptions();
  FuncInst* new_func();
};

// Store::instantiate without initialisation: links and creates the instance's objects but copies
// no active segment and runs no start function. For the lifecycle layer, which then puts a
// snapshot's state into the new instance (spawning from a snapshot must not rerun guest code).
Result<Instance*> instantiate_uninitialized(Store& store, std::shared_ptr<const Module> module,
                                            const Imports& imports);

// Executes `func` as one entry from the host (outermost or nested).
CallResult invoke(StoreImpl* store, FuncInst* func, std::span<const Value> args, Instance* caller);

uint64_t value_to_slot(const Value& v);
Value slot_to_value(ValType t, uint64_t slot);

}  // namespace rw::internal
