// Host functions between C++ guest frames, in both encodings: host errors crossing guest frames,
// host aborts, exceptions thrown by the host, nested entries (guest -> host -> guest) ending in
// ok, panic and abort. The guest is tests/guests/cxx/host_calls.cpp.

#include <pthread.h>

#include <stdexcept>
#include <string>
#include <thread>

#include "guest_fixture.h"

namespace rw::eh_test {
namespace {

const FuncType kI32ToI32{{ValType::I32}, {ValType::I32}};
const FuncType kI32I32ToI32{{ValType::I32, ValType::I32}, {ValType::I32}};

struct Counts {
  int cleanup, catch_all, outer_cleanup, outer_catch_all;
  bool operator==(const Counts&) const = default;
};
void PrintTo(const Counts& c, std::ostream* os) {
  *os << "(" << c.cleanup << ", " << c.catch_all << ", " << c.outer_cleanup << ", "
      << c.outer_catch_all << ")";
}

class HostCalls : public ::testing::TestWithParam<std::string> {
 protected:
  using HostCall = std::function<HostResult(HostContext&, int32_t, std::span<Value>)>;
  using CallInner = std::function<HostResult(HostContext&, int32_t, int32_t, std::span<Value>)>;

  std::string file() const { return "host_calls." + GetParam() + ".wasm"; }

  void SetUp() override { g_ = make_guest({}); }

  Guest make_guest(StoreOptions options) {
    return instantiate_guest(file(), options, [this](Store& store, Imports& imports) {
      imports.define(
          "env", "host_call",
          Extern::of(store.create_host_function(
              kI32ToI32,
              [this](HostContext& ctx, std::span<const Value> args, std::span<Value> results) {
                return host_call ? host_call(ctx, args[0].as_i32(), results) : HostResult::ok();
              },
              "host_call")));
      imports.define(
          "env", "call_inner",
          Extern::of(store.create_host_function(
              kI32I32ToI32,
              [this](HostContext& ctx, std::span<const Value> args, std::span<Value> results) {
                return call_inner(ctx, args[0].as_i32(), args[1].as_i32(), results);
              },
              "call_inner")));
    });
  }

  // The default call_inner: forwards to nested_inner_{ok,panic,trap}, hands its outcome on.
  CallInner call_inner = [](HostContext& ctx, int32_t which, int32_t arg, std::span<Value> res) {
    static const char* const kInner[] = {"nested_inner_ok", "nested_inner_panic",
                                         "nested_inner_trap"};
    Function f = *ctx.caller()->get_function(kInner[which]);
    const Value a = Value::make_i32(arg);
    CallResult r = ctx.call(f, std::span<const Value>(&a, 1));
    if (r.ok()) {
      res[0] = r.values.at(0);
      return HostResult::ok();
    }
    return HostResult::propagate(std::move(r));
  };
  HostCall host_call;

  Counts counts() const {
    return {g_.call_i32("cleanup_count"), g_.call_i32("catch_all_count"),
            g_.call_i32("outer_cleanup_count"), g_.call_i32("outer_catch_all_count")};
  }
  // After an abort: the lifecycle layer would recover the instance. Clearing the flag without a
  // reset keeps memory as the abort left it, so the counters show which guest code ran.
  Counts counts_after_abort() {
    EXPECT_TRUE(g_.store->terminated());
    g_.store->clear_terminated();
    return counts();
  }

