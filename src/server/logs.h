#pragma once
// The failure log (one JSON line per failed guest call, as the recovery model asks) and the
// access log (one JSON line per request).

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "rewind/error.h"
#include "rewind/runtime.h"

namespace rw::server {

// {"ts":"2026-11-21T06:30:00.123Z","event":"guest_failure","worker":"chaos","instance_id":3,
//  "generation":2,"request_id":"…","outcome":"abort","trap_kind":"unreachable","message":"…",
//  "backtrace":[{"func_index":7,"name":"handle_panic","offset":1234}],
//  "recovery_action":"reset","recovery_ms":0.412}
std::string failure_json(const runtime::FailureRecord& failure);

struct AccessEntry {
  std::string_view request_id, remote, method, target, worker;
  int status = 0;
  size_t response_bytes = 0;
  std::chrono::nanoseconds duration{0};
};
std::string access_json(const AccessEntry& entry);

// Where log lines go: stderr ("" or "-") or a file opened for appending. Thread-safe; each line
// is written whole and flushed, so lines from different threads never interleave.
class LineSink {
 public:
  static Result<std::unique_ptr<LineSink>> open(const std::string& destination);
  ~LineSink();
  void write(std::string_view line);

 private:
  LineSink(FILE* file, bool owned) : file_(file), owned_(owned) {}
  std::mutex mu_;
  FILE* file_;
  bool owned_;
};

}  // namespace rw::server
