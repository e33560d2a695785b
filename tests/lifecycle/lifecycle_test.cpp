// Snapshots, reset, checkpoint/rollback and spawn (include/rewind/lifecycle.h).

#include "rewind/lifecycle.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "rewind/engine.h"
#include "wasm/interp/runtime.h"

namespace rw {
namespace {

// A list in memory (length at 0, items from 4) with a data-segment initial state, a counter
// global, a function table and a few primitive operations.
constexpr std::string_view kListWat = R"(
(module
  (memory (export "mem") 2 2048)
  (data (i32.const 0) "\02\00\00\00\0a\00\00\00\14\00\00\00")
  (data $passive "passive!")
  (global $counter (export "counter") (mut i32) (i32.const 7))
  (global $fixed (export "fixed") i64 (i64.const 99))
  (table $t (export "tab") 4 funcref)
  (elem (i32.const 0) $one $two)
  (elem $pelem func $two $one)
  (type $ret_i32 (func (result i32)))
  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (func (export "len") (result i32) (i32.load (i32.const 0)))
  (func (export "item") (param i32) (result i32)
    (i32.load offset=4 (i32.shl (local.get 0) (i32.const 2))))
  (func $push (export "push") (param i32)
    (i32.store offset=4 (i32.shl (i32.load (i32.const 0)) (i32.const 2)) (local.get 0))
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1))))
  ;; Pushes n items, bumps the counter, then dies halfway through rewriting item 0: the list is
  ;; left with a length that disagrees with what the caller expected and a corrupted item.
  (func (export "push_then_abort") (param i32)
    (local i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get 1) (local.get 0)))
        (call $push (i32.add (local.get 1) (i32.const 100)))
        (local.set 1 (i32.add (local.get 1) (i32.const 1)))
        (br $l)))
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (i32.store16 offset=4 (i32.const 0) (i32.const -1))
    (unreachable))
  (func (export "bump") (global.set $counter (i32.add (global.get $counter) (i32.const 1))))
  (func (export "pages") (result i32) (memory.size))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "poke") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "poke8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "peek") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init_passive") (param i32) (memory.init $passive (local.get 0) (i32.const 0) (i32.const 8)))
  (func (export "drop_passive") (data.drop $passive))
  (func (export "init_elem") (table.init $t $pelem (i32.const 2) (i32.const 0) (i32.const 2)))
  (func (export "drop_elem") (elem.drop $pelem))
  (func (export "call_slot") (param i32) (result i32) (call_indirect (type $ret_i32) (local.get 0)))
  (func (export "table_write") (table.set $t (i32.const 0) (ref.func $two)))
  (func (export "table_grow") (result i32) (table.grow $t (ref.func $one) (i32.const 3)))
  (func (export "table_size") (result i32) (table.size $t))
  (func (export "table_write_abort")
    (table.set $t (i32.const 0) (ref.func $two))
    (drop (table.grow $t (ref.null func) (i32.const 2)))
    (unreachable))
  (func (export "grow_write_abort") (param i32)
    (drop (memory.grow (local.get 0)))
    (i32.store (i32.const 131072) (i32.const 0x55555555))
    (i32.store (i32.const 0) (i32.const 12345))
    (unreachable)))
)";

struct Fixture {
  std::unique_ptr<Store> store = std::make_unique<Store>();
  Instance* inst = nullptr;
  std::shared_ptr<const Snapshot> snapshot;
  std::unique_ptr<Lifecycle> life;

  explicit Fixture(std::string_view wat = kListWat) {
    auto module = Module::from_text(wat);
    EXPECT_TRUE(module.ok()) << module.error().to_string();
    auto r = store->instantiate(module.value(), {});
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    inst = r.value();
    auto snap = Snapshot::capture(*inst);
    EXPECT_TRUE(snap.ok()) << snap.error().to_string();
    snapshot = snap.value();
    auto l = Lifecycle::attach(*inst, snapshot);
    EXPECT_TRUE(l.ok()) << l.error().to_string();
    life = std::move(l).value();
  }
  ~Fixture() { life.reset(); }

