// Outcomes at the host boundary: host functions, panics, host errors, aborts, termination, limits.

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "test_util.h"

namespace rw::testing {
namespace {

const FuncType kVoid{};
const FuncType kI32ToI32{{ValType::I32}, {ValType::I32}};

StoreOptions cpu_limited(std::chrono::milliseconds budget) {
  StoreOptions options;
  options.limits.cpu_time_per_call = budget;
  return options;
}

TEST(HostFunctions, OkResultsReachTheGuest) {
  Store store;
  Imports imports;
  int calls = 0;
  imports.define(
      "env", "double",
      Extern::of(store.create_host_function(
          kI32ToI32, [&](HostContext& ctx, std::span<const Value> args, std::span<Value> results) {
            ++calls;
            EXPECT_NE(ctx.caller(), nullptr);
            results[0] = Value::make_i32(args[0].as_i32() * 2);
            return HostResult::ok();
          })));
  Instance* inst = instantiate(store, R"(
(module
  (import "env" "double" (func $double (param i32) (result i32)))
  (func (export "f") (param i32) (result i32) (i32.add (call $double (local.get 0)) (i32.const 1))))
)",
                               imports);
  ASSERT_NE(inst, nullptr);
  CallResult r = call(store, inst, "f", {i32(20)});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.values.at(0).as_i32(), 41);
  EXPECT_EQ(calls, 1);
}

constexpr std::string_view kHostCaller = R"(
(module
  (import "env" "host" (func $host))
  (tag $e (export "e") (param i32))
  (global $cleanup (export "cleanup") (mut i32) (i32.const 0))
  ;; Calls the host inside a catch_all_ref cleanup that records it ran and rethrows.
  (func (export "with_cleanup")
    (block $h (result exnref)
      (try_table (catch_all_ref $h) (call $host))
      (return))
    (global.set $cleanup (i32.add (global.get $cleanup) (i32.const 1)))
    (throw_ref))
  ;; Catches a guest exception with tag $e and returns its payload.
  (func (export "catch_e") (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (call $host))
      (i32.const -1)))
  ;; Catches everything.
  (func (export "catch_all") (result i32)
    (block $h
      (try_table (catch_all $h) (call $host))
      (return (i32.const 0)))
    (i32.const 1)))
)";

struct HostCallerFixture {
  Store store;
  Instance* inst = nullptr;
  std::function<HostResult()> behaviour;

  explicit HostCallerFixture(StoreOptions options = {}) : store(options) {
    Imports imports;
    imports.define("env", "host",
                   Extern::of(store.create_host_function(
                       kVoid, [this](HostContext&, std::span<const Value>, std::span<Value>) {
                         return behaviour();
                       })));
    inst = instantiate(store, kHostCaller, imports);
  }
};

TEST(HostFunctions, FailBecomesHostErrorWithTheSameExceptionPtr) {
  HostCallerFixture fx;
  ASSERT_NE(fx.inst, nullptr);
  std::exception_ptr error = std::make_exception_ptr(std::runtime_error("disk on fire"));
  fx.behaviour = [&] { return HostResult::fail(error, "io failed"); };
  CallResult r = call(fx.store, fx.inst, "with_cleanup");
  EXPECT_EQ(r.outcome, Outcome::HostError);
  EXPECT_EQ(r.host_error, error);
  EXPECT_EQ(r.message, "io failed");
  EXPECT_FALSE(r.backtrace.empty());
  // The guest cleanup (catch_all_ref) ran on the way out.
  EXPECT_EQ(fx.inst->get_global("cleanup")->get().as_i32(), 1);
  // A tagged catch cannot see host errors; catch_all can.
  EXPECT_EQ(call(fx.store, fx.inst, "catch_e").outcome, Outcome::HostError);
  CallResult caught = call(fx.store, fx.inst, "catch_all");
  ASSERT_TRUE(caught.ok());
  EXPECT_EQ(caught.values.at(0).as_i32(), 1);
  EXPECT_FALSE(fx.store.terminated());
}

