#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "rewind/durable.h"
#include "test_util.h"

namespace rw::durable {
namespace {

using testing::ScratchDir;
using namespace std::string_literals;

std::shared_ptr<Storage> open_storage(const std::string& path, StorageOptions options = {}) {
  options.path = path;
  auto storage = Storage::open(options);
  EXPECT_TRUE(storage.ok()) << (storage.ok() ? "" : storage.error().message);
  return storage.ok() ? storage.value() : nullptr;
}

void commit_ok(Transaction& tx) {
  auto result = tx.commit();
  ASSERT_TRUE(result.ok()) << result.error().message;
}

std::vector<Bytes> keys_of(const std::vector<Entry>& entries) {
  std::vector<Bytes> keys;
  for (const Entry& e : entries) keys.push_back(e.key);
  return keys;
}

// ListOptions without designated initializers (clang warns about the omitted fields).
ListOptions opts(Bytes prefix = {}, uint32_t limit = 1000, std::optional<Bytes> after = {},
                 size_t max_bytes = SIZE_MAX) {
  ListOptions o;
  o.prefix = std::move(prefix);
  o.limit = limit;
  o.start_after = std::move(after);
  o.max_bytes = max_bytes;
  return o;
}

class StorageTest : public ::testing::TestWithParam<bool> {
 protected:
  StorageOptions options() const {
    StorageOptions o;
    o.group_commit = GetParam();
    return o;
  }
  ScratchDir dir_;
  std::string path_ = dir_.file("ns.db");
};

TEST_P(StorageTest, CommittedWritesAreVisibleToTheNextCall) {
  auto storage = open_storage(path_, options());
  {
    Transaction tx = storage->begin("obj");
    EXPECT_EQ(tx.get("k"), std::nullopt);
    tx.put("k", "v1");
    tx.put("other", "x");
    commit_ok(tx);
    EXPECT_FALSE(tx.open());
  }
  Transaction next = storage->begin("obj");
  EXPECT_EQ(next.get("k"), "v1");
  EXPECT_EQ(next.get("other"), "x");
  EXPECT_TRUE(next.remove("other"));
  next.put("k", "v2");
  commit_ok(next);

  Transaction third = storage->begin("obj");
  EXPECT_EQ(third.get("k"), "v2");
  EXPECT_EQ(third.get("other"), std::nullopt);
  EXPECT_EQ(storage->stats().commits, 2u);
}

TEST_P(StorageTest, RollbackDiscardsEveryWriteOfTheCall) {
  auto storage = open_storage(path_, options());
  Transaction seed = storage->begin("obj");
  seed.put("keep", "1");
  commit_ok(seed);

  Transaction failing = storage->begin("obj");
  failing.put("new", "x");
  failing.put("keep", "changed");
  EXPECT_TRUE(failing.remove("keep"));
  failing.rollback();
  EXPECT_FALSE(failing.open());
  failing.rollback();  // a second rollback is harmless

  Transaction after = storage->begin("obj");
  EXPECT_EQ(after.get("new"), std::nullopt);
  EXPECT_EQ(after.get("keep"), "1");
  EXPECT_GE(storage->stats().rollbacks, 1u);
}

TEST_P(StorageTest, DestroyingAnOpenTransactionRollsBack) {
  auto storage = open_storage(path_, options());
  {
    Transaction tx = storage->begin("obj");
    tx.put("k", "v");
  }
  Transaction after = storage->begin("obj");
  EXPECT_EQ(after.get("k"), std::nullopt);
}

TEST_P(StorageTest, ReadsSeeTheCallsOwnWrites) {
  auto storage = open_storage(path_, options());
  Transaction seed = storage->begin("obj");
  seed.put("committed", "c");
  commit_ok(seed);

  Transaction tx = storage->begin("obj");
  tx.put("k", "1");
  EXPECT_EQ(tx.get("k"), "1");
  tx.put("k", "2");
  EXPECT_EQ(tx.get("k"), "2");
  EXPECT_TRUE(tx.remove("k"));
  EXPECT_EQ(tx.get("k"), std::nullopt);
  EXPECT_FALSE(tx.remove("k"));
  EXPECT_FALSE(tx.remove("never"));
  EXPECT_TRUE(tx.remove("committed"));
  EXPECT_EQ(tx.get("committed"), std::nullopt);
  tx.put("committed", "again");
  EXPECT_EQ(tx.get("committed"), "again");
  commit_ok(tx);

  Transaction after = storage->begin("obj");
  EXPECT_EQ(after.get("k"), std::nullopt);
  EXPECT_EQ(after.get("committed"), "again");
}

TEST_P(StorageTest, ObjectsDoNotSeeEachOthersKeys) {
  auto storage = open_storage(path_, options());
  Transaction a = storage->begin("a");
  a.put("k", "from a");
  commit_ok(a);
  Transaction b = storage->begin("b");
  EXPECT_EQ(b.get("k"), std::nullopt);
  EXPECT_TRUE(b.list(opts()).empty());
  b.put("k", "from b");
  commit_ok(b);
  // An object id that is a prefix of another is still a different object.
  Transaction ab = storage->begin("ab");
  EXPECT_EQ(ab.get("k"), std::nullopt);
  Transaction a2 = storage->begin("a");
  EXPECT_EQ(a2.get("k"), "from a");
}

TEST_P(StorageTest, BinaryKeysValuesAndObjectIds) {
  auto storage = open_storage(path_, options());
  const Bytes id = "o\0bj"s, k1 = "\0"s, k2 = "a\0b"s, k3 = "a\0c"s, empty;
  const Bytes v = "\0\xff\0"s;
  Transaction tx = storage->begin(id);
  tx.put(k1, v);
  tx.put(k2, empty);
  tx.put(k3, "\xff"s);
  tx.put(empty, "empty key");
  commit_ok(tx);

  Transaction r = storage->begin(id);
  EXPECT_EQ(r.get(k1), v);
  EXPECT_EQ(r.get(k2), empty);  // present and empty, not missing
  EXPECT_EQ(r.get(empty), "empty key");
  EXPECT_EQ(r.get("a"), std::nullopt);
  EXPECT_EQ(storage->begin("o"s).get(k1), std::nullopt);
  EXPECT_EQ(keys_of(r.list(opts("a\0"s))), (std::vector<Bytes>{k2, k3}));
  EXPECT_EQ(keys_of(r.list(opts())), (std::vector<Bytes>{empty, k1, k2, k3}));
}

TEST_P(StorageTest, ListIsInByteOrderWithPrefixLimitAndPaging) {
  auto storage = open_storage(path_, options());
  Transaction seed = storage->begin("obj");
  for (const Bytes& k :
       {"b"s, "a"s, "ab"s, "a\xff"s, "a\x80"s, "a\x01"s, "\xff"s, "\xff\xff"s, "c"s})
    seed.put(k, "v" + k);
  commit_ok(seed);

  Transaction tx = storage->begin("obj");
  EXPECT_EQ(keys_of(tx.list(opts())), (std::vector<Bytes>{"a", "a\x01", "ab", "a\x80", "a\xff", "b",
                                                          "c", "\xff", "\xff\xff"}));
  EXPECT_EQ(keys_of(tx.list(opts("a"))),
            (std::vector<Bytes>{"a", "a\x01", "ab", "a\x80", "a\xff"}));
  EXPECT_EQ(keys_of(tx.list(opts("a", 2))), (std::vector<Bytes>{"a", "a\x01"}));
  EXPECT_EQ(keys_of(tx.list(opts("\xff"))), (std::vector<Bytes>{"\xff", "\xff\xff"}));
  EXPECT_EQ(keys_of(tx.list(opts("a", 1000, "a\x01"))),
            (std::vector<Bytes>{"ab", "a\x80", "a\xff"}));
  EXPECT_EQ(keys_of(tx.list(opts("a", 1000, "a\xff"))), std::vector<Bytes>{});
  EXPECT_EQ(keys_of(tx.list(opts("b", 1000, "a"))), std::vector<Bytes>{"b"});
  EXPECT_EQ(keys_of(tx.list(opts("zz"))), std::vector<Bytes>{});
  EXPECT_EQ(tx.list(opts("c")), (std::vector<Entry>{{"c", "vc"}}));

  // Paging with start_after visits every key exactly once.
  std::vector<Bytes> paged;
  std::optional<Bytes> after;
  for (;;) {
    auto page = tx.list(opts({}, 2, after));
    if (page.empty()) break;
    for (const Entry& e : page) paged.push_back(e.key);
    after = page.back().key;
  }
  EXPECT_EQ(paged, keys_of(tx.list(opts())));

  // The byte budget stops early but always returns at least one entry.
  EXPECT_EQ(tx.list(opts({}, 1000, {}, 1)).size(), 1u);
  EXPECT_EQ(tx.list(opts({}, 1000, {}, 11)).size(), 1u);  // "a" + "va" + 8
  EXPECT_EQ(tx.list(opts({}, 1000, {}, 12)).size(), 2u);
}

TEST_P(StorageTest, ListMergesTheCallsWritesWithCommittedRows) {
  auto storage = open_storage(path_, options());
  Transaction seed = storage->begin("obj");
  for (const char* k : {"k1", "k3", "k5", "k7"}) seed.put(k, "old");
  commit_ok(seed);

  Transaction tx = storage->begin("obj");
  tx.put("k2", "new");
  tx.put("k3", "new");
  tx.remove("k5");
  tx.put("k8", "new");
  tx.remove("k9");  // tombstone for a key that never existed
  tx.put("x", "outside the prefix");
  EXPECT_EQ(tx.list(opts("k")),
            (std::vector<Entry>{
                {"k1", "old"}, {"k2", "new"}, {"k3", "new"}, {"k7", "old"}, {"k8", "new"}}));
  // The limit counts visible entries only, not deleted ones.
  EXPECT_EQ(keys_of(tx.list(opts("k", 2, "k3"))), (std::vector<Bytes>{"k7", "k8"}));
  tx.remove("k1");
  tx.remove("k2");
  EXPECT_EQ(keys_of(tx.list(opts("k", 1))), std::vector<Bytes>{"k3"});
}

// Random operations against an in-memory model, with commits and rollbacks, checking every read
// and list.
TEST_P(StorageTest, MatchesAModelUnderRandomOperations) {
  auto storage = open_storage(path_, options());
  std::mt19937 rng(1234);
  std::map<Bytes, Bytes> committed;
  auto random_key = [&] {
    static const char alphabet[] = {'\0', 'a', 'b', '\x7f', '\x80', '\xff'};
    Bytes k;
    size_t len = rng() % 4;
    for (size_t i = 0; i < len; ++i) k += alphabet[rng() % sizeof alphabet];
    return k;
  };
  for (int call = 0; call < 60; ++call) {
    std::map<Bytes, Bytes> model = committed;
    Transaction tx = storage->begin("obj");
    for (int op = 0; op < 20; ++op) {
      Bytes key = random_key();
      switch (rng() % 4) {
        case 0: {
          Bytes value = std::to_string(rng());
          tx.put(key, value);
          model[key] = value;
          break;
        }
        case 1: EXPECT_EQ(tx.remove(key), model.erase(key) == 1); break;
        case 2: {
          auto it = model.find(key);
          EXPECT_EQ(tx.get(key), it == model.end() ? std::nullopt : std::optional(it->second));
          break;
        }
        default: {
          Bytes prefix = key.substr(0, rng() % 2);
          uint32_t limit = 1 + rng() % 6;
          std::vector<Entry> expected;
          for (auto it = model.lower_bound(prefix);
               it != model.end() && it->first.starts_with(prefix) && expected.size() < limit; ++it)
            expected.push_back({it->first, it->second});
          EXPECT_EQ(tx.list(opts(prefix, limit)), expected);
        }
      }
    }
    if (rng() % 3 == 0) {
      tx.rollback();
    } else {
      commit_ok(tx);
      committed = model;
    }
  }
  Transaction check = storage->begin("obj");
  std::vector<Entry> all;
  for (const auto& [k, v] : committed) all.push_back({k, v});
  EXPECT_EQ(check.list(opts({}, 10000)), all);
}

TEST_P(StorageTest, WritesSurviveReopening) {
  {
    auto storage = open_storage(path_, options());
    Transaction tx = storage->begin("obj");
    tx.put("k", "v");
    commit_ok(tx);
  }
  auto storage = open_storage(path_, options());
  EXPECT_EQ(storage->begin("obj").get("k"), "v");
}

TEST_P(StorageTest, EraseObjectRemovesOnlyThatObject) {
  auto storage = open_storage(path_, options());
  for (const char* id : {"a", "b"}) {
    Transaction tx = storage->begin(id);
    tx.put("k1", "v");
    tx.put("k2", "v");
    commit_ok(tx);
  }
  ASSERT_TRUE(storage->erase_object("a").ok());
  EXPECT_TRUE(storage->begin("a").list(opts()).empty());
  EXPECT_EQ(storage->begin("b").list(opts()).size(), 2u);
}

TEST_P(StorageTest, ClosedTransactionsRefuseUse) {
  auto storage = open_storage(path_, options());
  Transaction tx = storage->begin("obj");
  tx.put("k", "v");
  commit_ok(tx);
  auto again = tx.commit();
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("already committed"), std::string::npos);
  try {
    tx.put("k", "v");
    FAIL() << "put on a committed transaction";
  } catch (const StorageError& e) {
    EXPECT_EQ(e.kind(), StorageError::Kind::Closed);
  }
  EXPECT_THROW(tx.get("k"), StorageError);
  EXPECT_THROW(tx.list(opts()), StorageError);
  // A moved-from transaction is closed too.
  Transaction a = storage->begin("obj");
  Transaction b = std::move(a);
  EXPECT_FALSE(a.open());
  EXPECT_TRUE(b.open());
  EXPECT_EQ(b.get("k"), "v");
}

TEST_P(StorageTest, ReadOnlyCallsCommitWithoutATransaction) {
  auto storage = open_storage(path_, options());
  Transaction tx = storage->begin("obj");
  tx.get("k");
  commit_ok(tx);
  EXPECT_EQ(storage->stats().empty_commits, 1u);
  EXPECT_EQ(storage->stats().batches, 0u);
}

TEST_P(StorageTest, EveryAcknowledgedWriteOfConcurrentCallsIsPresentAfterReopening) {
  constexpr int kThreads = 12, kCallsPerThread = 20;
  std::atomic<int> failures{0};
  uint64_t batches = 0;
  {
    auto storage = open_storage(path_, options());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kCallsPerThread; ++i) {
          Transaction tx = storage->begin("obj" + std::to_string(t));
          tx.put("n" + std::to_string(i), std::to_string(i * 7));
          tx.put("last", std::to_string(i));
          if (!tx.commit().ok()) ++failures;
          // Every call sees the previous one of its object.
          Transaction check = storage->begin("obj" + std::to_string(t));
          if (check.get("last") != std::to_string(i)) ++failures;
        }
      });
    }
    for (auto& th : threads) th.join();
    StorageStats stats = storage->stats();
    EXPECT_EQ(stats.commits, uint64_t{kThreads * kCallsPerThread});
    EXPECT_EQ(stats.failed_commits, 0u);
    batches = stats.batches;
    if (GetParam()) {
      EXPECT_LE(batches, stats.commits);
    } else {
      EXPECT_EQ(batches, stats.commits);
    }
  }
  EXPECT_EQ(failures, 0);
  auto storage = open_storage(path_, options());
  for (int t = 0; t < kThreads; ++t) {
    Transaction tx = storage->begin("obj" + std::to_string(t));
    EXPECT_EQ(tx.list(opts("n")).size(), size_t{kCallsPerThread});
    for (int i = 0; i < kCallsPerThread; ++i)
      EXPECT_EQ(tx.get("n" + std::to_string(i)), std::to_string(i * 7));
  }
  RecordProperty("batches", static_cast<int>(batches));
}

