// The bank example (examples/bank) as a durable object: transfers that fail half-way, panics,
// eviction and rebuild, many objects under a live bound.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>

#include "objects_test_util.h"
#include "rewind/objects.h"

namespace rw::objects {
namespace {

using testing::request;
using testing::ScratchDir;

const std::string kBank = std::string(REWIND_BINARY_DIR) + "/examples/bank.wasm";

struct Mode {
  runtime::AbortMode on_abort;
  std::string fail;    // the transfer's fail= parameter
  std::string action;  // the recovery expected
  std::string kind;    // the abort kind expected (empty for a panic)
  std::string name;
};

class BankTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kBank)) GTEST_SKIP() << kBank << " was not built";
  }

  std::shared_ptr<Namespace> open(NamespaceConfig config = {}) {
    config.name = "bank";
    config.module_path = kBank;
    config.db_path = dir_.file("bank.db");
    auto ns = Namespace::create(config);
    EXPECT_TRUE(ns.ok()) << (ns.ok() ? "" : ns.error().message);
    if (!ns.ok()) return nullptr;
    ns.value()->on_log = [](const runtime::LogRecord&) {};
    return ns.value();
  }

  static runtime::HandleResult call(Namespace& ns, const std::string& object, std::string method,
                                    std::string target) {
    return ns.handle(object, request(std::move(method), std::move(target)));
  }

  // The balance as the object holds it in memory, and as its storage holds it (read by the
  // object in a call, and directly from the database).
  static void expect_balance(Namespace& ns, const std::string& object, const std::string& account,
                             int64_t expected) {
    std::string body =
        "{\"account\":\"" + account + "\",\"balance\":" + std::to_string(expected) + "}\n";
    auto memory = call(ns, object, "GET", "/balance?account=" + account);
    EXPECT_EQ(memory.response.status, 200);
    EXPECT_EQ(memory.response.body, body) << "in memory";
    auto stored = call(ns, object, "GET", "/balance?account=" + account + "&source=storage");
    EXPECT_EQ(stored.response.body, body) << "in storage, through the object";
    durable::Transaction tx = ns.storage()->begin(object);
    EXPECT_EQ(tx.get("acct/" + account), std::to_string(expected)) << "in the database";
  }

  ScratchDir dir_;
};

TEST_F(BankTest, DepositsAndTransfersAreStoredAndKeptInMemory) {
  auto ns = open();
  ASSERT_TRUE(ns);
  EXPECT_EQ(call(*ns, "acme", "POST", "/deposit?account=a&amount=100").response.status, 200);
  EXPECT_EQ(call(*ns, "acme", "POST", "/deposit?account=b&amount=50").response.status, 200);
  auto t = call(*ns, "acme", "POST", "/transfer?from=a&to=b&amount=30");
  EXPECT_EQ(t.response.status, 200);
  EXPECT_EQ(t.response.body, "{\"from\":70,\"to\":80}\n");
  expect_balance(*ns, "acme", "a", 70);
  expect_balance(*ns, "acme", "b", 80);
  EXPECT_EQ(call(*ns, "acme", "POST", "/transfer?from=a&to=b&amount=71").response.status, 409);
  expect_balance(*ns, "acme", "a", 70);
  // Objects are separate: another bank has no accounts.
  EXPECT_EQ(call(*ns, "other", "GET", "/balance?account=a").response.status, 404);
  EXPECT_EQ(call(*ns, "other", "GET", "/accounts").response.body, "{}\n");
  NamespaceStats stats = ns->stats();
  EXPECT_EQ(stats.live_objects, 2u);
  EXPECT_EQ(stats.spawns, 2u);
  EXPECT_EQ(stats.panics + stats.aborts + stats.host_errors, 0u);
}

class HalfWayTest : public BankTest, public ::testing::WithParamInterface<Mode> {};

// Done means: a transfer that fails half-way leaves both balances unchanged, in memory and in
// storage, whatever the failure and the recovery mode; the object then keeps working.
TEST_P(HalfWayTest, LeavesBothBalancesUnchanged) {
  const Mode& mode = GetParam();
  NamespaceConfig config;
  config.on_abort = mode.on_abort;
  auto ns = open(config);
  ASSERT_TRUE(ns);
  std::vector<runtime::FailureRecord> failures;
  ns->on_failure = [&](const runtime::FailureRecord& r) { failures.push_back(r); };
  ASSERT_EQ(call(*ns, "acme", "POST", "/deposit?account=a&amount=100").response.status, 200);
  ASSERT_EQ(call(*ns, "acme", "POST", "/deposit?account=b&amount=50").response.status, 200);

  auto failed = call(*ns, "acme", "POST", "/transfer?from=a&to=b&amount=30&fail=" + mode.fail);
  EXPECT_EQ(failed.response.status, 500);
  ASSERT_TRUE(failed.failure);
  EXPECT_EQ(failed.failure->action, mode.action);
  if (mode.kind.empty()) {
    EXPECT_EQ(failed.failure->outcome, Outcome::Panic);
    EXPECT_EQ(failed.failure->message, "transfer failed half-way");
  } else {
    EXPECT_EQ(failed.failure->outcome, Outcome::Abort);
    ASSERT_TRUE(failed.failure->trap);
    EXPECT_EQ(to_string(*failed.failure->trap), mode.kind);
  }
  EXPECT_EQ(failures.size(), 1u);

  expect_balance(*ns, "acme", "a", 100);
  expect_balance(*ns, "acme", "b", 50);
  // A reset is back to the snapshot (where the load count is 0) plus one reload.
  EXPECT_EQ(call(*ns, "acme", "GET", "/loads").response.body, "{\"loads\":1}\n");
  EXPECT_EQ(failed.failure->generation, mode.action == "reset" ? 1u : 0u);

  auto ok = call(*ns, "acme", "POST", "/transfer?from=a&to=b&amount=30");
  EXPECT_EQ(ok.response.body, "{\"from\":70,\"to\":80}\n");
  expect_balance(*ns, "acme", "a", 70);
  expect_balance(*ns, "acme", "b", 80);
  EXPECT_EQ(ns->stats().recoveries, 1u);
}

