// rw::runtime::Worker: a pool of instances of one worker module, with the recovery policy of
// the recovery model (docs/recovery-model.md) and the request limits of WorkerLimits.

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "rewind/runtime.h"
#include "runtime/worker_pool/abi.h"
#include "runtime/worker_pool/instance.h"
#include "runtime/worker_pool/responses.h"

namespace rw::runtime {

using nlohmann::json;

std::string to_json(const FailureRecord& record,
                    const std::vector<std::pair<std::string, std::string>>& extra) {
  json j;
  for (const auto& [key, value] : extra) j[key] = value;
  j["worker"] = record.worker;
  j["instance_id"] = record.instance_id;
  j["generation"] = record.generation;
  j["request_id"] = record.request_id;
  j["outcome"] = to_string(record.outcome);
  j["trap_kind"] = record.trap ? json(to_string(*record.trap)) : json(nullptr);
  j["message"] = record.message;
  // A stack overflow has thousands of frames; the innermost ones tell the story.
  constexpr size_t kMaxFrames = 32;
  json frames = json::array();
  for (size_t i = 0; i < record.backtrace.size() && i < kMaxFrames; ++i) {
    const BacktraceFrame& f = record.backtrace[i];
    frames.push_back({{"func_index", f.func_index}, {"name", f.name}, {"offset", f.offset}});
  }
  j["backtrace"] = std::move(frames);
  if (record.backtrace.size() > kMaxFrames)
    j["backtrace_omitted"] = record.backtrace.size() - kMaxFrames;
  j["recovery_action"] = record.action.empty() ? "none" : record.action;
  j["recovery_ms"] = std::chrono::duration<double, std::milli>(record.recovery_time).count();
  // Guest text may be any bytes; replace what is not UTF-8 rather than throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Response json_response(int status, const json& body) {
  Response r;
  r.status = status;
  r.headers.emplace_back("content-type", "application/json");
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

Response failure_response(const FailureRecord& record, std::string_view error) {
  json body;
  if (!error.empty()) {
    body["error"] = error;
  } else {
    switch (record.outcome) {
      case Outcome::Panic: body["error"] = "panic"; break;
      case Outcome::HostError: body["error"] = "host_error"; break;
      default: body["error"] = "abort"; break;
    }
  }
  body["request_id"] = record.request_id;
  if (record.trap) body["kind"] = to_string(*record.trap);
  body["message"] = record.message;
  int status = record.trap == TrapKind::CpuLimit ? 503 : 500;
  return json_response(status, body);
}

namespace {

using Clock = std::chrono::steady_clock;

void log_to_stderr(const LogRecord& record) {
  json j{{"worker", record.worker},         {"instance_id", record.instance_id},
         {"request_id", record.request_id}, {"level", record.level},
         {"stream", record.stream},         {"message", record.message}};
  std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  fwrite(line.data(), 1, line.size(), stderr);
}

class PoolWorker final : public Worker {
 public:
  explicit PoolWorker(WorkerConfig config) : config_(std::move(config)) {}

  Result<void> start() {
    if (config_.module_path.empty()) return Error{Error::Kind::Other, "worker has no module path"};
    auto module = Module::from_file(config_.module_path);
    if (!module) {
      Error e = module.error();
      e.message = config_.module_path + ": " + e.message;
      return e;
    }
    if (auto abi = detail::check_module(*module.value()); !abi) {
      Error e = abi.error();
      e.message = config_.module_path + ": " + e.message;
      return e;
    }
    auto env = std::make_shared<detail::WorkerEnv>();
    env->config = config_;
    env->module = module.value();
    for (const ImportDesc& imp : env->module->imports())
      if (imp.module == "wasi_snapshot_preview1") env->imports_wasi = true;
    env->log = [this](const LogRecord& record) {
      if (on_log)
        on_log(record);
      else
        log_to_stderr(record);
    };
    env_ = env;

    uint32_t count = config_.instances;
    if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
    config_.instances = count;
    for (uint32_t i = 0; i < count; ++i) {
      auto instance = detail::PoolInstance::create(env_, i + 1);
      if (!instance) {
        Error e = instance.error();
        e.message = config_.module_path + ": " + e.message;
        return e;
      }
      instances_.push_back(std::move(instance.value()));
    }
    slots_ = std::make_unique<Slot[]>(instances_.size());
    for (size_t i = 0; i < instances_.size(); ++i) slots_[i].instance = instances_[i].get();
    return {};
  }

  HandleResult handle(const Request& request) override {
    auto started = Clock::now();
    HandleResult result;
    requests_.fetch_add(1, std::memory_order_relaxed);
    if (request.body.size() > config_.limits.max_request_body_bytes) {
      result.response = json_response(413, {{"error", "request_body_too_large"},
                                            {"request_id", request.request_id},
                                            {"limit", config_.limits.max_request_body_bytes}});
      result.duration = Clock::now() - started;
      return result;
    }

    bool draining = false;
    Slot* slot = acquire(draining);
    if (!slot) {
      result.response = json_response(503, {{"error", draining ? "draining" : "overloaded"},
                                            {"request_id", request.request_id}});
      result.duration = Clock::now() - started;
      return result;
    }
    detail::PoolInstance* instance = slot->instance;

    bool checkpoint =
        config_.on_panic == PanicMode::Rollback || config_.on_abort == AbortMode::Rollback;
    detail::RunResult run = instance->run(request, checkpoint);
    if (run.outcome == Outcome::Ok) {
      instance->consecutive_failures = 0;
      result.response = std::move(run.response);
      release(slot);
      ok_.fetch_add(1, std::memory_order_relaxed);
    } else {
      FailureRecord record;
      record.worker = config_.name;
      record.instance_id = instance->id();
      record.generation = instance->generation();
      record.request_id = request.request_id;
      record.outcome = run.outcome;
      record.trap = run.trap;
      record.message = run.message;
      record.backtrace = std::move(run.backtrace);
      recover(*instance, run, record);  // eager: before the instance takes another request
      release(slot);
      result.response = failure_response(record);
      {
        std::lock_guard lock(stats_mutex_);
        if (record.outcome == Outcome::Panic) ++stats_.panics;
        if (record.outcome == Outcome::HostError) ++stats_.host_errors;
        if (record.outcome == Outcome::Abort) {
          ++stats_.aborts;
          ++stats_.aborts_by_kind[record.trap ? to_string(*record.trap) : "unknown"];
        }
        if (record.action != "none") ++stats_.recoveries;
      }
      if (on_failure) on_failure(record);
      result.failure = std::move(record);
    }
    result.duration = Clock::now() - started;
    return result;
  }

  WorkerStats stats() const override {
    WorkerStats s;
    {
      std::lock_guard lock(stats_mutex_);
      s = stats_;
    }
    s.requests = requests_.load(std::memory_order_relaxed);
    s.ok = ok_.load(std::memory_order_relaxed);
    s.in_flight = holding_.load();
    s.queued = waiting_.load();
    return s;
  }

  const WorkerConfig& config() const override { return config_; }

  void drain() override {
    std::unique_lock lock(mutex_);
    // Paired with the order in acquire and release (see there): a call either sees draining_
    // or is counted in entered_ before drain looks at it.
    draining_.store(true);
    idle_.wait(lock, [&] { return entered_.load() == 0; });
  }

  ~PoolWorker() override { drain(); }

 private:
  // An instance and whether a call holds it. One cache line each: threads taking different
  // instances do not contend.
  struct alignas(64) Slot {
    detail::PoolInstance* instance = nullptr;
    std::atomic<bool> taken{false};
  };

  // Takes a free instance without a lock. A thread starts looking at the instance it used last,
  // which keeps that instance's memory in its cache when the pool is not saturated.
  Slot* try_take() {
    static thread_local size_t hint = 0;
    size_t n = instances_.size();
    for (size_t i = 0; i < n; ++i) {
      size_t index = (hint + i) % n;
      Slot& slot = slots_[index];
      if (!slot.taken.load() && !slot.taken.exchange(true)) {
        hint = index;
        return &slot;
      }
    }
    return nullptr;
  }

  // A free instance, waiting in the bounded queue if there is none; null when the queue is
  // full or the worker is draining. Lock-free unless the pool is saturated.
  Slot* acquire(bool& draining) {
    // Counted first, then draining_ checked; drain() stores draining_ then waits for the count:
    // either this call sees the drain, or the drain waits for this call.
    entered_.fetch_add(1);
    if (draining_.load()) {
      draining = true;
      leave();
      return nullptr;
    }
    Slot* slot = try_take();
    if (!slot) {
      std::unique_lock lock(mutex_);
      slot = try_take();
      if (!slot) {
        if (waiting_.load() >= config_.limits.max_queued_requests) {
          lock.unlock();
          leave();
          return nullptr;
        }
        // Incremented before looking again; release() frees an instance before reading the
        // count, so a free instance is either seen here or release() notifies.
        waiting_.fetch_add(1);
        while (!(slot = try_take())) available_.wait(lock);
        waiting_.fetch_sub(1);
      }
    }
    holding_.fetch_add(1, std::memory_order_relaxed);
    return slot;
  }

  void release(Slot* slot) {
    holding_.fetch_sub(1, std::memory_order_relaxed);
    slot->taken.store(false, std::memory_order_seq_cst);
    if (waiting_.load() > 0) {
      std::lock_guard lock(mutex_);
      available_.notify_one();
    }
    leave();
  }

  void leave() {
    entered_.fetch_sub(1);
    if (draining_.load()) {
      std::lock_guard lock(mutex_);
      idle_.notify_all();
    }
  }

  void recover(detail::PoolInstance& instance, const detail::RunResult& run,
               FailureRecord& record) {
    auto started = Clock::now();
    ++instance.consecutive_failures;
    bool escalate = instance.consecutive_failures >= std::max(1u, config_.max_consecutive_failures);
    bool is_abort = run.outcome == Outcome::Abort || run.needs_recovery;
    bool wants_rollback = is_abort ? config_.on_abort == AbortMode::Rollback
                                   : config_.on_panic == PanicMode::Rollback;
    if (!is_abort && !wants_rollback) {
      record.action = "none";
      return;
    }
    if (wants_rollback && !escalate && !run.exited && instance.rollback()) {
      record.action = "rollback";
    } else {
      record.action = "reset";
      instance.consecutive_failures = 0;
      // The reinit export sees the record before the recovery time is known: 0.
      auto reset = instance.reset(to_json(record));
      if (!reset) {
        record.action = "reset_failed";
        record.message += " (reset failed: " + reset.error().message + ")";
      }
    }
    record.recovery_time = Clock::now() - started;
  }

  WorkerConfig config_;
  std::shared_ptr<detail::WorkerEnv> env_;
  std::vector<std::unique_ptr<detail::PoolInstance>> instances_;

  std::unique_ptr<Slot[]> slots_;  // one per instance

  // The slow paths: waiting for an instance, and drain() waiting for the calls to end.
  std::mutex mutex_;
  std::condition_variable available_, idle_;
  std::atomic<uint32_t> entered_{0};  // calls between admission and the end
  std::atomic<uint32_t> holding_{0};  // calls holding an instance
  std::atomic<uint32_t> waiting_{0};  // calls waiting for one
  std::atomic<bool> draining_{false};

  std::atomic<uint64_t> requests_{0}, ok_{0};
  mutable std::mutex stats_mutex_;  // failures, which are rare: the other counters of stats_
  WorkerStats stats_;
};

}  // namespace

Result<std::shared_ptr<Worker>> Worker::create(const WorkerConfig& config) {
  auto worker = std::make_shared<PoolWorker>(config);
  if (auto started = worker->start(); !started) return started.error();
  return std::shared_ptr<Worker>(std::move(worker));
}

}  // namespace rw::runtime
