// The server with real workers (the runtime's Worker::create and the example guests built into
// the build tree), through real HTTP on loopback. Skipped when either is missing.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "http_client.h"
#include "rewind/runtime.h"
#include "server/server.h"

namespace rw::server {
namespace {

using testing::http_get;
using testing::HttpClient;

std::string example(const std::string& name) {
  return std::string(REWIND_BINARY_DIR) + "/examples/" + name;
}

#ifdef REWIND_HAVE_WORKER_RUNTIME
constexpr bool kHaveRuntime = true;
Result<std::shared_ptr<runtime::Worker>> make_worker(const runtime::WorkerConfig& c) {
  return runtime::Worker::create(c);
}
#else
constexpr bool kHaveRuntime = false;
Result<std::shared_ptr<runtime::Worker>> make_worker(const runtime::WorkerConfig&) {
  return Error{};
}
#endif

struct Running {
  std::unique_ptr<Server> server;
  std::string failure_log;
  uint16_t port() const { return server->port(); }
  uint16_t admin() const { return server->admin_port(); }
  std::vector<nlohmann::json> failures() const {
    std::ifstream in(failure_log);
    std::vector<nlohmann::json> out;
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
};

std::string sanitized(std::string name) {
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

// Starts a server with one worker on "/"; skips the test when the runtime or module is absent.
std::optional<Running> serve(runtime::WorkerConfig worker_config) {
  if (!kHaveRuntime || !std::filesystem::exists(worker_config.module_path)) return std::nullopt;
  auto worker = make_worker(worker_config);
  EXPECT_TRUE(worker.ok()) << worker.error().to_string();
  if (!worker) return std::nullopt;
  ServerConfig config;
  config.listen = {"127.0.0.1", 0};
  config.admin_listen = {"127.0.0.1", 0};
  config.threads = 2;
  config.workers = {worker_config};
  config.routes = {{"/", "", worker_config.name}};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  config.failure_log = ::testing::TempDir() + "/rewind_real_" + sanitized(info->name()) + "_" +
                       std::to_string(::getpid()) + ".log";
  std::remove(config.failure_log.c_str());
  auto server = Server::create(config, {worker.value()});
  EXPECT_TRUE(server.ok()) << server.error().message;
  if (!server) return std::nullopt;
  server.value()->start();
  return Running{std::move(server.value()), config.failure_log};
}

#define SERVE_OR_SKIP(var, config) \
  auto var = serve(config);        \
  if (!var) GTEST_SKIP() << "worker runtime or " << (config).module_path << " not built"

int count_of(const testing::HttpResponse& r) {
  return nlohmann::json::parse(r.body)["count"].get<int>();
}

runtime::WorkerConfig counter(runtime::PanicMode on_panic, runtime::AbortMode on_abort) {
  runtime::WorkerConfig c;
  c.name = "counter";
  c.module_path = example("counter.wasm");
  c.instances = 1;  // one instance: one count to follow
  c.on_panic = on_panic;
  c.on_abort = on_abort;
  c.max_consecutive_failures = 100;
  return c;
}

TEST(RealWorker, CounterKeepsItsStateAcrossPanics) {
  SERVE_OR_SKIP(s, counter(runtime::PanicMode::Keep, runtime::AbortMode::Reset));
  HttpClient client(s->port());
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(count_of(client.request("GET", "/")), i);
  auto panic = client.request("GET", "/panic", "", {{"X-Request-Id", "counter-panic"}});
  EXPECT_EQ(panic.status, 500);
  auto body = nlohmann::json::parse(panic.body);
  EXPECT_EQ(body["request_id"], "counter-panic");
  // Keep mode: the panicking request's own increment stays; nothing else is lost.
  EXPECT_EQ(count_of(client.request("GET", "/value")), 4);
  EXPECT_EQ(count_of(client.request("GET", "/")), 5);
  // Reset mode: an abort returns to the post-initialisation snapshot.
  EXPECT_EQ(client.request("GET", "/abort").status, 500);
  EXPECT_EQ(count_of(client.request("GET", "/value")), 0);
  auto failures = s->failures();
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0]["request_id"], "counter-panic");
  EXPECT_EQ(failures[0]["outcome"], "panic");
  EXPECT_EQ(failures[0]["recovery_action"], "none");
  EXPECT_EQ(failures[1]["outcome"], "abort");
  EXPECT_EQ(failures[1]["trap_kind"], "unreachable");
  EXPECT_EQ(failures[1]["recovery_action"], "reset");
}

TEST(RealWorker, CounterRollsBackPanicsAndAborts) {
  SERVE_OR_SKIP(s, counter(runtime::PanicMode::Rollback, runtime::AbortMode::Rollback));
  HttpClient client(s->port());
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(count_of(client.request("GET", "/")), i);
  EXPECT_EQ(client.request("GET", "/panic").status, 500);
  EXPECT_EQ(count_of(client.request("GET", "/value")), 3);
  EXPECT_EQ(client.request("GET", "/abort").status, 500);
  EXPECT_EQ(count_of(client.request("GET", "/value")), 3);
  EXPECT_EQ(count_of(client.request("GET", "/")), 4);
  auto failures = s->failures();
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0]["recovery_action"], "rollback");
  EXPECT_EQ(failures[1]["recovery_action"], "rollback");
  std::string metrics = http_get(s->admin(), "/metrics").body;
  EXPECT_NE(metrics.find("rewind_recoveries_total{worker=\"counter\",action=\"rollback\"} 2\n"),
            std::string::npos)
      << metrics;
}

