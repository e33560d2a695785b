#pragma once
// A rw::runtime::Worker that needs no engine: paths choose behaviours, so the server can be
// tested on its own (routing, limits, failures, logs, shutdown).

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "rewind/runtime.h"

namespace rw::server::testing {

// How long /slow takes unless a test holds it (hold_slow): long enough that timeouts and shutdown
// are tested against a call that is really in progress.
constexpr auto kSlow = std::chrono::milliseconds(1000);
// A held /slow call still ends after this, so a test that fails before releasing it cannot hang.
constexpr auto kHeldSlowLimit = std::chrono::seconds(60);

class FakeWorker : public runtime::Worker {
 public:
  explicit FakeWorker(std::string name, uint64_t max_body = 1 << 20) {
    config_.name = std::move(name);
    config_.instances = 2;
    config_.limits.max_request_body_bytes = max_body;
  }

  runtime::HandleResult handle(const runtime::Request& request) override {
    calls.fetch_add(1);
    in_flight.fetch_add(1);
    runtime::HandleResult result;
    std::string path = request.target.substr(0, request.target.find('?'));
    {
      std::lock_guard lock(mu_);
      last_request_ = request;
    }
    if (path.ends_with("/slow")) {
      std::unique_lock lock(mu_);
      if (slow_held_) {
        slow_released_.wait_for(lock, kHeldSlowLimit, [&] { return !slow_held_; });
      } else {
        slow_released_.wait_for(lock, kSlow, [] { return false; });
      }
      result.response.body = "slow done";
    } else if (path.ends_with("/panic")) {
      result.response.status = 500;
      result.response.headers = {{"content-type", "application/json"}};
      result.response.body = R"({"error":"panic","request_id":")" + request.request_id + "\"}";
      result.failure = failure(request, Outcome::Panic, std::nullopt, "none");
    } else if (path.ends_with("/abort")) {
      result.response.status = 500;
      result.response.body = "abort";
      result.failure = failure(request, Outcome::Abort, TrapKind::Unreachable, "reset");
    } else if (path.ends_with("/cpu")) {
      result.response.status = 503;
      result.response.body = "cpu";
      result.failure = failure(request, Outcome::Abort, TrapKind::CpuLimit, "rollback");
    } else if (path.ends_with("/throw")) {
      in_flight.fetch_sub(1);
      throw std::runtime_error("fake worker exploded");
    } else if (path.ends_with("/bad-status")) {
      result.response.status = 1234;
    } else if (path.ends_with("/evil-header")) {
      result.response.headers = {
          {"x-ok", "yes"}, {"x-bad", "a\r\nInjected: 1"}, {"content-length", "999"}};
      result.response.body = "evil";
    } else if (path.ends_with("/count")) {
      result.response.body = std::to_string(counter_.fetch_add(1) + 1);
    } else {
      result.response.headers = {{"content-type", "text/plain"}, {"x-worker", config_.name}};
      result.response.body =
          config_.name + " " + request.method + " " + request.target + " " + request.body;
    }
    in_flight.fetch_sub(1);
    return result;
  }

  runtime::WorkerStats stats() const override { return {}; }
  const runtime::WorkerConfig& config() const override { return config_; }
  void drain() override { drained.store(true); }

  runtime::WorkerConfig& mutable_config() { return config_; }

  // While held, /slow calls last until release_slow(): tests then show that other requests are
  // answered during a slow call by the order of events rather than by timing them.
  void hold_slow() {
    std::lock_guard lock(mu_);
    slow_held_ = true;
  }
  void release_slow() {
    {
      std::lock_guard lock(mu_);
      slow_held_ = false;
    }
    slow_released_.notify_all();
  }

  runtime::Request last_request() {
    std::lock_guard lock(mu_);
    return last_request_;
  }

  std::atomic<int> calls{0};
  std::atomic<int> in_flight{0};
  std::atomic<bool> drained{false};

 private:
  runtime::FailureRecord failure(const runtime::Request& request, Outcome outcome,
                                 std::optional<TrapKind> trap, std::string action) {
    runtime::FailureRecord f;
    f.worker = config_.name;
    f.instance_id = 1;
    f.generation = 2;
    f.request_id = request.request_id;
    f.outcome = outcome;
    f.trap = trap;
    f.message = "fake failure";
    f.backtrace = {{5, "guest_fn", 77}};
    f.action = std::move(action);
    f.recovery_time = std::chrono::microseconds(10);
    return f;
  }

  runtime::WorkerConfig config_;
  std::mutex mu_;
  std::condition_variable slow_released_;
  bool slow_held_ = false;
  runtime::Request last_request_;
  std::atomic<int> counter_{0};
};

}  // namespace rw::server::testing
