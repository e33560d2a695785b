// WorkerInstance: termination guard, eager recovery (rollback, reset, escalation), hooks, reinit.

#include "rewind/worker.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace rw {
namespace {

constexpr std::string_view kWorkerWat = R"(
(module
  (import "env" "reenter" (func $reenter (param i32)))
  (import "env" "handler_ran" (func $handler_ran))
  (import "env" "observe" (func $observe))
  (import "env" "fail_reinit" (func $fail_reinit (result i32)))
  (import "env" "init_note" (func $init_note))
  (import "rewind" "recovery_message" (func $rec_msg (param i32 i32) (result i32)))
  (import "rewind" "recovery_generation" (func $rec_gen (result i64)))
  (import "rewind" "recovery_outcome" (func $rec_outcome (result i32)))
  (import "rewind" "recovery_trap" (func $rec_trap (result i32)))
  (memory (export "mem") 1)
  (global $counter (export "counter") (mut i32) (i32.const 0))
  (global $reinits (export "reinits") (mut i32) (i32.const 0))
  (global $seen_outcome (export "seen_outcome") (mut i32) (i32.const -5))
  (global $seen_trap (export "seen_trap") (mut i32) (i32.const -5))
  (global $seen_gen (export "seen_gen") (mut i64) (i64.const -5))
  (global $seen_outcome2 (export "seen_outcome2") (mut i32) (i32.const -5))
  (global $seen_trap2 (export "seen_trap2") (mut i32) (i32.const -5))
  (global $msg_len (export "msg_len") (mut i32) (i32.const -5))
  (tag $e (export "e") (param i32))
  (func (export "_initialize")
    (call $init_note)
    (i32.store (i32.const 0) (i32.const 1000)))
  (func (export "worker_init") (i32.store (i32.const 4) (i32.const 2000)))
  (func $incr
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (global.set $counter (i32.add (global.get $counter) (i32.const 1))))
  (func (export "incr") (result i32) (call $incr) (i32.load (i32.const 0)))
  (func (export "incr_then_abort") (call $incr) (unreachable))
  (func (export "incr_then_panic") (call $incr) (throw $e (i32.const 7)))
  (func (export "incr_then_grow_abort") (call $incr) (drop (memory.grow (i32.const 2))) (unreachable))
  (func (export "spin") (loop $l (br $l)))
  (func (export "get") (result i32) (i32.load (i32.const 0)))
  (func (export "get4") (result i32) (i32.load (i32.const 4)))
  (func (export "pages") (result i32) (memory.size))
  ;; level(d): writes a marker, then calls the host, which calls level(d - 1); level(0) traps.
  ;; Every level has a catch_all handler that must never run for an abort.
  (func $level (export "level") (param i32)
    (block $h
      (try_table (catch_all $h)
        (if (i32.eqz (local.get 0)) (then (unreachable)))
        (i32.store (i32.add (i32.const 256) (i32.mul (local.get 0) (i32.const 4))) (i32.const -1))
        (call $reenter (i32.sub (local.get 0) (i32.const 1))))
      (return))
    (call $handler_ran))
  (func (export "rewind_reinit") (param i32 i32)
    (call $observe)
    (global.set $reinits (i32.add (global.get $reinits) (i32.const 1)))
    (global.set $seen_outcome (local.get 0))
    (global.set $seen_trap (local.get 1))
    (global.set $seen_outcome2 (call $rec_outcome))
    (global.set $seen_trap2 (call $rec_trap))
    (global.set $seen_gen (call $rec_gen))
    (global.set $msg_len (call $rec_msg (i32.const 1024) (i32.const 64)))
    (call $incr)
    (if (call $fail_reinit) (then (unreachable)))))
)";

// Host side of the test module, with counters the tests inspect.
struct Host {
  int handler_runs = 0;
  int init_notes = 0;
  int reinit_observed_terminated = 0;
  int observe_calls = 0;
  bool fail_reinit = false;
  bool propagate = false;  // reenter: propagate the nested result instead of swallowing it
  std::vector<Outcome> nested_outcomes;
  std::vector<Outcome> reentry_after_abort;