TEST(HostFunctions, CppExceptionFromCallbackIsAHostError) {
  HostCallerFixture fx;
  ASSERT_NE(fx.inst, nullptr);
  fx.behaviour = []() -> HostResult { throw std::logic_error("oops"); };
  CallResult r = call(fx.store, fx.inst, "with_cleanup");
  EXPECT_EQ(r.outcome, Outcome::HostError);
  ASSERT_TRUE(r.host_error);
  EXPECT_THROW(std::rethrow_exception(r.host_error), std::logic_error);
}

TEST(HostFunctions, AbortIsAHostAbortTrapThatSkipsCleanups) {
  HostCallerFixture fx;
  ASSERT_NE(fx.inst, nullptr);
  fx.behaviour = [] { return HostResult::abort("quota exceeded"); };
  CallResult r = call(fx.store, fx.inst, "with_cleanup");
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::HostAbort);
  EXPECT_EQ(r.message, "quota exceeded");
  EXPECT_EQ(fx.inst->get_global("cleanup")->get().as_i32(), 0);
  EXPECT_TRUE(fx.store.terminated());
  // Every later entry is refused without running guest code.
  fx.behaviour = [] { return HostResult::ok(); };
  CallResult refused = call(fx.store, fx.inst, "catch_all");
  EXPECT_EQ(refused.outcome, Outcome::Terminated);
  fx.store.clear_terminated();
  EXPECT_TRUE(call(fx.store, fx.inst, "catch_all").ok());
}

TEST(HostFunctions, TrapsAreNotCaughtByCatchAll) {
  HostCallerFixture fx;
  ASSERT_NE(fx.inst, nullptr);
  fx.behaviour = [] { return HostResult::abort("no"); };
  CallResult r = call(fx.store, fx.inst, "catch_all");
  EXPECT_EQ(r.outcome, Outcome::Abort);
}

TEST(HostFunctions, ThrowIsCatchableByTheGuest) {
  HostCallerFixture fx;
  ASSERT_NE(fx.inst, nullptr);
  Tag e = *fx.inst->get_tag("e");
  fx.behaviour = [&] { return HostResult::throw_exception(e, {Value::make_i32(77)}); };
  CallResult r = call(fx.store, fx.inst, "catch_e");
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.values.at(0).as_i32(), 77);
  // Uncaught, it is a panic with the tag and payload.
  r = call(fx.store, fx.inst, "with_cleanup");
  EXPECT_EQ(r.outcome, Outcome::Panic);
  EXPECT_EQ(r.exception_tag, e);
  ASSERT_EQ(r.exception_payload.size(), 1u);
  EXPECT_EQ(r.exception_payload[0].as_i32(), 77);
}

TEST(Panics, PayloadTagAndBacktrace) {
  Store store;
  auto module = load(R"(
(module
  (tag $boom (export "boom") (param i32 i64))
  (func $thrower (throw $boom (i32.const 7) (i64.const -9)))
  (func (export "f") (call $thrower)))
)");
  ASSERT_NE(module, nullptr);
  Instance* inst = store.instantiate(module, {}).value();
  CallResult r = call(store, inst, "f");
  ASSERT_EQ(r.outcome, Outcome::Panic);
  EXPECT_EQ(r.exception_tag, *inst->get_tag("boom"));
  ASSERT_EQ(r.exception_payload.size(), 2u);
  EXPECT_EQ(r.exception_payload[0].as_i32(), 7);
  EXPECT_EQ(r.exception_payload[1].as_i64(), -9);
  ASSERT_EQ(r.backtrace.size(), 2u);
  EXPECT_EQ(r.backtrace[0].name, "thrower");
  EXPECT_FALSE(store.terminated());  // a panic is not an abort
}

