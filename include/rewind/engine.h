#pragma once
// The rewind engine's embedding API: load a module, define host functions, instantiate, call
// exports, and get back one outcome per call as the recovery model defines it
// (docs/recovery-model.md).
//
// Threading: a Module is immutable and may be shared across threads (its lazily compiled code is
// published thread-safely). A Store and everything in it is used by one thread at a time.

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/error.h"
#include "rewind/types.h"

namespace rw {

namespace wasm {
struct Module;
}

namespace internal {
struct CompiledModule;
struct StoreImpl;
struct InstanceImpl;
struct FuncInst;
struct TableInst;
struct MemoryInst;
struct GlobalInst;
struct TagInst;
}  // namespace internal

// ---------------------------------------------------------------------------------------------
// Traps and outcomes

// The abort kinds of the recovery model, plus the few spec traps that do not map onto one of
// them exactly. to_string gives the snake_case name used in logs and metrics.
enum class TrapKind : uint8_t {
  Unreachable,
  MemoryOutOfBounds,
  TableOutOfBounds,       // also "undefined element" in call_indirect
  IndirectCallNull,       // "uninitialized element"
  IndirectCallSignature,  // "indirect call type mismatch"
  IntegerDivideByZero,
  IntegerOverflow,
  InvalidConversion,
  StackOverflow,  // call depth or value stack exhausted
  OutOfMemory,    // a trap that follows a failed memory.grow in the same call
  CpuLimit,
  GuestAbort,     // the guest asked to abort, with a message
  HostAbort,      // a host function asked for it
  NullReference,  // throw_ref of a null exnref
};
const char* to_string(TrapKind kind);

enum class Outcome : uint8_t {
  Ok,
  Panic,       // an exception with a guest-defined tag escaped the outermost guest frame
  HostError,   // a host function's error travelled through guest frames and out again
  Abort,       // a trap; see CallResult::trap
  Terminated,  // the call was refused: the store is terminated and no guest code ran
};
const char* to_string(Outcome outcome);

struct BacktraceFrame {
  uint32_t func_index = 0;
  std::string name;     // from the name section; empty when unnamed
  uint32_t offset = 0;  // byte offset in the module binary of the instruction executing
};

class Function;
class Table;
class Memory;
class Global;
class Tag;

// Lightweight handles to objects owned by a Store. They stay valid as long as the Store.
class Function {
 public:
  Function() = default;
  explicit Function(internal::FuncInst* impl) : impl_(impl) {}
  bool valid() const { return impl_ != nullptr; }
  const FuncType& type() const;
  internal::FuncInst* impl() const { return impl_; }
  bool operator==(const Function&) const = default;

 private:
  internal::FuncInst* impl_ = nullptr;
};

class Table {
 public:
  Table() = default;
  explicit Table(internal::TableInst* impl) : impl_(impl) {}
  bool valid() const { return impl_ != nullptr; }
  TableType type() const;  // limits.min is the current size
  uint32_t size() const;
  std::optional<Value> get(uint32_t index) const;  // nullopt when out of bounds
  bool set(uint32_t index, const Value& value);    // false when out of bounds or mistyped
  // Returns the old size, or -1 when the table cannot grow that far.
  int64_t grow(uint32_t delta, const Value& init);
  internal::TableInst* impl() const { return impl_; }
  bool operator==(const Table&) const = default;

 private:
  internal::TableInst* impl_ = nullptr;
};

class Memory {
 public:
  Memory() = default;
  explicit Memory(internal::MemoryInst* impl) : impl_(impl) {}
  bool valid() const { return impl_ != nullptr; }
  MemoryType type() const;  // limits.min is the current size in pages
  uint32_t pages() const;
  uint64_t size_bytes() const;
  uint8_t* data() const;  // base of linear memory; stable across grow
  // Bounds-checked copies; false when [address, address + size) is outside the memory.
  bool read(uint64_t address, std::span<uint8_t> out) const;
  bool write(uint64_t address, std::span<const uint8_t> in);
  // Returns the old size in pages, or -1 when the memory cannot grow that far.
  int64_t grow(uint32_t delta_pages);
  internal::MemoryInst* impl() const { return impl_; }
  bool operator==(const Memory&) const = default;

 private:
  internal::MemoryInst* impl_ = nullptr;
};

class Global {
 public:
  Global() = default;
  explicit Global(internal::GlobalInst* impl) : impl_(impl) {}
  bool valid() const { return impl_ != nullptr; }
  GlobalType type() const;
  Value get() const;
  // Engine access: sets even immutable globals when `force` (snapshots, shadow stack restore).
  bool set(const Value& value, bool force = false);
  internal::GlobalInst* impl() const { return impl_; }
  bool operator==(const Global&) const = default;

