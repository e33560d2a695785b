#pragma once
// Durable objects (docs/durable-objects.md, "Objects"; docs/recovery-model.md, "Durable
// objects"): a namespace is one worker module plus one storage database; each object id has at
// most one live instance, spawned from the namespace's snapshot, whose calls run one at a time
// in arrival order, each in one storage transaction that is committed (durably) before the
// response is released.
//
//   NamespaceConfig config;
//   config.name = "bank";
//   config.module_path = "bank.wasm";
//   config.db_path = "data/bank.db";
//   auto ns = rw::objects::Namespace::create(config).value();
//   rw::runtime::HandleResult r = ns->handle("alice", request);   // blocks until answered
//
// Thread-safety: handle() and submit() may be called from any number of threads at once. Calls
// to one object run one at a time, in the order they were admitted, on a thread that called
// into the namespace (no threads of its own besides an idle reaper); calls to different objects
// run in parallel.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "rewind/durable.h"
#include "rewind/error.h"
#include "rewind/runtime.h"

namespace rw::objects {

struct NamespaceConfig {
  std::string name = "default";
  std::string module_path;  // .wasm (or .wat): a worker (docs/guest-abi.md) that may import
                            // the rewind.storage_* functions
  std::string db_path;      // the namespace's SQLite database; created if missing
  // Objects default to rollback for both: a failed call's memory and storage go back together
  // to their state before the call. PanicMode::Keep keeps a panicking call's memory (its storage
  // writes are rolled back all the same). AbortMode::Reset rebuilds the instance from the
  // snapshot and runs the reinit export, which reloads from storage.
  runtime::PanicMode on_panic = runtime::PanicMode::Rollback;
  runtime::AbortMode on_abort = runtime::AbortMode::Rollback;
  uint32_t max_consecutive_failures = 3;  // rollback mode escalates to a reset (0: never)
  std::string init_export;                // run once, before the namespace's snapshot
  // Runs, inside a storage transaction of its own, in every new instance of an object (first
  // call, after an eviction) and after every reset: it is where the object loads its state.
  std::string reinit_export = "rewind_reinit";
  // An object with no call for this long loses its instance (its storage stays); the next call
  // builds a new one. 0: never by time.
  std::chrono::milliseconds idle_timeout{60000};
  // Calls waiting behind the running one, per object; beyond: 503 overloaded.
  uint32_t max_queue_per_object = 64;
  // Live instances; when a new one is needed beyond this, the least recently used idle object
  // is evicted first. Objects with calls running or queued are never evicted, so the bound can
  // be exceeded by at most the number of objects busy at once.
  uint32_t max_live_objects = 1024;
  // cpu_per_request, max_memory_pages and max_request_body_bytes apply per call;
  // max_queued_requests bounds the calls waiting across all objects of the namespace.
  runtime::WorkerLimits limits;
  std::map<std::string, std::string> env;  // WASI environment
  // For servers (as_worker): how many calls to run at once, i.e. the server's guest threads for
  // this namespace. Each call waiting for its object holds one. 0: 4 per hardware thread.
  uint32_t concurrency = 0;
  // Storage options; `path` is ignored (db_path is used).
  durable::StorageOptions storage;
};

struct NamespaceStats {
  uint64_t requests = 0, ok = 0, panics = 0, host_errors = 0, aborts = 0, recoveries = 0;
  std::map<std::string, uint64_t> aborts_by_kind;
  uint64_t commit_failures = 0;  // the guest returned but its writes could not be stored
  uint64_t rejected = 0;         // 4xx/503 before reaching an object (bad id, body, queue, drain)
  uint64_t spawns = 0;           // instances built (first call, after eviction, after a failure)
  uint64_t load_failures = 0;    // a new instance's reinit export failed
  uint64_t idle_evictions = 0, lru_evictions = 0;
  // Gauges.
  uint32_t live_objects = 0;  // objects with an instance
  uint32_t in_flight = 0;     // calls running
  uint32_t queued = 0;        // calls waiting for their object
  durable::StorageStats storage;
};

class Namespace {
 public:
  // Loads and checks the module, opens the database, builds the snapshot every object's
  // instance is spawned from. Starts the idle reaper when idle_timeout > 0.
  static Result<std::shared_ptr<Namespace>> create(NamespaceConfig config);
  ~Namespace();
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  // Runs one request on object `object_id` (any bytes, 1 to the storage's max_object_id_bytes)
  // and returns its response once its writes are durable. Rejections: 400 bad object id, 413
  // body too large, 503 overloaded (the object's queue is full) or draining.
  runtime::HandleResult handle(std::string_view object_id, const runtime::Request& request);

  // The same without blocking: the call is queued, and `done` is called exactly once, with the
  // result, on the thread that runs it (possibly this one, before submit returns). A thread that
  // finds the object idle runs its calls, then those queued behind them meanwhile, so callers
  // waiting for a busy object hold no thread. `done` must not throw and should be quick: the
  // object's next call waits for it.
  using Callback = std::function<void(runtime::HandleResult)>;
  void submit(std::string_view object_id, runtime::Request request, Callback done);

  NamespaceStats stats() const;
  const NamespaceConfig& config() const;
  // The namespace's storage (for inspection and tools; calls use their own transactions).
  const std::shared_ptr<durable::Storage>& storage() const;

  // Evicts now every object with no call running or waiting; returns how many.
  size_t evict_idle();
  // Stops admitting calls (503 draining) and waits for those admitted to finish.
  void drain();

  // Called for every failed call, after recovery, on the call's thread.
  std::function<void(const runtime::FailureRecord&)> on_failure;
  // Called for every line a guest logs. Unset: one JSON line per record on stderr. The record's
  // `worker` is "<namespace>/<object id>".
  std::function<void(const runtime::LogRecord&)> on_log;
  // Called when a call is admitted to its object's queue, in admission order (under the
  // namespace's lock: keep it short; for tests and tracing).
  std::function<void(std::string_view object_id, const runtime::Request&)> on_admitted;

  struct Impl;
  explicit Namespace(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// The namespace as a runtime::Worker, for a server that routes by path prefix with the prefix
// stripped: a request for "/<id>/<rest>?q" goes to object <id> (percent-decoded, so any bytes
// can be an id) as "/<rest>?q"; "/<id>" and "/<id>?q" become "/" and "/?q". A target without an
// id, or with a bad %-escape, gets 400. The worker's on_log and on_failure receive the
// namespace's records (set them before the first request); config().instances is
// NamespaceConfig::concurrency; drain() drains the namespace, as does destroying the worker.
// The namespace's own on_log and on_failure belong to the worker from then on.
std::shared_ptr<runtime::Worker> as_worker(std::shared_ptr<Namespace> ns);

}  // namespace rw::objects