  CallResult call(std::string_view name, std::vector<Value> args = {}) {
    auto f = inst->get_function(name);
    EXPECT_TRUE(f.has_value()) << name;
    if (!f) return {};
    return store->call(*f, args);
  }
  int32_t i32(std::string_view name, std::vector<Value> args = {}) {
    CallResult r = call(name, std::move(args));
    EXPECT_TRUE(r.ok()) << name << ": " << r.message;
    return r.ok() && !r.values.empty() ? r.values[0].as_i32() : INT32_MIN;
  }
  Memory mem() const { return *inst->get_memory("mem"); }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> out(mem().size_bytes());
    EXPECT_TRUE(mem().read(0, out));
    return out;
  }
  std::vector<int32_t> list() {
    std::vector<int32_t> out;
    int32_t n = i32("len");
    for (int32_t i = 0; i < n && i < 1000; ++i) out.push_back(i32("item", {Value::make_i32(i)}));
    return out;
  }
};

Value I32(int32_t v) { return Value::make_i32(v); }

TEST(Snapshot, CapturesMemoryGlobalsAndTables) {
  Fixture fx;
  EXPECT_EQ(fx.snapshot->memory_bytes(), 2u * kPageSize);
  EXPECT_EQ(fx.snapshot->memory_bytes(1), 0u);
  EXPECT_TRUE(fx.snapshot->spawnable());
  uint8_t head[12];
  ASSERT_TRUE(fx.snapshot->read_memory(0, 0, head));
  EXPECT_EQ(head[0], 2);
  EXPECT_EQ(head[4], 10);
  EXPECT_FALSE(fx.snapshot->read_memory(0, 2 * kPageSize - 4, std::span<uint8_t>(head, 8)));
  EXPECT_FALSE(fx.snapshot->read_memory(1, 0, head));
  // Attaching changes nothing the guest can see.
  EXPECT_EQ(fx.list(), (std::vector<int32_t>{10, 20}));
  EXPECT_EQ(fx.inst->get_global("counter")->get().as_i32(), 7);
  EXPECT_EQ(fx.i32("call_slot", {I32(1)}), 2);
  EXPECT_EQ(fx.i32("pages"), 2);
}

TEST(Snapshot, RefusedWhileTerminated) {
  Store store;
  auto module = Module::from_text("(module (func (export \"f\") unreachable))");
  ASSERT_TRUE(module.ok());
  Instance* inst = store.instantiate(module.value(), {}).value();
  EXPECT_EQ(store.call(*inst->get_function("f"), {}).outcome, Outcome::Abort);
  auto snap = Snapshot::capture(*inst);
  ASSERT_FALSE(snap.ok());
  EXPECT_NE(snap.error().message.find("terminated"), std::string::npos);
}

TEST(Rollback, AbortMidUpdateLeavesTheStructureIntact) {
  Fixture fx;
  fx.call("push", {I32(30)});
  std::vector<uint8_t> before = fx.bytes();
  fx.life->checkpoint();
  CallResult r = fx.call("push_then_abort", {I32(5)});
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_TRUE(fx.store->terminated());
  EXPECT_EQ(fx.life->stats().checkpoint_pages, 1u);  // the list lives in one 4 KiB page
  ASSERT_TRUE(fx.life->rollback());
  EXPECT_FALSE(fx.store->terminated());
  EXPECT_EQ(fx.bytes(), before);
  EXPECT_EQ(fx.list(), (std::vector<int32_t>{10, 20, 30}));
  EXPECT_EQ(fx.inst->get_global("counter")->get().as_i32(), 7);
  // A second rollback without a checkpoint does nothing.
  EXPECT_FALSE(fx.life->rollback());
}

