#include "server/metrics.h"

#include <fmt/format.h>

namespace rw::server {
namespace {

size_t status_index(int status) {
  return status >= 100 && status < 600 ? static_cast<size_t>(status) : 599;
}

// Label values are escaped as the text format requires: backslash, quote, newline.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

}  // namespace

Metrics::Metrics(std::vector<std::string> worker_names) : names_(std::move(worker_names)) {
  for (size_t i = 0; i < names_.size(); ++i) workers_.push_back(std::make_unique<PerWorker>());
}

void Metrics::record(int worker, int status, std::chrono::nanoseconds duration,
                     const runtime::FailureRecord* failure) {
  if (worker < 0 || static_cast<size_t>(worker) >= workers_.size()) return;
  PerWorker& w = *workers_[static_cast<size_t>(worker)];
  w.by_status[status_index(status)].fetch_add(1, std::memory_order_relaxed);
  double seconds = std::chrono::duration<double>(duration).count();
  size_t bucket = 0;
  while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) ++bucket;
  w.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  w.count.fetch_add(1, std::memory_order_relaxed);
  w.sum_ns.fetch_add(static_cast<uint64_t>(duration.count() < 0 ? 0 : duration.count()),
                     std::memory_order_relaxed);
  if (!failure) return;
  switch (failure->outcome) {
    case Outcome::Panic: w.panics.fetch_add(1, std::memory_order_relaxed); break;
    case Outcome::HostError: w.host_errors.fetch_add(1, std::memory_order_relaxed); break;
    default: break;
  }
  std::lock_guard lock(w.failures_mu);
  if (failure->outcome == Outcome::Abort || failure->outcome == Outcome::Terminated) {
    std::string kind = failure->trap ? to_string(*failure->trap) : to_string(failure->outcome);
    ++w.aborts_by_kind[kind];
  }
  if (!failure->action.empty() && failure->action != "none")
    ++w.recoveries_by_action[failure->action];
}

void Metrics::record_rejected(int worker, int status) {
  if (worker >= 0 && static_cast<size_t>(worker) < workers_.size()) {
    PerWorker& w = *workers_[static_cast<size_t>(worker)];
    w.by_status[status_index(status)].fetch_add(1, std::memory_order_relaxed);
    w.rejected.fetch_add(1, std::memory_order_relaxed);
  } else {
    unrouted_by_status_[status_index(status)].fetch_add(1, std::memory_order_relaxed);
  }
}

std::string Metrics::render() const {
  std::string out;
  auto header = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };

  header("rewind_requests_total", "counter", "Requests answered, by worker and HTTP status.");
  for (size_t i = 0; i < workers_.size(); ++i) {
    for (size_t s = 100; s < 600; ++s) {
      uint64_t n = workers_[i]->by_status[s].load(std::memory_order_relaxed);
      if (n)
        out += fmt::format("rewind_requests_total{{worker=\"{}\",status=\"{}\"}} {}\n",
                           label(names_[i]), s, n);
    }
  }
  header("rewind_unrouted_requests_total", "counter",
         "Requests answered without reaching any worker (no route, malformed), by HTTP status.");
  for (size_t s = 100; s < 600; ++s) {
    uint64_t n = unrouted_by_status_[s].load(std::memory_order_relaxed);
    if (n) out += fmt::format("rewind_unrouted_requests_total{{status=\"{}\"}} {}\n", s, n);
  }
  header("rewind_rejected_requests_total", "counter",
         "Requests routed to a worker but refused before reaching the guest (e.g. 413).");
  for (size_t i = 0; i < workers_.size(); ++i)
    out += fmt::format("rewind_rejected_requests_total{{worker=\"{}\"}} {}\n", label(names_[i]),
                       workers_[i]->rejected.load(std::memory_order_relaxed));
  header("rewind_panics_total", "counter", "Guest calls that ended in a panic.");
  for (size_t i = 0; i < workers_.size(); ++i)
    out += fmt::format("rewind_panics_total{{worker=\"{}\"}} {}\n", label(names_[i]),
                       workers_[i]->panics.load(std::memory_order_relaxed));
  header("rewind_host_errors_total", "counter", "Guest calls that ended in a host error.");
  for (size_t i = 0; i < workers_.size(); ++i)
    out += fmt::format("rewind_host_errors_total{{worker=\"{}\"}} {}\n", label(names_[i]),
                       workers_[i]->host_errors.load(std::memory_order_relaxed));

  header("rewind_aborts_total", "counter", "Guest calls that ended in an abort, by trap kind.");
  for (size_t i = 0; i < workers_.size(); ++i) {
    std::lock_guard lock(workers_[i]->failures_mu);
    for (const auto& [kind, n] : workers_[i]->aborts_by_kind)
      out += fmt::format("rewind_aborts_total{{worker=\"{}\",kind=\"{}\"}} {}\n", label(names_[i]),
                         label(kind), n);
  }
  header("rewind_recoveries_total", "counter", "Instance recoveries after failures, by action.");
  for (size_t i = 0; i < workers_.size(); ++i) {
    std::lock_guard lock(workers_[i]->failures_mu);
    for (const auto& [action, n] : workers_[i]->recoveries_by_action)
      out += fmt::format("rewind_recoveries_total{{worker=\"{}\",action=\"{}\"}} {}\n",
                         label(names_[i]), label(action), n);
  }

  if (in_flight_) {
    header("rewind_requests_in_flight", "gauge",
           "Requests admitted to a worker and not yet answered (running or queued).");
    for (size_t i = 0; i < workers_.size(); ++i)
      out += fmt::format("rewind_requests_in_flight{{worker=\"{}\"}} {}\n", label(names_[i]),
                         in_flight_(i));
  }
  header("rewind_request_duration_seconds", "histogram",
         "Time from a complete request to its response being ready, guest call included.");
  for (size_t i = 0; i < workers_.size(); ++i) {
    const PerWorker& w = *workers_[i];
    std::string name = label(names_[i]);
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += w.buckets[b].load(std::memory_order_relaxed);
      out += fmt::format("rewind_request_duration_seconds_bucket{{worker=\"{}\",le=\"{}\"}} {}\n",
                         name, kBuckets[b], cumulative);
    }
    cumulative += w.buckets[kBuckets.size()].load(std::memory_order_relaxed);
    out += fmt::format("rewind_request_duration_seconds_bucket{{worker=\"{}\",le=\"+Inf\"}} {}\n",
                       name, cumulative);
    out += fmt::format("rewind_request_duration_seconds_sum{{worker=\"{}\"}} {}\n", name,
                       static_cast<double>(w.sum_ns.load(std::memory_order_relaxed)) / 1e9);
    out += fmt::format("rewind_request_duration_seconds_count{{worker=\"{}\"}} {}\n", name,
                       cumulative);
  }
  return out;
}

}  // namespace rw::server
