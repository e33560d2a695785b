// The HTTP request path of the server, end to end: each input is sent as raw bytes on a fresh
// loopback connection to a real rw::server::Server (one IO thread, small header and body limits,
// one route to an echo worker), the client half-closes, and everything the server answers until
// it closes is checked:
// - the server answers (or closes) within a few seconds, and never crashes (ASan/UBSan);
// - the answer is a sequence of well-formed HTTP/1.1 responses with nothing left over, each with
//   a status in 100..599, `Server: rewind` and an X-Request-Id;
// - the status of every final response is the one an independent parse of the input (Beast's
//   parser with the server's limits, the server's Router) predicts: 400 for malformed requests
//   (or one cut short), 431 for headers over the limit, 413 for bodies over the limit (declared
//   or chunked), 404 for targets no route matches, otherwise the worker's answer.
// The echo worker reflects the target and a request header into its response headers, so the
// server's filtering of unsafe worker headers is exercised too.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "rewind/runtime.h"
#include "server/config.h"
#include "server/router.h"
#include "server/server.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr uint32_t kMaxHeaderBytes = 1024;
constexpr uint64_t kMaxBodyBytes = 256;

[[noreturn]] void fail(const std::string& what, std::string_view response = {}) {
  std::fprintf(stderr, "http_fuzz: %s\n", what.c_str());
  if (!response.empty())
    std::fprintf(stderr, "response bytes:\n%.*s\n", static_cast<int>(response.size()),
                 response.data());
  std::fflush(stderr);
  __builtin_trap();
}

std::string percent_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<uint8_t>(text[i + 1])) &&
        std::isxdigit(static_cast<uint8_t>(text[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

class EchoWorker : public rw::runtime::Worker {
 public:
  EchoWorker() {
    config_.name = "echo";
    config_.instances = 1;
    config_.limits.max_request_body_bytes = kMaxBodyBytes;
  }

  rw::runtime::HandleResult handle(const rw::runtime::Request& request) override {
    rw::runtime::HandleResult result;
    result.response.headers = {{"content-type", "text/plain"}, {"x-target", request.target}};
    for (const auto& [name, value] : request.headers) {
      // The client picks header names and values the worker answers with (percent-decoded, so
      // any byte can reach them, as from a guest), and the status.
      if (beast::iequals(name, "x-reflect-name")) {
        std::string decoded = percent_decode(value);
        result.response.headers.emplace_back(decoded, "1");
      }
      if (beast::iequals(name, "x-reflect")) {
        std::string decoded = percent_decode(value);
        result.response.headers.emplace_back("x-reflected", decoded);
      }
      if (beast::iequals(name, "x-status")) result.response.status = std::atoi(value.c_str());
    }
    result.response.body = request.method + " " + request.body;
    return result;
  }
  rw::runtime::WorkerStats stats() const override { return {}; }
  const rw::runtime::WorkerConfig& config() const override { return config_; }
  void drain() override {}

 private:
  rw::runtime::WorkerConfig config_;
};

struct Fixture {
  rw::server::ServerConfig config;
  std::unique_ptr<rw::server::Server> server;
  std::unique_ptr<rw::server::Router> router;
  uint16_t port = 0;
};

Fixture& fixture() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    auto worker = std::make_shared<EchoWorker>();
    fx->config.listen = {"127.0.0.1", 0};
    fx->config.admin_enabled = false;
    fx->config.threads = 1;
    fx->config.guest_threads = 1;
    fx->config.failure_log = "-";
    fx->config.max_header_bytes = kMaxHeaderBytes;
    fx->config.idle_timeout = std::chrono::seconds(5);
    fx->config.workers = {worker->config()};
    rw::server::RouteConfig root, api;
    root.path_prefix = "/";
    root.worker = "echo";
    api.path_prefix = "/api";
    api.host = "example.com";
    api.worker = "echo";
    fx->config.routes = {root, api};
    auto server = rw::server::Server::create(fx->config, {worker});
    if (!server.ok()) fail("server: " + server.error().message);
    fx->server = std::move(server.value());
    fx->server->start();
    fx->port = fx->server->port();
    fx->router =
        std::make_unique<rw::server::Router>(fx->config.routes, std::vector<std::string>{"echo"});
    return fx;
  }();
  return *f;
}

// What the server should answer to each request in the input, in order.
struct Expected {
  int status = 0;
  bool head = false;
  // A header that is both malformed and over the limit may be answered 400 or 431: which error
  // the server's incremental parse meets first depends on how the bytes arrive.
  int alternative = 0;
};

std::vector<Expected> predict(std::string_view input) {
  std::vector<Expected> out;
  if (input.empty()) return out;  // the peer closed without a request: no answer
  const Fixture& fx = fixture();
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    parser.eager(false);
    beast::error_code ec;
    size_t used = 0;
    // The header first, as the server reads it.
    while (!parser.is_header_done()) {
      size_t n = parser.put(boost::asio::buffer(input.data() + used, input.size() - used), ec);
      used += n;
      if (ec == http::error::need_more || (!ec && n == 0)) {
        ec = {};
        if (used < input.size() && n != 0) continue;
        ec = http::error::partial_message;  // the input ends inside the header
      }
      if (ec) break;
    }
    const bool oversized = input.size() > kMaxHeaderBytes;
    if (ec == http::error::header_limit) {
      out.push_back({431, false, 400});
      return out;
    }
    if (ec) {
      out.push_back({400, false, oversized ? 431 : 0});
      return out;
    }
    // Beast's header_limit lets some larger headers through; the server also checks the bytes
    // the header took, and so does the oracle.
    if (used > kMaxHeaderBytes) {
      out.push_back({431, false});  // refused uninterpreted: a HEAD too gets the body
      return out;
    }
    const auto& req = parser.get();
    Expected e;
    e.head = req.method() == http::verb::head;
    int worker = fx.router->match(req[http::field::host], req.target());
    if (worker < 0) {
      e.status = 404;
      out.push_back(e);
      if (!parser.is_done() || !req.keep_alive()) return out;
      input.remove_prefix(used);
      if (input.empty()) return out;
      continue;
    }
    if (auto length = parser.content_length(); length && *length > kMaxBodyBytes) {
      e.status = 413;
      out.push_back(e);
      return out;
    }
    parser.body_limit(kMaxBodyBytes);
    parser.eager(true);
    while (!parser.is_done()) {
      size_t n = parser.put(boost::asio::buffer(input.data() + used, input.size() - used), ec);
      used += n;
      if (ec == http::error::need_more || (!ec && n == 0)) {
        ec = {};
        if (used < input.size() && n != 0) continue;
        parser.put_eof(ec);
        if (!ec && !parser.is_done()) ec = http::error::partial_message;
      }
      if (ec) break;
    }
    if (ec == http::error::body_limit) {
      e.status = 413;
      out.push_back(e);
      return out;
    }
    if (ec) {
      e.status = 400;
      out.push_back(e);
      return out;
    }
    e.status = 200;
    for (const auto& field : req) {
      if (beast::iequals(field.name_string(), "x-status")) {
        int s = std::atoi(std::string(field.value()).c_str());
        e.status = (s >= 200 && s <= 599) ? s : 502;
      }
    }
    out.push_back(e);
    input.remove_prefix(used);
    if (!req.keep_alive() || input.empty()) return out;
  }
}