INSTANTIATE_TEST_SUITE_P(GroupCommit, StorageTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Grouped" : "Direct"; });

// With a tiny batch bound the queue outgrows each batch, so leadership passes on while calls are
// still waiting; every call must still complete, each batch holding at most two calls.
TEST(GroupCommitTest, BatchesAreBoundedAndEveryWaitingCallCompletes) {
  ScratchDir dir;
  StorageOptions options;
  options.max_batch = 2;
  auto storage = open_storage(dir.file("ns.db"), options);
  constexpr int kThreads = 24, kCalls = 8;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        Transaction tx = storage->begin("obj" + std::to_string(t));
        tx.put("k" + std::to_string(i), "v");
        if (!tx.commit().ok()) ++failures;
      }
      // Erasing goes through the same queue.
      if (t % 4 == 0 && !storage->erase_object("obj" + std::to_string(t)).ok()) ++failures;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, 0);
  StorageStats stats = storage->stats();
  EXPECT_EQ(stats.commits, uint64_t{kThreads * kCalls + kThreads / 4});
  EXPECT_GE(stats.batches * 2, stats.commits);
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(storage->begin("obj" + std::to_string(t)).list(opts()).size(),
              t % 4 == 0 ? 0u : size_t{kCalls});
}

// ---------------------------------------------------------------------------------------------
// Limits and errors