TEST(Reset, AbortMidUpdateReturnsToTheInitialState) {
  Fixture fx;
  std::vector<uint8_t> initial = fx.bytes();
  fx.call("push", {I32(30)});
  fx.call("bump");
  EXPECT_EQ(fx.call("push_then_abort", {I32(5)}).outcome, Outcome::Abort);
  EXPECT_EQ(fx.call("len").outcome, Outcome::Terminated);
  fx.life->reset();
  EXPECT_EQ(fx.life->stats().dirty_pages, 0u);
  EXPECT_EQ(fx.bytes(), initial);
  EXPECT_EQ(fx.list(), (std::vector<int32_t>{10, 20}));
  EXPECT_EQ(fx.inst->get_global("counter")->get().as_i32(), 7);
  EXPECT_EQ(fx.inst->get_global("fixed")->get().as_i64(), 99);
}

TEST(Rollback, OkCallsCommitAndLaterRollbacksGoBackOnlyOneCall) {
  Fixture fx;
  fx.life->checkpoint();
  fx.call("push", {I32(1)});
  fx.life->commit();
  EXPECT_FALSE(fx.life->in_checkpoint());
  fx.life->checkpoint();
  fx.call("push", {I32(2)});
  fx.call("bump");
  ASSERT_TRUE(fx.life->rollback());
  EXPECT_EQ(fx.list(), (std::vector<int32_t>{10, 20, 1}));
  EXPECT_EQ(fx.inst->get_global("counter")->get().as_i32(), 7);
}

TEST(Rollback, MemoryGrowIsUndone) {
  Fixture fx;
  fx.life->checkpoint();
  EXPECT_EQ(fx.call("grow_write_abort", {I32(3)}).outcome, Outcome::Abort);
  EXPECT_EQ(fx.mem().pages(), 5u);
  ASSERT_TRUE(fx.life->rollback());
  EXPECT_EQ(fx.mem().pages(), 2u);
  EXPECT_EQ(fx.mem().type().limits.min, 2u);
  EXPECT_EQ(fx.i32("pages"), 2);
  EXPECT_EQ(fx.i32("peek", {I32(0)}), 2);
  // The shrunk range is inaccessible again, and zero when grown anew.
  EXPECT_EQ(fx.call("peek", {I32(131072)}).outcome, Outcome::Abort);
  fx.life->rollback();  // no checkpoint: false, but the store must be recovered for the test
  fx.store->clear_terminated();
  EXPECT_EQ(fx.i32("grow", {I32(1)}), 2);
  EXPECT_EQ(fx.i32("peek", {I32(131072)}), 0);
}

TEST(Rollback, TableWritesAndGrowAreUndone) {
  Fixture fx;
  fx.life->checkpoint();
  EXPECT_EQ(fx.call("table_write_abort").outcome, Outcome::Abort);
  ASSERT_TRUE(fx.life->rollback());
  EXPECT_EQ(fx.i32("table_size"), 4);
  EXPECT_EQ(fx.i32("call_slot", {I32(0)}), 1);
  EXPECT_EQ(fx.i32("call_slot", {I32(1)}), 2);
  // Committed table writes stay, and a later rollback returns to them.
  fx.life->checkpoint();
  fx.call("table_write");
  fx.life->commit();
  fx.life->checkpoint();
  EXPECT_EQ(fx.i32("table_grow"), 4);
  ASSERT_TRUE(fx.life->rollback());
  EXPECT_EQ(fx.i32("table_size"), 4);
  EXPECT_EQ(fx.i32("call_slot", {I32(0)}), 2);
  // Host writes through the Table handle count too.
  Table tab = *fx.inst->get_table("tab");
  fx.life->checkpoint();
  ASSERT_TRUE(tab.set(1, Value::make_null(ValType::FuncRef)));
  ASSERT_TRUE(fx.life->rollback());
  EXPECT_EQ(fx.i32("call_slot", {I32(1)}), 2);
  // Reset brings back the snapshot's table.
  fx.life->reset();
  EXPECT_EQ(fx.i32("call_slot", {I32(0)}), 1);
}