TEST(Panics, ShadowStackPointerIsRestored) {
  constexpr std::string_view kWat = R"(
(module
  (global $sp (mut i32) (i32.const 65536))
  (global (export "other") (mut i32) (i32.const 5))
  (tag $e)
  (func (export "leak") (result i32)
    (global.set $sp (i32.sub (global.get $sp) (i32.const 256)))
    (throw $e))
  (func (export "balanced")
    (global.set $sp (i32.sub (global.get $sp) (i32.const 16))))
  (func (export "sp") (result i32) (global.get $sp)))
)";
  {
    Store store;
    Instance* inst = instantiate(store, kWat);
    ASSERT_NE(inst, nullptr);
    EXPECT_EQ(call(store, inst, "leak").outcome, Outcome::Panic);
    EXPECT_EQ(inst->global(0).get().as_i32(), 65536);
    // Only panics and host errors restore it; a normal return keeps what the guest did.
    EXPECT_TRUE(call(store, inst, "balanced").ok());
    EXPECT_EQ(call(store, inst, "sp").values.at(0).as_i32(), 65536 - 16);
  }
  {
    StoreOptions options;
    options.restore_stack_pointer = false;
    Store store(options);
    Instance* inst = instantiate(store, kWat);
    ASSERT_NE(inst, nullptr);
    EXPECT_EQ(call(store, inst, "leak").outcome, Outcome::Panic);
    EXPECT_EQ(inst->global(0).get().as_i32(), 65536 - 256);
  }
}

TEST(Nesting, InnerAbortUnwindsOuterFramesWithoutHandlers) {
  Store store;
  Imports imports;
  Function reenter;
  bool host_saw_abort = false;
  imports.define("env", "reenter",
                 Extern::of(store.create_host_function(
                     kVoid, [&](HostContext& ctx, std::span<const Value>, std::span<Value>) {
                       CallResult nested = ctx.call(reenter, {});
                       host_saw_abort = nested.outcome == Outcome::Abort;
                       // The host swallows the failure, but the store is terminated: unwinding
                       // continues anyway.
                       return HostResult::ok();
                     })));
  Instance* inst = instantiate(store, R"(
(module
  (import "env" "reenter" (func $reenter))
  (global $handled (export "handled") (mut i32) (i32.const 0))
  (func (export "inner") (unreachable))
  (func (export "outer")
    (block $h
      (try_table (catch_all $h) (call $reenter))
      (return))
    (global.set $handled (i32.const 1))))
)",
                               imports);
  ASSERT_NE(inst, nullptr);
  reenter = *inst->get_function("inner");
  CallResult r = call(store, inst, "outer");
  EXPECT_TRUE(host_saw_abort);
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::Unreachable);
  EXPECT_EQ(r.message, "unreachable");
  // Innermost first: the inner guest frame, then the outer one.
  ASSERT_GE(r.backtrace.size(), 2u);
  EXPECT_EQ(r.backtrace.front().func_index, 1u);
  EXPECT_EQ(r.backtrace.back().func_index, 2u);
  EXPECT_EQ(inst->get_global("handled")->get().as_i32(), 0);
  EXPECT_TRUE(store.terminated());
  EXPECT_EQ(call(store, inst, "outer").outcome, Outcome::Terminated);
}

TEST(Nesting, PropagateCarriesANestedPanicOutward) {
  Store store;
  Imports imports;
  Function thrower;
  imports.define("env", "reenter",
                 Extern::of(store.create_host_function(
                     kVoid, [&](HostContext& ctx, std::span<const Value>, std::span<Value>) {
                       return HostResult::propagate(ctx.call(thrower, {}));
                     })));
  Instance* inst = instantiate(store, R"(
(module
  (import "env" "reenter" (func $reenter))
  (tag $e (export "e") (param i32))
  (func (export "throw") (throw $e (i32.const 3)))
  (func (export "outer") (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (call $reenter))
      (i32.const -1))))
)",
                               imports);
  ASSERT_NE(inst, nullptr);
  thrower = *inst->get_function("throw");
  CallResult r = call(store, inst, "outer");
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.values.at(0).as_i32(), 3);
}