TEST(StorageLimitsTest, OversizedKeysValuesAndTransactionsAreRefusedClearly) {
  ScratchDir dir;
  StorageOptions options;
  options.limits.max_key_bytes = 8;
  options.limits.max_value_bytes = 16;
  options.limits.max_object_id_bytes = 4;
  options.limits.max_transaction_bytes = 40;
  options.limits.max_list_limit = 5;
  auto storage = open_storage(dir.file("ns.db"), options);

  auto kind_of = [](auto&& f) {
    try {
      f();
    } catch (const StorageError& e) {
      EXPECT_NE(std::string(e.what()).find("exceeds the limit"), std::string::npos) << e.what();
      return e.kind();
    }
    ADD_FAILURE() << "no StorageError";
    return StorageError::Kind::Io;
  };
  using K = StorageError::Kind;
  EXPECT_EQ(kind_of([&] { storage->begin("12345"); }), K::ObjectIdTooLarge);
  Transaction tx = storage->begin("1234");
  tx.put("12345678", "");       // exactly at the key limit
  tx.put("k", Bytes(16, 'v'));  // exactly at the value limit
  EXPECT_EQ(kind_of([&] { tx.put("123456789", "v"); }), K::KeyTooLarge);
  EXPECT_EQ(kind_of([&] { tx.get("123456789"); }), K::KeyTooLarge);
  EXPECT_EQ(kind_of([&] { tx.remove("123456789"); }), K::KeyTooLarge);
  EXPECT_EQ(kind_of([&] { tx.list(opts("123456789", 5)); }), K::KeyTooLarge);
  EXPECT_EQ(kind_of([&] { tx.put("k", Bytes(17, 'v')); }), K::ValueTooLarge);
  // 8 + 17 bytes buffered; another 16-byte value would make 42 > 40.
  EXPECT_EQ(kind_of([&] { tx.put("k2", Bytes(16, 'v')); }), K::TransactionTooLarge);
  // Overwriting a buffered key counts its bytes once.
  tx.put("k", Bytes(16, 'w'));
  tx.put("k", Bytes(16, 'x'));
  EXPECT_EQ(tx.pending_bytes(), 8u + 17u);
  EXPECT_EQ(tx.pending_writes(), 2u);
  try {
    tx.list(opts({}, 0));
    FAIL();
  } catch (const StorageError& e) {
    EXPECT_EQ(e.kind(), K::BadArgument);
  }
  EXPECT_THROW(tx.list(opts({}, 6)), StorageError);
  EXPECT_EQ(tx.list(opts({}, 5)).size(), 2u);
  // The refused writes left the transaction usable and unchanged.
  commit_ok(tx);
  Transaction after = storage->begin("1234");
  EXPECT_EQ(after.get("k"), Bytes(16, 'x'));
  EXPECT_EQ(after.get("k2"), std::nullopt);
}

