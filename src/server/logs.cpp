#include "server/logs.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

namespace rw::server {
namespace {

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

// Guest messages and client-supplied ids may hold any bytes; nlohmann's replace mode turns
// invalid UTF-8 into U+FFFD rather than throwing.
std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string failure_json(const runtime::FailureRecord& f) {
  return runtime::to_json(f, {{"ts", timestamp()}, {"event", "guest_failure"}});
}

std::string access_json(const AccessEntry& e) {
  nlohmann::json j;
  j["ts"] = timestamp();
  j["event"] = "access";
  j["request_id"] = e.request_id;
  j["remote"] = e.remote;
  j["method"] = e.method;
  j["target"] = e.target;
  j["worker"] = e.worker;
  j["status"] = e.status;
  j["bytes"] = e.response_bytes;
  j["duration_ms"] = std::chrono::duration<double, std::milli>(e.duration).count();
  return dump(j);
}

Result<std::unique_ptr<LineSink>> LineSink::open(const std::string& destination) {
  if (destination.empty() || destination == "-")
    return std::unique_ptr<LineSink>(new LineSink(stderr, false));
  if (destination == "stdout") return std::unique_ptr<LineSink>(new LineSink(stdout, false));
  FILE* f = std::fopen(destination.c_str(), "a");
  if (!f) {
    Error e;
    e.message = destination + ": cannot open for appending: " + std::strerror(errno);
    return e;
  }
  return std::unique_ptr<LineSink>(new LineSink(f, true));
}

LineSink::~LineSink() {
  if (owned_) std::fclose(file_);
}

void LineSink::write(std::string_view line) {
  std::lock_guard lock(mu_);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fputc('\n', file_);
  std::fflush(file_);
}

}  // namespace rw::server