  ImportsBuilder imports() {
    return [this](Store& store) -> Result<Imports> {
      Imports im;
      FuncType v, ret_i32, take_i32;
      ret_i32.results = {ValType::I32};
      take_i32.params = {ValType::I32};
      im.define("env", "reenter",
                Extern::of(store.create_host_function(
                    take_i32,
                    [this](HostContext& ctx, std::span<const Value> args, std::span<Value>) {
                      Function level = *ctx.caller()->get_function("level");
                      CallResult nested = ctx.call(level, args);
                      nested_outcomes.push_back(nested.outcome);
                      if (nested.outcome == Outcome::Abort) {
                        // Re-entry attempts from a host function still on the stack are refused.
                        Function get = *ctx.caller()->get_function("get");
                        reentry_after_abort.push_back(ctx.call(get, {}).outcome);
                      }
                      if (propagate) return HostResult::propagate(std::move(nested));
                      return HostResult::ok();
                    },
                    "reenter")));
      im.define("env", "handler_ran",
                Extern::of(store.create_host_function(
                    v, [this](HostContext&, std::span<const Value>, std::span<Value>) {
                      ++handler_runs;
                      return HostResult::ok();
                    })));
      im.define("env", "observe",
                Extern::of(store.create_host_function(
                    v, [this](HostContext& ctx, std::span<const Value>, std::span<Value>) {
                      ++observe_calls;
                      if (ctx.store().terminated()) ++reinit_observed_terminated;
                      return HostResult::ok();
                    })));
      im.define("env", "fail_reinit",
                Extern::of(store.create_host_function(
                    ret_i32, [this](HostContext&, std::span<const Value>, std::span<Value> out) {
                      out[0] = Value::make_i32(fail_reinit ? 1 : 0);
                      return HostResult::ok();
                    })));
      im.define("env", "init_note",
                Extern::of(store.create_host_function(
                    v, [this](HostContext&, std::span<const Value>, std::span<Value>) {
                      ++init_notes;
                      return HostResult::ok();
                    })));
      return im;
    };
  }
};

struct Fixture {
  Host host;
  std::vector<RecoveryRecord> panics, aborts, recoveries;
  std::unique_ptr<WorkerInstance> worker;

  explicit Fixture(RecoveryPolicy policy = {}, StoreOptions store = {}) {
    auto module = Module::from_text(kWorkerWat);
    EXPECT_TRUE(module.ok()) << module.error().to_string();
    WorkerOptions options;
    options.imports = host.imports();
    options.init_export = "worker_init";
    options.policy = policy;
    options.store = store;
    options.hooks.on_panic = [this](const RecoveryRecord& r) { panics.push_back(r); };
    options.hooks.on_abort = [this](const RecoveryRecord& r) { aborts.push_back(r); };
    options.hooks.on_recovery = [this](const RecoveryRecord& r) { recoveries.push_back(r); };
    auto w = WorkerInstance::create(module.value(), std::move(options));
    EXPECT_TRUE(w.ok()) << w.error().to_string();
    if (w.ok()) worker = std::move(w).value();
  }

  CallResult call(std::string_view name, std::vector<Value> args = {}) {
    return worker->call(name, args);
  }
  int32_t i32(std::string_view name, std::vector<Value> args = {}) {
    CallResult r = call(name, std::move(args));
    EXPECT_TRUE(r.ok()) << name << ": " << r.message;
    return r.ok() && !r.values.empty() ? r.values[0].as_i32() : INT32_MIN;
  }
  int64_t global(std::string_view name) {
    Value v = worker->instance().get_global(name)->get();
    return v.type == ValType::I64 ? v.as_i64() : v.as_i32();
  }
  std::string memory_string(uint32_t address, size_t n) {
    std::string s(n, '\0');
    worker->instance().get_memory("mem")->read(
        address, std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), n));
    return s;
  }
};

RecoveryPolicy rollback_policy() {
  RecoveryPolicy p;
  p.on_panic = RecoveryPolicy::OnPanic::Rollback;
  p.on_abort = RecoveryPolicy::OnAbort::Rollback;
  return p;
}

TEST(Worker, CreationRunsInitialisationOnceAndSnapshotsAfterIt) {
  Fixture fx;
  ASSERT_NE(fx.worker, nullptr);
  EXPECT_EQ(fx.host.init_notes, 1);
  EXPECT_EQ(fx.i32("get"), 1000);
  EXPECT_EQ(fx.i32("get4"), 2000);
  EXPECT_EQ(fx.worker->generation(), 0u);
  EXPECT_FALSE(fx.worker->last_failure().has_value());
  uint8_t snap[8];
  ASSERT_TRUE(fx.worker->snapshot()->read_memory(0, 0, snap));
  EXPECT_EQ(snap[0] | snap[1] << 8, 1000);
}