TEST(StorageOpenTest, UnopenableDatabasesGiveAnError) {
  ScratchDir dir;
  StorageOptions options;
  options.path = dir.file("missing-dir/ns.db");
  auto storage = Storage::open(options);
  ASSERT_FALSE(storage.ok());
  EXPECT_NE(storage.error().message.find("cannot open"), std::string::npos)
      << storage.error().message;
}

TEST(StorageOpenTest, LimitsTheGuestInterfaceCannotExpressAreRefused) {
  ScratchDir dir;
  auto refused = [&](auto change) {
    StorageOptions options;
    options.path = dir.file("ns.db");
    change(options.limits);
    auto storage = Storage::open(options);
    if (storage.ok()) return false;
    EXPECT_NE(storage.error().message.find("limits must"), std::string::npos);
    return true;
  };
  EXPECT_TRUE(refused([](StorageLimits& l) { l.max_value_bytes = size_t{1} << 31; }));
  EXPECT_TRUE(refused([](StorageLimits& l) { l.max_key_bytes = 0; }));
  EXPECT_TRUE(refused([](StorageLimits& l) { l.max_list_limit = 0; }));
  EXPECT_FALSE(refused([](StorageLimits& l) { l.max_value_bytes = 256 << 20; }));
}

TEST(StorageOpenTest, ANewerSchemaIsRefused) {
  ScratchDir dir;
  std::string path = dir.file("ns.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  StorageOptions options;
  options.path = path;
  auto storage = Storage::open(options);
  ASSERT_FALSE(storage.ok());
  EXPECT_NE(storage.error().message.find("schema version 99"), std::string::npos)
      << storage.error().message;
}

TEST(StorageOpenTest, AFileThatIsNotADatabaseIsRefused) {
  ScratchDir dir;
  std::string path = dir.file("ns.db");
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::string junk(4096, 'x');
  fwrite(junk.data(), 1, junk.size(), f);
  fclose(f);
  StorageOptions options;
  options.path = path;
  EXPECT_FALSE(Storage::open(options).ok());
}

// A commit that cannot get the write lock fails cleanly, stores nothing of the call, and the
// next commit works.
TEST(StorageCommitTest, AFailedCommitStoresNothingAndLaterCommitsWork) {
  for (bool grouped : {true, false}) {
    ScratchDir dir;
    StorageOptions options;
    options.group_commit = grouped;
    options.busy_timeout = std::chrono::milliseconds(20);
    auto storage = open_storage(dir.file("ns.db"), options);

    sqlite3* other = nullptr;
    ASSERT_EQ(sqlite3_open(dir.file("ns.db").c_str(), &other), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    Transaction tx = storage->begin("obj");
    tx.put("k", "v");
    auto result = tx.commit();
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.error().message.find("storage commit failed"), std::string::npos);
    EXPECT_NE(result.error().message.find("locked"), std::string::npos) << result.error().message;
    EXPECT_FALSE(tx.open());
    EXPECT_EQ(storage->stats().failed_commits, 1u);
    ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(other);

    EXPECT_EQ(storage->begin("obj").get("k"), std::nullopt);
    Transaction retry = storage->begin("obj");
    retry.put("k2", "v2");
    commit_ok(retry);
    EXPECT_EQ(storage->begin("obj").get("k2"), "v2");
  }
}

// A commit that cannot be stored (the database is at its size bound) fails alone and stores
// nothing of its call; smaller commits and deletes keep working.
TEST(StorageCommitTest, AFullDatabaseFailsTheCommitThatDoesNotFit) {
  for (bool grouped : {true, false}) {
    ScratchDir dir;
    StorageOptions options;
    options.group_commit = grouped;
    options.max_database_bytes = 256 << 10;
    auto storage = open_storage(dir.file("ns.db"), options);

    Transaction big = storage->begin("obj");
    big.put("small", "first");
    for (int i = 0; i < 4; ++i) big.put("big" + std::to_string(i), Bytes(100 << 10, 'x'));
    auto result = big.commit();
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.error().message.find("full"), std::string::npos) << result.error().message;
    EXPECT_EQ(storage->begin("obj").get("small"), std::nullopt);

    Transaction fits = storage->begin("obj");
    fits.put("big", Bytes(100 << 10, 'y'));
    commit_ok(fits);
    Transaction too_much = storage->begin("obj");
    too_much.put("big2", Bytes(200 << 10, 'z'));
    EXPECT_FALSE(too_much.commit().ok());
    Transaction remove = storage->begin("obj");
    EXPECT_TRUE(remove.remove("big"));
    commit_ok(remove);
    EXPECT_EQ(storage->begin("obj").get("big"), std::nullopt);
    EXPECT_EQ(storage->stats().failed_commits, 2u);
  }
}