INSTANTIATE_TEST_SUITE_P(
    Modes, HalfWayTest,
    ::testing::Values(
        Mode{runtime::AbortMode::Rollback, "abort", "rollback", "unreachable", "RollbackTrap"},
        Mode{runtime::AbortMode::Rollback, "exit", "rollback", "guest_abort", "RollbackAbort"},
        Mode{runtime::AbortMode::Rollback, "panic", "rollback", "", "RollbackPanic"},
        Mode{runtime::AbortMode::Reset, "abort", "reset", "unreachable", "ResetTrap"},
        Mode{runtime::AbortMode::Reset, "exit", "reset", "guest_abort", "ResetAbort"},
        Mode{runtime::AbortMode::Reset, "panic", "rollback", "", "ResetModePanicRollsBack"}),
    [](const ::testing::TestParamInfo<Mode>& info) { return info.param.name; });

// Done means: a panicking call's writes are invisible to the next call, even when the panic
// keeps the instance's memory (PanicMode::Keep): storage is rolled back whatever the mode.
TEST_F(BankTest, PanickingCallsWritesAreInvisibleToTheNextCall) {
  NamespaceConfig config;
  config.on_panic = runtime::PanicMode::Keep;
  auto ns = open(config);
  ASSERT_TRUE(ns);
  ASSERT_EQ(call(*ns, "acme", "POST", "/deposit?account=a&amount=100").response.status, 200);
  auto failed = call(*ns, "acme", "POST", "/transfer?from=a&to=b&amount=30&fail=panic");
  ASSERT_TRUE(failed.failure);
  EXPECT_EQ(failed.failure->action, "none");
  auto stored = call(*ns, "acme", "GET", "/balance?account=a&source=storage");
  EXPECT_EQ(stored.response.body, "{\"account\":\"a\",\"balance\":100}\n");
  // Keep mode leaves the debit in memory: what PanicMode::Keep means, and why objects default to
  // rollback.
  auto memory = call(*ns, "acme", "GET", "/balance?account=a");
  EXPECT_EQ(memory.response.body, "{\"account\":\"a\",\"balance\":70}\n");
}

// Rollback mode escalates to a reset after max_consecutive_failures failures in a row; the
// reset reloads from storage, so the balances are still right.
TEST_F(BankTest, ConsecutiveFailuresEscalateToAResetThatReloads) {
  auto ns = open();
  ASSERT_TRUE(ns);
  ASSERT_EQ(call(*ns, "acme", "POST", "/deposit?account=a&amount=100").response.status, 200);
  std::vector<std::string> actions;
  for (const char* fail : {"abort", "panic", "abort"}) {
    auto r = call(*ns, "acme", "POST", std::string("/transfer?from=a&to=b&amount=1&fail=") + fail);
    ASSERT_TRUE(r.failure);
    actions.push_back(r.failure->action);
  }
  EXPECT_EQ(actions, (std::vector<std::string>{"rollback", "rollback", "reset"}));
  expect_balance(*ns, "acme", "a", 100);
  EXPECT_EQ(call(*ns, "acme", "GET", "/balance?account=b").response.status, 404);
  EXPECT_EQ(call(*ns, "acme", "GET", "/loads").response.body, "{\"loads\":1}\n");
}

