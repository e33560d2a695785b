#pragma once
// One durable object's instance: a store spawned from the namespace's snapshot, the guest ABI's
// host functions (worker_pool/abi.h) and the storage functions bound to it, and the per-call
// transaction protocol: checkpoint, transaction, guest call, commit (the output gate) or
// rollback of storage together with memory.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rewind/durable.h"
#include "rewind/engine.h"
#include "rewind/lifecycle.h"
#include "rewind/objects.h"
#include "rewind/runtime.h"
#include "runtime/wasi/guest_output.h"
#include "runtime/worker_pool/abi.h"

namespace rw::objects::detail {

// What every object of a namespace shares.
struct NamespaceEnv {
  NamespaceConfig config;
  std::shared_ptr<const Module> module;
  bool imports_wasi = false;
  std::shared_ptr<durable::Storage> storage;
  std::shared_ptr<const Snapshot> snapshot;
  std::function<void(const runtime::LogRecord&)> log;
};

// One JSON line per record on stderr: what a namespace does with guest logs when on_log is unset.
void log_to_stderr(const runtime::LogRecord& record);

// The ABI check of the worker pool, plus the storage imports: every `rewind` import is an ABI
// or storage function (storage types are checked here, ABI types at instantiation), other
// imports come from wasi_snapshot_preview1 only, and the ABI's exports are there.
Result<void> check_object_module(const Module& module);

// Instantiates the module once, checks rewind_abi_version, runs _initialize and the init
// export, and captures the namespace's snapshot into env.
Result<void> build_snapshot(NamespaceEnv& env);

struct ObjectCall {
  runtime::Response response;                     // ok: the guest's
  std::optional<runtime::FailureRecord> failure;  // anything else (response not set)
};

class ObjectInstance {
 public:
  // Spawns from the snapshot and runs the reinit export in a transaction of its own (the
  // object loads its state). Fails when the export fails or its writes cannot be committed.
  static Result<std::unique_ptr<ObjectInstance>> create(std::shared_ptr<NamespaceEnv> env,
                                                        std::string object_id,
                                                        uint64_t instance_id);
  ~ObjectInstance();

  // One call, recovered before it returns. The response is released only after the call's
  // writes were committed.
  ObjectCall call(const runtime::Request& request);

  // After a reset whose reload failed: the instance holds no trustworthy state and must be
  // dropped (the next call builds a new one).
  bool broken() const { return broken_; }
  uint64_t generation() const { return generation_; }
  uint64_t id() const { return id_; }

 private:
  ObjectInstance(std::shared_ptr<NamespaceEnv> env, std::string object_id, uint64_t id);
  Result<void> spawn_store();
  Result<Imports> make_imports(Store& store);
  // Runs the reinit export, if any, in its own transaction; commits it.
  Result<void> load(const std::optional<std::string>& failure_json);
  void recover(runtime::FailureRecord& record, bool is_abort, bool exited);
  void emit(std::string_view level, std::string_view stream, std::string_view message);
  void flush_output() { output_.flush(); }
  void drop_store();

  std::shared_ptr<NamespaceEnv> env_;
  std::string object_id_;
  std::string label_;  // "<namespace>/<object id>" for records
  uint64_t id_;
  uint64_t generation_ = 0;
  uint32_t consecutive_failures_ = 0;
  bool broken_ = false;
  std::string request_id_;

  std::shared_ptr<runtime::detail::CallState> state_;
  std::shared_ptr<durable::StorageContext> storage_context_;
  wasi::OutputLines output_;  // WASI stdout and stderr as log lines

  std::shared_ptr<wasi::WasiContext> wasi_;
  std::unique_ptr<Store> store_;
  Instance* instance_ = nullptr;
  std::unique_ptr<Lifecycle> lifecycle_;  // destroyed before the store (drop_store)
  Function handle_;
};

}  // namespace rw::objects::detail