// Calls that queue behind a blocked batch are committed together in the next one; the call in it
// that cannot be stored fails alone, the other one is committed.
TEST(GroupCommitTest, OneFailingCallDoesNotFailTheRestOfItsBatch) {
  ScratchDir dir;
  StorageOptions options;
  options.max_database_bytes = 256 << 10;
  auto storage = open_storage(dir.file("ns.db"), options);

  // Another connection holds the write lock, so the first leader waits in BEGIN.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(dir.file("ns.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  auto commit_in_thread = [&](std::string object, std::string key, size_t size, bool* ok) {
    return std::thread([&storage, object, key, size, ok] {
      Transaction tx = storage->begin(object);
      tx.put(key, Bytes(size, 'v'));
      *ok = tx.commit().ok();
    });
  };
  auto wait_for = [&](uint64_t committing, uint64_t queued) {
    for (int i = 0; i < 20000; ++i) {
      StorageStats s = storage->stats();
      if (s.committing == committing && s.queued == queued) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(storage->stats().committing, committing);
    ASSERT_EQ(storage->stats().queued, queued);
  };
  auto wait_for_queue = [&](uint64_t n) { wait_for(1, n); };
  bool first_ok = false, big_ok = true, small_ok = false;
  std::thread first = commit_in_thread("a", "first", 10, &first_ok);
  // The leader took its batch of one and is blocked in BEGIN.
  wait_for(1, 0);
  std::thread big = commit_in_thread("b", "big", 300 << 10, &big_ok);
  wait_for_queue(1);
  std::thread small = commit_in_thread("c", "small", 10, &small_ok);
  wait_for_queue(2);
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  first.join();
  big.join();
  small.join();

  EXPECT_TRUE(first_ok);
  EXPECT_FALSE(big_ok);
  EXPECT_TRUE(small_ok);
  StorageStats stats = storage->stats();
  EXPECT_EQ(stats.batches, 2u);
  EXPECT_EQ(stats.commits, 2u);
  EXPECT_EQ(stats.failed_commits, 1u);
  EXPECT_EQ(stats.committing, 0u);
  EXPECT_EQ(storage->begin("b").get("big"), std::nullopt);
  EXPECT_EQ(storage->begin("c").get("small"), Bytes(10, 'v'));
}

TEST(StorageSyncTest, NormalSyncWorksAndIsConfigured) {
  ScratchDir dir;
  StorageOptions options;
  options.sync = Sync::Normal;
  auto storage = open_storage(dir.file("ns.db"), options);
  Transaction tx = storage->begin("obj");
  tx.put("k", "v");
  commit_ok(tx);
  EXPECT_EQ(storage->options().sync, Sync::Normal);
  EXPECT_EQ(storage->begin("obj").get("k"), "v");
}

TEST(StorageTransactionTest, OutlivesItsStorageHandle) {
  ScratchDir dir;
  auto storage = open_storage(dir.file("ns.db"));
  Transaction tx = storage->begin("obj");
  storage.reset();  // the transaction keeps the namespace open
  tx.put("k", "v");
  commit_ok(tx);
  auto reopened = open_storage(dir.file("ns.db"));
  EXPECT_EQ(reopened->begin("obj").get("k"), "v");
}

}  // namespace
}  // namespace rw::durable
