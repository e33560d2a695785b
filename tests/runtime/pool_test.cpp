// The pool and the ABI's host side with hand-written modules (no wasm toolchain needed): load-time
// ABI checks, bounds-checked host functions, limits, the bounded queue and drain.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "test_util.h"

namespace rw::runtime::test {
namespace {

using namespace std::chrono_literals;

// A worker whose handler runs `bad` for GET and answers "ok" for any other method, so each test
// can make one request fail and then check that the next one succeeds.
std::string wat_worker(const std::string& bad, const std::string& extra = "") {
  return R"((module
  (import "rewind" "request_method" (func $method (param i32 i32) (result i32)))
  (import "rewind" "request_target" (func $target (param i32 i32) (result i32)))
  (import "rewind" "request_header_name" (func $header_name (param i32 i32 i32) (result i32)))
  (import "rewind" "request_header_get" (func $header_get (param i32 i32 i32 i32) (result i32)))
  (import "rewind" "request_body_read" (func $body_read (param i32 i32) (result i32)))
  (import "rewind" "request_body_length" (func $body_length (result i64)))
  (import "rewind" "response_status" (func $status (param i32)))
  (import "rewind" "response_header" (func $header (param i32 i32 i32 i32)))
  (import "rewind" "response_body_write" (func $write (param i32 i32)))
  (import "rewind" "log" (func $log (param i32 i32 i32)))
  (import "rewind" "random" (func $random (param i32 i32)))
  (import "rewind" "now_ns" (func $now (result i64)))
  (import "rewind" "abort" (func $abort (param i32 i32)))
  (import "rewind" "panic_message" (func $panic_message (param i32 i32)))
  (import "rewind" "failure_record" (func $failure_record (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ok")
  (data (i32.const 16) "bad name")
  (data (i32.const 32) "x-a")
  (data (i32.const 48) "v\r\nx: y")
  (global $calls (mut i32) (i32.const 0))
  (func (export "rewind_abi_version") (result i32) (i32.const 1))
  (func $bad )" +
         bad + R"()
  (func (export "rewind_handle")
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (if (i32.eq (call $method (i32.const 1024) (i32.const 16)) (i32.const 3))
      (then (call $bad)))
    (call $write (i32.const 0) (i32.const 2)))
  )" + extra +
         R"()
)";
}

std::shared_ptr<Worker> wat(const std::string& name, const std::string& text,
                            WorkerConfig c = config_for("")) {
  c.module_path = write_temp(name + ".wat", text);
  return make_worker(c);
}

void expect_host_abort(const std::string& bad, const std::string& message) {
  SCOPED_TRACE(bad);
  auto w = wat("bad", wat_worker(bad));
  ASSERT_TRUE(w);
  HandleResult r = w->handle(get("/"));
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.response.status, 500);
  EXPECT_EQ(r.failure->outcome, Outcome::Abort);
  EXPECT_EQ(r.failure->trap, TrapKind::HostAbort);
  EXPECT_NE(r.failure->message.find(message), std::string::npos) << r.failure->message;
  EXPECT_EQ(body_json(r)["kind"], "host_abort");
  HandleResult next = w->handle(request("POST", "/"));
  EXPECT_EQ(next.response.status, 200);
  EXPECT_EQ(next.response.body, "ok");
}

TEST(AbiBounds, BadPointersAreHostAbortsNotCrashes) {
  expect_host_abort("(call $write (i32.const -1) (i32.const 2))",
                    "rewind.response_body_write: range [0xffffffff, 0x100000001) is outside "
                    "linear memory (65536 bytes)");
  expect_host_abort("(call $write (i32.const 65530) (i32.const 10))",
                    "rewind.response_body_write: range [0xfffa, 0x10004)");
  expect_host_abort("(drop (call $target (i32.const 65536) (i32.const 1)))",
                    "rewind.request_target");
  // The whole buffer must be inside memory, even when the value is shorter.
  expect_host_abort("(drop (call $target (i32.const 65000) (i32.const 1000)))",
                    "rewind.request_target");
  expect_host_abort("(drop (call $header_name (i32.const 9) (i32.const -16) (i32.const 32)))",
                    "rewind.request_header_name");
  expect_host_abort(
      "(drop (call $header_get (i32.const 70000) (i32.const 3) (i32.const 0) (i32.const 1)))",
      "rewind.request_header_get");
  expect_host_abort("(drop (call $body_read (i32.const 100) (i32.const 65500)))",
                    "rewind.request_body_read");
  expect_host_abort("(call $log (i32.const 1) (i32.const 65535) (i32.const 2))", "rewind.log");
  expect_host_abort("(call $random (i32.const 0) (i32.const 65537))", "rewind.random");
  expect_host_abort("(call $random (i32.const 0) (i32.const 2000000))", "more than 1048576");
  expect_host_abort("(call $panic_message (i32.const -4) (i32.const 8))", "rewind.panic_message");
  expect_host_abort("(drop (call $failure_record (i32.const 65536) (i32.const 4)))",
                    "rewind.failure_record");
  // abort with a bad message pointer is the host's abort, not the guest's.
  expect_host_abort("(call $abort (i32.const -1) (i32.const 4))", "rewind.abort");
}

TEST(AbiBounds, ForbiddenValuesAreHostAborts) {
  expect_host_abort("(call $status (i32.const 42))", "status 42 is not in 100..999");
  expect_host_abort("(call $status (i32.const 1000))", "status 1000");
  expect_host_abort("(call $header (i32.const 16) (i32.const 8) (i32.const 0) (i32.const 2))",
                    "header name contains a character");
  expect_host_abort("(call $header (i32.const 16) (i32.const 0) (i32.const 0) (i32.const 2))",
                    "header name must be");
  expect_host_abort("(call $header (i32.const 32) (i32.const 3) (i32.const 48) (i32.const 7))",
                    "header value contains CR, LF or NUL");
}

TEST(AbiBounds, ZeroLengthBuffersAnywhereAreFine) {
  auto w = wat("zero", wat_worker(R"(
      (drop (call $target (i32.const -1) (i32.const 0)))
      (call $write (i32.const -1) (i32.const 0))
      (call $random (i32.const 70000) (i32.const 0)))"));
  ASSERT_TRUE(w);
  HandleResult r = w->handle(get("/"));
  EXPECT_FALSE(r.failure) << r.failure->message;
  EXPECT_EQ(r.response.body, "ok");
}

TEST(Abi, CopyOutReturnsFullLengthAndHeadersByIndex) {
  // Writes request_target's return value with a 4-byte buffer, header 0's name, an out-of-range
  // header index, a header looked up case-insensitively, the body length, and the body read in
  // 3-byte chunks (each followed by "o"); then the handler appends "ok".
  auto w = wat("copy", wat_worker("(call $probe)", R"(
  (func $write_i32 (param $v i32)
    (i32.store (i32.const 2048) (local.get $v))
    (call $write (i32.const 2048) (i32.const 4)))
  (func $probe (local $n i32)
    (call $write_i32 (call $target (i32.const 512) (i32.const 4)))
    (call $write (i32.const 512) (i32.const 4))
    (call $write_i32 (call $header_name (i32.const 0) (i32.const 600) (i32.const 64)))
    (call $write (i32.const 600) (i32.const 6))
    (call $write_i32 (call $header_name (i32.const 7) (i32.const 600) (i32.const 64)))
    (call $write_i32 (call $header_get (i32.const 32) (i32.const 3) (i32.const 700) (i32.const 64)))
    (call $write (i32.const 700) (i32.const 2))
    (call $write_i32 (i32.wrap_i64 (call $body_length)))
    (block $done (loop $more
      (br_if $done (i32.eqz (local.tee $n (call $body_read (i32.const 800) (i32.const 3)))))
      (call $write (i32.const 800) (local.get $n))
      (call $write (i32.const 0) (i32.const 1))
      (br $more))))
)"));
  ASSERT_TRUE(w);
  Request req = request("GET", "/target/long", "abcdefgh");
  req.headers = {{"Header", "1"}, {"X-A", "va"}};
  HandleResult r = w->handle(req);
  ASSERT_FALSE(r.failure) << r.failure->message;
  const std::string& b = r.response.body;
  auto i32_at = [&](size_t at) {
    int32_t v;
    memcpy(&v, b.data() + at, 4);
    return v;
  };
  ASSERT_GE(b.size(), 30u);
  EXPECT_EQ(i32_at(0), 12);           // full length of "/target/long"
  EXPECT_EQ(b.substr(4, 4), "/tar");  // only cap bytes copied
  EXPECT_EQ(i32_at(8), 6);            // "Header"
  EXPECT_EQ(b.substr(12, 6), "Header");
  EXPECT_EQ(i32_at(18), -1);  // index out of range
  EXPECT_EQ(i32_at(22), 2);   // x-a matches X-A
  EXPECT_EQ(b.substr(26, 2), "va");
  EXPECT_EQ(i32_at(28), 8);  // body length
  EXPECT_EQ(b.substr(32), "abcodefoghook");
}

TEST(AbiLoad, ModulesThatAreNotWorkersAreRejectedClearly) {
  struct Case {
    std::string text, message;
  };
  std::vector<Case> cases = {
      {R"((module (memory (export "memory") 1) (func (export "rewind_handle"))))",
       "module does not export rewind_abi_version"},
      {R"((module (memory (export "memory") 1) (func (export "rewind_handle"))
           (func (export "rewind_abi_version") (result i32) (i32.const 2))))",
       "worker was built for rewind guest ABI version 2; this runtime implements version 1"},
      {R"((module (memory (export "memory") 1) (func (export "rewind_handle"))
           (func (export "rewind_abi_version") (result i64) (i64.const 1))))",
       "rewind_abi_version must be a function () -> i32"},
      {R"((module (memory (export "memory") 1)
           (func (export "rewind_abi_version") (result i32) (i32.const 1))))",
       "does not export the request handler rewind_handle"},
      {R"((module (memory (export "memory") 1) (func (export "rewind_handle") (param i32))
           (func (export "rewind_abi_version") (result i32) (i32.const 1))))",
       "rewind_handle must be a function () -> ()"},
      {R"((module (func (export "rewind_handle"))
           (func (export "rewind_abi_version") (result i32) (i32.const 1))))",
       "does not export its linear memory"},
      {R"((module (import "rewind" "teleport" (func)) (memory (export "memory") 1)
           (func (export "rewind_handle"))
           (func (export "rewind_abi_version") (result i32) (i32.const 1))))",
       "worker imports rewind.teleport, which guest ABI version 1 does not define"},
      {R"((module (import "rewind" "storage_get" (func (param i32 i32 i32 i32) (result i32)))
           (memory (export "memory") 1) (func (export "rewind_handle"))
           (func (export "rewind_abi_version") (result i32) (i32.const 1))))",
       "worker imports rewind.storage_get: storage functions are available to durable objects "
       "only"},
      {R"((module (import "rewind" "log" (func (param i32))) (memory (export "memory") 1)
           (func (export "rewind_handle"))
           (func (export "rewind_abi_version") (result i32) (i32.const 1))))",
       "worker imports rewind.log as (i32) -> (), but guest ABI version 1 defines it as"},
      {R"((module (import "env" "thing" (func)) (memory (export "memory") 1)
           (func (export "rewind_handle"))
           (func (export "rewind_abi_version") (result i32) (i32.const 1))))",
       "worker imports env.thing; workers may import only from"},
      {R"((module (memory (export "memory") 1) (func (export "rewind_handle"))
           (func (export "rewind_abi_version") (result i32) (i32.const 1))
           (func (export "_initialize") unreachable)))",
       "_initialize failed: abort unreachable"},
      {"(module (func", "unclosed parenthesis"},
  };
  for (const Case& k : cases) {
    WorkerConfig c = config_for(write_temp("abi.wat", k.text));
    auto w = Worker::create(c);
    ASSERT_FALSE(w.ok()) << k.text;
    EXPECT_NE(w.error().message.find(k.message), std::string::npos) << "got: " << w.error().message;
    EXPECT_NE(w.error().message.find("abi.wat"), std::string::npos) << w.error().message;
  }
  auto missing = Worker::create(config_for("/no/such/module.wasm"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/no/such/module.wasm"), std::string::npos);
  auto empty = Worker::create(config_for(""));
  EXPECT_FALSE(empty.ok());
}

TEST(AbiLoad, InitExportMustExistAndSucceed) {
  std::string text =
      wat_worker("", R"((func (export "init_ok")) (func (export "init_trap") unreachable))");
  WorkerConfig c = config_for("");
  c.init_export = "init_missing";
  EXPECT_FALSE(Worker::create([&] {
                 auto k = c;
                 k.module_path = write_temp("i.wat", text);
                 return k;
               }())
                   .ok());
  c.module_path = write_temp("i.wat", text);
  c.init_export = "init_trap";
  auto bad = Worker::create(c);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("init_trap failed"), std::string::npos);
  c.init_export = "init_ok";
  EXPECT_TRUE(Worker::create(c).ok());
}

