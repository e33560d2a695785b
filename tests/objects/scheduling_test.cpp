// Per-object ordering, the queue bound, parallelism across objects, drain, module checks and
// load failures, with small WAT guests.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "objects_test_util.h"
#include "rewind/objects.h"

namespace rw::objects {
namespace {

using testing::request;
using testing::ScratchDir;

// Holds calls that log, for the objects named in `held`, until open() is called.
class Gate {
 public:
  void hold(std::string label) {
    std::lock_guard lock(mutex_);
    held_.insert(std::move(label));
  }
  void open() {
    std::lock_guard lock(mutex_);
    held_.clear();
    cv_.notify_all();
  }
  void on_log(const runtime::LogRecord& record) {
    std::unique_lock lock(mutex_);
    ran_on_[record.request_id] = std::this_thread::get_id();
    cv_.wait(lock, [&] { return !held_.contains(record.worker); });
  }
  // The thread that ran the call with this request id (it logged).
  std::thread::id ran_on(const std::string& request_id) {
    std::lock_guard lock(mutex_);
    return ran_on_[request_id];
  }

 private:
  std::map<std::string, std::thread::id> ran_on_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::set<std::string> held_;
};

template <class F>
bool eventually(F condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

class SchedulingTest : public ::testing::Test {
 protected:
  std::shared_ptr<Namespace> open(NamespaceConfig config = {},
                                  const char* wat = testing::kLogGuest) {
    config.name = "ns";
    config.module_path = dir_.write("guest.wat", wat);
    config.db_path = dir_.file("ns.db");
    config.storage.sync = durable::Sync::Normal;
    auto ns = Namespace::create(config);
    EXPECT_TRUE(ns.ok()) << (ns.ok() ? "" : ns.error().message);
    if (!ns.ok()) return nullptr;
    ns.value()->on_log = [this](const runtime::LogRecord& r) { gate_.on_log(r); };
    return ns.value();
  }

  std::string stored(Namespace& ns, const std::string& object, const std::string& key) {
    durable::Transaction tx = ns.storage()->begin(object);
    return tx.get(key).value_or("");
  }
  std::string stored_log(Namespace& ns, const std::string& object) {
    return stored(ns, object, "log");
  }

  ScratchDir dir_;
  Gate gate_;
};

// Done means: order is preserved per object under concurrent load. Many threads call many
// objects at random; each object's stored log must list its calls in admission order.
TEST_F(SchedulingTest, CallsRunInAdmissionOrderPerObjectUnderConcurrentLoad) {
  NamespaceConfig config;
  config.max_queue_per_object = 1000;
  auto ns = open(config);
  ASSERT_TRUE(ns);
  std::mutex admitted_mutex;
  std::map<std::string, std::string> admitted;  // object -> concatenated bodies
  ns->on_admitted = [&](std::string_view object, const runtime::Request& r) {
    std::lock_guard lock(admitted_mutex);
    admitted[std::string(object)] += r.body;
  };
  constexpr int kThreads = 8, kCalls = 120, kObjects = 12;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kCalls; ++i) {
        std::string object = "o" + std::to_string(rng() % kObjects);
        char body[9];
        snprintf(body, sizeof body, "%02d:%04d,", t, i);
        auto r = ns->handle(object, request("POST", "/", body));
        // The response is the log up to and including this call.
        if (r.response.status != 200 || !r.response.body.ends_with(body)) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  size_t total = 0;
  for (const auto& [object, bodies] : admitted) {
    EXPECT_EQ(stored_log(*ns, object), bodies) << object;
    total += bodies.size() / 8;
  }
  EXPECT_EQ(total, size_t(kThreads * kCalls));
  NamespaceStats stats = ns->stats();
  EXPECT_EQ(stats.ok, uint64_t(kThreads * kCalls));
  EXPECT_EQ(stats.spawns, uint64_t(kObjects));
  EXPECT_EQ(stats.in_flight + stats.queued, 0u);
}

// Calls queued behind a running one run in arrival order, and a full queue answers 503 at
// once, while other objects keep being served.
TEST_F(SchedulingTest, QueueBoundGives503AndOtherObjectsRunMeanwhile) {
  NamespaceConfig config;
  config.max_queue_per_object = 3;
  auto ns = open(config);
  ASSERT_TRUE(ns);
  gate_.hold("ns/busy");
  std::vector<std::thread> threads;
  std::vector<runtime::HandleResult> results(4);
  std::vector<std::thread::id> callers(4);
  threads.emplace_back([&] {
    callers[0] = std::this_thread::get_id();
    results[0] = ns->handle("busy", request("POST", "/", "first;", "r0"));
  });
  ASSERT_TRUE(eventually([&] { return ns->stats().in_flight == 1; }));
  for (int i = 1; i <= 3; ++i) {
    threads.emplace_back([&, i] {
      callers[i] = std::this_thread::get_id();
      std::string n = std::to_string(i);
      results[i] = ns->handle("busy", request("POST", "/", "q" + n + ";", "r" + n));
    });
    ASSERT_TRUE(eventually([&] { return ns->stats().queued == uint32_t(i); }));
  }
  auto rejected = ns->handle("busy", request("POST", "/", "late;", "req-late"));
  EXPECT_EQ(rejected.response.status, 503);
  EXPECT_NE(rejected.response.body.find("\"overloaded\""), std::string::npos);
  EXPECT_NE(rejected.response.body.find("req-late"), std::string::npos);

  // Another object is not blocked by the busy one.
  auto other = ns->handle("other", request("POST", "/", "x;"));
  EXPECT_EQ(other.response.status, 200);
  EXPECT_EQ(other.response.body, "x;");

  gate_.open();
  for (auto& thread : threads) thread.join();
  for (auto& r : results) EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(stored_log(*ns, "busy"), "first;q1;q2;q3;");
  EXPECT_EQ(results[3].response.body, "first;q1;q2;q3;");
  EXPECT_EQ(ns->stats().rejected, 1u);
  // Each blocking caller ran its own call: none served another's (and so each returned as soon
  // as its own call was done).
  for (int i = 0; i < 4; ++i) EXPECT_EQ(gate_.ran_on("r" + std::to_string(i)), callers[i]) << i;
}

// submit() does not block behind a busy object: the calls queue, the thread running the
// object runs them in order and calls back, and the submitting thread is free meanwhile.
TEST_F(SchedulingTest, SubmitQueuesWithoutHoldingTheCallersThread) {
  auto ns = open();
  ASSERT_TRUE(ns);
  gate_.hold("ns/a");
  runtime::HandleResult first;
  std::thread runner([&] { first = ns->handle("a", request("POST", "/", "0;")); });
  ASSERT_TRUE(eventually([&] { return ns->stats().in_flight == 1; }));
  std::mutex mutex;
  std::vector<std::string> bodies;
  std::set<std::thread::id> threads;
  for (int i = 1; i <= 5; ++i)
    ns->submit("a", request("POST", "/", std::to_string(i) + ";"), [&](runtime::HandleResult r) {
      std::lock_guard lock(mutex);
      bodies.push_back(r.response.body);
      threads.insert(std::this_thread::get_id());
    });
  EXPECT_EQ(ns->stats().queued, 5u);  // all five submitted while the first still runs
  {
    std::lock_guard lock(mutex);
    EXPECT_TRUE(bodies.empty());
  }
  gate_.open();
  runner.join();
  ASSERT_TRUE(eventually([&] { return ns->stats().in_flight + ns->stats().queued == 0; }));
  std::lock_guard lock(mutex);
  ASSERT_EQ(bodies.size(), 5u);
  EXPECT_EQ(bodies[4], "0;1;2;3;4;5;");
  EXPECT_EQ(bodies[0], "0;1;");
  EXPECT_EQ(threads.size(), 1u);  // the thread that ran the first call ran them all
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
  // A submit to an idle object runs on the submitting thread, before submit returns.
  std::string body;
  ns->submit("b", request("POST", "/", "x;"),
             [&](runtime::HandleResult r) { body = r.response.body; });
  EXPECT_EQ(body, "x;");
  ns->submit("", request("POST", "/"), [&](runtime::HandleResult r) { body = r.response.body; });
  EXPECT_NE(body.find("bad_object_id"), std::string::npos);
}

TEST_F(SchedulingTest, NamespaceWideQueueBound) {
  NamespaceConfig config;
  config.limits.max_queued_requests = 1;
  auto ns = open(config);
  ASSERT_TRUE(ns);
  gate_.hold("ns/a");
  std::thread first([&] { ns->handle("a", request("POST", "/", "1;")); });
  ASSERT_TRUE(eventually([&] { return ns->stats().in_flight == 1; }));
  std::thread second([&] { ns->handle("a", request("POST", "/", "2;")); });
  ASSERT_TRUE(eventually([&] { return ns->stats().queued == 1; }));
  EXPECT_EQ(ns->handle("a", request("POST", "/", "3;")).response.status, 503);
  gate_.open();
  first.join();
  second.join();
  EXPECT_EQ(stored_log(*ns, "a"), "1;2;");
}

TEST_F(SchedulingTest, DrainWaitsForAdmittedCallsAndRefusesNewOnes) {
  auto ns = open();
  ASSERT_TRUE(ns);
  gate_.hold("ns/a");
  runtime::HandleResult running;
  std::thread first([&] { running = ns->handle("a", request("POST", "/", "1;")); });
  ASSERT_TRUE(eventually([&] { return ns->stats().in_flight == 1; }));
  std::atomic<bool> drained{false};
  std::thread drainer([&] {
    ns->drain();
    drained = true;
  });
  ASSERT_TRUE(eventually(
      [&] { return ns->handle("b", request("POST", "/", "2;")).response.status == 503; }));
  EXPECT_FALSE(drained.load());
  gate_.open();
  first.join();
  drainer.join();
  EXPECT_TRUE(drained.load());
  EXPECT_EQ(running.response.status, 200);
  auto refused = ns->handle("a", request("POST", "/", "3;"));
  EXPECT_EQ(refused.response.status, 503);
  EXPECT_NE(refused.response.body.find("\"draining\""), std::string::npos);
  EXPECT_EQ(stored_log(*ns, "a"), "1;");
}

// Objects run in parallel: one held object does not stop a thousand calls to others, and the
// live bound holds while they come and go.
TEST_F(SchedulingTest, ManyObjectsWithABoundedLiveCount) {
  NamespaceConfig config;
  config.max_live_objects = 8;
  auto ns = open(config);
  ASSERT_TRUE(ns);
  gate_.hold("ns/held");
  std::thread held([&] { ns->handle("held", request("POST", "/", "h;")); });
  ASSERT_TRUE(eventually([&] { return ns->stats().in_flight == 1; }));
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        std::string object = "obj" + std::to_string(t * 100 + i);
        if (ns->handle(object, request("POST", "/", "a;")).response.body != "a;") ++bad;
        if (ns->stats().live_objects > 8 + 4 + 1) ++bad;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(ns->stats().live_objects, 8u);
  gate_.open();
  held.join();
  // Each object's data is still there after its eviction.
  EXPECT_EQ(ns->handle("obj7", request("POST", "/", "b;")).response.body, "a;b;");
  EXPECT_GE(ns->stats().lru_evictions, 390u);
}

TEST_F(SchedulingTest, ModulesAreCheckedAtCreate) {
  auto create = [&](const char* wat) {
    NamespaceConfig config;
    config.module_path = dir_.write("bad.wat", wat);
    config.db_path = dir_.file("bad.db");
    return Namespace::create(config);
  };
  auto wrong_type = create(R"((module
    (import "rewind" "storage_get" (func (param i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "rewind_abi_version") (result i32) (i32.const 1))
    (func (export "rewind_handle"))))");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_NE(wrong_type.error().message.find("rewind.storage_get"), std::string::npos);
  auto unknown = create(R"((module
    (import "rewind" "storage_truncate" (func))
    (memory (export "memory") 1)
    (func (export "rewind_abi_version") (result i32) (i32.const 1))
    (func (export "rewind_handle"))))");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("does not define"), std::string::npos);
  auto foreign = create(R"((module
    (import "env" "f" (func))
    (memory (export "memory") 1)
    (func (export "rewind_abi_version") (result i32) (i32.const 1))
    (func (export "rewind_handle"))))");
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().message.find("env.f"), std::string::npos);
  auto no_handle = create(R"((module
    (memory (export "memory") 1)
    (func (export "rewind_abi_version") (result i32) (i32.const 1))))");
  ASSERT_FALSE(no_handle.ok());
  auto storage_in_init = create(R"((module
    (import "rewind" "storage_delete" (func $del (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "_initialize") (drop (call $del (i32.const 0) (i32.const 1))))
    (func (export "rewind_abi_version") (result i32) (i32.const 1))
    (func (export "rewind_handle"))))");
  ASSERT_FALSE(storage_in_init.ok());
  EXPECT_NE(storage_in_init.error().message.find("_initialize failed"), std::string::npos);
  NamespaceConfig no_db;
  no_db.module_path = dir_.write("ok.wat", testing::kLogGuest);
  EXPECT_FALSE(Namespace::create(no_db).ok());
  NamespaceConfig missing;
  missing.module_path = dir_.file("missing.wasm");
  missing.db_path = dir_.file("m.db");
  EXPECT_FALSE(Namespace::create(missing).ok());
}