TEST(Worker, CreationErrorsAreClean) {
  auto module = Module::from_text(kWorkerWat);
  ASSERT_TRUE(module.ok());
  {
    WorkerOptions o;  // no imports
    auto w = WorkerInstance::create(module.value(), o);
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.error().kind, Error::Kind::Unlinkable);
  }
  Host host;
  {
    WorkerOptions o;
    o.imports = host.imports();
    o.init_export = "missing";
    auto w = WorkerInstance::create(module.value(), o);
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.error().message.find("missing"), std::string::npos);
  }
  {
    WorkerOptions o;
    o.imports = host.imports();
    o.init_export = "incr_then_abort";
    auto w = WorkerInstance::create(module.value(), o);
    ASSERT_FALSE(w.ok());
    EXPECT_NE(w.error().message.find("unreachable"), std::string::npos);
  }
  {
    WorkerOptions o;
    o.imports = host.imports();
    o.reinit_export = "get";  // returns a value: not a reinit export
    auto w = WorkerInstance::create(module.value(), o);
    ASSERT_FALSE(w.ok());
  }
  EXPECT_FALSE(WorkerInstance::create(nullptr, {}).ok());
}

TEST(Worker, AbortResetsToTheSnapshotAndRunsReinit) {
  Fixture fx;
  EXPECT_EQ(fx.i32("incr"), 1001);
  EXPECT_EQ(fx.i32("incr"), 1002);
  CallResult r = fx.call("incr_then_abort");
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::Unreachable);
  // Recovered before call() returned.
  EXPECT_FALSE(fx.worker->store().terminated());
  EXPECT_EQ(fx.worker->generation(), 1u);
  // Reinit ran in the recovered instance (after reset: 1000 + its own incr) with the record.
  EXPECT_EQ(fx.i32("get"), 1001);
  EXPECT_EQ(fx.global("counter"), 1);
  EXPECT_EQ(fx.global("reinits"), 1);
  EXPECT_EQ(fx.global("seen_outcome"), static_cast<int>(Outcome::Abort));
  EXPECT_EQ(fx.global("seen_trap"), static_cast<int>(TrapKind::Unreachable));
  EXPECT_EQ(fx.global("seen_outcome2"), static_cast<int>(Outcome::Abort));
  EXPECT_EQ(fx.global("seen_trap2"), static_cast<int>(TrapKind::Unreachable));
  EXPECT_EQ(fx.global("seen_gen"), 1);
  EXPECT_EQ(fx.global("msg_len"), static_cast<int>(std::string("unreachable").size()));
  EXPECT_EQ(fx.memory_string(1024, 11), "unreachable");
  EXPECT_EQ(fx.host.observe_calls, 1);
  EXPECT_EQ(fx.host.reinit_observed_terminated, 0);
  // Hooks: one abort, one recovery, with the full record.
  ASSERT_EQ(fx.aborts.size(), 1u);
  ASSERT_EQ(fx.recoveries.size(), 1u);
  EXPECT_TRUE(fx.panics.empty());
  const RecoveryRecord& rec = fx.recoveries[0];
  EXPECT_EQ(rec.export_name, "incr_then_abort");
  EXPECT_EQ(rec.outcome, Outcome::Abort);
  EXPECT_EQ(rec.trap, TrapKind::Unreachable);
  EXPECT_EQ(rec.message, "unreachable");
  EXPECT_FALSE(rec.backtrace.empty());
  EXPECT_EQ(rec.action, RecoveryAction::Reset);
  EXPECT_EQ(rec.generation, 1u);
  EXPECT_GT(rec.duration.count(), 0);
  EXPECT_TRUE(rec.reinit_ran);
  EXPECT_TRUE(rec.reinit_error.empty());
  EXPECT_FALSE(rec.escalated);
  EXPECT_EQ(std::string(to_string(rec.action)), "reset");
}

TEST(Worker, AbortRollsBackOnlyTheFailingCall) {
  Fixture fx(rollback_policy());
  EXPECT_EQ(fx.i32("incr"), 1001);
  EXPECT_EQ(fx.i32("incr"), 1002);
  EXPECT_EQ(fx.call("incr_then_abort").outcome, Outcome::Abort);
  EXPECT_EQ(fx.i32("get"), 1002);
  EXPECT_EQ(fx.global("counter"), 2);
  EXPECT_EQ(fx.worker->generation(), 0u);
  EXPECT_EQ(fx.global("reinits"), 0);  // reinit runs after resets only
  ASSERT_EQ(fx.recoveries.size(), 1u);
  EXPECT_EQ(fx.recoveries[0].action, RecoveryAction::Rollback);
  EXPECT_EQ(fx.recoveries[0].generation, 0u);
  // A memory.grow in the failed call is undone.
  EXPECT_EQ(fx.call("incr_then_grow_abort").outcome, Outcome::Abort);
  EXPECT_EQ(fx.i32("pages"), 1);
  EXPECT_EQ(fx.i32("get"), 1002);
}