// Objects of one namespace in parallel, each with transfers that fail half-way in between:
// every object's books balance at the end, in memory and in storage.
TEST_F(BankTest, ConcurrentObjectsWithFailingTransfersKeepTheirBooks) {
  NamespaceConfig config;
  config.on_abort = runtime::AbortMode::Reset;
  auto ns = open(config);
  ASSERT_TRUE(ns);
  constexpr int kObjects = 6, kRounds = 15;
  std::vector<std::thread> threads;
  std::atomic<int> unexpected{0};
  for (int t = 0; t < 2 * kObjects; ++t) {
    threads.emplace_back([&, t] {
      std::string object = "bank" + std::to_string(t % kObjects);
      if (t < kObjects &&
          call(*ns, object, "POST", "/deposit?account=a&amount=1000").response.status != 200)
        ++unexpected;
      for (int i = 0; i < kRounds; ++i) {
        const char* fail = i % 3 == 0 ? "&fail=abort" : i % 3 == 1 ? "&fail=panic" : "";
        auto r = call(*ns, object, "POST", std::string("/transfer?from=a&to=b&amount=1") + fail);
        int expected = *fail ? 500 : 200;
        // The first deposit may not have run yet: 409 is fine for the plain transfers.
        if (r.response.status != expected && r.response.status != 409) ++unexpected;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(unexpected.load(), 0);
  for (int o = 0; o < kObjects; ++o) {
    std::string object = "bank" + std::to_string(o);
    durable::Transaction tx = ns->storage()->begin(object);
    int64_t a = std::stoll(tx.get("acct/a").value_or("0"));
    int64_t b = std::stoll(tx.get("acct/b").value_or("0"));
    EXPECT_EQ(a + b, 1000) << object;
    EXPECT_GT(b, 0) << object;
    expect_balance(*ns, object, "a", a);
    expect_balance(*ns, object, "b", b);
  }
}

// Done means: eviction and rebuild keep the data.
TEST_F(BankTest, EvictionAndRebuildKeepTheData) {
  auto ns = open();
  ASSERT_TRUE(ns);
  ASSERT_EQ(call(*ns, "acme", "POST", "/deposit?account=a&amount=100").response.status, 200);
  ASSERT_EQ(call(*ns, "acme", "POST", "/transfer?from=a&to=b&amount=40").response.status, 200);
  EXPECT_EQ(ns->evict_idle(), 1u);
  EXPECT_EQ(ns->stats().live_objects, 0u);
  EXPECT_EQ(call(*ns, "acme", "GET", "/accounts").response.body, "{\"a\":60,\"b\":40}\n");
  EXPECT_EQ(call(*ns, "acme", "GET", "/loads").response.body, "{\"loads\":1}\n");
  NamespaceStats stats = ns->stats();
  EXPECT_EQ(stats.spawns, 2u);
  EXPECT_EQ(stats.idle_evictions, 1u);
  EXPECT_EQ(stats.live_objects, 1u);
}

TEST_F(BankTest, IdleObjectsAreEvictedAfterTheTimeout) {
  NamespaceConfig config;
  config.idle_timeout = std::chrono::milliseconds(30);
  auto ns = open(config);
  ASSERT_TRUE(ns);
  ASSERT_EQ(call(*ns, "acme", "POST", "/deposit?account=a&amount=5").response.status, 200);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ns->stats().live_objects != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(ns->stats().live_objects, 0u);
  EXPECT_GE(ns->stats().idle_evictions, 1u);
  expect_balance(*ns, "acme", "a", 5);
}

// Memory stays bounded with many objects: beyond max_live_objects the least recently used idle
// object loses its instance, and each comes back with its data.
TEST_F(BankTest, ManyObjectsStayWithinTheLiveBound) {
  NamespaceConfig config;
  config.max_live_objects = 4;
  config.storage.sync = durable::Sync::Normal;
  auto ns = open(config);
  ASSERT_TRUE(ns);
  constexpr int kObjects = 40;
  for (int round = 1; round <= 2; ++round) {
    for (int i = 0; i < kObjects; ++i) {
      auto r = call(*ns, "bank" + std::to_string(i), "POST",
                    "/deposit?account=a&amount=" + std::to_string(i));
      ASSERT_EQ(r.response.status, 200);
      EXPECT_EQ(r.response.body,
                "{\"account\":\"a\",\"balance\":" + std::to_string(i * round) + "}\n");
      EXPECT_LE(ns->stats().live_objects, 4u);
    }
  }
  NamespaceStats stats = ns->stats();
  EXPECT_EQ(stats.spawns, 2u * kObjects);
  EXPECT_EQ(stats.lru_evictions, 2u * kObjects - 4);
}

TEST_F(BankTest, BadRequestsAreRejectedBeforeTheObject) {
  NamespaceConfig config;
  config.limits.max_request_body_bytes = 8;
  auto ns = open(config);
  ASSERT_TRUE(ns);
  EXPECT_EQ(call(*ns, "", "GET", "/accounts").response.status, 400);
  EXPECT_EQ(call(*ns, std::string(2000, 'x'), "GET", "/accounts").response.status, 400);
  EXPECT_EQ(ns->handle("acme", request("POST", "/deposit", std::string(9, 'x'))).response.status,
            413);
  EXPECT_EQ(ns->stats().rejected, 3u);
  EXPECT_EQ(ns->stats().spawns, 0u);
  // Ids are bytes: zero bytes and slashes are fine.
  EXPECT_EQ(
      call(*ns, std::string("a\0b/c", 5), "POST", "/deposit?account=x&amount=1").response.status,
      200);
}

}  // namespace
}  // namespace rw::objects
