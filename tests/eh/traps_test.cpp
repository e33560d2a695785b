// Aborts from a C guest without exceptions (tests/guests/c/traps.c): every trap kind, limits as
// engine features (cpu_limit, stack_overflow, out_of_memory), termination afterwards, and the
// host's own native stack staying small whatever the guest does.

#include <pthread.h>

#include <chrono>
#include <climits>
#include <cmath>
#include <functional>

#include "guest_fixture.h"

namespace rw::eh_test {
namespace {

constexpr const char* kTraps = "traps.wasm";

struct TrapCase {
  const char* name;
  std::vector<Value> args;
  TrapKind kind;
};

void PrintTo(const TrapCase& c, std::ostream* os) { *os << c.name; }

class TrapKinds : public ::testing::TestWithParam<TrapCase> {};

TEST_P(TrapKinds, EachTrapIsAnAbortOfItsKindAndTerminatesTheStore) {
  const TrapCase& c = GetParam();
  Guest g = instantiate_guest(kTraps);
  REQUIRE_GUEST(g, kTraps);
  EXPECT_EQ(g.call_i32("ok", {i32(0)}), 1);
  CallResult r = g.store->call(*g.instance->get_function(c.name), c.args);
  ASSERT_EQ(r.outcome, Outcome::Abort) << c.name << ": " << to_string(r.outcome);
  EXPECT_EQ(r.trap, c.kind) << c.name << ": " << to_string(r.trap) << " " << r.message;
  EXPECT_FALSE(r.message.empty());
  // The guest's backtrace, named from the name section, ends in the export.
  ASSERT_FALSE(r.backtrace.empty());
  EXPECT_EQ(r.backtrace.back().name, c.name) << ::testing::PrintToString(frame_names(r.backtrace));
  EXPECT_GT(r.backtrace.front().offset, 0u);
  EXPECT_TRUE(g.store->terminated());
  EXPECT_EQ(g.call("ok", {i32(0)}).outcome, Outcome::Terminated);

  FailureReport report = describe_failure(*g.instance, r);
  EXPECT_EQ(report.kind, c.kind);  // no abort message in this guest: never reclassified
  EXPECT_EQ(report.message, r.message);

  // Once recovered (here: the flag cleared without a reset) the instance runs again.
  g.store->clear_terminated();
  EXPECT_EQ(g.call_i32("ok", {i32(0)}), 2);
}

const int32_t kOutOfBounds = static_cast<int32_t>(0xfffffff0u);

INSTANTIATE_TEST_SUITE_P(
    Traps, TrapKinds,
    ::testing::Values(TrapCase{"trap_unreachable", {}, TrapKind::Unreachable},
                      TrapCase{"trap_abort", {}, TrapKind::Unreachable},
                      TrapCase{"divide", {i32(1), i32(0)}, TrapKind::IntegerDivideByZero},
                      TrapCase{"divide", {i32(INT_MIN), i32(-1)}, TrapKind::IntegerOverflow},
                      TrapCase{"load", {i32(kOutOfBounds)}, TrapKind::MemoryOutOfBounds},
                      TrapCase{"store", {i32(kOutOfBounds), i32(1)}, TrapKind::MemoryOutOfBounds},
                      TrapCase{"call_null", {i32(1)}, TrapKind::IndirectCallNull},
                      TrapCase{"call_wrong_signature", {i32(1)}, TrapKind::IndirectCallSignature},
                      TrapCase{"call_past_table", {i32(1)}, TrapKind::TableOutOfBounds},
                      TrapCase{"convert", {Value::make_f64(NAN)}, TrapKind::InvalidConversion},
                      TrapCase{"convert", {Value::make_f64(1e10)}, TrapKind::IntegerOverflow},
                      TrapCase{"recurse", {i32(100'000'000)}, TrapKind::StackOverflow}),
    [](const ::testing::TestParamInfo<TrapCase>& info) {
      return std::string(info.param.name) + "_" + std::to_string(info.index);
    });

TEST(Traps, NonTrappingCallsOfTheSameExports) {
  Guest g = instantiate_guest(kTraps);
  REQUIRE_GUEST(g, kTraps);
  EXPECT_EQ(g.call_i32("divide", {i32(-9), i32(2)}), -4);
  EXPECT_EQ(g.call_i32("call_null", {i32(-4)}), -8);
  EXPECT_EQ(g.call_i32("call_past_table", {i32(-4)}), -8);
  EXPECT_EQ(g.call_i32("convert", {Value::make_f64(-7.9)}), -7);
  EXPECT_EQ(g.call_i32("recurse", {i32(1000)}), 1000);
  EXPECT_TRUE(g.call("store", {i32(1024), i32(77)}).ok());
  EXPECT_EQ(g.call_i32("load", {i32(1024)}), 77);
  EXPECT_FALSE(g.store->terminated());
}

TEST(Limits, CpuDeadlineStopsAnInfiniteLoop) {
  StoreOptions options;
  options.limits.cpu_time_per_call = std::chrono::milliseconds(50);
  Guest g = instantiate_guest(kTraps, options);
  REQUIRE_GUEST(g, kTraps);
  // The deadline is per call: many quick calls in a row never add up to it.
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(g.call_i32("ok", {i32(0)}), i + 1);
  const auto start = std::chrono::steady_clock::now();
  CallResult r = g.call("spin");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::CpuLimit);
  EXPECT_EQ(r.backtrace.back().name, "spin");
  EXPECT_GE(elapsed, std::chrono::milliseconds(50));
  EXPECT_LT(elapsed, std::chrono::seconds(5));  // generous: the machine is shared
  EXPECT_TRUE(g.store->terminated());
}

TEST(Limits, InterruptFromAnotherThreadIsACpuLimit) {
  Guest g = instantiate_guest(kTraps);
  REQUIRE_GUEST(g, kTraps);
  std::thread watchdog([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    g.store->interrupt();
  });
  CallResult r = g.call("spin");
  watchdog.join();
  ASSERT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::CpuLimit);
}