// A reinit that fails leaves the object unavailable for that call (500), never half-loaded;
// the next call tries again.
TEST_F(SchedulingTest, LoadFailureAnswers500AndRetries) {
  auto ns = open({}, R"((module
    (import "rewind" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
    (import "rewind" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "ok")
    (func (export "rewind_abi_version") (result i32) (i32.const 1))
    ;; Loads only once the key "ok" exists; writes it on the way, so the write must not
    ;; survive the failed load.
    (func (export "rewind_reinit")
      (if (i32.lt_s (call $get (i32.const 0) (i32.const 2) (i32.const 0) (i32.const 0))
                    (i32.const 0))
        (then (drop (call $put (i32.const 0) (i32.const 2) (i32.const 0) (i32.const 2)))
              unreachable)))
    (func (export "rewind_handle"))))");
  ASSERT_TRUE(ns);
  std::vector<runtime::FailureRecord> failures;
  ns->on_failure = [&](const runtime::FailureRecord& r) { failures.push_back(r); };
  for (int i = 0; i < 2; ++i) {
    auto r = ns->handle("x", request("GET", "/"));
    EXPECT_EQ(r.response.status, 500);
    EXPECT_NE(r.response.body.find("object_unavailable"), std::string::npos);
    ASSERT_TRUE(r.failure);
    EXPECT_NE(r.failure->message.find("rewind_reinit failed"), std::string::npos);
  }
  EXPECT_EQ(failures.size(), 2u);
  EXPECT_EQ(ns->stats().load_failures, 2u);
  EXPECT_EQ(ns->stats().live_objects, 0u);
  durable::Transaction tx = ns->storage()->begin("x");
  EXPECT_FALSE(tx.get("ok"));
}

