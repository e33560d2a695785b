// Crash test: a child process commits transactions under load from several threads and reports
// each one to the parent over a pipe only after commit() returned (the acknowledgement). The
// parent kills it with SIGKILL at a random instant, reopens the database and checks that every
// acknowledged transaction is there and that no transaction is partly there. Rounds alternate
// between group commit on and off.
//
// REWIND_CRASH_ROUNDS (default 20) and REWIND_CRASH_MAX_MS (default 300) make longer runs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "../common/kill_child.h"
#include "rewind/durable.h"
#include "test_util.h"

namespace rw::durable {
namespace {

using testing::ScratchDir;

constexpr int kWriterThreads = 6;

// One acknowledgement: which object, which sequence number. 8 bytes, so a write to the pipe is
// atomic (< PIPE_BUF) even with several threads writing.
struct Ack {
  uint32_t object;
  uint32_t seq;
};

int env_int(const char* name, int fallback) {
  const char* v = getenv(name);
  return v && *v ? atoi(v) : fallback;
}

std::string object_name(uint32_t object) { return "obj" + std::to_string(object); }
std::string seq_key(char half, uint32_t seq) {
  char buf[16];
  snprintf(buf, sizeof buf, "%c/%08u", half, seq);
  return buf;
}
// A value large enough that a transaction spans several WAL pages.
std::string value_for(uint32_t object, uint32_t seq) {
  std::string v = object_name(object) + ":" + std::to_string(seq) + ":";
  v.resize(1500 + seq % 3000, static_cast<char>('a' + seq % 26));
  return v;
}

// Runs in the child; never returns. Each thread owns one object (calls to an object are
// serialised, as in the runtime) and continues that object's sequence from what is stored.
[[noreturn]] void run_writer(const std::string& path, int ack_fd, bool group_commit) {
  StorageOptions options;
  options.path = path;
  options.group_commit = group_commit;
  auto storage = Storage::open(options);
  if (!storage.ok()) _exit(3);
  std::vector<std::thread> threads;
  for (uint32_t object = 0; object < kWriterThreads; ++object) {
    threads.emplace_back([&, object] {
      Storage& s = *storage.value();
      uint32_t seq = 0;
      {
        Transaction tx = s.begin(object_name(object));
        if (auto last = tx.get("last")) seq = static_cast<uint32_t>(std::stoul(*last)) + 1;
      }
      for (;; ++seq) {
        Transaction tx = s.begin(object_name(object));
        // A pair of keys that must appear together or not at all, and a counter overwritten by
        // every transaction.
        tx.put(seq_key('a', seq), value_for(object, seq));
        tx.put(seq_key('b', seq), value_for(object, seq));
        tx.put("last", std::to_string(seq));
        if (seq % 7 == 3) tx.remove(seq_key('a', seq - 3));
        if (seq % 7 == 3) tx.remove(seq_key('b', seq - 3));
        if (!tx.commit().ok()) _exit(4);
        Ack ack{object, seq};
        if (write(ack_fd, &ack, sizeof ack) != sizeof ack) _exit(5);
      }
    });
  }
  for (auto& t : threads) t.join();
  _exit(0);
}

TEST(CrashTest, AcknowledgedWritesSurviveSigkillAndNoTransactionIsPartial) {
  const int rounds = env_int("REWIND_CRASH_ROUNDS", 20);
  const int max_ms = std::max(1, env_int("REWIND_CRASH_MAX_MS", 300));
  ScratchDir dir;
  const std::string path = dir.file("crash.db");
  std::mt19937 rng(static_cast<uint32_t>(getpid()) ^ static_cast<uint32_t>(time(nullptr)));

  // The highest acknowledged sequence number of every object, over all rounds.
  std::map<uint32_t, uint32_t> acked_max;
  uint64_t total_acks = 0;
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    auto acks = rw::testing::records_until_killed<Ack>(
        [&](int fd) { run_writer(path, fd, /*group_commit=*/round % 2 == 0); },
        std::chrono::milliseconds(rng() % max_ms));
    if (::testing::Test::HasFailure()) return;

    // Every acknowledgement written before the kill is still in the pipe.
    std::set<std::pair<uint32_t, uint32_t>> acked;
    for (const Ack& ack : acks) {
      acked.insert({ack.object, ack.seq});
      auto [it, fresh] = acked_max.try_emplace(ack.object, ack.seq);
      if (!fresh) it->second = std::max(it->second, ack.seq);
    }
    total_acks += acked.size();

    StorageOptions options;
    options.path = path;
    auto storage = Storage::open(options);
    ASSERT_TRUE(storage.ok()) << storage.error().message;
    for (uint32_t object = 0; object < kWriterThreads; ++object) {
      Transaction tx = storage.value()->begin(object_name(object));
      std::optional<Bytes> last = tx.get("last");
      auto max_it = acked_max.find(object);
      if (max_it == acked_max.end()) continue;
      ASSERT_TRUE(last.has_value()) << "object " << object << " lost every write";
      uint32_t stored_last = static_cast<uint32_t>(std::stoul(*last));
      // Acknowledged means durable: the counter is at least the last acknowledged value (it
      // may be one further: committed, killed before the acknowledgement was written).
      ASSERT_GE(stored_last, max_it->second) << "object " << object << ", round " << round;

      std::vector<Entry> a, b;
      std::optional<Bytes> after;
      for (char half : {'a', 'b'}) {
        auto& out = half == 'a' ? a : b;
        after.reset();
        for (;;) {
          ListOptions lo;
          lo.prefix = std::string(1, half) + "/";
          lo.start_after = after;
          lo.limit = 5000;
          auto page = tx.list(lo);
          if (page.empty()) break;
          after = page.back().key;
          out.insert(out.end(), page.begin(), page.end());
        }
      }
      // No partial transaction: the a and b halves match one for one, with the right values,
      // and nothing beyond the stored counter exists.
      ASSERT_EQ(a.size(), b.size()) << "object " << object << ", round " << round;
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_EQ(a[i].key.substr(1), b[i].key.substr(1));
        uint32_t seq = static_cast<uint32_t>(std::stoul(a[i].key.substr(2)));
        ASSERT_LE(seq, stored_last);
        ASSERT_EQ(a[i].value, value_for(object, seq));
        ASSERT_EQ(b[i].value, a[i].value);
      }
      // Every acknowledged pair of this round is present unless a later transaction deleted it.
      for (const auto& [obj, seq] : acked) {
        if (obj != object) continue;
        bool deleted_later = (seq + 3) % 7 == 3 && seq + 3 <= stored_last;
        std::optional<Bytes> v = tx.get(seq_key('a', seq));
        if (!deleted_later) ASSERT_TRUE(v.has_value()) << "acknowledged " << seq << " is missing";
      }
    }
  }
  RecordProperty("acknowledged_transactions", static_cast<int>(total_acks));
  printf("%llu transactions acknowledged over %d rounds\n",
         static_cast<unsigned long long>(total_acks), rounds);
  // The test must actually have exercised commits, not only killed the child during startup.
  EXPECT_GT(total_acks, 0u);
}

}  // namespace
}  // namespace rw::durable
