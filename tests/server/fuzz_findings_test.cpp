// Regression tests for a finding of fuzz/http_fuzz.cpp: header names and values a worker answers
// with went out verbatim when they were not valid HTTP (a name with '/' or bytes >= 0x80, a
// value with a control character), so clients failed to parse the whole response.
#include <gtest/gtest.h>

#include <string>
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
  explicit HeaderWorker(std::vector<std::pair<std::string, std::string>> headers)
      : headers_(std::move(headers)) {
    config_.name = "headers";
    config_.instances = 1;
  }
  runtime::HandleResult handle(const runtime::Request&) override {
    runtime::HandleResult result;
    result.response.headers = headers_;
    result.response.body = "body";
    return result;
  }
  runtime::WorkerStats stats() const override { return {}; }
  const runtime::WorkerConfig& config() const override { return config_; }
  void drain() override {}

 private:
  std::vector<std::pair<std::string, std::string>> headers_;
  runtime::WorkerConfig config_;
};

// Starts a server for the worker, sends one GET, and returns the parsed response (a parse
// failure throws, failing the test).
testing::HttpResponse get_from(std::shared_ptr<HeaderWorker> worker) {
  ServerConfig config;
  config.listen = {"127.0.0.1", 0};
  config.admin_enabled = false;
  config.threads = 1;
  config.guest_threads = 1;
  config.workers = {worker->config()};
  RouteConfig route;
  route.worker = "headers";
  config.routes = {route};
  auto server = Server::create(config, {worker});
  EXPECT_TRUE(server.ok());
  server.value()->start();
  HttpClient client(server.value()->port());
  auto response = client.request("GET", "/");
  server.value()->stop();
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

}  // namespace
}  // namespace rw::server
