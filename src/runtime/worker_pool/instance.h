#pragma once
// One pooled worker instance: a Store with the module instantiated and initialised, the ABI's
// host functions bound to it, and the recovery mechanisms the pool's policy chooses from.
//
// Recovery here is a stand-in until the lifecycle layer (src/wasm/lifecycle, snapshots with
// dirty-page tracking) is available: reset builds a fresh Store and re-runs initialisation, and
// rollback restores a full copy of memory and mutable globals taken at the start of the call.
// Both give the states the recovery model promises; only their cost differs (proportional to
// memory size rather than to the pages that changed). The pool only uses the interface below,
// so swapping the mechanism does not touch the policy.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rewind/engine.h"
#include "rewind/runtime.h"
#include "runtime/worker_pool/abi.h"

namespace rw::wasi {
class WasiContext;
}

namespace rw::runtime::detail {

// What every instance of one worker shares.
struct WorkerEnv {
  WorkerConfig config;
  std::shared_ptr<const Module> module;
  bool imports_wasi = false;
  std::function<void(const LogRecord&)> log;
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
  // Instantiates, checks rewind_abi_version, runs _initialize and the configured init export.
  static Result<std::unique_ptr<PoolInstance>> create(std::shared_ptr<const WorkerEnv> env,
                                                      uint64_t id);
  ~PoolInstance();

  uint64_t id() const { return id_; }
  uint64_t generation() const { return generation_; }
  bool available() const { return instance_ != nullptr; }

  // Runs rewind_handle for `request`. With `checkpoint`, first saves what rollback() restores.
  RunResult run(const Request& request, bool checkpoint);

  // Back to the state at the start of the last run (taken with checkpoint). False when there is
  // no checkpoint or the instance exited; the caller then resets.
  bool rollback();
  // A fresh instance from the module (generation + 1); then the reinit export, if the guest has
  // one, with `failure_json` available through rewind.failure_record.
  Result<void> reset(const std::string& failure_json);

  // Consecutive failed requests, for the pool's escalation rule.
  uint32_t consecutive_failures = 0;

 private:
  PoolInstance(std::shared_ptr<const WorkerEnv> env, uint64_t id);
  Result<void> build();
  void emit(std::string_view level, std::string_view stream, std::string_view message);
  void flush_output();
  void take_checkpoint();

  std::shared_ptr<const WorkerEnv> env_;
  uint64_t id_;
  uint64_t generation_ = 0;
  std::shared_ptr<CallState> state_;
  std::string request_id_;  // of the request running, for log records

  // Partial lines of WASI stdout and stderr, emitted when complete.
  struct OutputBuffer;
  std::shared_ptr<OutputBuffer> stdout_buffer_, stderr_buffer_;

  // The current generation. The store owns the instance; the WASI context outlives both.
  std::shared_ptr<wasi::WasiContext> wasi_;
  std::unique_ptr<Store> store_;
  Instance* instance_ = nullptr;
  Function handle_;
  std::optional<Memory> memory_;

  struct Checkpoint {
    bool valid = false;
    std::vector<uint8_t> memory;
    std::vector<std::pair<Global, Value>> globals;
  } checkpoint_;
};

}  // namespace rw::runtime::detail
