// A worker with in-memory state: a counter that lives as long as its instance.
//
//   GET /        increments the count and returns it: {"count":N}
//   GET /value   returns the count without changing it
//   GET /panic   increments, then throws: a panic. The instance lives on, so in keep mode the
//                increment stays; in rollback mode it is undone.
//   GET /abort   increments, then traps (unreachable). In reset mode the count starts again
//                from 0; in rollback mode it is back to its value before this request.
//
// Each instance of the pool has its own count.
#include <cstdint>
#include <rewind/worker.hpp>
#include <stdexcept>
#include <string>

namespace {

uint64_t count = 0;

void handle(rw::worker::Request& request, rw::worker::Response& response) {
  std::string path = request.path();
  if (path == "/panic") {
    ++count;
    throw std::runtime_error("counter panicked at " + std::to_string(count));
  }
  if (path == "/abort") {
    ++count;
    __builtin_trap();
  }
  if (path != "/value") ++count;
  response.header("content-type", "application/json")
      .write("{\"count\":" + std::to_string(count) + "}\n");
}

}  // namespace

REWIND_HANDLER(handle)

// Runs in the fresh instance after a reset, with the failure that caused it available.
REWIND_EXPORT("rewind_reinit") void reinit() {
  char record[512];
  int32_t n = rewind_failure_record(record, sizeof record);
  if (n < 0) return;
  std::string text = "counter reset after a failure: ";
  text.append(record,
              static_cast<size_t>(n) < sizeof record ? static_cast<size_t>(n) : sizeof record);
  rw::worker::log(rw::worker::LogLevel::Warn, text);
}
