#pragma once
// WASI for guests that serve requests (workers, durable objects): argv is the guest's name, the
// environment comes from its configuration, stdout and stderr become log lines, and a sleep is
// bounded by the CPU budget of a request.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "rewind/error.h"
#include "runtime/wasi/wasi.h"

namespace rw::wasi {

// A guest's output split into lines: stdout at level "info", stderr at "warn". A line ends at
// '\n' (not included) or after 16 KiB; what is left of a line waits for flush().
class OutputLines {
 public:
  using Emit =
      std::function<void(std::string_view level, std::string_view stream, std::string_view line)>;
  explicit OutputLines(Emit emit);

  // Emits the partial lines (at the end of a call, so a line never spans two requests' logs).
  void flush() const;

 private:
  friend Result<std::shared_ptr<WasiContext>> request_guest_context(
      std::string name, const std::map<std::string, std::string>& env,
      std::chrono::nanoseconds cpu_per_request, const OutputLines& output);
  struct State;
  std::shared_ptr<State> state_;
};

// The WASI context of a guest serving requests. `cpu_per_request` zero: no CPU budget, sleeps
// keep the WASI default bound.
Result<std::shared_ptr<WasiContext>> request_guest_context(
    std::string name, const std::map<std::string, std::string>& env,
    std::chrono::nanoseconds cpu_per_request, const OutputLines& output);

}  // namespace rw::wasi
