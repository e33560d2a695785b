#pragma once
// One pooled worker instance: a Store with the module in its post-initialisation state, the
// ABI's host functions bound to it, and the recovery mechanisms the pool's policy chooses from.
//
// The mechanisms are the lifecycle layer's (include/rewind/lifecycle.h): the first instance of a
// worker is initialised (_initialize, then the configured init export) and its Snapshot taken;
// the others are spawned from that snapshot without running guest code. Reset returns an
// instance to the snapshot (cost proportional to the pages that differ), rollback to its state at
// the start of the call (cost proportional to the pages the call wrote).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rewind/engine.h"
#include "rewind/lifecycle.h"
#include "rewind/runtime.h"
#include "runtime/wasi/guest_output.h"
#include "runtime/worker_pool/abi.h"

namespace rw::runtime::detail {

// What every instance of one worker shares.
struct WorkerEnv {
  WorkerConfig config;
  std::shared_ptr<const Module> module;
  bool imports_wasi = false;
  std::function<void(const LogRecord&)> log;
  // Taken by the first instance after initialisation; the others are spawned from it.
  std::shared_ptr<const Snapshot> snapshot;
};

// One request's outcome on an instance, before recovery.
struct RunResult {
  Outcome outcome = Outcome::Ok;
  std::optional<TrapKind> trap;
  std::string message;
  std::vector<BacktraceFrame> backtrace;
  Response response;  // ok only: what the guest built
  // The instance cannot serve again as it is: an abort terminated its store, or the guest
  // called proc_exit (its WASI state has exited), or describing a panic failed.
  bool needs_recovery = false;
  bool exited = false;  // proc_exit: only a reset brings it back
};

class PoolInstance {
 public:
  // Without env->snapshot: instantiates, checks rewind_abi_version, runs _initialize and the
  // configured init export, and captures the snapshot into env. With it: spawns from it.
  static Result<std::unique_ptr<PoolInstance>> create(std::shared_ptr<WorkerEnv> env, uint64_t id);
  ~PoolInstance();

  uint64_t id() const { return id_; }
  uint64_t generation() const { return generation_; }

  // Runs rewind_handle for `request`. With `checkpoint`, rollback() can undo the call.
  RunResult run(const Request& request, bool checkpoint);

  // Back to the state at the start of the last run (taken with checkpoint). False when there is
  // no checkpoint or the instance exited; the caller then resets.
  bool rollback();
  // Back to the snapshot (generation + 1); then the reinit export, if the guest has one, with
  // `failure_json` available through rewind.failure_record.
  Result<void> reset(const std::string& failure_json);

  // Consecutive failed requests, for the pool's escalation rule.
  uint32_t consecutive_failures = 0;

 private:
  PoolInstance(std::shared_ptr<WorkerEnv> env, uint64_t id);
  Result<void> initialise_from_module();
  Result<void> spawn_from_snapshot();
  Result<Imports> make_imports(Store& store);
  StoreOptions store_options() const;
  void drop_generation();
  void emit(std::string_view level, std::string_view stream, std::string_view message);
  void flush_output() { output_.flush(); }

  std::shared_ptr<WorkerEnv> env_;
  uint64_t id_;
  uint64_t generation_ = 0;
  std::shared_ptr<CallState> state_;
  std::string request_id_;  // of the request running, for log records

  // WASI stdout and stderr as log lines.
  wasi::OutputLines output_;

  // The current store. The WASI context outlives the store's host functions; the lifecycle is
  // destroyed before the store.
  std::shared_ptr<wasi::WasiContext> wasi_;
  std::unique_ptr<Store> store_;
  Instance* instance_ = nullptr;
  std::unique_ptr<Lifecycle> lifecycle_;
  Function handle_;
};

}  // namespace rw::runtime::detail
