#pragma once
// A worker instance: one guest instance that serves calls one at a time and recovers from its own
// failures before the next call is admitted (docs/recovery-model.md, guarantees 2-6;
// docs/lifecycle.md).
//
//   WorkerOptions options;
//   options.policy.on_abort = RecoveryPolicy::OnAbort::Rollback;
//   options.hooks.on_recovery = [](const RecoveryRecord& r) { log(r); };
//   auto worker = WorkerInstance::create(module, options).value();
//   CallResult r = worker->call("handle", args);   // already recovered when this returns
//
// Creation instantiates the module, runs `_initialize` (if exported) and the worker's init export
// (if configured), and captures the post-initialisation Snapshot. Each call then ends in one of:
//   ok                  the checkpoint (if any) is discarded
//   panic / host_error  the instance is live; with OnPanic::Rollback the call's effects are undone
//   abort               the store was terminated (no guest code ran after the trap); the instance
//                       is rolled back (OnAbort::Rollback) or reset to the snapshot
//                       (OnAbort::Reset)
// In rollback mode, the max_consecutive_failures-th failure in a row resets instead (escalation).
// After every reset the generation goes up by one and the guest's reinit export, if it has one,
// runs in the recovered instance.
//
// What the guest can learn about the failure that caused a reset: the reinit export may take
// no parameters or (i32 outcome, i32 trap), where outcome is the rw::Outcome value of the failure
// (1 panic, 2 host_error, 3 abort; 0 when there was none, e.g. an explicit reset) and trap the
// rw::TrapKind value for aborts (-1 otherwise). The worker also defines these imports when the
// module asks for them and the embedder's imports do not:
//   (import "rewind" "recovery_outcome" (func (result i32)))     same codes as above
//   (import "rewind" "recovery_trap" (func (result i32)))
//   (import "rewind" "recovery_message" (func (param i32 i32) (result i32)))
//        copies up to len bytes of the message to (ptr, len); returns its full length, -1 when
//        the range is outside memory
//   (import "rewind" "recovery_generation" (func (result i64)))
// They describe the last failed call, whichever action followed it.
//
// Threading: one WorkerInstance is used by one thread at a time; spawn() makes more instances
// from the same snapshot (the snapshot is shared read-only) for other threads.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/engine.h"
#include "rewind/error.h"
#include "rewind/lifecycle.h"

namespace rw {

enum class RecoveryAction : uint8_t { None, Rollback, Reset };
const char* to_string(RecoveryAction action);

struct RecoveryPolicy {
  enum class OnPanic : uint8_t { Keep, Rollback };  // panics and host errors
  enum class OnAbort : uint8_t { Reset, Rollback };
  OnPanic on_panic = OnPanic::Keep;
  OnAbort on_abort = OnAbort::Reset;
  // In rollback mode, this many failed calls in a row (panics, host errors or aborts) make the
  // last one reset instead of rolling back. 0 never escalates.
  uint32_t max_consecutive_failures = 3;
};

// One failed call and what was done about it.
struct RecoveryRecord {
  std::string export_name;  // empty when called through a Function handle without a name
  Outcome outcome = Outcome::Abort;
  TrapKind trap = TrapKind::Unreachable;  // aborts only
  std::string message;
  std::vector<BacktraceFrame> backtrace;
  RecoveryAction action = RecoveryAction::None;
  bool escalated = false;                // a reset chosen because of max_consecutive_failures
  uint32_t consecutive_failures = 0;     // including this one
  uint64_t generation = 0;               // after recovery
  std::chrono::nanoseconds duration{0};  // of the recovery action, reinit included
  bool reinit_ran = false;
  std::string reinit_error;  // the reinit export failed; the instance was reset again without it
};

// Called after recovery has completed, with the full record. Hooks must not call into the same
// WorkerInstance (such calls are refused).
struct RecoveryHooks {
  std::function<void(const RecoveryRecord&)> on_panic;  // panics and host errors
  std::function<void(const RecoveryRecord&)> on_abort;
  std::function<void(const RecoveryRecord&)> on_recovery;  // every rollback or reset
};

struct WorkerOptions {
  ImportsBuilder imports;   // may be empty when the module imports nothing
  std::string init_export;  // optional worker init export, run after _initialize
  std::string reinit_export = "rewind_reinit";  // run after every reset, if exported
  RecoveryPolicy policy;
  RecoveryHooks hooks;
  StoreOptions store;  // terminate_on_abort is forced on: it is what keeps guest code out
  LifecycleOptions lifecycle;
};

class WorkerInstance {
 public:
  static Result<std::unique_ptr<WorkerInstance>> create(std::shared_ptr<const Module> module,
                                                        WorkerOptions options);
  // Another instance from the same snapshot, with the same options, generation 0. Runs no guest
  // code. Fails when the snapshot is not spawnable.
  Result<std::unique_ptr<WorkerInstance>> spawn() const;

  ~WorkerInstance();
  WorkerInstance(const WorkerInstance&) = delete;
  WorkerInstance& operator=(const WorkerInstance&) = delete;

  // One call, recovered before returning. An unknown export is an abort of kind host_abort
  // (no guest code runs, nothing to recover).
  CallResult call(std::string_view export_name, std::span<const Value> args);
  CallResult call(Function function, std::span<const Value> args,
                  std::string_view export_name = {});

  // Back to the snapshot, generation + 1, then the reinit export (with outcome 0).
  void reset();

  uint64_t generation() const;
  uint32_t consecutive_failures() const;
  const std::optional<RecoveryRecord>& last_failure() const;
  Store& store() const;
  Instance& instance() const;
  // In rollback mode the checkpoint of the last ok call is left open (the next call replaces it),
  // so a rollback() through this handle between calls would undo that call.
  Lifecycle& lifecycle() const;
  const std::shared_ptr<const Snapshot>& snapshot() const;

  struct Impl;
  explicit WorkerInstance(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rw
