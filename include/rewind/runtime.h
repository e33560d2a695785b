#pragma once
// The worker runtime as the server (and embedders) see it: a named worker turns HTTP-shaped
// requests into guest calls on a pool of instances that recover from their own failures.
//
// Thread-safety: Worker::handle may be called from any number of threads at once.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rewind/engine.h"
#include "rewind/error.h"

namespace rw::runtime {

struct Request {
  std::string method;  // "GET"
  std::string target;  // path and query, as received: "/counter?x=1"
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string request_id;  // assigned by the server; echoed in failure records and logs
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

enum class PanicMode : uint8_t { Keep, Rollback };
enum class AbortMode : uint8_t { Reset, Rollback };

struct WorkerLimits {
  std::chrono::milliseconds cpu_per_request{1000};  // 0: unlimited
  uint32_t max_memory_pages = 16384;                 // 1 GiB
  uint64_t max_request_body_bytes = 1 << 20;         // larger bodies: 413 before the guest
  uint32_t max_queued_requests = 1024;               // beyond: 503
};

struct WorkerConfig {
  std::string name = "default";
  std::string module_path;            // .wasm (or .wat)
  uint32_t instances = 0;             // pool size; 0 = one per hardware thread
  PanicMode on_panic = PanicMode::Keep;
  AbortMode on_abort = AbortMode::Reset;
  uint32_t max_consecutive_failures = 3;  // rollback mode escalates to reset after this many
  std::string init_export;            // optional worker init export, run before the snapshot
  std::string reinit_export = "rewind_reinit";  // run after a reset, if the guest exports it
  WorkerLimits limits;
  std::map<std::string, std::string> env;  // WASI environment
};

// One failure, as logged (one JSON line) and reported to hooks.
struct FailureRecord {
  std::string worker;
  uint64_t instance_id = 0;
  uint64_t generation = 0;  // bumped on every reset
  std::string request_id;
  Outcome outcome = Outcome::Ok;
  std::optional<TrapKind> trap;
  std::string message;
  std::vector<BacktraceFrame> backtrace;
  std::string action;  // "none", "rollback", "reset"
  std::chrono::nanoseconds recovery_time{0};
};

struct HandleResult {
  Response response;                   // what to send: the guest's, or a 500/503 with a JSON body
  std::optional<FailureRecord> failure;  // set when the call did not end `ok`
  std::chrono::nanoseconds duration{0};
};

// One line a guest wrote: through rewind.log, or to WASI stdout/stderr (one record per line).
struct LogRecord {
  std::string worker;
  uint64_t instance_id = 0;
  std::string request_id;  // empty outside a request (initialisation)
  std::string level;       // "debug", "info", "warn", "error" (stdout: "info", stderr: "warn")
  std::string stream;      // "log", "stdout", "stderr"
  std::string message;
};

// The failure as one JSON object (no newline), the one encoding used by the server's failure
// log and by the guest's `failure_record`: worker, instance_id, generation, request_id, outcome,
// trap_kind (null unless an abort), message, backtrace [{func_index, name, offset}] (innermost
// first, at most 32 frames; backtrace_omitted counts the rest), recovery_action ("none",
// "rollback", "reset") and recovery_ms. `extra` string fields are added first (the server's
// timestamp and event name).
std::string to_json(const FailureRecord& record,
                    const std::vector<std::pair<std::string, std::string>>& extra = {});

struct WorkerStats {
  uint64_t requests = 0, ok = 0, panics = 0, host_errors = 0, aborts = 0, recoveries = 0;
  std::map<std::string, uint64_t> aborts_by_kind;
  // Gauges at the time of the call: requests running on an instance, and waiting for one.
  uint32_t in_flight = 0, queued = 0;
};

class Worker {
 public:
  // Loads the module, instantiates the pool (one snapshot, instances spawned from it).
  static Result<std::shared_ptr<Worker>> create(const WorkerConfig& config);
  virtual ~Worker() = default;

  // Runs one request on a free instance. Recovery of a failed instance completes before that
  // instance takes another request, so requests queued behind a failure never fail.
  virtual HandleResult handle(const Request& request) = 0;
  virtual WorkerStats stats() const = 0;
  virtual const WorkerConfig& config() const = 0;
  // Stops admitting requests and waits for in-flight ones to finish.
  virtual void drain() = 0;

  // Called (on the request's thread) for every failure, after recovery.
  std::function<void(const FailureRecord&)> on_failure;
  // Called for every line a guest logs, on the thread running it. Unset: one JSON line per
  // record on this process's stderr. Set before the first request.
  std::function<void(const LogRecord&)> on_log;
};

}  // namespace rw::runtime