TEST(AbiFailures, GuestAbortAndPanicMessageReachTheRecord) {
  auto w = wat("abort", wat_worker("(call $abort (i32.const 0) (i32.const 2))"));
  ASSERT_TRUE(w);
  HandleResult r = w->handle(get("/"));
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->trap, TrapKind::GuestAbort);
  EXPECT_EQ(r.failure->message, "ok");

  // panic_message then unreachable: a panic=abort language's panic.
  w = wat("panic_abort",
          wat_worker("(call $panic_message (i32.const 16) (i32.const 8)) unreachable"));
  ASSERT_TRUE(w);
  r = w->handle(get("/"));
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->outcome, Outcome::Abort);
  EXPECT_EQ(r.failure->trap, TrapKind::GuestAbort);
  EXPECT_EQ(r.failure->message, "bad name");
  // The message belongs to that request only.
  w->handle(request("POST", "/"));
  w = wat("plain_trap", wat_worker("unreachable"));
  r = w->handle(get("/"));
  EXPECT_EQ(r.failure->trap, TrapKind::Unreachable);
}

// The host writes request bytes into guest memory itself; recovery must undo those writes like
// the guest's own stores, or data of a failed request would survive a reset or rollback.
TEST(AbiFailures, RecoveryUndoesWritesTheHostMadeForTheGuest) {
  for (AbortMode mode : {AbortMode::Reset, AbortMode::Rollback}) {
    WorkerConfig c = config_for("");
    c.on_abort = mode;
    std::string text = wat_worker(R"(
        (drop (call $target (i32.const 40000) (i32.const 8)))
        (drop (call $body_read (i32.const 50000) (i32.const 8)))
        (call $random (i32.const 60000) (i32.const 8))
        unreachable)");
    // POST answers with the bytes at those addresses instead of "ok".
    std::string marker = "(call $write (i32.const 0) (i32.const 2)))";
    text.replace(text.find(marker), marker.size(),
                 "(call $write (i32.const 40000) (i32.const 8)) "
                 "(call $write (i32.const 50000) (i32.const 8)) "
                 "(call $write (i32.const 60000) (i32.const 8)))");
    auto w = wat("host_writes", text, c);
    ASSERT_TRUE(w);
    HandleResult failed = w->handle(request("GET", "/secret-path", "secret-body"));
    ASSERT_TRUE(failed.failure);
    HandleResult r = w->handle(request("POST", "/"));
    EXPECT_EQ(r.response.body, std::string(24, '\0'))
        << (mode == AbortMode::Reset ? "reset" : "rollback");
  }
}