TEST(Nesting, DepthIsBounded) {
  StoreOptions options;
  options.limits.max_host_nesting = 8;
  Store store(options);
  Imports imports;
  Function self;
  int depth = 0;
  imports.define("env", "again",
                 Extern::of(store.create_host_function(
                     kVoid, [&](HostContext& ctx, std::span<const Value>, std::span<Value>) {
                       ++depth;
                       return HostResult::propagate(ctx.call(self, {}));
                     })));
  Instance* inst = instantiate(store, R"(
(module (import "env" "again" (func $again)) (func (export "f") (call $again)))
)",
                               imports);
  ASSERT_NE(inst, nullptr);
  self = *inst->get_function("f");
  CallResult r = call(store, inst, "f");
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::StackOverflow);
  EXPECT_LE(depth, 9);
}

TEST(Limits, DeepRecursionIsAStackOverflowNotACrash) {
  constexpr std::string_view kWat = R"(
(module
  (func $down (export "down") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $down (i32.sub (local.get 0) (i32.const 1))))))))
)";
  {
    Store store;  // default: 20000 frames
    Instance* inst = instantiate(store, kWat);
    ASSERT_NE(inst, nullptr);
    CallResult r = call(store, inst, "down", {i32(1'000'000)});
    EXPECT_EQ(r.outcome, Outcome::Abort);
    EXPECT_EQ(r.trap, TrapKind::StackOverflow);
    EXPECT_EQ(r.message, "call stack exhausted");
  }
  {
    // With generous limits a million guest frames run fine: no native recursion.
    StoreOptions options;
    options.limits.max_call_depth = 2'000'000;
    options.limits.max_value_stack_bytes = 256ull << 20;
    Store store(options);
    Instance* inst = instantiate(store, kWat);
    ASSERT_NE(inst, nullptr);
    CallResult r = call(store, inst, "down", {i32(1'000'000)});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.values.at(0).as_i32(), 1'000'000);
    // The value stack limit applies too.
    r = call(store, inst, "down", {i32(100'000'000)});
    EXPECT_EQ(r.trap, TrapKind::StackOverflow);
  }
}

TEST(Limits, TailCallsRunInConstantStack) {
  StoreOptions options;
  options.limits.max_call_depth = 100;
  Store store(options);
  Instance* inst = instantiate(store, R"(
(module
  (type $t (func (param i64 i64) (result i64)))
  (table funcref (elem $loop))
  (func $loop (param i64 i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (local.get 1))
      (else (return_call_indirect (type $t)
              (i64.sub (local.get 0) (i64.const 1)) (i64.add (local.get 1) (i64.const 2))
              (i32.const 0)))))
  (func (export "count") (param i64) (result i64)
    (return_call $loop (local.get 0) (i64.const 0))))
)");
  ASSERT_NE(inst, nullptr);
  CallResult r = call(store, inst, "count", {i64(1'000'000)});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.values.at(0).as_i64(), 2'000'000);
}

TEST(Limits, CpuDeadlineStopsAnInfiniteLoop) {
  StoreOptions options = cpu_limited(std::chrono::milliseconds(50));
  Store store(options);
  Instance* inst = instantiate(store, R"((module (func (export "spin") (loop $l (br $l)))))");
  ASSERT_NE(inst, nullptr);
  auto start = std::chrono::steady_clock::now();
  CallResult r = call(store, inst, "spin");
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::CpuLimit);
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

// Burns `ms` of this thread's CPU time.
void burn_cpu(std::chrono::milliseconds ms) {
  auto now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  };
  auto end = now() + ms;
  while (now() < end) {
  }
}

constexpr std::string_view kCallTree = R"((module
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2))))))))
)";

TEST(Limits, CpuDeadlineStopsACallTreeWithoutLoops) {
  // No backward branch at all: the calls are where the deadline is seen. fib(60) would take
  // days.
  StoreOptions options = cpu_limited(std::chrono::milliseconds(20));
  Store store(options);
  Instance* inst = instantiate(store, kCallTree);
  ASSERT_NE(inst, nullptr);
  auto start = std::chrono::steady_clock::now();
  CallResult r = call(store, inst, "fib", {i32(60)});
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::CpuLimit);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(Limits, CpuDeadlineIsArmedAgainForEveryCall) {
  StoreOptions options = cpu_limited(std::chrono::milliseconds(20));
  options.terminate_on_abort = false;
  Store store(options);
  Instance* inst = instantiate(store, kCallTree);
  ASSERT_NE(inst, nullptr);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(call(store, inst, "fib", {i32(60)}).trap, TrapKind::CpuLimit) << round;
    // A spent deadline does not stop the next call, which has a budget of its own.
    CallResult ok = call(store, inst, "fib", {i32(15)});
    ASSERT_TRUE(ok.ok()) << ok.message;
    EXPECT_EQ(ok.values.at(0).as_i32(), 610);
  }
}