TEST(Rollback, SegmentDropsAreUndone) {
  Fixture fx;
  fx.life->checkpoint();
  fx.call("drop_passive");
  fx.call("drop_elem");
  EXPECT_EQ(fx.call("init_passive", {I32(100)}).outcome, Outcome::Abort);
  ASSERT_TRUE(fx.life->rollback());
  ASSERT_TRUE(fx.call("init_passive", {I32(100)}).ok());
  EXPECT_EQ(fx.i32("peek", {I32(100)}), 0x73736170);  // "pass"
  ASSERT_TRUE(fx.call("init_elem").ok());
  EXPECT_EQ(fx.i32("call_slot", {I32(2)}), 2);
  // Dropped for good (committed), then reset brings the segments back.
  fx.call("drop_passive");
  fx.call("drop_elem");
  EXPECT_EQ(fx.call("init_elem").outcome, Outcome::Abort);
  fx.life->reset();
  EXPECT_TRUE(fx.call("init_passive", {I32(200)}).ok());
  EXPECT_TRUE(fx.call("init_elem").ok());
}

TEST(Rollback, NoObservationOfRolledBackWrites) {
  Fixture fx;
  fx.life->checkpoint();
  fx.call("poke", {I32(5000), I32(42)});
  fx.call("fill", {I32(8192), I32(7), I32(10000)});
  fx.call("copy", {I32(30000), I32(5000), I32(4)});
  EXPECT_EQ(fx.i32("peek", {I32(5000)}), 42);
  ASSERT_TRUE(fx.life->rollback());
  EXPECT_EQ(fx.i32("peek", {I32(5000)}), 0);
  EXPECT_EQ(fx.i32("peek", {I32(12000)}), 0);
  EXPECT_EQ(fx.i32("peek", {I32(30000)}), 0);
}

TEST(Rollback, WritesStraddlingPagesAreTracked) {
  Fixture fx;
  fx.life->checkpoint();
  fx.call("poke", {I32(4094), I32(-1)});  // bytes 4094..4097: pages 0 and 1
  EXPECT_EQ(fx.life->stats().checkpoint_pages, 2u);
  ASSERT_TRUE(fx.life->rollback());
  EXPECT_EQ(fx.i32("peek", {I32(4092)}), 0);
  EXPECT_EQ(fx.i32("peek", {I32(4096)}), 0);
}

TEST(Rollback, HostWritesThroughMemoryHandleAreTracked) {
  Fixture fx;
  Memory m = fx.mem();
  fx.life->checkpoint();
  uint8_t data[3] = {1, 2, 3};
  ASSERT_TRUE(m.write(60000, data));
  EXPECT_EQ(m.grow(1), 2);
  ASSERT_TRUE(m.write(2 * kPageSize + 10, data));
  ASSERT_TRUE(fx.life->rollback());
  EXPECT_EQ(m.pages(), 2u);
  EXPECT_EQ(fx.i32("peek", {I32(60000)}), 0);
}

TEST(Rollback, RawHostWritesCountOnceReported) {
  Fixture fx;
  Memory m = fx.mem();
  fx.life->checkpoint();
  note_memory_write(m, 70000, 8);
  std::memset(m.data() + 70000, 0x11, 8);
  note_memory_write(m, m.size_bytes() - 4, 8);  // out of range: ignored
  note_memory_write(Memory(), 0, 8);            // no memory: ignored
  ASSERT_TRUE(fx.life->rollback());
  EXPECT_EQ(fx.i32("peek", {I32(70000)}), 0);
  note_memory_write(m, 90000, 4);
  std::memset(m.data() + 90000, 0x22, 4);
  fx.life->reset();
  EXPECT_EQ(fx.i32("peek", {I32(90000)}), 0);
}