 private:
  internal::GlobalInst* impl_ = nullptr;
};

class Tag {
 public:
  Tag() = default;
  explicit Tag(internal::TagInst* impl) : impl_(impl) {}
  bool valid() const { return impl_ != nullptr; }
  const FuncType& type() const;  // params are the payload; results are empty
  internal::TagInst* impl() const { return impl_; }
  bool operator==(const Tag&) const = default;

 private:
  internal::TagInst* impl_ = nullptr;
};

struct Extern {
  ExternKind kind = ExternKind::Func;
  Function func;
  Table table;
  Memory memory;
  Global global;
  Tag tag;

  static Extern of(Function f) { return make(ExternKind::Func, &Extern::func, f); }
  static Extern of(Table t) { return make(ExternKind::Table, &Extern::table, t); }
  static Extern of(Memory m) { return make(ExternKind::Memory, &Extern::memory, m); }
  static Extern of(Global g) { return make(ExternKind::Global, &Extern::global, g); }
  static Extern of(Tag t) { return make(ExternKind::Tag, &Extern::tag, t); }

 private:
  template <class T>
  static Extern make(ExternKind kind, T Extern::*member, T value) {
    Extern e;
    e.kind = kind;
    e.*member = value;
    return e;
  }
};

// The result of one call: exactly one outcome.
struct CallResult {
  Outcome outcome = Outcome::Ok;
  std::vector<Value> values;              // Ok: the export's results
  TrapKind trap = TrapKind::Unreachable;  // Abort: its kind
  std::string message;                    // Abort: spec trap message ("out of bounds memory
                                          // access") or the guest/host abort message;
                                          // Panic/HostError: a description
  Tag exception_tag;                      // Panic: the tag of the escaping exception
  std::vector<Value> exception_payload;   // Panic: its payload values
  std::exception_ptr host_error;          // HostError: the host's original error
  std::vector<BacktraceFrame> backtrace;  // Panic/Abort/HostError: innermost frame first

  bool ok() const { return outcome == Outcome::Ok; }
};

// ---------------------------------------------------------------------------------------------
// Host functions

class Store;
class Instance;

// What a host function tells the engine when it returns.
struct HostResult {
  enum class Kind : uint8_t { Ok, Error, Abort, Throw, Propagate };
  Kind kind = Kind::Ok;
  std::exception_ptr error;  // Error: travels through guest frames as an exception that only
                             // catch_all / catch_all_ref can see, then comes back to the host
  std::string message;       // Error/Abort: description
  Tag tag;                   // Throw: raise a guest exception with this tag and payload
  std::vector<Value> payload;
  std::shared_ptr<const CallResult> propagated;  // Propagate: continue a nested call's panic,
                                                 // host error or abort outward unchanged

  static HostResult ok() { return {}; }
  static HostResult fail(std::exception_ptr error, std::string message = {});
  static HostResult abort(std::string message);
  static HostResult throw_exception(Tag tag, std::vector<Value> payload);
  static HostResult propagate(CallResult nested);
};

// Passed to every host function call.
class HostContext {
 public:
  Store& store() const { return *store_; }
  // The instance whose code called the host function; nullptr when called from the host.
  Instance* caller() const { return caller_; }
  // The caller's memory 0 (what WASI-style functions read and write), if it has one.
  std::optional<Memory> memory() const;
  // A nested entry into the guest (guest -> host -> guest). Refused with Outcome::Terminated
  // if the store was terminated meanwhile.
  CallResult call(Function f, std::span<const Value> args);

  HostContext(Store* store, Instance* caller) : store_(store), caller_(caller) {}

 private:
  Store* store_;
  Instance* caller_;
};

using HostCallback = std::function<HostResult(HostContext& ctx, std::span<const Value> args,
                                              std::span<Value> results)>;

// ---------------------------------------------------------------------------------------------
// Modules

struct ImportDesc {
  std::string module;
  std::string name;
  ExternKind kind;
  FuncType func_type;  // Func and Tag
  TableType table;
  MemoryType memory;
  GlobalType global;
};

struct ExportDesc {
  std::string name;
  ExternKind kind;
  uint32_t index;
};

// A decoded and validated module, ready to instantiate any number of times in any number of
// stores. Function bodies are translated to the interpreter's internal form lazily, on first
// call, once per module.
class Module {
 public:
  static Result<std::shared_ptr<const Module>> from_binary(std::span<const uint8_t> bytes);
  // WebAssembly text format (a single `(module ...)` or a module's fields).
  static Result<std::shared_ptr<const Module>> from_text(std::string_view text);
  // Binary or text, decided by the content (the binary magic).
  static Result<std::shared_ptr<const Module>> from_file(const std::string& path);