// After a reset the reinit export runs in a transaction of its own, which is committed, and
// rewind.failure_record tells it why; on a fresh instance failure_record returns -1.
TEST_F(SchedulingTest, ReinitAfterResetSeesTheFailureAndCommits) {
  NamespaceConfig config;
  config.on_abort = runtime::AbortMode::Reset;
  auto ns = open(config, R"((module
    (import "rewind" "failure_record" (func $record (param i32 i32) (result i32)))
    (import "rewind" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
    (import "rewind" "request_body_length" (func $len (result i64)))
    (memory (export "memory") 1)
    (data (i32.const 0) "why")
    (data (i32.const 8) "fresh")
    (func (export "rewind_abi_version") (result i32) (i32.const 1))
    (func (export "rewind_reinit") (local $n i32)
      (local.set $n (call $record (i32.const 1024) (i32.const 4096)))
      (if (i32.lt_s (local.get $n) (i32.const 0))
        (then (drop (call $put (i32.const 0) (i32.const 3) (i32.const 8) (i32.const 5))))
        (else (drop (call $put (i32.const 0) (i32.const 3) (i32.const 1024) (local.get $n))))))
    (func (export "rewind_handle")
      (if (i64.gt_u (call $len) (i64.const 0)) (then unreachable)))))");
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->handle("r", request("POST", "/")).response.status, 200);
  EXPECT_EQ(stored(*ns, "r", "why"), "fresh");
  auto failed = ns->handle("r", request("POST", "/", "trap", "req-7"));
  ASSERT_TRUE(failed.failure);
  EXPECT_EQ(failed.failure->action, "reset");
  EXPECT_EQ(failed.failure->generation, 1u);
  std::string why = stored(*ns, "r", "why");
  EXPECT_NE(why.find("\"outcome\":\"abort\""), std::string::npos) << why;
  EXPECT_NE(why.find("req-7"), std::string::npos) << why;
  EXPECT_EQ(ns->handle("r", request("POST", "/")).response.status, 200);
}