// Random writes, fills, copies and grows from both guest and host, in calls that are committed
// or rolled back (and now and then a reset): memory must always equal the model byte for byte.
TEST(Rollback, PropertyRandomWritesGrowAndAbort) {
  Fixture fx;
  Memory m = fx.mem();
  std::mt19937 rng(12345);
  std::vector<uint8_t> model = fx.bytes();
  const std::vector<uint8_t> initial = model;
  int32_t counter_model = 7;
  for (int round = 0; round < 300; ++round) {
    fx.life->checkpoint();
    std::vector<uint8_t> working = model;
    int32_t counter = counter_model;
    int ops = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < ops; ++k) {
      uint32_t size = static_cast<uint32_t>(working.size());
      switch (rng() % 6) {
        case 0: {  // guest store
          uint32_t a = rng() % (size - 3);
          int32_t v = static_cast<int32_t>(rng());
          ASSERT_TRUE(fx.call("poke", {I32(static_cast<int32_t>(a)), I32(v)}).ok());
          std::memcpy(working.data() + a, &v, 4);
          break;
        }
        case 1: {  // guest fill across pages
          uint32_t a = rng() % size;
          uint32_t n = rng() % std::min<uint32_t>(size - a, 20000);
          uint8_t v = static_cast<uint8_t>(rng());
          ASSERT_TRUE(
              fx.call("fill", {I32(static_cast<int32_t>(a)), I32(v), I32(static_cast<int32_t>(n))})
                  .ok());
          std::memset(working.data() + a, v, n);
          break;
        }
        case 2: {  // guest copy
          uint32_t n = rng() % 9000;
          uint32_t d = rng() % (size - n), s = rng() % (size - n);
          ASSERT_TRUE(fx.call("copy", {I32(static_cast<int32_t>(d)), I32(static_cast<int32_t>(s)),
                                       I32(static_cast<int32_t>(n))})
                          .ok());
          std::memmove(working.data() + d, working.data() + s, n);
          break;
        }
        case 3: {  // grow (bounded so the test stays small)
          if (size >= 12 * kPageSize) break;
          uint32_t delta = rng() % 3;
          ASSERT_EQ(fx.i32("grow", {I32(static_cast<int32_t>(delta))}),
                    static_cast<int32_t>(size / kPageSize));
          working.resize(size + delta * kPageSize, 0);
          break;
        }
        case 4: {  // host write
          uint8_t buf[17];
          for (auto& b : buf) b = static_cast<uint8_t>(rng());
          uint32_t a = rng() % (size - sizeof(buf));
          ASSERT_TRUE(m.write(a, buf));
          std::memcpy(working.data() + a, buf, sizeof(buf));
          break;
        }
        case 5:
          fx.call("bump");
          ++counter;
          break;
      }
    }
    switch (rng() % 5) {
      case 0:
      case 1:
        fx.life->commit();
        model = working;
        counter_model = counter;
        break;
      case 2:
      case 3:
        if (rng() % 2) EXPECT_EQ(fx.call("push_then_abort", {I32(3)}).outcome, Outcome::Abort);
        ASSERT_TRUE(fx.life->rollback());
        break;
      case 4:
        fx.life->reset();
        model = initial;
        counter_model = 7;
        break;
    }
    ASSERT_EQ(m.size_bytes(), model.size()) << "round " << round;
    ASSERT_TRUE(fx.bytes() == model) << "round " << round;
    ASSERT_EQ(fx.inst->get_global("counter")->get().as_i32(), counter_model) << "round " << round;
  }
}

