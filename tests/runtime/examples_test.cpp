// The example workers through Worker::handle: hello, counter (with every recovery mode), json-api.

#include <gtest/gtest.h>

#include "test_util.h"

namespace rw::runtime::test {
namespace {

TEST(HelloWorker, GreetsWithMethodAndTarget) {
  REQUIRE_MODULE(example("hello-worker"));
  auto w = make_worker(config_for(example("hello-worker")));
  ASSERT_TRUE(w);
  HandleResult r = w->handle(get("/some/path?x=1"));
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(r.response.body, "Hello from rewind! You sent GET /some/path?x=1\n");
  EXPECT_EQ(header(r.response, "content-type"), "text/plain; charset=utf-8");
  EXPECT_GT(r.duration.count(), 0);
}

TEST(HelloWorker, LongTargetIsCutNotOverflowed) {
  REQUIRE_MODULE(example("hello-worker"));
  auto w = make_worker(config_for(example("hello-worker")));
  ASSERT_TRUE(w);
  std::string target = "/" + std::string(2000, 'a');
  HandleResult r = w->handle(get(target));
  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(r.response.body, "Hello from rewind! You sent GET " + target.substr(0, 512) + "\n");
}

TEST(HelloRustWorker, GreetsAndReportsPanicsWithTheirMessage) {
  REQUIRE_MODULE(example("hello_rust"));
  auto w = make_worker(config_for(example("hello_rust")));
  ASSERT_TRUE(w);
  HandleResult r = w->handle(get("/x"));
  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(r.response.body, "Hello from Rust on rewind! You asked for /x\n");
  // panic=abort: the hook's message arrives through rewind.panic_message, then `unreachable`.
  r = w->handle(get("/panic"));
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->outcome, Outcome::Abort);
  EXPECT_EQ(r.failure->trap, TrapKind::GuestAbort);
  EXPECT_NE(r.failure->message.find("hello from a Rust panic"), std::string::npos)
      << r.failure->message;
  EXPECT_EQ(r.failure->action, "reset");
  EXPECT_EQ(w->handle(get("/y")).response.status, 200);
}

int count_of(const HandleResult& r) {
  auto j = body_json(r);
  if (!j.is_object() || !j.contains("count")) return -1;
  return j["count"].get<int>();
}

TEST(Counter, CountsAcrossRequests) {
  REQUIRE_MODULE(example("counter"));
  auto w = make_worker(config_for(example("counter")));
  ASSERT_TRUE(w);
  EXPECT_EQ(count_of(w->handle(get("/"))), 1);
  EXPECT_EQ(count_of(w->handle(get("/"))), 2);
  EXPECT_EQ(count_of(w->handle(get("/"))), 3);
  EXPECT_EQ(count_of(w->handle(get("/value"))), 3);
  WorkerStats s = w->stats();
  EXPECT_EQ(s.requests, 4u);
  EXPECT_EQ(s.ok, 4u);
  EXPECT_EQ(s.recoveries, 0u);
}

TEST(Counter, KeepModeKeepsStateAcrossPanics) {
  REQUIRE_MODULE(example("counter"));
  auto w = make_worker(config_for(example("counter")));
  ASSERT_TRUE(w);
  EXPECT_EQ(count_of(w->handle(get("/"))), 1);
  HandleResult r = w->handle(get("/panic", "p-1"));
  EXPECT_EQ(r.response.status, 500);
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->outcome, Outcome::Panic);
  EXPECT_EQ(r.failure->message, "counter panicked at 2");
  EXPECT_EQ(r.failure->action, "none");
  EXPECT_EQ(r.failure->request_id, "p-1");
  auto j = body_json(r);
  EXPECT_EQ(j["error"], "panic");
  EXPECT_EQ(j["request_id"], "p-1");
  EXPECT_EQ(j["message"], "counter panicked at 2");
  // The panic's increment stays: the instance lived on.
  EXPECT_EQ(count_of(w->handle(get("/value"))), 2);
  EXPECT_EQ(count_of(w->handle(get("/"))), 3);
  EXPECT_EQ(w->stats().panics, 1u);
}

TEST(Counter, ManyPanicsDoNotLeakShadowStackOrHeap) {
  REQUIRE_MODULE(example("counter"));
  auto w = make_worker(config_for(example("counter")));
  ASSERT_TRUE(w);
  // Each escaping exception would leave its frames' shadow stack (64 KiB in all) and its heap
  // object behind if the host did not restore the stack pointer and release the exception.
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(w->handle(get("/panic")).response.status, 500);
  EXPECT_EQ(count_of(w->handle(get("/value"))), 3000);
}

