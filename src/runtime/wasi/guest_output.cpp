#include "runtime/wasi/guest_output.h"

#include <algorithm>

namespace rw::wasi {

namespace {
constexpr size_t kMaxLine = 16384;
}  // namespace

struct OutputLines::State {
  Emit emit;
  std::string stdout_line, stderr_line;
};

OutputLines::OutputLines(Emit emit) : state_(std::make_shared<State>()) {
  state_->emit = std::move(emit);
}

void OutputLines::flush() const {
  State& s = *state_;
  if (!s.stdout_line.empty()) s.emit("info", "stdout", s.stdout_line);
  if (!s.stderr_line.empty()) s.emit("warn", "stderr", s.stderr_line);
  s.stdout_line.clear();
  s.stderr_line.clear();
}

Result<std::shared_ptr<WasiContext>> request_guest_context(
    std::string name, const std::map<std::string, std::string>& env,
    std::chrono::nanoseconds cpu_per_request, const OutputLines& output) {
  WasiConfig config;
  config.args = {std::move(name)};
  for (const auto& [key, value] : env) config.env.push_back(key + "=" + value);
  // The sinks share the buffers, not the OutputLines: they stay valid whatever goes first.
  auto sink = [state = output.state_](bool is_stderr) {
    return [state, is_stderr](std::string_view bytes) {
      std::string& pending = is_stderr ? state->stderr_line : state->stdout_line;
      for (char c : bytes) {
        if (c != '\n') pending.push_back(c);
        if (c == '\n' || pending.size() >= kMaxLine) {
          state->emit(is_stderr ? "warn" : "info", is_stderr ? "stderr" : "stdout", pending);
          pending.clear();
        }
      }
    };
  };
  config.stdout_sink = sink(false);
  config.stderr_sink = sink(true);
  // A guest sleeping in poll_oneoff uses no CPU: bound it by the request's CPU budget too.
  if (cpu_per_request.count() > 0) config.max_sleep = std::min(config.max_sleep, cpu_per_request);
  return WasiContext::create(std::move(config));
}

}  // namespace rw::wasi