TEST(Reset, AfterGrowingTo64MiBAndWritingEverywhere) {
  Fixture fx;
  const std::vector<uint8_t> initial = fx.bytes();
  ASSERT_EQ(fx.i32("grow", {I32(1024 - 2)}), 2);
  ASSERT_TRUE(fx.call("fill", {I32(0), I32(0xAB), I32(64 << 20)}).ok());
  EXPECT_EQ(fx.life->stats().dirty_pages, (64u << 20) / 4096);
  fx.life->reset();
  EXPECT_EQ(fx.mem().pages(), 2u);
  EXPECT_EQ(fx.bytes(), initial);
  for (uint64_t a = 0; a < initial.size(); a += 4096) {
    uint8_t b;
    ASSERT_TRUE(fx.snapshot->read_memory(0, a, std::span<uint8_t>(&b, 1)));
    ASSERT_EQ(fx.bytes()[a], b);
  }
  // The discarded range reads as zero once grown again.
  ASSERT_EQ(fx.i32("grow", {I32(1022)}), 2);
  for (int32_t a = 2 * kPageSize; a < (64 << 20); a += 1 << 20)
    ASSERT_EQ(fx.i32("peek", {I32(a)}), 0);
  // And a reset after a reset after more writes stays correct.
  fx.call("poke", {I32(0), I32(77)});
  fx.life->reset();
  EXPECT_EQ(fx.bytes(), initial);
}

TEST(Reset, CopyAndDropPathsGiveTheSameBytes) {
  for (uint32_t drop_run : {1u, 1000000u}) {
    auto module = Module::from_text(kListWat);
    ASSERT_TRUE(module.ok());
    Store store;
    Instance* inst = store.instantiate(module.value(), {}).value();
    // A non-trivial image: a pattern over the whole first page range.
    Memory m = *inst->get_memory("mem");
    std::vector<uint8_t> pattern(m.size_bytes());
    for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(i * 7 + 3);
    ASSERT_TRUE(m.write(0, pattern));
    auto snap = Snapshot::capture(*inst).value();
    LifecycleOptions options;
    options.drop_run_pages = drop_run;
    auto life = Lifecycle::attach(*inst, snap, options).value();
    std::vector<uint8_t> junk(m.size_bytes(), 0xEE);
    ASSERT_TRUE(m.write(0, junk));
    life->reset();
    std::vector<uint8_t> now(m.size_bytes());
    ASSERT_TRUE(m.read(0, now));
    EXPECT_EQ(now, pattern) << "drop_run_pages " << drop_run;
  }
}

TEST(Lifecycle, EpochWrapKeepsTrackingCorrect) {
  Fixture fx;
  // Run enough checkpoints to wrap a 32-bit epoch would take too long; force it instead through
  // the engine field, then check that writes are still caught.
  fx.inst->memory(0).impl()->track_epoch = UINT32_MAX - 2;
  for (int i = 0; i < 6; ++i) {
    fx.life->checkpoint();
    fx.call("poke", {I32(100 + 4096 * i), I32(i + 1)});
    if (i % 2) {
      fx.life->commit();
    } else {
      ASSERT_TRUE(fx.life->rollback());
      EXPECT_EQ(fx.i32("peek", {I32(100 + 4096 * i)}), 0) << i;
    }
  }
  fx.life->reset();
  EXPECT_EQ(fx.i32("peek", {I32(100 + 4096)}), 0);
}

TEST(Lifecycle, AttachRefusals) {
  Fixture fx;
  // Already attached.
  auto again = Lifecycle::attach(*fx.inst, fx.snapshot);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("already attached"), std::string::npos);
  // Another module.
  Store other;
  auto module = Module::from_text("(module (memory 1))");
  Instance* inst = other.instantiate(module.value(), {}).value();
  auto wrong = Lifecycle::attach(*inst, fx.snapshot);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("module"), std::string::npos);
  EXPECT_FALSE(Lifecycle::attach(*inst, nullptr).ok());
}