// rewind.object_id gives the object its id, in calls and in the reinit export; a range
// outside memory aborts the call.
TEST_F(SchedulingTest, ObjectIdImport) {
  auto ns = open({}, R"((module
    (import "rewind" "object_id" (func $id (param i32 i32) (result i32)))
    (import "rewind" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
    (import "rewind" "response_body_write" (func $write (param i32 i32)))
    (import "rewind" "request_body_length" (func $len (result i64)))
    (memory (export "memory") 1)
    (data (i32.const 0) "id")
    (func (export "rewind_abi_version") (result i32) (i32.const 1))
    (func (export "rewind_reinit")
      (drop (call $put (i32.const 0) (i32.const 2) (i32.const 64)
                       (call $id (i32.const 64) (i32.const 100)))))
    (func (export "rewind_handle")
      (if (i64.gt_u (call $len) (i64.const 0))
        (then (drop (call $id (i32.const 65530) (i32.const 100)))))
      (call $write (i32.const 128) (call $id (i32.const 128) (i32.const 3)))))
)");
  ASSERT_TRUE(ns);
  std::string id("room\0/7", 7);
  auto r = ns->handle(id, request("GET", "/"));
  // The guest writes the id's full length (7) from a 3-byte buffer: only 3 bytes were copied.
  EXPECT_EQ(r.response.body, std::string("roo\0\0\0\0", 7));
  EXPECT_EQ(stored(*ns, id, "id"), id);
  auto bad = ns->handle(id, request("POST", "/", "x"));
  ASSERT_TRUE(bad.failure);
  EXPECT_EQ(bad.failure->trap, TrapKind::HostAbort);
  EXPECT_NE(bad.failure->message.find("rewind.object_id: range"), std::string::npos);
}

