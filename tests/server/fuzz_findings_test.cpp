// Regression tests for findings of fuzz/http_fuzz.cpp:
// - header names and values a worker answers with went out verbatim when they were not valid HTTP
//   (a name with '/' or bytes >= 0x80, a value with a control character), so clients failed to
//   parse the whole response;
// - after a HEAD request on a keep-alive connection, a rejection of the next request before its
//   header was complete was sent without its body (as a HEAD answer) but with its Content-Length;
// - a worker answering 204 or 304 with a body ended the process (Beast refuses to frame such a
//   body and throws on the IO thread), and a 1xx went out as if it were a final answer;
// - a header over max_header_bytes was accepted (answered 200, not 431);
// - after answering a request that ends the connection (HTTP/1.0, `Connection: close`) with more
//   pipelined requests unread, closing reset the connection, which could destroy answers the
//   client had not read yet.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http_client.h"
#include "rewind/runtime.h"
#include "server/server.h"

namespace rw::server {
namespace {

using testing::HttpClient;

// Answers with the headers it was built with.
class HeaderWorker : public runtime::Worker {
 public:
  explicit HeaderWorker(std::vector<std::pair<std::string, std::string>> headers, int status = 200)
      : headers_(std::move(headers)), status_(status) {
    config_.name = "headers";
    config_.instances = 1;
  }
  runtime::HandleResult handle(const runtime::Request&) override {
    runtime::HandleResult result;
    result.response.status = status_;
    result.response.headers = headers_;
    result.response.body = "body";
    return result;
  }
  runtime::WorkerStats stats() const override { return {}; }
  const runtime::WorkerConfig& config() const override { return config_; }
  void drain() override {}

 private:
  std::vector<std::pair<std::string, std::string>> headers_;
  int status_;
  runtime::WorkerConfig config_;
};

// Starts a server for the worker, sends one GET, and returns the parsed response (a parse
// failure throws, failing the test).
std::unique_ptr<Server> start_server(std::shared_ptr<runtime::Worker> worker,
                                     uint32_t max_header_bytes = 16 * 1024) {
  ServerConfig config;
  config.max_header_bytes = max_header_bytes;
  config.listen = {"127.0.0.1", 0};
  config.admin_enabled = false;
  config.threads = 1;
  config.guest_threads = 1;
  config.workers = {worker->config()};
  RouteConfig route;
  route.worker = worker->config().name;
  config.routes = {route};
  auto server = Server::create(config, {worker});
  EXPECT_TRUE(server.ok());
  server.value()->start();
  return std::move(server.value());
}

testing::HttpResponse get_from(std::shared_ptr<HeaderWorker> worker) {
  auto server = start_server(std::move(worker));
  HttpClient client(server->port());
  auto response = client.request("GET", "/");
  server->stop();
  return response;
}

TEST(HeaderFilter, DropsNamesThatAreNotTokens) {
  // The fuzzer's input reflected "HTTP/\xE4\xBC\x90\x91tent-Le`gth" as a header name.
  auto response = get_from(std::make_shared<HeaderWorker>(
      std::vector<std::pair<std::string, std::string>>{{"HTTP/\xE4\xBC\x90\x91tent-Le`gth", "1"},
                                                       {"a/b", "1"},
                                                       {"bad\x7Fname", "1"},
                                                       {"x-good_one!", "kept"}}));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "body");
  EXPECT_EQ(response.header("x-good_one!"), "kept");
  EXPECT_EQ(response.header("a/b"), "");
}

TEST(HeaderFilter, DropsValuesWithControlCharacters) {
  auto response = get_from(std::make_shared<HeaderWorker>(
      std::vector<std::pair<std::string, std::string>>{{"x-ctl", std::string("a\x01"
                                                                             "b")},
                                                       {"x-del", "a\x7F"},
                                                       {"x-tab", "a\tb"},
                                                       {"x-utf8", "caf\xC3\xA9"}}));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("x-ctl"), "");
  EXPECT_EQ(response.header("x-del"), "");
  EXPECT_EQ(response.header("x-tab"), "a\tb");
  EXPECT_EQ(response.header("x-utf8"), "caf\xC3\xA9");
}

