// The server through real HTTP on loopback, with fake workers (tests/server/fake_worker.h).

#include "server/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "fake_worker.h"
#include "http_client.h"
#include "server/metrics.h"

namespace rw::server {
namespace {

using testing::FakeWorker;
using testing::http_get;
using testing::HttpClient;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    failure_log_ =
        ::testing::TempDir() + "/rewind_server_failures_" + std::to_string(::getpid()) + ".log";
    access_log_ =
        ::testing::TempDir() + "/rewind_server_access_" + std::to_string(::getpid()) + ".log";
    std::remove(failure_log_.c_str());
    std::remove(access_log_.c_str());
    main_ = std::make_shared<FakeWorker>("main");
    api_ = std::make_shared<FakeWorker>("api", 1024);
    ServerConfig config;
    config.listen = {"127.0.0.1", 0};
    config.admin_listen = {"127.0.0.1", 0};
    config.threads = 2;
    config.failure_log = failure_log_;
    config.access_log = access_log_;
    config.max_header_bytes = 4096;
    config.shutdown_timeout = std::chrono::seconds(5);
    config.workers.resize(2);
    config.workers[0].name = "main";
    config.workers[1].name = "api";
    config.routes = {{"/main", "", "main"},
                     {"/api", "", "api"},
                     {"/", "vhost.example", "main"},
                     {"/stripped", "", "main", true}};
    auto server = Server::create(config, {main_, api_});
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(server.value());
    server_->start();
    port_ = server_->port();
    admin_port_ = server_->admin_port();
    ASSERT_NE(port_, 0);
    ASSERT_NE(admin_port_, 0);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  std::shared_ptr<FakeWorker> main_, api_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0, admin_port_ = 0;
  std::string failure_log_, access_log_;
};

TEST_F(ServerTest, RoutesByPathAndHost) {
  auto a = http_get(port_, "/main/hello?x=1");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "main GET /main/hello?x=1 ");
  EXPECT_EQ(a.header("x-worker"), "main");
  EXPECT_EQ(a.header("content-type"), "text/plain");
  auto b = http_get(port_, "/api");
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.body, "api GET /api ");
  auto c = http_get(port_, "/elsewhere", {{"Host", "VHost.example:8080"}});
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.body, "main GET /elsewhere ");
}

TEST_F(ServerTest, StripPrefixRoutesHideThePrefix) {
  EXPECT_EQ(http_get(port_, "/stripped/x?y=1").body, "main GET /x?y=1 ");
  EXPECT_EQ(http_get(port_, "/stripped").body, "main GET / ");
  EXPECT_EQ(http_get(port_, "/stripped?q").body, "main GET /?q ");
}

TEST_F(ServerTest, UnknownRouteIs404AndNeverReachesAWorker) {
  auto r = http_get(port_, "/nothing/here");
  EXPECT_EQ(r.status, 404);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["status"], 404);
  EXPECT_EQ(j["request_id"], r.header("x-request-id"));
  EXPECT_EQ(main_->calls + api_->calls, 0);
}