TEST(RealWorker, RollbackKeepsEveryOtherRequestsEffectUnderConcurrentFailures) {
  // One instance, so every request queues behind the failing ones; rollback mode, so panics
  // and aborts undo only their own increment.
  auto config = counter(runtime::PanicMode::Rollback, runtime::AbortMode::Rollback);
  config.max_consecutive_failures = 1000;
  SERVE_OR_SKIP(s, config);
  constexpr int kClients = 3, kPerClient = 60, kFailures = 30;
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      HttpClient client(s->port());
      for (int i = 0; i < kPerClient; ++i)
        if (client.request("GET", "/").status != 200) wrong.fetch_add(1);
    });
  }
  HttpClient failing(s->port());
  for (int i = 0; i < kFailures; ++i)
    EXPECT_EQ(failing.request("GET", i % 2 ? "/panic" : "/abort").status, 500);
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(count_of(failing.request("GET", "/value")), kClients * kPerClient);
  EXPECT_EQ(s->failures().size(), static_cast<size_t>(kFailures));
}

struct ChaosSetup {
  const char* module;
  runtime::PanicMode on_panic;
  runtime::AbortMode on_abort;
};
class Chaos : public ::testing::TestWithParam<ChaosSetup> {};

TEST_P(Chaos, FailuresOfEveryKindNeverFailOtherRequests) {
  runtime::WorkerConfig c;
  c.name = "chaos";
  c.module_path = example(GetParam().module);
  c.on_panic = GetParam().on_panic;
  c.on_abort = GetParam().on_abort;
  c.instances = 2;
  c.limits.cpu_per_request = std::chrono::milliseconds(100);
  c.limits.max_memory_pages = 64 * 16;
  SERVE_OR_SKIP(s, c);

  std::atomic<bool> done{false};
  std::atomic<int> ok{0}, wrong{0};
  std::vector<std::thread> bystanders;
  for (int t = 0; t < 3; ++t) {
    bystanders.emplace_back([&] {
      HttpClient client(s->port());
      while (!done.load()) {
        auto r = client.request("GET", "/");
        if (r.status == 200 && r.body.find("\"ok\":true") != std::string::npos)
          ok.fetch_add(1);
        else
          wrong.fetch_add(1);
      }
    });
  }
  const std::vector<std::pair<std::string, int>> failing = {
      {"/panic", 500},       {"/unreachable", 500}, {"/oom", 500},   {"/recurse", 500},
      {"/loop", 503},        {"/host-fail", 500},   {"/abort", 500}, {"/terminate", 500},
      {"/divide?by=0", 500}, {"/bad-pointer", 500}, {"/exit", 500}};
  HttpClient chaos(s->port());
  for (int round = 0; round < 2; ++round) {
    for (const auto& [path, status] : failing) {
      auto r = chaos.request(
          "GET", path, "",
          {{"X-Request-Id", "chaos" + std::to_string(round) + path.substr(0, path.find('?'))}});
      EXPECT_EQ(r.status, status) << path << ": " << r.body;
      auto body = nlohmann::json::parse(r.body, nullptr, false);
      EXPECT_FALSE(body.is_discarded()) << path << ": " << r.body;
      if (!body.is_discarded()) EXPECT_EQ(body["request_id"], r.header("x-request-id")) << path;
    }
  }
  done.store(true);
  for (auto& t : bystanders) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(ok.load(), 0);

  auto failures = s->failures();
  EXPECT_EQ(failures.size(), 2 * failing.size());
  std::map<std::string, std::string> kinds;
  for (const auto& f : failures) {
    EXPECT_EQ(f["worker"], "chaos");
    EXPECT_TRUE(f.contains("backtrace") && f.contains("generation") && f.contains("instance_id"));
    kinds[f["request_id"].get<std::string>()] = f["trap_kind"].is_null()
                                                    ? f["outcome"].get<std::string>()
                                                    : f["trap_kind"].get<std::string>();
  }
  EXPECT_EQ(kinds["chaos0/panic"], "panic");
  EXPECT_EQ(kinds["chaos0/unreachable"], "unreachable");
  EXPECT_EQ(kinds["chaos0/oom"], "out_of_memory");
  EXPECT_EQ(kinds["chaos0/recurse"], "stack_overflow");
  EXPECT_EQ(kinds["chaos0/loop"], "cpu_limit");
  EXPECT_EQ(kinds["chaos0/host-fail"], "host_error");
  EXPECT_EQ(kinds["chaos0/abort"], "guest_abort");
  EXPECT_EQ(kinds["chaos0/divide"], "integer_divide_by_zero");
  EXPECT_EQ(kinds["chaos0/bad-pointer"], "host_abort");

  std::string metrics = http_get(s->admin(), "/metrics").body;
  EXPECT_NE(metrics.find("rewind_panics_total{worker=\"chaos\"} 2\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("rewind_aborts_total{worker=\"chaos\",kind=\"cpu_limit\"} 2\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("rewind_aborts_total{worker=\"chaos\",kind=\"stack_overflow\"} 2\n"),
            std::string::npos);
}

TEST(RealWorker, ShutdownDrainsTheWorker) {
  runtime::WorkerConfig c;
  c.name = "hello";
  c.module_path = example("hello-worker.wasm");
  c.instances = 1;
  SERVE_OR_SKIP(s, c);
  auto r = http_get(s->port(), "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.body.empty());
  s->server->stop();
  EXPECT_THROW(HttpClient client(s->port()), boost::system::system_error);
}

INSTANTIATE_TEST_SUITE_P(RealWorker, Chaos,
                         ::testing::Values(ChaosSetup{"chaos.wasm", runtime::PanicMode::Keep,
                                                      runtime::AbortMode::Reset},
                                           ChaosSetup{"chaos.wasm", runtime::PanicMode::Rollback,
                                                      runtime::AbortMode::Rollback},
                                           ChaosSetup{"chaos.legacy.wasm", runtime::PanicMode::Keep,
                                                      runtime::AbortMode::Reset}));

}  // namespace
}  // namespace rw::server