TEST(Limits, CpuSpentInHostFunctionsCounts) {
  // The guest loop is short; the host function it calls first burns more than the budget.
  StoreOptions options = cpu_limited(std::chrono::milliseconds(10));
  options.terminate_on_abort = false;
  Store store(options);
  Imports imports;
  std::chrono::milliseconds burn{0};
  imports.define("env", "work",
                 Extern::of(store.create_host_function(
                     kVoid, [&](HostContext&, std::span<const Value>, std::span<Value>) {
                       burn_cpu(burn);
                       return HostResult::ok();
                     })));
  Instance* inst = instantiate(store, R"((module
  (import "env" "work" (func $work))
  (func (export "f") (result i32) (local i32)
    (call $work)
    (loop $l (br_if $l (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1)))
                                 (i32.const 1000))))
    (local.get 0)))
)",
                               imports);
  ASSERT_NE(inst, nullptr);
  CallResult r = call(store, inst, "f");
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.values.at(0).as_i32(), 1000);
  burn = std::chrono::milliseconds(100);
  r = call(store, inst, "f");
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::CpuLimit);
}

TEST(Limits, CpuDeadlineStaysSpentWhenAHostSwallowsTheNestedAbort) {
  // The nested call hits the deadline; the host function ignores that and returns, and the
  // outer guest loops forever: it must be stopped too.
  StoreOptions options = cpu_limited(std::chrono::milliseconds(20));
  options.terminate_on_abort = false;
  Store store(options);
  Imports imports;
  Function inner;
  Outcome nested_outcome = Outcome::Ok;
  imports.define("env", "reenter",
                 Extern::of(store.create_host_function(
                     kVoid, [&](HostContext& ctx, std::span<const Value>, std::span<Value>) {
                       nested_outcome = ctx.call(inner, {}).outcome;
                       return HostResult::ok();
                     })));
  Instance* inst = instantiate(store, R"((module
  (import "env" "reenter" (func $reenter))
  (func (export "inner") (loop $l (br $l)))
  (func (export "outer") (call $reenter) (loop $l (br $l))))
)",
                               imports);
  ASSERT_NE(inst, nullptr);
  inner = *inst->get_function("inner");
  // Should the deadline be lost, the test fails with another trap instead of hanging.
  std::atomic<bool> done{false};
  std::thread safety_net([&] {
    for (int i = 0; i < 500 && !done; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!done) store.interrupt(TrapKind::Unreachable);
  });
  CallResult r = call(store, inst, "outer");
  done = true;
  safety_net.join();
  EXPECT_EQ(nested_outcome, Outcome::Abort);
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::CpuLimit);
}

TEST(Limits, CpuDeadlineWorksInAForkedChild) {
  // The deadline thread does not survive fork(); a child that runs guest code gets its own.
  StoreOptions options = cpu_limited(std::chrono::milliseconds(20));
  Store store(options);
  Instance* inst = instantiate(store, kCallTree);
  ASSERT_NE(inst, nullptr);
  ASSERT_EQ(call(store, inst, "fib", {i32(60)}).trap, TrapKind::CpuLimit);  // thread started
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);  // a child that is never stopped dies of SIGALRM instead of hanging the test
    Store child_store(options);
    Instance* child_inst = instantiate(child_store, kCallTree);
    CallResult r = call(child_store, child_inst, "fib", {i32(60)});
    _exit(r.trap == TrapKind::CpuLimit ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST(Limits, InterruptFromAnotherThread) {
  Store store(spec_options());
  Instance* inst = instantiate(store, R"((module
    (func $f (export "spin") (loop $l (call $g) (br $l)))
    (func $g)))");
  ASSERT_NE(inst, nullptr);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    store.interrupt();
  });
  CallResult r = call(store, inst, "spin");
  stopper.join();
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::CpuLimit);
}

