// The rewind.storage_* host functions, driven by a small WAT guest through the engine.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "rewind/durable.h"
#include "rewind/lifecycle.h"
#include "test_util.h"

namespace rw::durable {
namespace {

using testing::ScratchDir;
using namespace std::string_literals;

// Wrappers so that the host functions are called from guest code (with the guest's memory).
constexpr const char* kGuest = R"(
(module
  (import "rewind" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "rewind" "storage_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (import "rewind" "storage_delete" (func $del (param i32 i32) (result i32)))
  (import "rewind" "storage_list"
    (func $list (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "get") (param i32 i32 i32 i32) (result i32)
    (call $get (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "put") (param i32 i32 i32 i32) (result i32)
    (call $put (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "delete") (param i32 i32) (result i32)
    (call $del (local.get 0) (local.get 1)))
  (func (export "list") (param i32 i32 i32 i32 i32 i32 i32) (result i32)
    (call $list (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
                (local.get 5) (local.get 6))))
)";

constexpr uint32_t kFromStart = UINT32_MAX;
constexpr uint32_t kPageEnd = 65536;

class GuestStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StorageOptions options;
    options.path = dir_.file("ns.db");
    options.limits.max_key_bytes = 16;
    options.limits.max_value_bytes = 64;
    options.limits.max_transaction_bytes = 200;
    options.limits.max_list_limit = 100;
    auto storage = Storage::open(options);
    ASSERT_TRUE(storage.ok()) << storage.error().message;
    storage_ = storage.value();
    instantiate(kGuest);
  }

  void instantiate(const char* text) {
    auto module = Module::from_text(text);
    ASSERT_TRUE(module.ok()) << module.error().to_string();
    store_ = std::make_unique<Store>();
    Imports imports;
    define_storage_imports(*store_, imports, context_);
    auto instance = store_->instantiate(module.value(), imports);
    ASSERT_TRUE(instance.ok()) << instance.error().to_string();
    instance_ = instance.value();
  }

  void write(uint32_t address, std::string_view bytes) {
    ASSERT_TRUE(instance_->get_memory("memory")->write(
        address, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}));
  }
  std::string read(uint32_t address, uint32_t size) {
    std::string out(size, '\0');
    EXPECT_TRUE(instance_->get_memory("memory")->read(
        address, {reinterpret_cast<uint8_t*>(out.data()), out.size()}));
    return out;
  }

  CallResult call(const char* name, std::vector<uint32_t> args) {
    std::vector<Value> values;
    for (uint32_t a : args) values.push_back(Value::make_i32(static_cast<int32_t>(a)));
    return store_->call(*instance_->get_function(name), values);
  }
  int32_t call_ok(const char* name, std::vector<uint32_t> args) {
    CallResult r = call(name, std::move(args));
    EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
    return r.ok() ? r.values.at(0).as_i32() : INT32_MIN;
  }
  void expect_abort(const char* name, std::vector<uint32_t> args, const std::string& message) {
    CallResult r = call(name, std::move(args));
    EXPECT_EQ(r.outcome, Outcome::Abort) << name;
    EXPECT_EQ(r.trap, TrapKind::HostAbort);
    EXPECT_NE(r.message.find(message), std::string::npos) << r.message;
    EXPECT_TRUE(store_->terminated());
    store_->clear_terminated();
  }

  // Puts key (at 0) and value (at 100) through the guest.
  int32_t guest_put(std::string_view key, std::string_view value) {
    write(0, key);
    write(100, value);
    return call_ok("put", {0, uint32_t(key.size()), 100, uint32_t(value.size())});
  }

  ScratchDir dir_;
  std::shared_ptr<Storage> storage_;
  std::shared_ptr<StorageContext> context_ = std::make_shared<StorageContext>();
  std::unique_ptr<Store> store_;
  Instance* instance_ = nullptr;
};

TEST_F(GuestStorageTest, PutGetDeleteThroughTheGuest) {
  Transaction tx = storage_->begin("obj");
  context_->transaction = &tx;
  EXPECT_EQ(guest_put("k\0y"s, "val\0ue"s), 0);

  write(0, "k\0y"s);
  EXPECT_EQ(call_ok("get", {0, 3, 1000, 64}), 6);
  EXPECT_EQ(read(1000, 6), "val\0ue"s);
  // A short buffer gets the first bytes and the full length.
  write(2000, "....");
  EXPECT_EQ(call_ok("get", {0, 3, 2000, 2}), 6);
  EXPECT_EQ(read(2000, 4), "va..");
  // cap 0 asks for the length only; the buffer pointer may then be anything in bounds.
  EXPECT_EQ(call_ok("get", {0, 3, kPageEnd, 0}), 6);
  EXPECT_EQ(call_ok("get", {0, 2, 1000, 64}), kStorageNotFound);

  EXPECT_EQ(call_ok("delete", {0, 3}), 1);
  EXPECT_EQ(call_ok("delete", {0, 3}), 0);
  EXPECT_EQ(call_ok("get", {0, 3, 1000, 64}), kStorageNotFound);
  EXPECT_EQ(guest_put("k", "v"), 0);
  ASSERT_TRUE(tx.commit().ok());
  context_->transaction = nullptr;

  Transaction after = storage_->begin("obj");
  EXPECT_EQ(after.get("k\0y"s), std::nullopt);
  EXPECT_EQ(after.get("k"), "v");
}

// storage_get and storage_list copy into guest memory from the host side. Those bytes are part
// of the call's effects: a rolled-back call must not leave them behind.
TEST_F(GuestStorageTest, BytesTheHostCopiesInAreUndoneByRollback) {
  Transaction tx = storage_->begin("obj");
  context_->transaction = &tx;
  ASSERT_EQ(guest_put("key", "fresh"), 0);
  write(0, "key");
  write(1000, "stale");
  write(3000, std::string(32, '.'));

  auto snapshot = Snapshot::capture(*instance_);
  ASSERT_TRUE(snapshot.ok()) << snapshot.error().to_string();
  auto lifecycle = Lifecycle::attach(*instance_, snapshot.value());
  ASSERT_TRUE(lifecycle.ok()) << lifecycle.error().to_string();

  (*lifecycle)->checkpoint();
  EXPECT_EQ(call_ok("get", {0, 3, 1000, 64}), 5);
  EXPECT_GT(call_ok("list", {0, 3, 0, kFromStart, 10, 3000, 32}), 0);
  EXPECT_EQ(read(1000, 5), "fresh");
  ASSERT_TRUE((*lifecycle)->rollback());
  EXPECT_EQ(read(1000, 5), "stale");
  EXPECT_EQ(read(3000, 32), std::string(32, '.'));
  context_->transaction = nullptr;
}

TEST_F(GuestStorageTest, LimitsComeBackAsErrorCodes) {
  Transaction tx = storage_->begin("obj");
  context_->transaction = &tx;
  EXPECT_EQ(guest_put(std::string(17, 'k'), "v"), kStorageKeyTooLarge);
  EXPECT_EQ(guest_put("k", std::string(65, 'v')), kStorageValueTooLarge);
  EXPECT_EQ(guest_put("k1", std::string(64, 'v')), 0);
  EXPECT_EQ(guest_put("k2", std::string(64, 'v')), 0);
  EXPECT_EQ(guest_put("k3", std::string(64, 'v')), 0);
  EXPECT_EQ(guest_put("k4", std::string(64, 'v')), kStorageTransactionTooLarge);
  EXPECT_EQ(call_ok("get", {0, 17, 1000, 10}), kStorageKeyTooLarge);
  EXPECT_EQ(call_ok("delete", {0, 17}), kStorageKeyTooLarge);
  EXPECT_EQ(call_ok("list", {0, 0, 0, kFromStart, 0, 1000, 100}), kStorageBadLimit);
  EXPECT_EQ(call_ok("list", {0, 0, 0, kFromStart, 101, 1000, 100}), kStorageBadLimit);
  EXPECT_EQ(call_ok("list", {0, 17, 0, kFromStart, 10, 1000, 100}), kStorageKeyTooLarge);
  EXPECT_FALSE(store_->terminated());
  // The refused writes did not disturb the accepted ones.
  EXPECT_EQ(tx.pending_writes(), 3u);
}

// Decodes storage_list's buffer: (u32le key_len, key, u32le value_len, value)*.
std::vector<Entry> decode_list(const std::string& buf) {
  std::vector<Entry> out;
  size_t at = 0;
  auto u32le = [&](size_t p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(buf.at(p + i))) << (8 * i);
    return v;
  };
  while (at < buf.size()) {
    uint32_t klen = u32le(at);
    Entry e;
    e.key = buf.substr(at + 4, klen);
    uint32_t vlen = u32le(at + 4 + klen);
    e.value = buf.substr(at + 8 + klen, vlen);
    at += 8 + klen + vlen;
    out.push_back(std::move(e));
  }
  return out;
}

TEST_F(GuestStorageTest, ListEncodesWholeEntriesAndPages) {
  Transaction seed = storage_->begin("obj");
  seed.put("a1", "x");
  seed.put("a2", "yy");
  seed.put("a3", "");
  seed.put("b", "zzz");
  ASSERT_TRUE(seed.commit().ok());

  Transaction tx = storage_->begin("obj");
  context_->transaction = &tx;
  write(0, "a");
  int32_t n = call_ok("list", {0, 1, 0, kFromStart, 10, 1000, 1000});
  ASSERT_EQ(n, (8 + 3) + (8 + 4) + (8 + 2));
  EXPECT_EQ(decode_list(read(1000, uint32_t(n))),
            (std::vector<Entry>{{"a1", "x"}, {"a2", "yy"}, {"a3", ""}}));

  // Limit, then paging from the last key.
  n = call_ok("list", {0, 1, 0, kFromStart, 1, 1000, 1000});
  EXPECT_EQ(decode_list(read(1000, uint32_t(n))), (std::vector<Entry>{{"a1", "x"}}));
  write(10, "a1");
  n = call_ok("list", {0, 1, 10, 2, 10, 1000, 1000});
  EXPECT_EQ(decode_list(read(1000, uint32_t(n))), (std::vector<Entry>{{"a2", "yy"}, {"a3", ""}}));
  write(10, "a3");
  EXPECT_EQ(call_ok("list", {0, 1, 10, 2, 10, 1000, 1000}), 0);  // no more

  // A buffer that holds one entry and a half gets one whole entry.
  n = call_ok("list", {0, 1, 0, kFromStart, 10, 1000, 11 + 5});
  EXPECT_EQ(n, 11);
  // A buffer too small for the next entry reports the size it needs.
  EXPECT_EQ(call_ok("list", {0, 1, 0, kFromStart, 10, 1000, 10}), -11);
  EXPECT_EQ(call_ok("list", {0, 1, 0, kFromStart, 10, 1000, 0}), -11);

  // An empty start key (length 0, not the "from start" marker) skips only the empty key.
  guest_put("", "empty");
  n = call_ok("list", {0, 0, 0, kFromStart, 1, 1000, 1000});
  EXPECT_EQ(decode_list(read(1000, uint32_t(n))), (std::vector<Entry>{{"", "empty"}}));
  n = call_ok("list", {0, 0, 0, 0, 1, 1000, 1000});
  EXPECT_EQ(decode_list(read(1000, uint32_t(n))), (std::vector<Entry>{{"a1", "x"}}));
}

TEST_F(GuestStorageTest, BadPointersAbortTheCallNotTheHost) {
  Transaction tx = storage_->begin("obj");
  context_->transaction = &tx;
  const std::string outside = "outside linear memory";
  expect_abort("get", {kPageEnd - 2, 3, 0, 10}, "rewind.storage_get: range [0xfffe, 0x10001)");
  expect_abort("get", {0, 3, kPageEnd - 5, 10}, outside);
  expect_abort("get", {0xffffffff, 0xffffffff, 0, 0}, outside);  // no wrap-around
  expect_abort("put", {0, 1, kPageEnd, 1},
               "rewind.storage_put: range [0x10000, 0x10001) is " + outside);
  expect_abort("put", {0x80000000, 1, 0, 1}, outside);
  expect_abort("delete", {kPageEnd, 1},
               "rewind.storage_delete: range [0x10000, 0x10001) is " + outside);
  expect_abort("list", {kPageEnd, 1, 0, kFromStart, 1, 0, 10},
               "rewind.storage_list: range [0x10000, 0x10001) is " + outside);
  expect_abort("list", {0, 1, kPageEnd, 1, 1, 0, 10}, outside);
  expect_abort("list", {0, 1, 0, kFromStart, 1, kPageEnd - 1, 2}, outside);
  // Nothing was written by the aborted calls.
  EXPECT_EQ(tx.pending_writes(), 0u);
}

TEST_F(GuestStorageTest, StorageOutsideACallAborts) {
  expect_abort("get", {0, 1, 0, 10}, "storage is only available during a durable object's call");
  Transaction tx = storage_->begin("obj");
  ASSERT_TRUE(tx.commit().ok());
  context_->transaction = &tx;  // a closed transaction counts as none
  expect_abort("put", {0, 1, 0, 1}, "only available during");
  context_->transaction = nullptr;
}

TEST_F(GuestStorageTest, AGuestWithoutMemoryAborts) {
  instantiate(R"(
    (module
      (import "rewind" "storage_get" (func $get (param i32 i32 i32 i32) (result i32)))
      (func (export "get") (param i32 i32 i32 i32) (result i32)
        (call $get (local.get 0) (local.get 1) (local.get 2) (local.get 3))))
  )");
  Transaction tx = storage_->begin("obj");
  context_->transaction = &tx;
  expect_abort("get", {0, 0, 0, 0}, "has no memory");
}

// A storage failure that is the host's (here: a corrupted database page) ends the call as a
// host error carrying the StorageError, not as an abort, and leaves the instance live.
TEST(GuestStorageFailureTest, AnUnreadableDatabaseIsAHostError) {
  ScratchDir dir;
  StorageOptions options;
  options.path = dir.file("ns.db");
  {
    auto storage = Storage::open(options);
    ASSERT_TRUE(storage.ok());
    Transaction tx = storage.value()->begin("obj");
    for (int i = 0; i < 50; ++i) tx.put("key" + std::to_string(i), std::string(200, 'v'));
    ASSERT_TRUE(tx.commit().ok());
  }  // closing checkpoints the WAL into the database file
  {
    // Overwrite every page after the first (the schema) with junk.
    FILE* f = fopen(options.path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    ASSERT_GT(size, 4096);
    std::string junk(static_cast<size_t>(size - 4096), '\x5a');
    fseek(f, 4096, SEEK_SET);
    fwrite(junk.data(), 1, junk.size(), f);
    fclose(f);
  }
  auto storage = Storage::open(options);
  ASSERT_TRUE(storage.ok()) << storage.error().message;

  auto module = Module::from_text(kGuest);
  ASSERT_TRUE(module.ok());
  Store store;
  Imports imports;
  auto context = std::make_shared<StorageContext>();
  define_storage_imports(store, imports, context);
  auto instance = store.instantiate(module.value(), imports);
  ASSERT_TRUE(instance.ok());
  ASSERT_TRUE(instance.value()->get_memory("memory")->write(0, {(const uint8_t*)"key1", 4}));

  Transaction tx = storage.value()->begin("obj");
  context->transaction = &tx;
  std::vector<Value> args = {Value::make_i32(0), Value::make_i32(4), Value::make_i32(100),
                             Value::make_i32(100)};
  CallResult r = store.call(*instance.value()->get_function("get"), args);
  ASSERT_EQ(r.outcome, Outcome::HostError) << r.message;
  EXPECT_NE(r.message.find("rewind.storage_get: sqlite"), std::string::npos) << r.message;
  ASSERT_TRUE(r.host_error);
  try {
    std::rethrow_exception(r.host_error);
  } catch (const StorageError& e) {
    EXPECT_EQ(e.kind(), StorageError::Kind::Io);
  } catch (...) {
    ADD_FAILURE() << "the host error is not the StorageError";
  }
  EXPECT_FALSE(store.terminated());
}

TEST(StorageFunctionsTest, NamesAndTypes) {
  auto functions = storage_functions();
  ASSERT_EQ(functions.size(), 4u);
  EXPECT_EQ(functions[0].name, "storage_get");
  EXPECT_EQ(functions[3].name, "storage_list");
  EXPECT_EQ(functions[3].type.params.size(), 7u);
  for (const auto& f : functions) EXPECT_EQ(f.type.results, std::vector<ValType>{ValType::I32});
}

// ---------------------------------------------------------------------------------------------
// A C guest built against sdk/include/rewind/storage.h (tests/durable/guests/storage_guest.c).

class CGuestStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string path = REWIND_BINARY_DIR "/tests/durable/storage_guest.wasm";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " was not built (no clang-22)";
    auto module = Module::from_file(path);
    ASSERT_TRUE(module.ok()) << module.error().to_string();
    StorageOptions options;
    options.path = dir_.file("ns.db");
    auto storage = Storage::open(options);
    ASSERT_TRUE(storage.ok()) << storage.error().message;
    storage_ = storage.value();
    Imports imports;
    define_storage_imports(store_, imports, context_);
    auto instance = store_.instantiate(module.value(), imports);
    ASSERT_TRUE(instance.ok()) << instance.error().to_string();
    instance_ = instance.value();
  }

