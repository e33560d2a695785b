// Every chaos endpoint: the right outcome, trap kind, status and JSON body, and the next request
// on the same worker (one instance, so the same slot) succeeds. Both exception encodings.

#include <gtest/gtest.h>

#include <thread>

#include "test_util.h"

namespace rw::runtime::test {
namespace {

struct ChaosCase {
  std::string target;
  Outcome outcome;
  std::optional<TrapKind> trap;
  int status;
  std::string error;    // "error" field of the JSON body
  std::string message;  // expected substring of the message
};

std::vector<ChaosCase> chaos_cases() {
  return {
      {"/panic", Outcome::Panic, std::nullopt, 500, "panic", "chaos: deliberate panic"},
      {"/unreachable", Outcome::Abort, TrapKind::Unreachable, 500, "abort", "unreachable"},
      {"/oom", Outcome::Abort, TrapKind::OutOfMemory, 500, "abort", ""},
      {"/recurse", Outcome::Abort, TrapKind::StackOverflow, 500, "abort", ""},
      {"/loop", Outcome::Abort, TrapKind::CpuLimit, 503, "abort", "cpu time limit"},
      {"/host-fail", Outcome::HostError, std::nullopt, 500, "host_error",
       "chaos: host function failed"},
      {"/abort", Outcome::Abort, TrapKind::GuestAbort, 500, "abort", "chaos: guest abort"},
      {"/terminate", Outcome::Abort, TrapKind::GuestAbort, 500, "abort", "thrown inside noexcept"},
      {"/divide?by=0", Outcome::Abort, TrapKind::IntegerDivideByZero, 500, "abort", ""},
      {"/bad-pointer", Outcome::Abort, TrapKind::HostAbort, 500, "abort",
       "rewind.request_target: range [0xffffff00, 0x100000f00) is outside linear memory"},
      {"/exit", Outcome::Abort, TrapKind::GuestAbort, 500, "abort", "proc_exit(3)"},
  };
}

class Chaos : public ::testing::TestWithParam<std::string> {};

TEST_P(Chaos, EveryEndpointFailsAsExpectedAndTheNextRequestSucceeds) {
  std::string path = example(GetParam());
  REQUIRE_MODULE(path);
  for (AbortMode mode : {AbortMode::Reset, AbortMode::Rollback}) {
    WorkerConfig c = config_for(path);
    c.on_abort = mode;
    auto w = make_worker(c);
    ASSERT_TRUE(w);
    for (const ChaosCase& k : chaos_cases()) {
      SCOPED_TRACE(k.target + (mode == AbortMode::Reset ? " (reset)" : " (rollback)"));
      HandleResult r = w->handle(get(k.target, "id" + k.target));
      EXPECT_EQ(r.response.status, k.status);
      ASSERT_TRUE(r.failure);
      EXPECT_EQ(r.failure->outcome, k.outcome);
      EXPECT_EQ(r.failure->trap, k.trap)
          << (r.failure->trap ? to_string(*r.failure->trap) : "none") << ": " << r.failure->message;
      EXPECT_NE(r.failure->message.find(k.message), std::string::npos) << r.failure->message;
      EXPECT_EQ(r.failure->request_id, "id" + k.target);
      EXPECT_EQ(r.failure->worker, "test");
      auto j = body_json(r);
      EXPECT_EQ(j["error"], k.error);
      EXPECT_EQ(j["request_id"], "id" + k.target);
      EXPECT_EQ(j["message"], r.failure->message);
      if (k.trap) {
        EXPECT_EQ(j["kind"], to_string(*k.trap));
      } else {
        EXPECT_FALSE(j.contains("kind"));
      }
      EXPECT_EQ(header(r.response, "content-type"), "application/json");
      if (k.outcome == Outcome::Abort) {
        EXPECT_EQ(r.failure->action,
                  mode == AbortMode::Reset || k.target == "/exit" ? "reset" : "rollback");
      } else {
        EXPECT_EQ(r.failure->action, "none");
      }

      HandleResult next = w->handle(get("/"));
      EXPECT_EQ(next.response.status, 200) << next.response.body;
      EXPECT_FALSE(next.failure);
      EXPECT_EQ(body_json(next)["ok"], true);
    }
    WorkerStats s = w->stats();
    EXPECT_EQ(s.panics, 1u);
    EXPECT_EQ(s.host_errors, 1u);
    EXPECT_EQ(s.aborts, chaos_cases().size() - 2);
  }
}

INSTANTIATE_TEST_SUITE_P(BothEncodings, Chaos, ::testing::Values("chaos", "chaos.legacy"),
                         [](const auto& info) {
                           return info.param == "chaos" ? std::string("exnref")
                                                        : std::string("legacy");
                         });

TEST(ChaosBacktrace, AbortsCarryFunctionNames) {
  REQUIRE_MODULE(example("chaos"));
  auto w = make_worker(config_for(example("chaos")));
  ASSERT_TRUE(w);
  HandleResult r = w->handle(get("/recurse"));
  ASSERT_TRUE(r.failure);
  ASSERT_FALSE(r.failure->backtrace.empty());
  bool named = false;
  for (const auto& f : r.failure->backtrace)
    if (f.name.find("deep") != std::string::npos) named = true;
  EXPECT_TRUE(named) << r.failure->backtrace[0].name;
  std::string line = to_json(*r.failure);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["outcome"], "abort");
  EXPECT_EQ(j["trap_kind"], "stack_overflow");
  EXPECT_EQ(j["recovery_action"], "reset");
  EXPECT_TRUE(j["backtrace"].is_array());
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(ChaosLogging, StdoutStderrAndLogBecomeRecords) {
  REQUIRE_MODULE(example("chaos"));
  auto w = make_worker(config_for(example("chaos")));
  ASSERT_TRUE(w);
  std::vector<LogRecord> logs;
  w->on_log = [&](const LogRecord& r) { logs.push_back(r); };
  HandleResult r = w->handle(get("/log", "log-1"));
  EXPECT_EQ(r.response.status, 200);
  ASSERT_EQ(logs.size(), 3u);
  EXPECT_EQ(logs[0].stream, "stdout");
  EXPECT_EQ(logs[0].level, "info");
  EXPECT_EQ(logs[0].message, "chaos: to stdout");
  EXPECT_EQ(logs[1].stream, "stderr");
  EXPECT_EQ(logs[1].message, "chaos: to stderr");
  EXPECT_EQ(logs[2].stream, "log");
  EXPECT_EQ(logs[2].level, "warn");
  EXPECT_EQ(logs[2].message, "chaos: to the log");
  for (const auto& l : logs) {
    EXPECT_EQ(l.request_id, "log-1");
    EXPECT_EQ(l.worker, "test");
    EXPECT_EQ(l.instance_id, 1u);
  }
}

TEST(ChaosLogging, HostErrorRunsGuestCleanups) {
  REQUIRE_MODULE(example("chaos"));
  auto w = make_worker(config_for(example("chaos")));
  ASSERT_TRUE(w);
  std::vector<std::string> messages;
  w->on_log = [&](const LogRecord& r) { messages.push_back(r.message); };
  HandleResult r = w->handle(get("/host-fail"));
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->outcome, Outcome::HostError);
  EXPECT_EQ(messages, std::vector<std::string>{"chaos: cleanup ran"});
}

// Requests from several threads on a pool of instances while chaos endpoints fail: every request
// to a working endpoint succeeds, because recovery completes before an instance is reused.
TEST(ChaosConcurrency, NoWorkingRequestFailsWhileOthersCrash) {
  REQUIRE_MODULE(example("chaos"));
  WorkerConfig c = config_for(example("chaos"), 3);
  c.limits.cpu_per_request = std::chrono::milliseconds(100);
  auto w = make_worker(c);
  ASSERT_TRUE(w);
  const std::vector<std::string> failing = {"/panic",     "/unreachable", "/abort",
                                            "/host-fail", "/recurse",     "/bad-pointer",
                                            "/terminate", "/exit",        "/loop"};
  constexpr int kThreads = 6, kPerThread = 40;
  std::atomic<int> good_failures{0}, bad_ok{0}, good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        bool fail = (i + t) % 3 == 0;
        std::string target = fail ? failing[(i + t) % failing.size()] : "/";
        HandleResult r = w->handle(get(target, std::to_string(t) + "-" + std::to_string(i)));
        if (fail) {
          if (r.response.status < 500 || !r.failure) bad_ok++;
        } else if (r.response.status == 200 && !r.failure) {
          good++;
        } else {
          good_failures++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good_failures.load(), 0);
  EXPECT_EQ(bad_ok.load(), 0);
  EXPECT_GT(good.load(), 0);
  WorkerStats s = w->stats();
  EXPECT_EQ(s.requests, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(s.ok, static_cast<uint64_t>(good.load()));
}

}  // namespace
}  // namespace rw::runtime::test