TEST(Counter, ResetModeStartsAgainAfterAnAbort) {
  REQUIRE_MODULE(example("counter"));
  WorkerConfig c = config_for(example("counter"));
  c.on_abort = AbortMode::Reset;
  auto w = make_worker(c);
  ASSERT_TRUE(w);
  std::vector<LogRecord> logs;
  w->on_log = [&](const LogRecord& r) { logs.push_back(r); };
  std::vector<FailureRecord> hooked;
  w->on_failure = [&](const FailureRecord& f) { hooked.push_back(f); };
  w->handle(get("/"));
  w->handle(get("/"));
  HandleResult r = w->handle(get("/abort", "a-1"));
  EXPECT_EQ(r.response.status, 500);
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->outcome, Outcome::Abort);
  EXPECT_EQ(r.failure->trap, TrapKind::Unreachable);
  EXPECT_EQ(r.failure->action, "reset");
  EXPECT_EQ(r.failure->generation, 0u);
  EXPECT_EQ(r.failure->instance_id, 1u);
  EXPECT_GT(r.failure->recovery_time.count(), 0);
  EXPECT_FALSE(r.failure->backtrace.empty());
  auto j = body_json(r);
  EXPECT_EQ(j["error"], "abort");
  EXPECT_EQ(j["kind"], "unreachable");
  ASSERT_EQ(hooked.size(), 1u);
  EXPECT_EQ(hooked[0].request_id, "a-1");

  // The reinit export ran in the fresh instance and saw the record.
  bool reinit_logged = false;
  for (const LogRecord& l : logs)
    if (l.message.find("counter reset after a failure") != std::string::npos &&
        l.message.find("\"request_id\":\"a-1\"") != std::string::npos)
      reinit_logged = true;
  EXPECT_TRUE(reinit_logged);

  EXPECT_EQ(count_of(w->handle(get("/value"))), 0);
  HandleResult again = w->handle(get("/abort"));
  ASSERT_TRUE(again.failure);
  EXPECT_EQ(again.failure->generation, 1u);  // bumped by the first reset
  EXPECT_EQ(w->stats().aborts, 2u);
  EXPECT_EQ(w->stats().aborts_by_kind.at("unreachable"), 2u);
  EXPECT_EQ(w->stats().recoveries, 2u);
}

TEST(Counter, RollbackModeKeepsStateFromBeforeTheFailingRequest) {
  REQUIRE_MODULE(example("counter"));
  WorkerConfig c = config_for(example("counter"));
  c.on_abort = AbortMode::Rollback;
  c.on_panic = PanicMode::Rollback;
  auto w = make_worker(c);
  ASSERT_TRUE(w);
  w->handle(get("/"));
  w->handle(get("/"));
  HandleResult r = w->handle(get("/abort"));
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->action, "rollback");
  EXPECT_EQ(count_of(w->handle(get("/value"))), 2);
  r = w->handle(get("/panic"));
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->outcome, Outcome::Panic);
  EXPECT_EQ(r.failure->action, "rollback");
  EXPECT_EQ(count_of(w->handle(get("/value"))), 2);
  EXPECT_EQ(count_of(w->handle(get("/"))), 3);
}

TEST(Counter, RollbackEscalatesToResetAfterConsecutiveFailures) {
  REQUIRE_MODULE(example("counter"));
  WorkerConfig c = config_for(example("counter"));
  c.on_abort = AbortMode::Rollback;
  c.max_consecutive_failures = 3;
  auto w = make_worker(c);
  ASSERT_TRUE(w);
  w->handle(get("/"));
  std::vector<std::string> actions;
  for (int i = 0; i < 4; ++i) actions.push_back(w->handle(get("/abort")).failure->action);
  EXPECT_EQ(actions, (std::vector<std::string>{"rollback", "rollback", "reset", "rollback"}));
  EXPECT_EQ(count_of(w->handle(get("/value"))), 0);
}

TEST(Counter, SuccessBetweenFailuresResetsTheEscalationCount) {
  REQUIRE_MODULE(example("counter"));
  WorkerConfig c = config_for(example("counter"));
  c.on_abort = AbortMode::Rollback;
  c.max_consecutive_failures = 2;
  auto w = make_worker(c);
  ASSERT_TRUE(w);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(w->handle(get("/abort")).failure->action, "rollback");
    EXPECT_EQ(count_of(w->handle(get("/"))), i + 1);
  }
}

