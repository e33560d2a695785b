// Nothing acknowledged is lost (recovery model, durable objects 4), at the object layer: a
// forked child serves bank objects from several threads and reports each response only after
// handle() returned it; the parent SIGKILLs the child at a random instant and checks that every
// reported balance is in the database, and that no half-way transfer is visible.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../common/kill_child.h"
#include "objects_test_util.h"
#include "rewind/objects.h"

namespace rw::objects {
namespace {

const std::string kBank = std::string(REWIND_BINARY_DIR) + "/examples/bank.wasm";
constexpr int kObjects = 4;

struct Ack {
  int32_t object;
  int32_t balance;  // of account "a" after a deposit of 1, as the response said
};

// In the child: never returns.
[[noreturn]] void serve(const std::string& db, int fd) {
  NamespaceConfig config;
  config.name = "bank";
  config.module_path = kBank;
  config.db_path = db;
  config.idle_timeout = std::chrono::milliseconds(0);
  auto ns = Namespace::create(config);
  if (!ns.ok()) _exit(3);
  ns.value()->on_log = [](const runtime::LogRecord&) {};
  std::vector<std::thread> threads;
  for (int t = 0; t < kObjects * 2; ++t) {
    threads.emplace_back([&, t] {
      std::string object = "o" + std::to_string(t % kObjects);
      for (int i = 0;; ++i) {
        runtime::Request deposit = testing::request("POST", "/deposit?account=a&amount=1");
        auto r = ns.value()->handle(object, deposit);
        if (r.response.status != 200) _exit(4);
        // {"account":"a","balance":N}
        size_t colon = r.response.body.rfind(':');
        Ack ack{t % kObjects, std::atoi(r.response.body.c_str() + colon + 1)};
        if (write(fd, &ack, sizeof ack) != sizeof ack) _exit(5);
        // Half-way failures in between: a's debit must never be visible without b's credit.
        const char* fail = i % 2 ? "&fail=abort" : "&fail=panic";
        ns.value()->handle(object, testing::request("POST", std::string("/transfer?from=a&to=b&"
                                                                        "amount=1") +
                                                                fail));
      }
    });
  }
  for (auto& t : threads) t.join();
  _exit(0);
}

TEST(ObjectCrashTest, AcknowledgedResponsesSurviveSigkill) {
  if (!std::filesystem::exists(kBank)) GTEST_SKIP() << kBank << " was not built";
  int rounds = 5;
  if (const char* env = getenv("REWIND_CRASH_ROUNDS")) rounds = std::max(1, std::atoi(env));
  testing::ScratchDir dir;
  std::string db = dir.file("bank.db");
  std::mt19937 rng(42);
  std::map<int32_t, int32_t> acked;  // object -> highest balance acknowledged
  size_t total_acks = 0;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    auto acks = rw::testing::records_until_killed<Ack>(
        [&](int fd) { serve(db, fd); }, std::chrono::milliseconds(100 + rng() % 300));
    if (::testing::Test::HasFailure()) return;
    for (const Ack& ack : acks) acked[ack.object] = std::max(acked[ack.object], ack.balance);
    total_acks += acks.size();

    durable::StorageOptions options;
    options.path = db;
    auto storage = durable::Storage::open(options);
    ASSERT_TRUE(storage.ok()) << storage.error().message;
    for (const auto& [object, balance] : acked) {
      durable::Transaction tx = storage.value()->begin("o" + std::to_string(object));
      int64_t a = std::stoll(tx.get("acct/a").value_or("0"));
      EXPECT_GE(a, balance) << "object o" << object << ", round " << round;
      // Every transfer failed half-way: nothing may have reached b.
      EXPECT_FALSE(tx.get("acct/b")) << "object o" << object;
    }
  }
  EXPECT_GT(total_acks, 0u);
  std::printf("%zu acknowledged deposits across %d kills\n", total_acks, rounds);
}

}  // namespace
}  // namespace rw::objects