  // One durable object call the way the runtime makes it: a transaction around the guest call,
  // committed when the call ends ok, rolled back otherwise.
  CallResult object_call(const char* export_name) {
    Transaction tx = storage_->begin("counter");
    context_->transaction = &tx;
    CallResult result = store_.call(*instance_->get_function(export_name), {});
    context_->transaction = nullptr;
    if (result.ok()) {
      auto committed = tx.commit();
      EXPECT_TRUE(committed.ok()) << committed.error().message;
    } else {
      tx.rollback();
      store_.clear_terminated();
    }
    return result;
  }

  ScratchDir dir_;
  std::shared_ptr<Storage> storage_;
  std::shared_ptr<StorageContext> context_ = std::make_shared<StorageContext>();
  Store store_;
  Instance* instance_ = nullptr;
};

TEST_F(CGuestStorageTest, RoundTripThroughTheSdkHeader) {
  CallResult r = object_call("roundtrip");
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.values.at(0).as_i32(), 0);
  Transaction tx = storage_->begin("counter");
  EXPECT_EQ(tx.get("k"), std::nullopt);
  EXPECT_EQ(tx.get("k\0z"s), "");
}

TEST_F(CGuestStorageTest, AFailedCallsWritesAreInvisibleToTheNextCall) {
  for (int expected = 1; expected <= 3; ++expected) {
    CallResult r = object_call("increment");
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.values.at(0).as_i32(), expected);
  }
  CallResult trapped = object_call("write_then_trap");
  EXPECT_EQ(trapped.outcome, Outcome::Abort);
  EXPECT_EQ(trapped.trap, TrapKind::Unreachable);
  CallResult next = object_call("increment");
  ASSERT_TRUE(next.ok()) << next.message;
  EXPECT_EQ(next.values.at(0).as_i32(), 4);
  EXPECT_EQ(storage_->begin("counter").get("doomed"), std::nullopt);
}

}  // namespace
}  // namespace rw::durable