TEST(Counter, KeepModePanicWithRollbackAbortMode) {
  REQUIRE_MODULE(example("counter"));
  WorkerConfig c = config_for(example("counter"));
  c.on_abort = AbortMode::Rollback;
  c.on_panic = PanicMode::Keep;
  auto w = make_worker(c);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->handle(get("/panic")).failure->action, "none");
  EXPECT_EQ(count_of(w->handle(get("/value"))), 1);
}

TEST(JsonApi, SumsNumbers) {
  REQUIRE_MODULE(example("json-api"));
  auto w = make_worker(config_for(example("json-api")));
  ASSERT_TRUE(w);
  HandleResult r = w->handle(request("POST", "/sum", R"({"numbers": [1, 2.5, 3, -0.5e1]})"));
  EXPECT_EQ(r.response.status, 200);
  auto j = body_json(r);
  EXPECT_EQ(j["count"], 4);
  EXPECT_DOUBLE_EQ(j["sum"].get<double>(), 1.5);
  r = w->handle(request("POST", "/sum", "[10, 20]"));
  EXPECT_EQ(body_json(r)["sum"], 30);
  r = w->handle(request("POST", "/sum", R"({"numbers": [1, "two"]})"));
  EXPECT_EQ(r.response.status, 422);
}

TEST(JsonApi, EchoesParsedValues) {
  REQUIRE_MODULE(example("json-api"));
  auto w = make_worker(config_for(example("json-api")));
  ASSERT_TRUE(w);
  std::string input = R"({"name":"r\u00e9wind \ud83d\ude00","tags":["a","b"],"n":null,"t":true,)"
                      R"("nested":{"x":[1,{"y":false}]},"esc":"q\"\\\n"})";
  HandleResult r = w->handle(request("POST", "/echo", input));
  ASSERT_EQ(r.response.status, 200) << r.response.body;
  auto j = body_json(r);
  EXPECT_EQ(j["echo"], nlohmann::json::parse(input));
}

TEST(JsonApi, BodyLargerThanOneChunkIsReadCompletely) {
  REQUIRE_MODULE(example("json-api"));
  auto w = make_worker(config_for(example("json-api")));
  ASSERT_TRUE(w);
  std::string numbers = "[";
  for (int i = 1; i <= 5000; ++i) numbers += (i > 1 ? "," : "") + std::to_string(i);
  numbers += "]";
  ASSERT_GT(numbers.size(), 20000u);
  HandleResult r = w->handle(request("POST", "/sum", numbers));
  EXPECT_EQ(body_json(r)["sum"], 5000 * 5001 / 2);
}

TEST(JsonApi, MalformedBodiesAre400NotPanics) {
  REQUIRE_MODULE(example("json-api"));
  auto w = make_worker(config_for(example("json-api")));
  ASSERT_TRUE(w);
  for (std::string bad :
       std::vector<std::string>{"", "{", "[1,]", "{\"a\" 1}", "tru", "\"\\x\"", "[1] 2",
                                std::string(100, '[') + std::string(100, ']')}) {
    HandleResult r = w->handle(request("POST", "/echo", bad));
    EXPECT_EQ(r.response.status, 400) << bad;
    EXPECT_FALSE(r.failure) << bad;
    auto j = body_json(r);
    EXPECT_TRUE(j.contains("offset")) << bad;
  }
  EXPECT_EQ(w->stats().panics, 0u);
  HandleResult r = w->handle(request("POST", "/echo", "{\"a\":1} x"));
  EXPECT_EQ(body_json(r)["offset"], 8);
}

TEST(JsonApi, MethodsPathsAndHeaders) {
  REQUIRE_MODULE(example("json-api"));
  auto w = make_worker(config_for(example("json-api")));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->handle(get("/sum")).response.status, 405);
  EXPECT_EQ(w->handle(get("/nope")).response.status, 404);
  EXPECT_EQ(w->handle(get("/")).response.status, 200);
  Request req = get("/headers");
  req.headers = {
      {"Host", "example.com"}, {"user-agent", "test/1.0"}, {"X-Long", std::string(300, 'v')}};
  HandleResult r = w->handle(req);
  ASSERT_EQ(r.response.status, 200);
  auto j = body_json(r);
  EXPECT_EQ(j["user-agent"], "test/1.0");
  ASSERT_EQ(j["headers"].size(), 3u);
  EXPECT_EQ(j["headers"][0][0], "Host");
  EXPECT_EQ(j["headers"][2][1], std::string(300, 'v'));
  req.headers.clear();
  EXPECT_TRUE(body_json(w->handle(req))["user-agent"].is_null());
}

}  // namespace
}  // namespace rw::runtime::test