TEST_F(ServerTest, RequestHeadersAndBodyReachTheWorker) {
  HttpClient client(port_);
  auto r = client.request("POST", "/main/echo", "payload", {{"X-Custom", "v1"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "main POST /main/echo payload");
  auto req = main_->last_request();
  EXPECT_EQ(req.method, "POST");
  bool found = false;
  for (auto& [k, v] : req.headers) found |= (k == "X-Custom" && v == "v1");
  EXPECT_TRUE(found);
  EXPECT_EQ(req.request_id, r.header("x-request-id"));
}

TEST_F(ServerTest, RequestIdsAreGeneratedUniqueOrTakenFromTheClient) {
  auto a = http_get(port_, "/main");
  auto b = http_get(port_, "/main");
  EXPECT_FALSE(a.header("x-request-id").empty());
  EXPECT_NE(a.header("x-request-id"), b.header("x-request-id"));
  auto c = http_get(port_, "/main", {{"X-Request-Id", "client-id-42"}});
  EXPECT_EQ(c.header("x-request-id"), "client-id-42");
  EXPECT_EQ(main_->last_request().request_id, "client-id-42");
  // Ids that could corrupt logs or headers are replaced.
  auto d = http_get(port_, "/main", {{"X-Request-Id", "bad id with spaces"}});
  EXPECT_NE(d.header("x-request-id"), "bad id with spaces");
  EXPECT_FALSE(d.header("x-request-id").empty());
}

TEST_F(ServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  HttpClient client(port_);
  for (int i = 0; i < 20; ++i) {
    auto r = client.request("GET", "/main/count");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body, std::to_string(i + 1));
    EXPECT_TRUE(r.raw.keep_alive());
  }
  auto last = client.request("GET", "/main", "", {{"Connection", "close"}});
  EXPECT_EQ(last.status, 200);
  EXPECT_FALSE(last.raw.keep_alive());
  EXPECT_TRUE(client.closed_by_peer());
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  HttpClient client(port_);
  client.send_raw(
      "GET /main/a HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /api/b HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(client.read_response().body, "main GET /main/a ");
  EXPECT_EQ(client.read_response().body, "api GET /api/b ");
}

TEST_F(ServerTest, MalformedRequestsGet400AndTheConnectionCloses) {
  for (const char* garbage :
       {"THIS IS NOT HTTP\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
        "GET /main HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET /main HTTP/1.1\r\nContent-Length: abc\r\n\r\n", "\x01\x02\x03\x04\r\n\r\n"}) {
    HttpClient client(port_);
    client.send_raw(garbage);
    auto r = client.read_response();
    EXPECT_EQ(r.status, 400) << garbage;
    EXPECT_FALSE(r.raw.keep_alive());
    EXPECT_TRUE(client.closed_by_peer()) << garbage;
  }
  EXPECT_EQ(main_->calls + api_->calls, 0);
  // The server is still fine.
  EXPECT_EQ(http_get(port_, "/main").status, 200);
}

TEST_F(ServerTest, RandomBytesNeverHurtTheServer) {
  std::mt19937 rng(1234);
  const std::vector<std::string> prefixes = {
      "", "GET /main HTTP/1.1\r\n", "POST /api HTTP/1.1\r\nContent-Length: 5\r\n",
      "GET /main HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"};
  for (int i = 0; i < 200; ++i) {
    std::string bytes = prefixes[static_cast<size_t>(i) % prefixes.size()];
    size_t n = rng() % 300;
    for (size_t k = 0; k < n; ++k) bytes += static_cast<char>(rng() % 256);
    if (i % 3 == 0) bytes += "\r\n\r\n";
    HttpClient client(port_);
    client.send_raw(bytes);
    boost::system::error_code ec;
    client.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
    // Whatever comes back (an error status, or nothing) is fine; the server must go on.
    char sink[4096];
    while (!ec) client.socket().read_some(boost::asio::buffer(sink), ec);
  }
  EXPECT_EQ(http_get(port_, "/main/after").status, 200);
}

TEST_F(ServerTest, OversizedHeaderGets431) {
  HttpClient client(port_);
  client.send_raw("GET /main HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
  EXPECT_EQ(client.read_response().status, 431);
  EXPECT_EQ(main_->calls, 0);
}

TEST_F(ServerTest, OversizedBodyGets413BeforeTheGuest) {
  // api allows 1 KiB. Declared length: refused before the body is sent in full.
  {
    HttpClient client(port_);
    client.send_raw("POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
                    std::string(2000, 'b'));
    auto r = client.read_response();
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(nlohmann::json::parse(r.body)["status"], 413);
    EXPECT_FALSE(r.raw.keep_alive());
  }
  // Chunked: refused once the chunks exceed the limit.
  {
    HttpClient client(port_);
    std::string chunk(800, 'c');
    client.send_raw("POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" +
                    chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n");
    EXPECT_EQ(client.read_response().status, 413);
  }
  EXPECT_EQ(api_->calls, 0);
  // At the limit is fine, and the other worker's limit (1 MiB) is its own.
  HttpClient client(port_);
  EXPECT_EQ(client.request("POST", "/api/x", std::string(1024, 'd')).status, 200);
  EXPECT_EQ(client.request("POST", "/main/x", std::string(100000, 'd')).status, 200);
  EXPECT_EQ(api_->calls, 1);
}

TEST_F(ServerTest, ExpectContinueIsHonoured) {
  HttpClient client(port_);
  client.send_raw(
      "POST /main/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  std::string interim(25, '\0');
  boost::asio::read(client.socket(), boost::asio::buffer(interim));
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  client.send_raw("hello");
  EXPECT_EQ(client.read_response().body, "main POST /main/x hello");
}

TEST_F(ServerTest, GuestFailuresAreAnsweredLoggedAndCounted) {
  auto p = http_get(port_, "/main/panic", {{"X-Request-Id", "req-panic-1"}});
  EXPECT_EQ(p.status, 500);
  EXPECT_EQ(nlohmann::json::parse(p.body)["request_id"], "req-panic-1");
  EXPECT_EQ(http_get(port_, "/main/abort").status, 500);
  EXPECT_EQ(http_get(port_, "/api/cpu").status, 503);
  EXPECT_EQ(http_get(port_, "/main").status, 200);

  std::istringstream log(read_file(failure_log_));
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(log, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["request_id"], "req-panic-1");
  EXPECT_EQ(lines[0]["outcome"], "panic");
  EXPECT_EQ(lines[0]["worker"], "main");
  EXPECT_EQ(lines[0]["instance_id"], 1);
  EXPECT_EQ(lines[0]["generation"], 2);
  EXPECT_EQ(lines[0]["backtrace"][0]["name"], "guest_fn");
  EXPECT_EQ(lines[1]["outcome"], "abort");
  EXPECT_EQ(lines[1]["trap_kind"], "unreachable");
  EXPECT_EQ(lines[1]["recovery_action"], "reset");
  EXPECT_EQ(lines[2]["trap_kind"], "cpu_limit");
  EXPECT_EQ(lines[2]["worker"], "api");

  std::string metrics = http_get(admin_port_, "/metrics").body;
  EXPECT_NE(metrics.find("rewind_panics_total{worker=\"main\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("rewind_aborts_total{worker=\"main\",kind=\"unreachable\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("rewind_aborts_total{worker=\"api\",kind=\"cpu_limit\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("rewind_recoveries_total{worker=\"main\",action=\"reset\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("rewind_recoveries_total{worker=\"api\",action=\"rollback\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("rewind_requests_total{worker=\"main\",status=\"500\"} 2\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("rewind_requests_total{worker=\"main\",status=\"200\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("rewind_request_duration_seconds_count{worker=\"main\"} 3\n"),
            std::string::npos);
}

TEST_F(ServerTest, WorkerExceptionsAndBadResponsesBecomeCleanErrors) {
  auto t = http_get(port_, "/main/throw");
  EXPECT_EQ(t.status, 500);
  EXPECT_NE(t.body.find("fake worker exploded"), std::string::npos);
  EXPECT_EQ(http_get(port_, "/main/bad-status").status, 502);
  auto e = http_get(port_, "/main/evil-header");
  EXPECT_EQ(e.status, 200);
  EXPECT_EQ(e.header("x-ok"), "yes");
  EXPECT_EQ(e.header("x-bad"), "");
  EXPECT_EQ(e.header("injected"), "");
  EXPECT_EQ(e.body, "evil");
}

TEST_F(ServerTest, AdminListener) {
  auto h = http_get(admin_port_, "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");
  auto m = http_get(admin_port_, "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.header("content-type").rfind("text/plain; version=0.0.4", 0), 0u);
  EXPECT_NE(m.body.find("# TYPE rewind_request_duration_seconds histogram"), std::string::npos);
  EXPECT_NE(m.body.find("rewind_requests_in_flight{worker=\"main\"} 0\n"), std::string::npos);
  EXPECT_EQ(http_get(admin_port_, "/main").status, 404);
  // Workers are not reachable through the admin port, nor the admin pages through the main one.
  EXPECT_EQ(main_->calls, 0);
  EXPECT_EQ(http_get(port_, "/metrics").status, 404);
}

TEST_F(ServerTest, AccessLogHasOneLinePerRequest) {
  http_get(port_, "/main/a");
  http_get(port_, "/nowhere");
  std::istringstream log(read_file(access_log_));
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(log, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["target"], "/main/a");
  EXPECT_EQ(lines[0]["status"], 200);
  EXPECT_EQ(lines[0]["worker"], "main");
  EXPECT_EQ(lines[1]["status"], 404);
}

TEST_F(ServerTest, ConcurrentRequestsWhileOthersFail) {
  constexpr int kClients = 8, kPerClient = 50;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      HttpClient client(port_);
      for (int i = 0; i < kPerClient; ++i) {
        bool fail = (i + c) % 5 == 0;
        auto r = client.request("GET", fail ? "/main/panic" : "/api/ok");
        if (r.status != (fail ? 500 : 200)) wrong.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(api_->calls + main_->calls, kClients * kPerClient);
}

TEST_F(ServerTest, SlowGuestsDoNotStallOtherConnections) {
  main_->hold_slow();  // the slow call ends only when released below
  auto slow = std::async(std::launch::async, [&] { return http_get(port_, "/main/slow"); });
  while (main_->in_flight.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(http_get(port_, "/api/fast").status, 200);
  EXPECT_EQ(main_->in_flight.load(), 1) << "the fast requests waited for the slow call";
  main_->release_slow();
  EXPECT_EQ(slow.get().status, 200);
}

TEST_F(ServerTest, ASlowWorkerDoesNotDelayAnother) {
  main_->hold_slow();
  std::vector<std::future<testing::HttpResponse>> slow;
  for (int i = 0; i < 4; ++i)
    slow.push_back(std::async(std::launch::async, [&] { return http_get(port_, "/main/slow"); }));
  // Two calls run (the worker's two slots), two wait in its queue.
  const std::string four_in_flight = "rewind_requests_in_flight{worker=\"main\"} 4\n";
  for (int i = 0;
       i < 2000 && http_get(admin_port_, "/metrics").body.find(four_in_flight) == std::string::npos;
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_NE(http_get(admin_port_, "/metrics").body.find(four_in_flight), std::string::npos);
  EXPECT_EQ(main_->in_flight.load(), 2);
  EXPECT_EQ(http_get(port_, "/api/fast").status, 200);
  EXPECT_EQ(main_->in_flight.load(), 2) << "the other worker's request waited for the slow calls";
  main_->release_slow();
  for (auto& f : slow) EXPECT_EQ(f.get().status, 200);
}

// A server on a loopback port, no admin listener, one worker "w" routed at "/".
ServerConfig one_worker_config() {
  ServerConfig config;
  config.listen = {"127.0.0.1", 0};
  config.admin_enabled = false;
  config.workers.resize(1);
  config.workers[0].name = "w";
  config.routes = {{"/", "", "w"}};
  return config;
}

TEST(ServerOverload, OverloadedWorkerAnswers503) {
  auto worker = std::make_shared<FakeWorker>("w");
  worker->mutable_config().instances = 1;
  worker->mutable_config().limits.max_queued_requests = 1;
  ServerConfig config = one_worker_config();
  auto server = Server::create(config, {worker});
  ASSERT_TRUE(server.ok()) << server.error().message;
  server.value()->start();
  uint16_t port = server.value()->port();
  // One runs, one waits; the third finds the queue full.
  std::vector<std::future<testing::HttpResponse>> calls;
  for (int i = 0; i < 3; ++i)
    calls.push_back(std::async(std::launch::async, [&] { return http_get(port, "/slow"); }));
  int ok = 0, overloaded = 0;
  for (auto& f : calls) {
    auto r = f.get();
    if (r.status == 200) ++ok;
    if (r.status == 503) {
      ++overloaded;
      EXPECT_NE(r.body.find("overloaded"), std::string::npos);
    }
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(overloaded, 1);
  EXPECT_EQ(worker->calls.load(), 2);
  // Capacity comes back once the queue drains.
  EXPECT_EQ(http_get(port, "/x").status, 200);
  server.value()->stop();
}

// Idle connections, and clients that stop half-way through a request, are closed after
// idle_timeout; a guest call longer than that is not a timeout.
TEST(ServerTimeouts, IdleAndStalledConnectionsAreClosed) {
  auto worker = std::make_shared<FakeWorker>("w");
  ServerConfig config = one_worker_config();
  config.idle_timeout = std::chrono::seconds(1);
  auto server = Server::create(config, {worker});
  ASSERT_TRUE(server.ok()) << server.error().message;
  server.value()->start();
  uint16_t port = server.value()->port();

  HttpClient silent(port), partial(port), kept(port), slow(port);
  partial.send_raw("GET / HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(kept.request("GET", "/").status, 200);
  EXPECT_EQ(slow.request("GET", "/slow").body, "slow done");  // the call takes kSlow (1 s)
  for (HttpClient* client : {&silent, &partial, &kept, &slow}) {
    // A server that never closes fails the test instead of hanging it.
    timeval patience{20, 0};
    setsockopt(client->socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &patience,
               sizeof patience);
    EXPECT_TRUE(client->closed_by_peer());
  }
  EXPECT_EQ(worker->calls.load(), 2);
  EXPECT_EQ(http_get(port, "/").status, 200);
  server.value()->stop();
}

TEST_F(ServerTest, GracefulShutdownFinishesInFlightRequests) {
  HttpClient idle(port_);
  EXPECT_EQ(idle.request("GET", "/main").status, 200);
  auto slow = std::async(std::launch::async, [&] { return http_get(port_, "/main/slow"); });
  while (main_->in_flight.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto start = std::chrono::steady_clock::now();
  server_->stop();
  auto r = slow.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "slow done");
  EXPECT_FALSE(r.raw.keep_alive());
  EXPECT_TRUE(main_->drained.load());
  EXPECT_TRUE(api_->drained.load());
  // Stopped when the last call ended, not when the grace period (shutdown_timeout) ran out.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // The idle keep-alive connection was closed, and nobody is listening any more.
  EXPECT_TRUE(idle.closed_by_peer());
  EXPECT_THROW(HttpClient client(port_), boost::system::system_error);
  server_->stop();  // idempotent
}

TEST(ServerCreate, RejectsBadSetups) {
  ServerConfig config = one_worker_config();
  EXPECT_FALSE(Server::create(config, {}).ok());
  auto worker = std::make_shared<FakeWorker>("w");
  auto bad_address = config;
  bad_address.listen = {"not-an-ip", 0};
  auto r = Server::create(bad_address, {worker});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not-an-ip"), std::string::npos);
  auto first = Server::create(config, {worker});
  ASSERT_TRUE(first.ok());
  auto taken = config;
  taken.listen.port = first.value()->port();
  auto second = Server::create(taken, {worker});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("cannot listen"), std::string::npos);
  auto bad_log = config;
  bad_log.failure_log = "/nonexistent-dir/f.log";
  EXPECT_FALSE(Server::create(bad_log, {worker}).ok());
}

}  // namespace
}  // namespace rw::server