TEST(Lifecycle, RefusedFromInsideARunningCall) {
  auto module = Module::from_text(R"(
(module (import "env" "cb" (func $cb)) (memory (export "mem") 1)
  (func (export "f") (i32.store (i32.const 0) (i32.const 9)) (call $cb)))
)");
  ASSERT_TRUE(module.ok());
  Store store;
  Lifecycle* life = nullptr;
  bool rollback_result = true, reset_result = true;
  Imports imports;
  imports.define("env", "cb",
                 Extern::of(store.create_host_function(
                     FuncType{}, [&](HostContext&, std::span<const Value>, std::span<Value>) {
                       rollback_result = life->rollback();
                       reset_result = life->reset();
                       return HostResult::ok();
                     })));
  Instance* inst = store.instantiate(module.value(), imports).value();
  auto snap = Snapshot::capture(*inst).value();
  auto owned = Lifecycle::attach(*inst, snap).value();
  life = owned.get();
  life->checkpoint();
  ASSERT_TRUE(store.call(*inst->get_function("f"), {}).ok());
  EXPECT_FALSE(rollback_result);
  EXPECT_FALSE(reset_result);
  EXPECT_TRUE(life->rollback());  // afterwards it works
  uint8_t b = 1;
  ASSERT_TRUE(inst->get_memory("mem")->read(0, std::span<uint8_t>(&b, 1)));
  EXPECT_EQ(b, 0);
}

TEST(Lifecycle, DetachLeavesAWorkingInstance) {
  Fixture fx;
  fx.call("poke", {I32(10), I32(5)});
  fx.life.reset();
  fx.call("poke", {I32(20), I32(6)});
  EXPECT_EQ(fx.i32("peek", {I32(10)}), 5);
  EXPECT_EQ(fx.i32("peek", {I32(20)}), 6);
  // And a new lifecycle can attach (state returns to the snapshot).
  auto life = Lifecycle::attach(*fx.inst, fx.snapshot);
  ASSERT_TRUE(life.ok());
  EXPECT_EQ(fx.i32("peek", {I32(10)}), 0);
}

TEST(Spawn, InstancesFromOneSnapshotAreIndependent) {
  Fixture fx;
  fx.call("push", {I32(30)});  // after the snapshot: not in spawned instances
  auto a = spawn(fx.snapshot, nullptr);
  auto b = spawn(fx.snapshot, nullptr);
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  ASSERT_TRUE(b.ok());
  auto call = [](SpawnedInstance& s, std::string_view name, std::vector<Value> args) {
    return s.store->call(*s.instance->get_function(name), args);
  };
  auto len = [&](SpawnedInstance& s) { return call(s, "len", {}).values.at(0).as_i32(); };
  EXPECT_EQ(len(a.value()), 2);
  EXPECT_TRUE(call(a.value(), "push", {I32(1)}).ok());
  EXPECT_TRUE(call(a.value(), "push", {I32(2)}).ok());
  EXPECT_TRUE(call(b.value(), "bump", {}).ok());
  EXPECT_EQ(len(a.value()), 4);
  EXPECT_EQ(len(b.value()), 2);
  EXPECT_EQ(fx.i32("len"), 3);
  EXPECT_EQ(a->instance->get_global("counter")->get().as_i32(), 7);
  EXPECT_EQ(b->instance->get_global("counter")->get().as_i32(), 8);
  // Tables point at the spawned instance's own functions.
  EXPECT_EQ(call(a.value(), "call_slot", {I32(1)}).values.at(0).as_i32(), 2);
  EXPECT_EQ(a->instance->get_table("tab")->get(0)->ref, a->instance->function(0).impl());
  // Each resets and rolls back on its own.
  a->lifecycle->reset();
  EXPECT_EQ(len(a.value()), 2);
  EXPECT_EQ(fx.i32("len"), 3);
}

