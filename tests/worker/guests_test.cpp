// WorkerInstance with the real guests of tests/guests (C++ in both exception encodings, C, Rust):
// recovery keeps or restores exactly what the recovery model says. Each test skips when its
// guest was not built (no wasm32 toolchain).

#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "rewind/worker.h"

namespace rw {
namespace {

std::shared_ptr<const Module> load_guest(const std::string& name) {
  std::string path = std::string(REWIND_BINARY_DIR) + "/guests/" + name;
  if (!std::filesystem::exists(path)) return nullptr;
  auto m = Module::from_file(path);
  EXPECT_TRUE(m.ok()) << name << ": " << m.error().to_string();
  return m.ok() ? m.value() : nullptr;
}

#define REQUIRE_MODULE(m, name) \
  if (!(m)) GTEST_SKIP() << name << " not built (needs the wasm32 toolchains)"

Value I32(int32_t v) { return Value::make_i32(v); }

int32_t call_i32(WorkerInstance& w, const char* name, std::vector<Value> args = {}) {
  CallResult r = w.call(name, args);
  EXPECT_TRUE(r.ok()) << name << ": " << to_string(r.outcome) << " " << r.message;
  return r.ok() && !r.values.empty() ? r.values[0].as_i32() : INT32_MIN;
}

RecoveryPolicy rollback_policy() {
  RecoveryPolicy p;
  p.on_panic = RecoveryPolicy::OnPanic::Rollback;
  p.on_abort = RecoveryPolicy::OnAbort::Rollback;
  return p;
}

class CxxGuest : public ::testing::TestWithParam<const char*> {};

TEST_P(CxxGuest, PanicKeepsOrRollsBackTheCallsEffects) {
  std::string name = std::string("exceptions.") + GetParam() + ".wasm";
  auto module = load_guest(name);
  REQUIRE_MODULE(module, name);
  {
    WorkerOptions keep;
    auto w = WorkerInstance::create(module, keep).value();
    EXPECT_EQ(call_i32(*w, "calls"), 1);
    int32_t sp = call_i32(*w, "stack_pointer");
    EXPECT_EQ(w->call("throw_escape", {}).outcome, Outcome::Panic);
    EXPECT_EQ(w->call("throw_with_big_frame", std::vector<Value>{I32(1)}).outcome, Outcome::Panic);
    EXPECT_EQ(call_i32(*w, "stack_pointer"), sp);
    EXPECT_EQ(call_i32(*w, "calls"), 3);  // throw_escape's increment was kept
  }
  {
    WorkerOptions rollback;
    rollback.policy = rollback_policy();
    auto w = WorkerInstance::create(module, rollback).value();
    EXPECT_EQ(call_i32(*w, "calls"), 1);
    int32_t sp = call_i32(*w, "stack_pointer");
    EXPECT_EQ(w->call("throw_escape", {}).outcome, Outcome::Panic);
    EXPECT_EQ(call_i32(*w, "calls"), 2);  // rolled back
    EXPECT_EQ(call_i32(*w, "stack_pointer"), sp);
    EXPECT_EQ(call_i32(*w, "live_thrown_objects"), 0);
    // An abort from a noexcept violation: no catch (...) runs, the call is undone.
    CallResult r = w->call("terminate_in_noexcept", {});
    EXPECT_EQ(r.outcome, Outcome::Abort);
    EXPECT_EQ(call_i32(*w, "calls"), 3);
    EXPECT_EQ(call_i32(*w, "stack_pointer"), sp);
  }
  {
    WorkerOptions reset;  // default: reset on abort
    auto w = WorkerInstance::create(module, reset).value();
    EXPECT_EQ(call_i32(*w, "calls"), 1);
    EXPECT_EQ(call_i32(*w, "calls"), 2);
    EXPECT_EQ(
        w->call("new_too_big", std::vector<Value>{I32(static_cast<int32_t>(0xffffff00u))}).outcome,
        Outcome::Abort);
    EXPECT_EQ(w->generation(), 1u);
    EXPECT_EQ(call_i32(*w, "calls"), 1);  // back to the post-_initialize state
    EXPECT_EQ(call_i32(*w, "dtor_unwind"), 3);
  }
}

TEST_P(CxxGuest, NestedAbortUnderAHostFrameIsRecovered) {
  std::string name = std::string("host_calls.") + GetParam() + ".wasm";
  auto module = load_guest(name);
  REQUIRE_MODULE(module, name);
  std::vector<Outcome> reentry;
  WorkerOptions o;
  o.policy = rollback_policy();
  o.imports = [&](Store& store) -> Result<Imports> {
    Imports im;
    FuncType host_call, call_inner;
    host_call.params = {ValType::I32};
    host_call.results = {ValType::I32};
    call_inner.params = {ValType::I32, ValType::I32};
    call_inner.results = {ValType::I32};
    im.define("env", "host_call",
              Extern::of(store.create_host_function(
                  host_call, [](HostContext&, std::span<const Value> a, std::span<Value> out) {
                    out[0] = a[0];
                    return HostResult::ok();
                  })));
    im.define("env", "call_inner",
              Extern::of(store.create_host_function(
                  call_inner, [&](HostContext& ctx, std::span<const Value> a, std::span<Value>) {
                    static const char* kInner[] = {"nested_inner_ok", "nested_inner_panic",
                                                   "nested_inner_trap"};
                    Function f = *ctx.caller()->get_function(kInner[a[0].i32 % 3]);
                    CallResult r = ctx.call(f, a.subspan(1));
                    if (r.outcome == Outcome::Abort)
                      reentry.push_back(ctx.call(f, a.subspan(1)).outcome);
                    return HostResult::propagate(std::move(r));
                  })));
    return im;
  };
  auto w = WorkerInstance::create(module, o).value();
  EXPECT_EQ(call_i32(*w, "nested_outer", {I32(0), I32(5)}), 11);
  EXPECT_EQ(call_i32(*w, "nested_outer", {I32(1), I32(5)}), -1);
  CallResult r = w->call("nested_outer", std::vector<Value>{I32(2), I32(5)});
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::Unreachable);
  EXPECT_EQ(reentry, std::vector<Outcome>{Outcome::Terminated});
  // Rolled back to the state after the two calls above: counts (0, 0, 2, 1).
  EXPECT_EQ(call_i32(*w, "cleanup_count"), 0);
  EXPECT_EQ(call_i32(*w, "catch_all_count"), 0);
  EXPECT_EQ(call_i32(*w, "outer_cleanup_count"), 2);
  EXPECT_EQ(call_i32(*w, "outer_catch_all_count"), 1);
  EXPECT_EQ(call_i32(*w, "nested_outer", {I32(0), I32(1)}), 3);
}

INSTANTIATE_TEST_SUITE_P(Encodings, CxxGuest, ::testing::Values("legacy", "exnref"));

TEST(CGuest, EveryTrapKindIsRecoveredByRollbackAndByReset) {
  auto module = load_guest("traps.wasm");
  REQUIRE_MODULE(module, "traps.wasm");
  struct Case {
    const char* name;
    std::vector<Value> args;
    TrapKind kind;
  };
  const int32_t oob = static_cast<int32_t>(0xfffffff0u);
  std::vector<Case> cases = {
      {"trap_unreachable", {}, TrapKind::Unreachable},
      {"divide", {I32(1), I32(0)}, TrapKind::IntegerDivideByZero},
      {"divide", {I32(INT32_MIN), I32(-1)}, TrapKind::IntegerOverflow},
      {"load", {I32(oob)}, TrapKind::MemoryOutOfBounds},
      {"store", {I32(oob), I32(1)}, TrapKind::MemoryOutOfBounds},
      {"call_null", {I32(1)}, TrapKind::IndirectCallNull},
      {"call_wrong_signature", {I32(1)}, TrapKind::IndirectCallSignature},
      {"call_past_table", {I32(1)}, TrapKind::TableOutOfBounds},
      {"convert", {Value::make_f64(std::nan(""))}, TrapKind::InvalidConversion},
      {"recurse", {I32(100000000)}, TrapKind::StackOverflow},
      {"grow_then_trap", {I32(70000)}, TrapKind::OutOfMemory},
  };
  for (bool rollback : {true, false}) {
    WorkerOptions o;
    if (rollback) o.policy = rollback_policy();
    o.policy.max_consecutive_failures = 0;
    auto w = WorkerInstance::create(module, o).value();
    int32_t pages = call_i32(*w, "grow", {I32(0)});
    int32_t expected_ok = 0;
    for (const Case& c : cases) {
      EXPECT_EQ(call_i32(*w, "ok", {I32(0)}), ++expected_ok);
      CallResult r = w->call(c.name, c.args);
      EXPECT_EQ(r.outcome, Outcome::Abort) << c.name;
      EXPECT_EQ(r.trap, c.kind) << c.name << ": " << r.message;
      EXPECT_FALSE(w->store().terminated());
      if (!rollback) expected_ok = 0;  // reset: the counter starts again
      EXPECT_EQ(call_i32(*w, "grow", {I32(0)}), pages);
    }
    EXPECT_EQ(w->generation(), rollback ? 0u : cases.size());
  }
}

TEST(CGuest, GrowOutcomesKeepTheRightSize) {
  auto module = load_guest("traps.wasm");
  REQUIRE_MODULE(module, "traps.wasm");
  WorkerOptions o;
  o.policy = rollback_policy();
  auto w = WorkerInstance::create(module, o).value();
  int32_t pages = call_i32(*w, "grow", {I32(0)});
  EXPECT_EQ(call_i32(*w, "grow_then_trap", {I32(16)}), pages);  // ok: grew by 16
  EXPECT_EQ(call_i32(*w, "grow", {I32(0)}), pages + 16);
  // A grow then a trap in the same call: the grown pages go away with the rollback.
  EXPECT_EQ(w->call("grow_then_trap", std::vector<Value>{I32(70000)}).outcome, Outcome::Abort);
  EXPECT_EQ(call_i32(*w, "grow", {I32(0)}), pages + 16);
}

TEST(RustGuest, PanicAbortIsRolledBackAndReported) {
  auto module = load_guest("panic_hook.wasm");
  REQUIRE_MODULE(module, "panic_hook.wasm");
  std::string last_panic;
  std::vector<RecoveryRecord> records;
  WorkerOptions o;
  o.policy = rollback_policy();
  o.hooks.on_abort = [&](const RecoveryRecord& r) { records.push_back(r); };
  o.imports = [&](Store& store) -> Result<Imports> {
    Imports im;
    FuncType t;
    t.params = {ValType::I32, ValType::I32};
    im.define("env", "panic_message",
              Extern::of(store.create_host_function(
                  t, [&](HostContext& ctx, std::span<const Value> a, std::span<Value>) {
                    std::string s(static_cast<uint32_t>(a[1].i32), '\0');
                    ctx.memory()->read(
                        static_cast<uint32_t>(a[0].i32),
                        std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
                    last_panic = s;
                    return HostResult::ok();
                  })));
    return im;
  };
  auto w = WorkerInstance::create(module, o).value();
  EXPECT_EQ(call_i32(*w, "add", {I32(2), I32(3)}), 5);
  EXPECT_EQ(w->call("panic_now", std::vector<Value>{I32(7)}).outcome, Outcome::Abort);
  EXPECT_EQ(last_panic, "guest panicked: code 7");
  EXPECT_EQ(call_i32(*w, "calls"), 1);  // panic_now's increment was rolled back
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].action, RecoveryAction::Rollback);
  EXPECT_EQ(records[0].export_name, "panic_now");
  EXPECT_FALSE(records[0].backtrace.empty());
}

}  // namespace
}  // namespace rw