TEST(Worker, PanicKeepsStateByDefaultAndRollsBackWhenAsked) {
  {
    Fixture fx;
    CallResult r = fx.call("incr_then_panic");
    EXPECT_EQ(r.outcome, Outcome::Panic);
    EXPECT_EQ(fx.i32("get"), 1001);  // kept
    ASSERT_EQ(fx.panics.size(), 1u);
    EXPECT_EQ(fx.panics[0].action, RecoveryAction::None);
    EXPECT_TRUE(fx.recoveries.empty());
  }
  {
    Fixture fx(rollback_policy());
    EXPECT_EQ(fx.call("incr_then_panic").outcome, Outcome::Panic);
    EXPECT_EQ(fx.i32("get"), 1000);  // the panicking call's write is gone
    EXPECT_EQ(fx.global("counter"), 0);
    ASSERT_EQ(fx.panics.size(), 1u);
    EXPECT_EQ(fx.panics[0].action, RecoveryAction::Rollback);
    EXPECT_EQ(fx.recoveries.size(), 1u);
  }
}

TEST(Worker, EscalatesToResetAfterConsecutiveFailures) {
  Fixture fx(rollback_policy());
  EXPECT_EQ(fx.i32("incr"), 1001);
  EXPECT_EQ(fx.call("incr_then_abort").outcome, Outcome::Abort);
  EXPECT_EQ(fx.call("incr_then_panic").outcome, Outcome::Panic);
  EXPECT_EQ(fx.worker->consecutive_failures(), 2u);
  EXPECT_EQ(fx.i32("get"), 1001);  // two rollbacks; the ok call resets the count
  EXPECT_EQ(fx.worker->consecutive_failures(), 0u);
  EXPECT_EQ(fx.call("incr_then_abort").outcome, Outcome::Abort);
  EXPECT_EQ(fx.call("incr_then_abort").outcome, Outcome::Abort);
  EXPECT_EQ(fx.worker->generation(), 0u);
  EXPECT_EQ(fx.call("incr_then_abort").outcome, Outcome::Abort);  // third in a row
  EXPECT_EQ(fx.worker->generation(), 1u);
  EXPECT_EQ(fx.worker->consecutive_failures(), 0u);
  ASSERT_EQ(fx.recoveries.size(), 5u);
  EXPECT_EQ(fx.recoveries[3].action, RecoveryAction::Rollback);
  EXPECT_EQ(fx.recoveries[4].action, RecoveryAction::Reset);
  EXPECT_TRUE(fx.recoveries[4].escalated);
  EXPECT_EQ(fx.recoveries[4].consecutive_failures, 3u);
  EXPECT_EQ(fx.i32("get"), 1001);  // snapshot (1000) + reinit's incr
  EXPECT_EQ(fx.global("reinits"), 1);
}

TEST(Worker, EscalationCanBeTurnedOff) {
  RecoveryPolicy p = rollback_policy();
  p.max_consecutive_failures = 0;
  Fixture fx(p);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(fx.call("incr_then_abort").outcome, Outcome::Abort);
  EXPECT_EQ(fx.worker->generation(), 0u);
  EXPECT_EQ(fx.i32("get"), 1000);
}

TEST(Worker, AbortThreeLevelsDeepUnwindsEverything) {
  for (RecoveryPolicy policy : {RecoveryPolicy{}, rollback_policy()}) {
    for (bool propagate : {false, true}) {
      Fixture fx(policy);
      fx.host.propagate = propagate;
      CallResult r = fx.call("level", {Value::make_i32(2)});
      EXPECT_EQ(r.outcome, Outcome::Abort);
      EXPECT_EQ(r.trap, TrapKind::Unreachable);
      // Both host functions saw their nested call abort, and their re-entry attempts were
      // refused as terminated; no catch_all handler ran at any level.
      EXPECT_EQ(fx.host.nested_outcomes, (std::vector<Outcome>{Outcome::Abort, Outcome::Abort}));
      EXPECT_EQ(fx.host.reentry_after_abort,
                (std::vector<Outcome>{Outcome::Terminated, Outcome::Terminated}));
      EXPECT_EQ(fx.host.handler_runs, 0);
      // Three guest frames and two host frames between them, innermost first.
      size_t guest_frames = 0;
      for (const BacktraceFrame& f : r.backtrace) guest_frames += f.name != "reenter";
      EXPECT_GE(guest_frames, 3u);
      // Recovered: the markers written at levels 1 and 2 are gone, calls work again.
      EXPECT_FALSE(fx.worker->store().terminated());
      EXPECT_EQ(fx.memory_string(256 + 4, 8), std::string(8, '\0'));
      EXPECT_EQ(fx.i32("incr"), policy.on_abort == RecoveryPolicy::OnAbort::Reset ? 1002 : 1001);
    }
  }
}