// Sends the input, half-closes, reads until the server closes.
std::string exchange(std::string_view input) {
  const Fixture& fx = fixture();
  int fd = -1;
  for (int attempt = 0;; ++attempt) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(fx.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
    int err = errno;
    ::close(fd);
    // Ephemeral ports run out under a fast campaign: wait for TIME_WAIT to clear.
    if (err == EINTR) continue;  // libFuzzer's timeout timer (SIGALRM) interrupted it
    if ((err == EADDRNOTAVAIL || err == EAGAIN) && attempt < 200) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    fail("connect failed: " + std::to_string(err));
  }
  size_t sent = 0;
  while (sent < input.size()) {
    ssize_t n = ::send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server may close early (a rejected request)
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string response;
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (true) {
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) fail("the server neither answered nor closed in time", response);
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed (or reset after a rejection)
    response.append(buf, static_cast<size_t>(n));
  }
  // No TIME_WAIT on our side.
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
  return response;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<Expected> expected = predict(input);
  std::string response = exchange(input);

  std::string_view rest = response;
  size_t final_responses = 0;
  while (!rest.empty()) {
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    bool head = final_responses < expected.size() && expected[final_responses].head;
    parser.skip(head);
    beast::error_code ec;
    size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    while (!ec && !parser.is_done() && used < rest.size()) {
      size_t n = parser.put(boost::asio::buffer(rest.data() + used, rest.size() - used), ec);
      if (n == 0) break;
      used += n;
    }
    if (ec == http::error::need_more) ec = {};
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    if (ec || !parser.is_done()) fail("malformed response: " + ec.message(), response);
    rest.remove_prefix(used);
    const auto& res = parser.get();
    unsigned status = res.result_int();
    if (status < 100 || status > 599) fail("response status out of range", response);
    if (status < 200) continue;  // 100 Continue before the body
    if (res[http::field::server] != "rewind") fail("response without Server: rewind", response);
    if (res["X-Request-Id"].empty()) fail("response without X-Request-Id", response);
    if (final_responses >= expected.size()) fail("more responses than requests", response);
    if (static_cast<int>(status) != expected[final_responses].status &&
        static_cast<int>(status) != expected[final_responses].alternative) {
      fail("status " + std::to_string(status) + " where " +
               std::to_string(expected[final_responses].status) + " was expected",
           response);
    }
    ++final_responses;
  }
  if (final_responses != expected.size()) {
    fail(std::to_string(final_responses) + " responses to " + std::to_string(expected.size()) +
             " requests",
         response);
  }
  return 0;
}