TEST(Limits, FailedGrowThenTrapIsOutOfMemory) {
  StoreOptions options;
  options.limits.max_memory_pages = 4;
  options.terminate_on_abort = false;
  Store store(options);
  Instance* inst = instantiate(store, R"(
(module
  (memory 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "grow_then_trap") (result i32)
    (drop (memory.grow (i32.const 100)))
    (i32.load (i32.const 0x7fffffff)))
  (func (export "just_trap") unreachable))
)");
  ASSERT_NE(inst, nullptr);
  EXPECT_EQ(call(store, inst, "grow", {i32(3)}).values.at(0).as_i32(), 1);
  EXPECT_EQ(call(store, inst, "grow", {i32(1)}).values.at(0).as_i32(), -1);
  EXPECT_EQ(inst->memory(0).pages(), 4u);
  CallResult r = call(store, inst, "grow_then_trap");
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::OutOfMemory);
  EXPECT_EQ(r.message, "out of bounds memory access");
  // A new call starts clean.
  r = call(store, inst, "just_trap");
  EXPECT_EQ(r.trap, TrapKind::Unreachable);
}

TEST(Limits, MemoryMaximumIsRespected) {
  Store store(spec_options());
  Instance* inst = instantiate(store, R"(
(module (memory 1 2) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))))");
  ASSERT_NE(inst, nullptr);
  uint8_t* base = inst->memory(0).data();
  EXPECT_EQ(call(store, inst, "grow", {i32(2)}).values.at(0).as_i32(), -1);
  EXPECT_EQ(call(store, inst, "grow", {i32(1)}).values.at(0).as_i32(), 1);
  EXPECT_EQ(inst->memory(0).data(), base);  // the base never moves
  EXPECT_EQ(inst->memory(0).size_bytes(), 2u * kPageSize);
}

// Functions compile on their first call and calls within a module name the callee's code
// directly: stores on several threads making the first calls of one shared module at once must
// each see every function whole.
TEST(LazyCompilation, FirstCallsFromManyThreadsAtOnce) {
  std::string wat = "(module\n";
  const int kChain = 60;
  for (int i = 0; i < kChain; ++i) {
    wat += "(func $f" + std::to_string(i) + " (export \"f" + std::to_string(i) +
           "\") (param i32) (result i32) ";
    if (i + 1 < kChain)
      wat += "(i32.add (i32.const " + std::to_string(i) + ") (call $f" + std::to_string(i + 1) +
             " (local.get 0))))\n";
    else
      wat += "(local.get 0))\n";
  }
  wat += ")";
  auto module = load(wat);
  ASSERT_NE(module, nullptr);
  // f_i adds i for i < kChain - 1: f0 adds 0 + 1 + ... + (kChain - 2), f30 adds 30 + ... + 58.
  const int expected = 1000 + (kChain - 1) * (kChain - 2) / 2;
  std::atomic<int> correct{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Store store;
      auto inst = store.instantiate(module, {});
      if (!inst.ok()) return;
      while (!go.load()) std::this_thread::yield();
      // Half enter at the top of the chain, half in the middle first.
      std::string first = t % 2 ? "f30" : "f0";
      CallResult a = store.call(*inst.value()->get_function(first), std::vector{i32(1000)});
      CallResult b = store.call(*inst.value()->get_function("f0"), std::vector{i32(1000)});
      int want_a = t % 2 ? 1000 + (30 + kChain - 2) * (kChain - 1 - 30) / 2 : expected;
      if (a.ok() && b.ok() && a.values.at(0).as_i32() == want_a &&
          b.values.at(0).as_i32() == expected)
        ++correct;
    });
  }
  go.store(true);
  for (auto& th : threads) th.join();
  EXPECT_EQ(correct.load(), 4);
}

}  // namespace
}  // namespace rw::testing