// Runs `body` on a thread whose native stack is only `bytes` big.
void run_with_native_stack(size_t bytes, const std::function<void()>& body) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, bytes), 0);
  pthread_t thread;
  auto fn = +[](void* p) -> void* {
    (*static_cast<const std::function<void()>*>(p))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, fn, const_cast<std::function<void()>*>(&body)), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

TEST(Limits, UnboundedRecursionIsAStackOverflowOnA64KiBNativeStack) {
  Guest g = instantiate_guest(kTraps);
  REQUIRE_GUEST(g, kTraps);
  CallResult deep, shallow;
  // Guest calls never recurse natively, so a tiny host stack is enough for any guest depth.
  run_with_native_stack(64 * 1024 * kNativeStackScale, [&] {
    shallow = g.call("recurse", {i32(15'000)});
    deep = g.call("recurse", {i32(100'000'000)});
  });
  ASSERT_TRUE(shallow.ok()) << shallow.message;
  EXPECT_EQ(shallow.values.at(0).as_i32(), 15'000);
  ASSERT_EQ(deep.outcome, Outcome::Abort);
  EXPECT_EQ(deep.trap, TrapKind::StackOverflow);
  // The backtrace has every frame (the call-depth limit bounds it) and names them.
  EXPECT_EQ(deep.backtrace.size(), g.store->options().limits.max_call_depth);
  EXPECT_EQ(deep.backtrace.back().name, "recurse");
  EXPECT_NE(deep.backtrace.front().name.find("deep"), std::string::npos)
      << deep.backtrace.front().name;
}

TEST(Limits, ValueStackLimitIsAStackOverflowToo) {
  StoreOptions options;
  options.limits.max_call_depth = 100'000'000;
  options.limits.max_value_stack_bytes = 256 * 1024;
  Guest g = instantiate_guest(kTraps, options);
  REQUIRE_GUEST(g, kTraps);
  CallResult r;
  run_with_native_stack(64 * 1024 * kNativeStackScale,
                        [&] { r = g.call("recurse", {i32(100'000'000)}); });
  ASSERT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::StackOverflow);
  EXPECT_LT(r.backtrace.size(), 100'000u);
}

TEST(Limits, TrapAfterAFailedGrowInTheSameCallIsOutOfMemory) {
  StoreOptions options;
  auto module = load_guest(kTraps);
  const uint32_t initial =
      module ? static_cast<uint32_t>(module->ir().memories.at(0).limits.min) : 0;
  options.limits.max_memory_pages = initial + 4;
  Guest g = instantiate_guest(kTraps, options);
  REQUIRE_GUEST(g, kTraps);
  EXPECT_EQ(g.call_i32("grow_then_trap", {i32(4)}), static_cast<int32_t>(initial));
  // A failed grow alone is not a failure.
  EXPECT_EQ(g.call_i32("grow", {i32(1)}), -1);
  // ... nor does it taint a trap in a later call.
  CallResult later = g.call("trap_unreachable");
  EXPECT_EQ(later.trap, TrapKind::Unreachable);
  g.store->clear_terminated();

  CallResult r = g.call("grow_then_trap", {i32(1)});
  ASSERT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::OutOfMemory);
  EXPECT_EQ(describe_failure(*g.instance, r).kind, TrapKind::OutOfMemory);
  EXPECT_EQ(g.instance->get_memory("memory")->pages(), initial + 4);
}

TEST(Limits, GrowingPastTheModuleMaximumFailsCleanly) {
  Guest g = instantiate_guest(kTraps);
  REQUIRE_GUEST(g, kTraps);
  EXPECT_EQ(g.call_i32("grow", {i32(70'000)}), -1);
  EXPECT_FALSE(g.store->terminated());
}

}  // namespace
}  // namespace rw::eh_test