  std::vector<ImportDesc> imports() const;
  std::vector<ExportDesc> exports() const;
  const wasm::Module& ir() const;
  internal::CompiledModule& compiled() const { return *compiled_; }

  ~Module();
  explicit Module(std::unique_ptr<internal::CompiledModule> compiled);

 private:
  std::unique_ptr<internal::CompiledModule> compiled_;
};

// Resolves a module's imports by (module, name).
class Imports {
 public:
  void define(std::string module, std::string name, Extern value);
  const Extern* find(std::string_view module, std::string_view name) const;

 private:
  struct Entry {
    std::string module, name;
    Extern value;
  };
  std::vector<Entry> entries_;
};

// ---------------------------------------------------------------------------------------------
// Stores and instances

struct StoreLimits {
  uint32_t max_call_depth = 20000;               // wasm frames; beyond: stack_overflow
  uint64_t max_value_stack_bytes = 64ull << 20;  // operand and locals storage
  uint32_t max_memory_pages = kMaxPages;         // host-set maximum for every memory
  uint32_t max_table_elements = 10'000'000;
  uint32_t max_host_nesting = 64;  // guest -> host -> guest depth
  // 0: unlimited; beyond: cpu_limit. Thread CPU time (host functions included), watched from a
  // background thread about every millisecond, so the limit fires within about 1 ms of being
  // reached; the guest itself never reads a clock.
  std::chrono::nanoseconds cpu_time_per_call{0};
};

struct StoreOptions {
  StoreLimits limits;
  // When true (the worker default), an abort terminates the store: every later entry is refused
  // with Outcome::Terminated until the lifecycle layer recovers it. The spec test runner turns it
  // off, since the spec scripts keep calling an instance after it trapped.
  bool terminate_on_abort = true;
  // After a panic or host error, put LLVM's shadow stack pointer global (`__stack_pointer`, or the
  // first mutable i32 global that is not exported) back to its value at call entry.
  bool restore_stack_pointer = true;
};

class Instance {
 public:
  std::optional<Extern> get_export(std::string_view name) const;
  std::optional<Function> get_function(std::string_view name) const;
  std::optional<Memory> get_memory(std::string_view name) const;
  std::optional<Global> get_global(std::string_view name) const;
  std::optional<Table> get_table(std::string_view name) const;
  std::optional<Tag> get_tag(std::string_view name) const;

  // Engine access to every entity in the instance's index spaces, exported or not.
  const Module& module() const;
  Function function(uint32_t index) const;
  Table table(uint32_t index) const;
  Memory memory(uint32_t index) const;
  Global global(uint32_t index) const;
  Tag tag(uint32_t index) const;
  uint32_t function_count() const;
  uint32_t table_count() const;
  uint32_t memory_count() const;
  uint32_t global_count() const;
  uint32_t tag_count() const;

  Store& store() const;
  internal::InstanceImpl* impl() const { return impl_.get(); }

  explicit Instance(std::unique_ptr<internal::InstanceImpl> impl);
  ~Instance();

 private:
  std::unique_ptr<internal::InstanceImpl> impl_;
};

// Owns every runtime object (instances, functions, memories, tables, globals, tags, exceptions).
// Instances in one store can import each other's exports.
class Store {
 public:
  explicit Store(StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const StoreOptions& options() const;

  // Links and instantiates: resolves imports (Unlinkable on failure: "unknown import",
  // "incompatible import type"), initialises tables and memories from active segments and runs
  // the start function (Uninstantiable on a trap). The instance lives as long as the store.
  Result<Instance*> instantiate(std::shared_ptr<const Module> module, const Imports& imports);

  Function create_host_function(FuncType type, HostCallback callback, std::string name = {});
  Result<Memory> create_memory(MemoryType type);
  Result<Table> create_table(TableType type, Value init);
  Global create_global(GlobalType type, Value value);
  Tag create_tag(FuncType type);

  // One entry from the host into the guest. Arguments are checked against the function type.
  CallResult call(Function function, std::span<const Value> args);

  // Abort handling. After an abort (with terminate_on_abort) the store refuses every entry.
  bool terminated() const;
  void clear_terminated();  // for the lifecycle layer, once the state has been recovered

  // Thread-safe: asks the running call (if any) to stop at its next loop back-edge or call with
  // an abort of the given kind (cpu_limit for deadlines).
  void interrupt(TrapKind kind = TrapKind::CpuLimit);

  // Payload of an exnref value (an exception object in this store).
  std::optional<std::pair<Tag, std::vector<Value>>> exception_contents(RefPtr exnref) const;

  internal::StoreImpl* impl() const { return impl_.get(); }

 private:
  std::unique_ptr<internal::StoreImpl> impl_;
};

}  // namespace rw