// Sends `bytes`, half-closes, and returns everything the server sends until it closes.
std::string exchange_raw(uint16_t port, std::string_view bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(PipelinedRejection, AfterHeadTheRejectionKeepsItsBody) {
  auto server = start_server(
      std::make_shared<HeaderWorker>(std::vector<std::pair<std::string, std::string>>{}));
  // The fuzzer's input, shortened: a HEAD, then the start of a request the peer never finishes.
  std::string raw = exchange_raw(server->port(), "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nPOs");
  server->stop();

  namespace http = boost::beast::http;
  boost::beast::error_code ec;
  http::response_parser<http::string_body> head;
  head.skip(true);
  size_t used = head.put(boost::asio::buffer(raw), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(head.is_done());
  EXPECT_EQ(head.get().result_int(), 200u);
  EXPECT_EQ(head.get()[http::field::content_length], "4");  // that of the GET body

  http::response_parser<http::string_body> rejection;
  rejection.eager(true);
  std::string_view rest = std::string_view(raw).substr(used);
  size_t rest_used = rejection.put(boost::asio::buffer(rest.data(), rest.size()), ec);
  ASSERT_FALSE(ec) << ec.message() << "\n" << raw;
  ASSERT_TRUE(rejection.is_done()) << raw;
  EXPECT_EQ(rest_used, rest.size());
  EXPECT_EQ(rejection.get().result_int(), 400u);
  EXPECT_NE(rejection.get().body().find("malformed HTTP request"), std::string::npos);
}

// Answers after a pause with a body larger than the socket buffers, so that the end of the
// answer is still in the server's send queue when it closes the connection.
class SlowLargeWorker : public runtime::Worker {
 public:
  SlowLargeWorker() {
    config_.name = "slow-large";
    config_.instances = 1;
  }
  runtime::HandleResult handle(const runtime::Request&) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    runtime::HandleResult result;
    result.response.body = std::string(kBodyBytes, 'x');
    return result;
  }
  runtime::WorkerStats stats() const override { return {}; }
  const runtime::WorkerConfig& config() const override { return config_; }
  void drain() override {}
  static constexpr size_t kBodyBytes = 8u << 20;

 private:
  runtime::WorkerConfig config_;
};

TEST(ConnectionClose, UnreadPipelinedBytesDoNotResetTheAnswer) {
  auto server = start_server(std::make_shared<SlowLargeWorker>());

  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string request = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  // While the guest runs, the server reads nothing: these bytes stay queued in its socket.
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  std::string more = "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
  ASSERT_EQ(::send(fd, more.data(), more.size(), MSG_NOSIGNAL), static_cast<ssize_t>(more.size()));
  std::string raw;
  char buf[64 * 1024];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) raw.append(buf, static_cast<size_t>(n));
  int recv_errno = n < 0 ? errno : 0;
  ::close(fd);
  server->stop();
  // Closing with the second request unread would reset the connection and drop the end of the
  // answer still queued for sending.
  EXPECT_EQ(n, 0) << "the connection ended with errno " << recv_errno << " after " << raw.size()
                  << " bytes";

  namespace http = boost::beast::http;
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(SlowLargeWorker::kBodyBytes);
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(raw), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_done());
  EXPECT_EQ(parser.get().result_int(), 200u);
  EXPECT_EQ(parser.get().body().size(), SlowLargeWorker::kBodyBytes);
  EXPECT_FALSE(parser.get().keep_alive());
  EXPECT_EQ(used, raw.size()) << "the request after the closing one was answered";
}

TEST(WorkerStatus, BodylessStatusesDropTheBodyAndTheServerLives) {
  for (int status : {204, 304}) {
    auto server = start_server(std::make_shared<HeaderWorker>(
        std::vector<std::pair<std::string, std::string>>{{"x-kept", "1"}}, status));
    HttpClient client(server->port());
    auto first = client.request("GET", "/");
    EXPECT_EQ(first.status, status);
    EXPECT_EQ(first.body, "");
    EXPECT_EQ(first.header("x-kept"), "1");
    // The same connection still works: nothing of the dropped body is left in the stream.
    EXPECT_EQ(client.request("GET", "/").status, status);
    server->stop();
  }
}