TEST(Spawn, RunsNoGuestCode) {
  Store store;
  int started = 0;
  Imports imports;
  FuncType void_type;
  imports.define("env", "note",
                 Extern::of(store.create_host_function(
                     void_type, [&](HostContext&, std::span<const Value>, std::span<Value>) {
                       ++started;
                       return HostResult::ok();
                     })));
  auto module = Module::from_text(R"(
(module (import "env" "note" (func $note)) (memory 1)
  (global (export "g") (mut i32) (i32.const 0))
  (func $start (call $note) (global.set 0 (i32.const 5)))
  (start $start))
)");
  ASSERT_TRUE(module.ok());
  Instance* inst = store.instantiate(module.value(), imports).value();
  EXPECT_EQ(started, 1);
  auto snap = Snapshot::capture(*inst).value();
  int spawned_calls = 0;
  auto s = spawn(snap, [&](Store& st) -> Result<Imports> {
    Imports im;
    im.define("env", "note",
              Extern::of(st.create_host_function(
                  void_type, [&](HostContext&, std::span<const Value>, std::span<Value>) {
                    ++spawned_calls;
                    return HostResult::ok();
                  })));
    return im;
  });
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(spawned_calls, 0);
  EXPECT_EQ(s->instance->get_global("g")->get().as_i32(), 5);
  // Missing imports are the embedder's error, reported cleanly.
  auto missing = spawn(snap, nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, Error::Kind::Unlinkable);
  // So is a failing imports builder.
  auto failing = spawn(snap, [](Store&) -> Result<Imports> {
    Error e;
    e.message = "no imports today";
    return e;
  });
  ASSERT_FALSE(failing.ok());
  EXPECT_EQ(failing.error().message, "no imports today");
}

TEST(Spawn, SnapshotsHoldingStoreLocalReferencesAreNotSpawnable) {
  Store store;
  Imports imports;
  FuncType ret;
  ret.results = {ValType::I32};
  Function host = store.create_host_function(
      ret, [](HostContext&, std::span<const Value>, std::span<Value> out) {
        out[0] = Value::make_i32(9);
        return HostResult::ok();
      });
  Result<Table> table = store.create_table(TableType{ValType::FuncRef, Limits{1, std::nullopt}},
                                           Value::make_null(ValType::FuncRef));
  ASSERT_TRUE(table.ok());
  ASSERT_TRUE(table->set(0, Value::make_ref(ValType::FuncRef, host.impl())));
  imports.define("env", "t", Extern::of(table.value()));
  auto module = Module::from_text(R"(
(module (import "env" "t" (table 1 funcref)) (type $r (func (result i32)))
  (func (export "f") (result i32) (call_indirect (type $r) (i32.const 0))))
)");
  ASSERT_TRUE(module.ok());
  Instance* inst = store.instantiate(module.value(), imports).value();
  auto snap = Snapshot::capture(*inst).value();
  EXPECT_FALSE(snap->spawnable());
  EXPECT_FALSE(spawn(snap, nullptr).ok());
  // It still resets its own instance.
  auto life = Lifecycle::attach(*inst, snap);
  ASSERT_TRUE(life.ok()) << life.error().to_string();
  ASSERT_TRUE(table->set(0, Value::make_null(ValType::FuncRef)));
  life.value()->reset();
  CallResult r = store.call(*inst->get_function("f"), {});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.values.at(0).as_i32(), 9);
}

TEST(Spawn, RespectsTheNewStoresMemoryLimit) {
  Fixture fx;
  ASSERT_EQ(fx.i32("grow", {I32(8)}), 2);
  auto snap = Snapshot::capture(*fx.inst).value();
  StoreOptions small;
  small.limits.max_memory_pages = 4;
  auto s = spawn(snap, nullptr, small);
  ASSERT_FALSE(s.ok());
}

TEST(Spawn, SnapshotOutlivesItsSourceStoreAndIsSharedAcrossThreads) {
  std::shared_ptr<const Snapshot> snap;
  {
    Fixture fx;
    fx.call("push", {I32(55)});
    snap = Snapshot::capture(*fx.inst).value();
  }
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        auto s = spawn(snap, nullptr);
        if (!s.ok()) return;
        Function push = *s->instance->get_function("push");
        Value v = Value::make_i32(t);
        s->store->call(push, std::span<const Value>(&v, 1));
        CallResult len = s->store->call(*s->instance->get_function("len"), {});
        if (len.ok() && len.values.at(0).as_i32() == 4) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 80);
}

}  // namespace
}  // namespace rw
