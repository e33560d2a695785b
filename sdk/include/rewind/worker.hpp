// rewind guest SDK: the worker ABI, version 1, for C++ (docs/guest-abi.md). Everything in
// worker.h and guest.h is available too.
//
//   #include <rewind/worker.hpp>
//   void handle(rw::worker::Request& req, rw::worker::Response& res) {
//     if (req.path() == "/fail") throw std::runtime_error("no such thing");  // -> panic, 500
//     res.header("content-type", "text/plain");
//     res.write("hello from " + req.path() + "\n");
//   }
//   REWIND_HANDLER(handle)
//
// An exception that escapes the handler is a panic: the host answers 500 with the exception's
// what() in a JSON body, and the instance stays live (or is rolled back, per the worker's mode).
#pragma once

#include <rewind/worker.h>

#include <cstdint>
#include <optional>
#include <rewind/guest.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rw::worker {

namespace detail {
// Calls a copy-out import, growing the buffer until the value fits.
template <class F>
std::string copy_out(F&& read) {
  std::string out(64, '\0');
  int32_t n = read(out.data(), out.size());
  if (n < 0) return {};
  if (static_cast<size_t>(n) > out.size()) {
    out.resize(static_cast<size_t>(n));
    n = read(out.data(), out.size());
  }
  out.resize(static_cast<size_t>(n < 0 ? 0 : n));
  return out;
}
}  // namespace detail

enum class LogLevel : int32_t { Debug = 0, Info = 1, Warn = 2, Error = 3 };

inline void log(LogLevel level, std::string_view message) {
  rewind_log(static_cast<int32_t>(level), message.data(), message.size());
}
inline int64_t now_ns() { return rewind_now_ns(); }
inline int64_t monotonic_ns() { return rewind_monotonic_ns(); }
inline void random_bytes(void* buf, size_t len) { rewind_random(buf, len); }
[[noreturn]] inline void abort(std::string_view message) {
  rewind_abort(message.data(), message.size());
}

class Request {
 public:
  const std::string& method() const {
    if (!method_)
      method_ = detail::copy_out([](char* b, size_t c) { return rewind_request_method(b, c); });
    return *method_;
  }
  // Path and query as received: "/items?id=3".
  const std::string& target() const {
    if (!target_)
      target_ = detail::copy_out([](char* b, size_t c) { return rewind_request_target(b, c); });
    return *target_;
  }
  std::string path() const {
    const std::string& t = target();
    return t.substr(0, t.find('?'));
  }
  std::string query() const {
    const std::string& t = target();
    size_t q = t.find('?');
    return q == std::string::npos ? std::string() : t.substr(q + 1);
  }
  // The value of query parameter `name` (no percent-decoding), if present.
  std::optional<std::string> query_param(std::string_view name) const {
    std::string q = query();
    size_t pos = 0;
    while (pos <= q.size()) {
      size_t end = q.find('&', pos);
      if (end == std::string::npos) end = q.size();
      std::string_view part(q.data() + pos, end - pos);
      size_t eq = part.find('=');
      if (part.substr(0, eq) == name)
        return eq == std::string_view::npos ? std::string() : std::string(part.substr(eq + 1));
      pos = end + 1;
    }
    return std::nullopt;
  }
  // The first header named `name` (ASCII case-insensitive).
  std::optional<std::string> header(std::string_view name) const {
    std::string value(64, '\0');
    int32_t n = rewind_request_header_get(name.data(), name.size(), value.data(), value.size());
    if (n < 0) return std::nullopt;
    if (static_cast<size_t>(n) > value.size()) {
      value.resize(static_cast<size_t>(n));
      n = rewind_request_header_get(name.data(), name.size(), value.data(), value.size());
    }
    value.resize(static_cast<size_t>(n));
    return value;
  }
  std::vector<std::pair<std::string, std::string>> headers() const {
    std::vector<std::pair<std::string, std::string>> all;
    int32_t count = rewind_request_header_count();
    for (int32_t i = 0; i < count; ++i) {
      all.emplace_back(
          detail::copy_out([i](char* b, size_t c) { return rewind_request_header_name(i, b, c); }),
          detail::copy_out(
              [i](char* b, size_t c) { return rewind_request_header_value(i, b, c); }));
    }
    return all;
  }
  int64_t body_length() const { return rewind_request_body_length(); }
  // The next chunk of the body into buf; 0 at the end.
  size_t read(void* buf, size_t cap) {
    int32_t n = rewind_request_body_read(buf, cap);
    return n < 0 ? 0 : static_cast<size_t>(n);
  }
  // The rest of the body.
  std::string body() {
    std::string out;
    int64_t length = body_length();
    if (length > 0) out.reserve(static_cast<size_t>(length));
    char chunk[4096];
    while (size_t n = read(chunk, sizeof chunk)) out.append(chunk, n);
    return out;
  }

 private:
  mutable std::optional<std::string> method_, target_;
};

class Response {
 public:
  Response& status(int code) {
    rewind_response_status(code);
    return *this;
  }
  Response& header(std::string_view name, std::string_view value) {
    rewind_response_header(name.data(), name.size(), value.data(), value.size());
    return *this;
  }
  Response& write(std::string_view bytes) {
    rewind_response_body_write(bytes.data(), bytes.size());
    return *this;
  }
};

}  // namespace rw::worker

// Defines the worker's exports around `handler`, a function
// `void handler(rw::worker::Request&, rw::worker::Response&)`. Use once per module.
#define REWIND_HANDLER(handler)                                              \
  REWIND_EXPORT("rewind_abi_version") int32_t rewind_worker_abi_version_() { \
    return REWIND_ABI_VERSION;                                               \
  }                                                                          \
  REWIND_EXPORT("rewind_handle") void rewind_worker_handle_() {              \
    rw::worker::Request request;                                             \
    rw::worker::Response response;                                           \
    handler(request, response);                                              \
  }