TEST(WorkerStatus, InformationalStatusesAreNotFinalAnswers) {
  for (int status : {100, 101, 123, 199}) {
    auto server = start_server(
        std::make_shared<HeaderWorker>(std::vector<std::pair<std::string, std::string>>{}, status));
    HttpClient client(server->port());
    auto response = client.request("GET", "/");
    EXPECT_EQ(response.status, 502) << status;
    EXPECT_NE(response.body.find("invalid status " + std::to_string(status)), std::string::npos);
    server->stop();
  }
}

// A header larger than max_header_bytes, arriving in one piece or split across reads, is answered
// 431 without reaching the worker. Beast's own header_limit let one through (http_fuzz input
// below: 1,047 header bytes against a 1,024-byte limit answered 200); the server now also checks
// the bytes the parser consumed for the header.
TEST(HeaderLimit, OversizedHeadersAre431) {
  auto server = start_server(
      std::make_shared<HeaderWorker>(std::vector<std::pair<std::string, std::string>>{}), 1024);
  const std::string fuzz_input(
      "POST \xff\xff\xff/ HTTP/1.1\r\nH+ost: a\r\nost: a\r\nSTt: a\r\nte:t-Lg6ost: a\r\nX-t"
      ": a\r\nte:t-Lg6ost: a\r\nX-o2t: a\r\nCon: a\r\nte:t-LgCoHost: a\r\nCost: t: STt: a\r"
      "\nte:t-Lg0STt: a\r\nte:t-L t: \x94\x94\x94\x94\x94`\x94\x94\x94\x94\x94\x94\x9cP/1.1"
      "\r\nHost: a\r\nX-o2t: a\r\nCon: a\r\nte:t-Lgo-o2t: a\r\nCon0st: t: a\r\nCSTyyyyyyyyy"
      "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
      "yyyyyyyyt: a\r\nte:t-Lg0STt: a\r\nte:t-Lg6osk: a\r\nX-o2t: a\r\nCon: a\r\nte:t-LgCoH"
      "ost: 1\r\nH+ost: a\r\nost: a\r\nSTt: a\r\nte:t-Lg6ost: a\r\nX-t: a\r\nte:t-Lg6osto2t"
      ":yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy a\r\nCon: a\r\nte:t-Lg0o000\r\n a\r\n"
      "STt: a\r\nte:t-Lg6ost: a\r\nX-t: a\r\nte:t-Lg7ost: a\r\nX-o2t: a\r\nCon: a\r\nte:t-L"
      "gCoHost: a\r\nCost: t: STt: a\r\nte:t-Lg0STt: a\r\nte:t-L t: \x94\x94\x94\x94\x94`"
      "\x94\x94\x94\x94\x94\x94\x9cP/1.1\r\nHost: a\r\nX-o2t: a\r\nCon: a\r\nte:t-Lgo-o2t: "
      "a\r\nCon0st: t: a\r\nCSTyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
      "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyt: a\r\nte:t-Lg0STt: a\r\nte:t-Lg6osk: a\r"
      "\nX-o2t: a\r\nCon: a\r\nte:vvvvvvvvvvt-LgCoHost: 1\r\nH+ost: a\r\nost: a\r\nSTt: a\r"
      "\nte:t-Lg6ost: a\r\nX-t: a\r\nte:t-Lg6osto2t: a\r\nCon: a\r\nte:t-Lg0o000\r\n\r\nxx",
      1049);
  std::string plain = "GET / HTTP/1.1\r\nHost: a\r\n";
  while (plain.size() < 1040) plain += "X-a: a\r\n";
  plain += "\r\n";
  for (const std::string& raw : {fuzz_input, plain}) {
    std::string answer = exchange_raw(server->port(), raw);
    EXPECT_EQ(answer.rfind("HTTP/1.1 431", 0), 0u) << answer.substr(0, 200);
  }
  // Just under the limit is fine.
  std::string small = "GET / HTTP/1.1\r\nHost: a\r\n";
  while (small.size() < 1000) small += "X-a: a\r\n";
  small += "\r\n";
  EXPECT_EQ(exchange_raw(server->port(), small).rfind("HTTP/1.1 200", 0), 0u);
  server->stop();
}

}  // namespace
}  // namespace rw::server