TEST(Worker, EngineRefusesEveryEntryWhileTerminated) {
  // Below the worker: the store stays terminated until someone recovers it.
  Host host;
  Store store;
  auto module = Module::from_text(kWorkerWat);
  ASSERT_TRUE(module.ok());
  Imports imports = host.imports()(store).value();
  for (const ImportDesc& d : module.value()->imports()) {  // stubs for rewind.recovery_*
    if (d.module != "rewind") continue;
    imports.define(d.module, d.name,
                   Extern::of(store.create_host_function(
                       d.func_type, [](HostContext&, std::span<const Value>, std::span<Value>) {
                         return HostResult::ok();
                       })));
  }
  auto instantiated = store.instantiate(module.value(), imports);
  ASSERT_TRUE(instantiated.ok()) << instantiated.error().to_string();
  Instance* inst = instantiated.value();
  EXPECT_EQ(store.call(*inst->get_function("incr_then_abort"), {}).outcome, Outcome::Abort);
  EXPECT_TRUE(store.terminated());
  for (const char* name : {"get", "incr", "level", "rewind_reinit"}) {
    auto f = inst->get_function(name);
    std::vector<Value> args(f->type().params.size(), Value::make_i32(0));
    CallResult r = store.call(*f, args);
    EXPECT_EQ(r.outcome, Outcome::Terminated) << name;
  }
  EXPECT_EQ(host.observe_calls, 0);  // the reinit export did not run
}

TEST(Worker, HooksCannotReenterTheWorker) {
  auto module = Module::from_text(kWorkerWat);
  ASSERT_TRUE(module.ok());
  Host host;
  WorkerInstance* self = nullptr;
  std::vector<CallResult> from_hook;
  WorkerOptions o;
  o.imports = host.imports();
  o.hooks.on_abort = [&](const RecoveryRecord&) { from_hook.push_back(self->call("get", {})); };
  auto w = WorkerInstance::create(module.value(), o);
  ASSERT_TRUE(w.ok()) << w.error().to_string();
  self = w.value().get();
  EXPECT_EQ(self->call("incr_then_abort", {}).outcome, Outcome::Abort);
  ASSERT_EQ(from_hook.size(), 1u);
  EXPECT_EQ(from_hook[0].outcome, Outcome::Abort);
  EXPECT_EQ(from_hook[0].trap, TrapKind::HostAbort);
  EXPECT_NE(from_hook[0].message.find("busy"), std::string::npos);
  EXPECT_TRUE(self->call("get", {}).ok());  // and the worker is usable afterwards
}

TEST(Worker, HookExceptionsLeaveTheWorkerUsable) {
  auto module = Module::from_text(kWorkerWat);
  Host host;
  WorkerOptions o;
  o.imports = host.imports();
  o.hooks.on_abort = [](const RecoveryRecord&) { throw std::runtime_error("hook failed"); };
  auto w = WorkerInstance::create(module.value(), o).value();
  EXPECT_THROW(w->call("incr_then_abort", {}), std::runtime_error);
  EXPECT_FALSE(w->store().terminated());  // recovery happened before the hooks
  EXPECT_TRUE(w->call("get", {}).ok());
}

TEST(Worker, ReinitThatFailsLeavesASnapshotStateInstance) {
  Fixture fx;
  fx.host.fail_reinit = true;
  EXPECT_EQ(fx.call("incr_then_abort").outcome, Outcome::Abort);
  ASSERT_EQ(fx.recoveries.size(), 1u);
  EXPECT_TRUE(fx.recoveries[0].reinit_ran);
  EXPECT_NE(fx.recoveries[0].reinit_error.find("abort"), std::string::npos);
  EXPECT_FALSE(fx.worker->store().terminated());
  EXPECT_EQ(fx.global("reinits"), 0);
  EXPECT_EQ(fx.i32("get"), 1000);
  EXPECT_EQ(fx.worker->generation(), 1u);
}