  Guest g_;
};

TEST_P(HostCalls, HostResultsReachTheGuest) {
  REQUIRE_GUEST(g_, file());
  host_call = [](HostContext& ctx, int32_t x, std::span<Value> results) {
    EXPECT_NE(ctx.caller(), nullptr);
    results[0] = Value::make_i32(x * 10);
    return HostResult::ok();
  };
  EXPECT_EQ(g_.call_i32("call_host_then_cleanup", {i32(4)}), 41);
  EXPECT_EQ(counts(), (Counts{1, 0, 0, 0}));
}

TEST_P(HostCalls, HostErrorCrossesGuestFramesRunsCleanupsAndComesBackUnchanged) {
  REQUIRE_GUEST(g_, file());
  const std::exception_ptr error = std::make_exception_ptr(std::runtime_error("database down"));
  host_call = [&](HostContext&, int32_t, std::span<Value>) {
    return HostResult::fail(error, "query failed");
  };
  const uint32_t sp_before = g_.stack_pointer();
  CallResult r = g_.call("call_host_then_cleanup", {i32(1)});
  ASSERT_EQ(r.outcome, Outcome::HostError) << r.message;
  EXPECT_EQ(r.host_error, error);  // the very same exception object
  EXPECT_EQ(r.message, "query failed");
  EXPECT_TRUE(has_frame(r.backtrace, "call_host_then_cleanup"))
      << ::testing::PrintToString(frame_names(r.backtrace));
  EXPECT_FALSE(g_.store->terminated());
  EXPECT_EQ(g_.stack_pointer(), sp_before);
  // The guard's destructor (a catch_all / catch_all_ref cleanup) ran; catch (...) did not: it
  // only catches __cpp_exception, and a host error is not one.
  EXPECT_EQ(counts(), (Counts{1, 0, 0, 0}));

  FailureReport report = describe_failure(*g_.instance, r);
  EXPECT_EQ(report.outcome, Outcome::HostError);
  EXPECT_EQ(report.message, "query failed: database down");
}

TEST_P(HostCalls, ShadowStackPointerIsRestoredAfterManyHostErrors) {
  REQUIRE_GUEST(g_, file());
  host_call = [](HostContext&, int32_t, std::span<Value>) {
    return HostResult::fail(std::make_exception_ptr(std::logic_error("no")));
  };
  const uint32_t sp_before = g_.stack_pointer();
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_EQ(g_.call("call_host_then_cleanup", {i32(i)}).outcome, Outcome::HostError);
    ASSERT_EQ(g_.stack_pointer(), sp_before) << "iteration " << i;
  }
  EXPECT_EQ(counts(), (Counts{10'000, 0, 0, 0}));
}

TEST_P(HostCalls, CppExceptionThrownByTheCallbackIsAHostErrorWithThatException) {
  REQUIRE_GUEST(g_, file());
  host_call = [](HostContext&, int32_t, std::span<Value>) -> HostResult {
    throw std::runtime_error("thrown by the host");
  };
  CallResult r = g_.call("call_host_then_cleanup", {i32(1)});
  ASSERT_EQ(r.outcome, Outcome::HostError);
  ASSERT_TRUE(r.host_error);
  try {
    std::rethrow_exception(r.host_error);
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "thrown by the host");
  }
  EXPECT_EQ(counts(), (Counts{1, 0, 0, 0}));
}

TEST_P(HostCalls, HostAbortIsUncatchableAndSkipsEveryGuestHandler) {
  REQUIRE_GUEST(g_, file());
  host_call = [](HostContext&, int32_t, std::span<Value>) {
    return HostResult::abort("quota exhausted");
  };
  CallResult r = g_.call("call_host_then_cleanup", {i32(1)});
  ASSERT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::HostAbort);
  EXPECT_EQ(r.message, "quota exhausted");
  EXPECT_TRUE(has_frame(r.backtrace, "call_host_then_cleanup"));
  EXPECT_TRUE(g_.store->terminated());
  EXPECT_EQ(g_.call("cleanup_count").outcome, Outcome::Terminated);
  FailureReport report = describe_failure(*g_.instance, r);
  EXPECT_EQ(report.kind, TrapKind::HostAbort);
  EXPECT_EQ(report.message, "quota exhausted");
  // Neither the cleanup (catch_all) nor catch (...) ran.
  EXPECT_EQ(counts_after_abort(), (Counts{0, 0, 0, 0}));
}

TEST_P(HostCalls, ExceptionThrownByTheHostIsCaughtAndRethrownByTheGuest) {
  REQUIRE_GUEST(g_, file());
  Tag cpp_tag = *g_.instance->get_tag("__cpp_exception");
  host_call = [&](HostContext&, int32_t, std::span<Value>) {
    return HostResult::throw_exception(cpp_tag, {Value::make_i32(0x1234)});
  };
  CallResult r = g_.call("call_host_then_cleanup", {i32(1)});
  ASSERT_EQ(r.outcome, Outcome::Panic) << r.message;
  EXPECT_EQ(r.exception_tag, cpp_tag);
  ASSERT_EQ(r.exception_payload.size(), 1u);
  EXPECT_EQ(r.exception_payload[0].i32, 0x1234u);
  EXPECT_EQ(counts(), (Counts{1, 1, 0, 0}));
  FailureReport report = describe_failure(*g_.instance, r);
  EXPECT_TRUE(report.cpp_exception);
  EXPECT_TRUE(report.foreign_payload);
  EXPECT_TRUE(report.guest_message.empty());
  EXPECT_FALSE(g_.store->terminated());
}

TEST_P(HostCalls, NestedEntryReturningNormally) {
  REQUIRE_GUEST(g_, file());
  EXPECT_EQ(g_.call_i32("nested_outer", {i32(0), i32(5)}), 11);
  EXPECT_EQ(counts(), (Counts{0, 0, 1, 0}));
}

TEST_P(HostCalls, NestedPanicPropagatesThroughTheHostToTheOuterGuestCatch) {
  REQUIRE_GUEST(g_, file());
  std::string inner_message;
  CallInner forward = call_inner;
  call_inner = [&](HostContext& ctx, int32_t which, int32_t arg, std::span<Value> res) {
    Function f = *ctx.caller()->get_function("nested_inner_panic");
    const Value a = Value::make_i32(arg);
    CallResult r = ctx.call(f, std::span<const Value>(&a, 1));
    EXPECT_EQ(r.outcome, Outcome::Panic);
    // The host may look at the message, but must not release an exception it hands on.
    DescribeOptions keep;
    keep.release_exception = false;
    inner_message = describe_failure(*ctx.caller(), r, keep).guest_message;
    (void)which;
    (void)res;
    return HostResult::propagate(std::move(r));
  };
  EXPECT_EQ(g_.call_i32("nested_outer", {i32(1), i32(5)}), -1);
  EXPECT_EQ(inner_message, "inner panic");
  EXPECT_EQ(counts(), (Counts{0, 0, 1, 1}));
  EXPECT_FALSE(g_.store->terminated());
  call_inner = forward;
  EXPECT_EQ(g_.call_i32("nested_outer", {i32(0), i32(1)}), 3);  // still live
}

TEST_P(HostCalls, NestedPanicEscapingEveryFrameIsOnePanicForTheCall) {
  REQUIRE_GUEST(g_, file());
  CallResult r = g_.call("nested_inner_panic", {i32(0)});
  ASSERT_EQ(r.outcome, Outcome::Panic);
  EXPECT_EQ(describe_failure(*g_.instance, r).guest_message, "inner panic");
}

TEST_P(HostCalls, NestedAbortUnwindsTheOuterGuestFramesWithoutRunningTheirHandlers) {
  REQUIRE_GUEST(g_, file());
  Outcome reentry = Outcome::Ok;
  call_inner = [&](HostContext& ctx, int32_t, int32_t arg, std::span<Value>) {
    Function f = *ctx.caller()->get_function("nested_inner_trap");
    const Value a = Value::make_i32(arg);
    CallResult r = ctx.call(f, std::span<const Value>(&a, 1));
    EXPECT_EQ(r.outcome, Outcome::Abort);
    EXPECT_EQ(r.trap, TrapKind::Unreachable);
    // Re-entering the aborted instance from the host frame is refused.
    Function ok = *ctx.caller()->get_function("nested_inner_ok");
    reentry = ctx.call(ok, std::span<const Value>(&a, 1)).outcome;
    // Whatever the host answers, the abort keeps unwinding: pretend nothing happened.
    return HostResult::ok();
  };
  CallResult r = g_.call("nested_outer", {i32(2), i32(5)});
  ASSERT_EQ(r.outcome, Outcome::Abort) << r.message;
  EXPECT_EQ(r.trap, TrapKind::Unreachable);
  EXPECT_EQ(reentry, Outcome::Terminated);
  // The backtrace spans both levels: the inner export first, the outer one last.
  EXPECT_TRUE(has_frame(r.backtrace, "nested_inner_trap"))
      << ::testing::PrintToString(frame_names(r.backtrace));
  EXPECT_EQ(r.backtrace.back().name, "nested_outer");
  // No catch (...) and no cleanup of the outer frame ran.
  EXPECT_EQ(counts_after_abort(), (Counts{0, 0, 0, 0}));
}

TEST_P(HostCalls, NestedHostAbortAtTheInnerLevelUnwindsBothLevels) {
  REQUIRE_GUEST(g_, file());
  // outer guest -> call_inner -> call_host_then_cleanup -> host_call: abort.
  host_call = [](HostContext&, int32_t, std::span<Value>) { return HostResult::abort("inner"); };
  call_inner = [&](HostContext& ctx, int32_t, int32_t arg, std::span<Value> res) {
    Function f = *ctx.caller()->get_function("call_host_then_cleanup");
    const Value a = Value::make_i32(arg);
    CallResult r = ctx.call(f, std::span<const Value>(&a, 1));
    EXPECT_EQ(r.trap, TrapKind::HostAbort);
    res[0] = Value::make_i32(0);
    return HostResult::propagate(std::move(r));
  };
  CallResult r = g_.call("nested_outer", {i32(0), i32(1)});
  ASSERT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::HostAbort);
  EXPECT_EQ(r.message, "inner");
  EXPECT_EQ(counts_after_abort(), (Counts{0, 0, 0, 0}));
}

// guest -> host -> guest -> host -> ... without end: the engine's nesting limit ends it as a
// stack_overflow, and the host's native stack only ever holds max_host_nesting levels.
TEST_P(HostCalls, UnboundedReentryIsAStackOverflowWithinASmallNativeStack) {
  StoreOptions options;
  options.limits.max_host_nesting = 16;
  Guest g = make_guest(options);
  REQUIRE_GUEST(g, file());
  int deepest = 0;
  host_call = [&](HostContext& ctx, int32_t depth, std::span<Value> res) {
    deepest = std::max(deepest, depth);
    const Value next = Value::make_i32(depth + 1);
    CallResult r = ctx.call(*ctx.caller()->get_function("call_host_then_cleanup"),
                            std::span<const Value>(&next, 1));
    if (r.ok()) {
      res[0] = r.values.at(0);
      return HostResult::ok();
    }
    return HostResult::propagate(std::move(r));
  };
  CallResult r;
  // 512 KiB of native stack is plenty for 16 levels; the point is that it is bounded.
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 512 * 1024 * kNativeStackScale);
  struct Job {
    Guest* g;
    CallResult* r;
  } job{&g, &r};
  pthread_t thread;
  ASSERT_EQ(pthread_create(
                &thread, &attr,
                [](void* p) -> void* {
                  auto* j = static_cast<Job*>(p);
                  *j->r = j->g->call("call_host_then_cleanup", {i32(0)});
                  return nullptr;
                },
                &job),
            0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  ASSERT_EQ(r.outcome, Outcome::Abort) << to_string(r.outcome) << " " << r.message;
  EXPECT_EQ(r.trap, TrapKind::StackOverflow);
  EXPECT_GE(deepest, 15);
  EXPECT_LE(deepest, 17);
  EXPECT_TRUE(g.store->terminated());
  g.store->clear_terminated();
  EXPECT_EQ(g.call_i32("cleanup_count"), 0);  // no guard of any level ran
}

INSTANTIATE_TEST_SUITE_P(Encodings, HostCalls, encodings(), encoding_name);

}  // namespace
}  // namespace rw::eh_test