// A call over its CPU budget is an abort (503): its writes are rolled back with its memory, and
// the calls queued behind it are served.
TEST_F(SchedulingTest, CpuLimitRollsBackAndTheQueueMovesOn) {
  NamespaceConfig config;
  config.limits.cpu_per_request = std::chrono::milliseconds(50);
  auto ns = open(config, R"((module
    (import "rewind" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
    (import "rewind" "request_body_length" (func $len (result i64)))
    (import "rewind" "response_body_write" (func $write (param i32 i32)))
    (memory (export "memory") 1)
    (data (i32.const 0) "k")
    (func (export "rewind_abi_version") (result i32) (i32.const 1))
    (func (export "rewind_handle")
      (i32.store8 (i32.const 8) (i32.add (i32.load8_u (i32.const 8)) (i32.const 1)))
      (drop (call $put (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 1)))
      (if (i64.gt_u (call $len) (i64.const 0)) (then (loop $forever (br $forever))))
      (call $write (i32.const 8) (i32.const 1)))))");
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->handle("c", request("POST", "/")).response.body, "\x01");
  runtime::HandleResult spinning, behind;
  std::thread t1([&] { spinning = ns->handle("c", request("POST", "/", "spin")); });
  ASSERT_TRUE(eventually([&] { return ns->stats().in_flight == 1; }));
  std::thread t2([&] { behind = ns->handle("c", request("POST", "/")); });
  t1.join();
  t2.join();
  EXPECT_EQ(spinning.response.status, 503);
  ASSERT_TRUE(spinning.failure);
  EXPECT_EQ(spinning.failure->trap, TrapKind::CpuLimit);
  EXPECT_EQ(spinning.failure->action, "rollback");
  EXPECT_EQ(behind.response.body, "\x02");
  EXPECT_EQ(stored(*ns, "c", "k"), "\x02");
}

// A call whose writes cannot be stored fails with 500 and its memory goes back too.
TEST_F(SchedulingTest, CommitFailureRollsBackMemory) {
  NamespaceConfig config;
  config.storage.max_database_bytes = 64 * 1024;
  // Each call increments a counter in memory and stores a value: 200,000 bytes when the request
  // has a body (more than the database may hold), 1 byte otherwise. The response is the counter.
  auto ns = open(config, R"((module
    (import "rewind" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
    (import "rewind" "request_body_length" (func $len (result i64)))
    (import "rewind" "response_body_write" (func $write (param i32 i32)))
    (memory (export "memory") 4)
    (data (i32.const 0) "k")
    (func (export "rewind_abi_version") (result i32) (i32.const 1))
    (func (export "rewind_handle")
      (i32.store8 (i32.const 8) (i32.add (i32.load8_u (i32.const 8)) (i32.const 1)))
      (drop (call $put (i32.const 0) (i32.const 1) (i32.const 1024)
        (select (i32.const 200000) (i32.const 1) (i64.gt_u (call $len) (i64.const 0)))))
      (call $write (i32.const 8) (i32.const 1)))))");
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->handle("c", request("POST", "/")).response.body, "\x01");
  auto big = ns->handle("c", request("POST", "/", "big"));
  EXPECT_EQ(big.response.status, 500);
  EXPECT_NE(big.response.body.find("\"storage\""), std::string::npos);
  ASSERT_TRUE(big.failure);
  EXPECT_EQ(big.failure->action, "rollback");
  // The counter is back at 1, so this call makes it 2.
  EXPECT_EQ(ns->handle("c", request("POST", "/")).response.body, "\x02");
  EXPECT_EQ(ns->stats().commit_failures, 1u);
}

}  // namespace
}  // namespace rw::objects