TEST(AbiFailures, AFailedResponseIsDiscarded) {
  auto w = wat("discard", wat_worker(R"(
      (call $status (i32.const 201))
      (call $header (i32.const 32) (i32.const 3) (i32.const 0) (i32.const 2))
      (call $write (i32.const 0) (i32.const 2))
      unreachable)"));
  ASSERT_TRUE(w);
  HandleResult r = w->handle(get("/"));
  EXPECT_EQ(r.response.status, 500);
  EXPECT_EQ(header(r.response, "x-a"), "");
  HandleResult ok = w->handle(request("POST", "/"));
  EXPECT_EQ(ok.response.status, 200);  // status and headers of the failed request are gone
  EXPECT_TRUE(ok.response.headers.empty());
}

TEST(AbiFailures, StatusAndHeadersAreSent) {
  auto w = wat("headers", wat_worker(R"(
      (call $status (i32.const 201))
      (call $header (i32.const 32) (i32.const 3) (i32.const 0) (i32.const 2)))"));
  ASSERT_TRUE(w);
  HandleResult r = w->handle(get("/"));
  EXPECT_EQ(r.response.status, 201);
  EXPECT_EQ(header(r.response, "x-a"), "ok");
  EXPECT_EQ(r.response.body, "ok");
}

// A handler that spins for GET (cpu_limit) and answers at once otherwise.
std::string spinning_worker() { return wat_worker("(loop $l (br $l))"); }

TEST(PoolLimits, BodyOverTheLimitIs413WithoutReachingTheGuest) {
  WorkerConfig c = config_for("");
  c.limits.max_request_body_bytes = 10;
  auto w = wat("body", wat_worker(""), c);
  ASSERT_TRUE(w);
  HandleResult r = w->handle(request("POST", "/", std::string(11, 'x'), "big"));
  EXPECT_EQ(r.response.status, 413);
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(body_json(r)["error"], "request_body_too_large");
  EXPECT_EQ(body_json(r)["request_id"], "big");
  EXPECT_EQ(w->stats().ok, 0u);
  r = w->handle(request("POST", "/", std::string(10, 'x')));
  EXPECT_EQ(r.response.status, 200);
}

TEST(PoolLimits, CpuLimitIs503) {
  WorkerConfig c = config_for("");
  c.limits.cpu_per_request = 50ms;
  auto w = wat("spin", spinning_worker(), c);
  ASSERT_TRUE(w);
  HandleResult r = w->handle(get("/"));
  EXPECT_EQ(r.response.status, 503);
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(r.failure->trap, TrapKind::CpuLimit);
  EXPECT_EQ(w->handle(request("POST", "/")).response.status, 200);
}

TEST(PoolLimits, DefaultPoolSizeIsOnePerHardwareThread) {
  WorkerConfig c = config_for("");
  c.instances = 0;
  auto w = wat("size", wat_worker(""), c);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->config().instances, std::max(1u, std::thread::hardware_concurrency()));
}

// Starts `n` requests that are still running when it returns (each on its own thread).
struct Background {
  std::vector<std::thread> threads;
  std::vector<HandleResult> results;
  explicit Background(size_t n) : results(n) {}
  void start(size_t i, std::shared_ptr<Worker> w, Request r) {
    threads.emplace_back([this, i, w, r] { results[i] = w->handle(r); });
  }
  ~Background() { join(); }
  void join() {
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
};

// Waits (up to 5 s) until the worker has `in_flight` running and `queued` waiting requests.
bool wait_for(Worker& w, uint32_t in_flight, uint32_t queued) {
  for (int i = 0; i < 500; ++i) {
    WorkerStats s = w.stats();
    if (s.in_flight == in_flight && s.queued == queued) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(PoolQueue, BeyondTheQueueBoundRequestsGet503) {
  WorkerConfig c = config_for("");
  c.limits.cpu_per_request = 400ms;
  c.limits.max_queued_requests = 1;
  auto w = wat("queue", spinning_worker(), c);
  ASSERT_TRUE(w);
  Background bg(2);
  bg.start(0, w, get("/", "spinner"));
  ASSERT_TRUE(wait_for(*w, 1, 0));
  bg.start(1, w, request("POST", "/", "", "queued"));
  ASSERT_TRUE(wait_for(*w, 1, 1));
  HandleResult rejected = w->handle(request("POST", "/", "", "rejected"));
  EXPECT_EQ(rejected.response.status, 503);
  EXPECT_FALSE(rejected.failure);
  EXPECT_EQ(body_json(rejected)["error"], "overloaded");
  EXPECT_EQ(body_json(rejected)["request_id"], "rejected");
  bg.join();
  EXPECT_EQ(bg.results[0].response.status, 503);  // cpu_limit
  EXPECT_EQ(bg.results[1].response.status, 200);  // queued behind a failure, served
}

TEST(PoolQueue, NoQueueMeansImmediate503WhenBusy) {
  WorkerConfig c = config_for("");
  c.limits.cpu_per_request = 300ms;
  c.limits.max_queued_requests = 0;
  auto w = wat("noqueue", spinning_worker(), c);
  ASSERT_TRUE(w);
  Background bg(1);
  bg.start(0, w, get("/"));
  ASSERT_TRUE(wait_for(*w, 1, 0));
  EXPECT_EQ(w->handle(request("POST", "/")).response.status, 503);
  bg.join();
  EXPECT_EQ(w->handle(request("POST", "/")).response.status, 200);
}

TEST(PoolQueue, OtherInstancesServeWhileOneIsBusy) {
  WorkerConfig c = config_for("", 2);
  c.limits.cpu_per_request = 1s;
  auto w = wat("two", spinning_worker(), c);
  ASSERT_TRUE(w);
  Background bg(1);
  bg.start(0, w, get("/"));  // occupies one instance for its whole CPU budget
  ASSERT_TRUE(wait_for(*w, 1, 0));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(w->handle(request("POST", "/")).response.status, 200);
  // Answered while the spinner still held its instance, so none of them waited behind it.
  EXPECT_EQ(w->stats().in_flight, 1u);
  bg.join();
  EXPECT_EQ(bg.results[0].failure->trap, TrapKind::CpuLimit);
  EXPECT_EQ(w->stats().ok, 20u);
}

// A global holding an exception object of the store (caught during _initialize) makes the
// snapshot unspawnable: each instance is then initialised on its own, and recovers to its own
// snapshot.
TEST(PoolQueue, UnspawnableSnapshotsStillGiveAFullPool) {
  WorkerConfig c = config_for("", 2);
  c.limits.cpu_per_request = 400ms;
  std::string text = wat_worker("(loop $l (br $l))", R"(
  (tag $t)
  (global $caught (mut exnref) (ref.null exn))
  (func (export "_initialize")
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (throw $t))
      unreachable)
    (global.set $caught)))");
  auto w = wat("unspawnable", text, c);
  ASSERT_TRUE(w);
  Background bg(1);
  bg.start(0, w, get("/"));
  ASSERT_TRUE(wait_for(*w, 1, 0));
  EXPECT_EQ(w->handle(request("POST", "/")).response.status, 200);  // the second instance
  bg.join();
  EXPECT_EQ(bg.results[0].failure->action, "reset");
  EXPECT_EQ(w->handle(request("POST", "/")).response.status, 200);
  EXPECT_EQ(w->handle(get("/")).failure->action, "reset");
}

TEST(PoolDrain, WaitsForInFlightAndQueuedRequestsThenRefuses) {
  WorkerConfig c = config_for("");
  c.limits.cpu_per_request = 400ms;
  auto w = wat("drain", spinning_worker(), c);
  ASSERT_TRUE(w);
  Background bg(2);
  bg.start(0, w, get("/"));
  ASSERT_TRUE(wait_for(*w, 1, 0));
  bg.start(1, w, request("POST", "/"));
  ASSERT_TRUE(wait_for(*w, 1, 1));
  w->drain();
  // Returned only once the spinner had used its CPU budget and the queued request had run.
  EXPECT_EQ(w->stats().in_flight, 0u);
  EXPECT_EQ(w->stats().queued, 0u);
  bg.join();
  EXPECT_EQ(bg.results[0].response.status, 503);
  ASSERT_TRUE(bg.results[0].failure);
  EXPECT_EQ(bg.results[0].failure->trap, TrapKind::CpuLimit);
  EXPECT_EQ(bg.results[1].response.status, 200);
  HandleResult after = w->handle(request("POST", "/"));
  EXPECT_EQ(after.response.status, 503);
  EXPECT_EQ(body_json(after)["error"], "draining");
  w->drain();  // idempotent
}

TEST(PoolDrain, IdleWorkerDrainsAtOnce) {
  auto w = wat("idle", wat_worker(""));
  ASSERT_TRUE(w);
  w->drain();
  EXPECT_EQ(w->handle(get("/")).response.status, 503);
}

TEST(FailureRecordJson, HasEveryField) {
  FailureRecord f;
  f.worker = "w";
  f.instance_id = 2;
  f.generation = 3;
  f.request_id = "r";
  f.outcome = Outcome::Abort;
  f.trap = TrapKind::OutOfMemory;
  f.message = "bad \xff byte";
  f.backtrace = {{7, "fn", 42}};
  f.action = "reset";
  f.recovery_time = std::chrono::nanoseconds(1234);
  auto j = nlohmann::json::parse(to_json(f));
  EXPECT_EQ(j["worker"], "w");
  EXPECT_EQ(j["instance_id"], 2);
  EXPECT_EQ(j["generation"], 3);
  EXPECT_EQ(j["request_id"], "r");
  EXPECT_EQ(j["outcome"], "abort");
  EXPECT_EQ(j["trap_kind"], "out_of_memory");
  EXPECT_EQ(j["backtrace"][0]["name"], "fn");
  EXPECT_EQ(j["backtrace"][0]["func_index"], 7);
  EXPECT_EQ(j["backtrace"][0]["offset"], 42);
  EXPECT_EQ(j["recovery_action"], "reset");
  EXPECT_DOUBLE_EQ(j["recovery_ms"].get<double>(), 0.001234);
  f.trap.reset();
  EXPECT_TRUE(nlohmann::json::parse(to_json(f))["trap_kind"].is_null());
}

}  // namespace
}  // namespace rw::runtime::test
