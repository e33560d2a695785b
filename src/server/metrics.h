#pragma once
// Counters and latency histograms served on the admin listener in the Prometheus text format.
// The set of workers is fixed at construction, so recording is lock-free on the request path
// (relaxed atomics); only failures, which are rare, take a lock.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rewind/runtime.h"

namespace rw::server {

class Metrics {
 public:
  // Upper bounds of the latency buckets, in seconds (+Inf is implicit).
  static constexpr std::array<double, 15> kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

  explicit Metrics(std::vector<std::string> worker_names);

  // One request answered by worker `worker` (an index into worker_names).
  void record(int worker, int status, std::chrono::nanoseconds duration,
              const runtime::FailureRecord* failure);
  // A request answered by the server itself before reaching a worker (400, 404, 413, 431...).
  // worker is -1 when no route was found.
  void record_rejected(int worker, int status);

  // Where the requests-in-flight gauge comes from (admitted to a worker, not yet answered).
  void set_in_flight_source(std::function<uint64_t(size_t worker)> source) {
    in_flight_ = std::move(source);
  }

  std::string render() const;

 private:
  struct PerWorker {
    std::array<std::atomic<uint64_t>, 600> by_status{};
    std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_ns{0};
    std::atomic<uint64_t> panics{0};
    std::atomic<uint64_t> host_errors{0};
    std::atomic<uint64_t> rejected{0};
    std::mutex failures_mu;
    std::map<std::string, uint64_t> aborts_by_kind;
    std::map<std::string, uint64_t> recoveries_by_action;
  };
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<PerWorker>> workers_;
  std::array<std::atomic<uint64_t>, 600> unrouted_by_status_{};
  std::function<uint64_t(size_t)> in_flight_;
};

}  // namespace rw::server