TEST(Worker, ExplicitResetRunsReinitWithNoFailure) {
  Fixture fx;
  fx.i32("incr");
  fx.worker->reset();
  EXPECT_EQ(fx.worker->generation(), 1u);
  EXPECT_EQ(fx.global("seen_outcome"), 0);
  EXPECT_EQ(fx.global("seen_trap"), -1);
  EXPECT_EQ(fx.i32("get"), 1001);
}

TEST(Worker, HostErrorsFollowThePanicPolicy) {
  auto module = Module::from_text(R"(
(module (import "env" "fail" (func $fail)) (memory 1)
  (func (export "write_then_fail") (i32.store (i32.const 8) (i32.const 5)) (call $fail))
  (func (export "get") (result i32) (i32.load (i32.const 8))))
)");
  ASSERT_TRUE(module.ok());
  WorkerOptions o;
  o.policy = rollback_policy();
  o.imports = [](Store& store) -> Result<Imports> {
    Imports im;
    im.define("env", "fail",
              Extern::of(store.create_host_function(
                  FuncType{}, [](HostContext&, std::span<const Value>, std::span<Value>) {
                    return HostResult::fail(std::make_exception_ptr(std::runtime_error("db down")),
                                            "db down");
                  })));
    return im;
  };
  std::vector<RecoveryRecord> panics;
  o.hooks.on_panic = [&](const RecoveryRecord& r) { panics.push_back(r); };
  auto w = WorkerInstance::create(module.value(), o).value();
  CallResult r = w->call("write_then_fail", {});
  EXPECT_EQ(r.outcome, Outcome::HostError);
  ASSERT_TRUE(r.host_error);
  EXPECT_EQ(w->call("get", {}).values.at(0).as_i32(), 0);
  ASSERT_EQ(panics.size(), 1u);
  EXPECT_EQ(panics[0].outcome, Outcome::HostError);
  EXPECT_EQ(panics[0].action, RecoveryAction::Rollback);
}

TEST(Worker, CpuLimitAbortIsRecovered) {
  StoreOptions so;
  so.limits.cpu_time_per_call = std::chrono::milliseconds(20);
  Fixture fx(rollback_policy(), so);
  fx.i32("incr");
  CallResult r = fx.call("spin");
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::CpuLimit);
  EXPECT_EQ(fx.i32("get"), 1001);
}

TEST(Worker, UnknownExportIsRefusedWithoutCountingAsAFailure) {
  Fixture fx;
  CallResult r = fx.call("nope");
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::HostAbort);
  EXPECT_EQ(fx.worker->consecutive_failures(), 0u);
  EXPECT_TRUE(fx.aborts.empty());
}

TEST(Worker, RolledBackWritesAreInvisibleToTheNextCall) {
  Fixture fx(rollback_policy());
  int32_t expected = 1000;
  for (int i = 0; i < 20; ++i) {
    bool abort = i % 2;
    EXPECT_EQ(fx.call(abort ? "incr_then_abort" : "incr_then_panic").outcome,
              abort ? Outcome::Abort : Outcome::Panic);
    EXPECT_EQ(fx.i32("get"), expected) << i;  // the failed call's increment is not visible
    EXPECT_EQ(fx.i32("incr"), ++expected);
  }
  EXPECT_EQ(fx.worker->generation(), 0u);
}

TEST(Worker, SpawnedInstancesShareTheSnapshotButNotState) {
  Fixture fx(rollback_policy());
  EXPECT_EQ(fx.i32("incr"), 1001);
  auto s = fx.worker->spawn();
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  WorkerInstance& other = *s.value();
  EXPECT_EQ(fx.host.init_notes, 1);  // spawning ran no initialisation
  EXPECT_EQ(other.generation(), 0u);
  CallResult r = other.call("incr", {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.values.at(0).as_i32(), 1001);  // from the snapshot, not from fx's 1001
  EXPECT_EQ(other.call("incr_then_abort", {}).outcome, Outcome::Abort);
  EXPECT_EQ(other.call("get", {}).values.at(0).as_i32(), 1001);
  EXPECT_EQ(fx.i32("get"), 1001);
  // Recovery records of the spawned instance go to the same hooks.
  EXPECT_EQ(fx.aborts.size(), 1u);
}

}  // namespace
}  // namespace rw
