// Exception objects are collected during a call, not only when it ends: a guest that throws and
// catches in a loop must not hold on to every exception it ever threw (a way to exhaust the
// host's memory within one call). What is still referenced (a caught exception kept for a legacy
// rethrow, an exnref in a local, an exnref inside another exception's payload, an exnref the host
// was given) must survive every collection intact.

#include <gtest/gtest.h>

#include <algorithm>

#include "rewind/engine.h"
#include "wasm/interp/runtime.h"

namespace rw {
namespace {

class ExceptionCollection : public ::testing::Test {
 protected:
  // Instantiates `wat` with env.probe (records how many exception objects the store holds) and
  // env.keep (takes an exnref and remembers it, as a host may).
  Instance* instantiate(std::string_view wat) {
    auto module = Module::from_text(wat);
    if (!module.ok()) {
      ADD_FAILURE() << module.error().to_string();
      return nullptr;
    }
    Imports imports;
    imports.define("env", "probe",
                   Extern::of(store_.create_host_function(
                       FuncType{{}, {}},
                       [this](HostContext&, std::span<const Value>, std::span<Value>) {
                         most_held_ = std::max(most_held_, store_.impl()->exceptions.size());
                         return HostResult::ok();
                       },
                       "probe")));
    imports.define("env", "keep",
                   Extern::of(store_.create_host_function(
                       FuncType{{ValType::ExnRef}, {}},
                       [this](HostContext&, std::span<const Value> args, std::span<Value>) {
                         kept_ = args[0].ref;
                         return HostResult::ok();
                       },
                       "keep")));
    auto instance = store_.instantiate(module.value(), imports);
    if (!instance.ok()) {
      ADD_FAILURE() << instance.error().to_string();
      return nullptr;
    }
    return instance.value();
  }
  // Calls export `name` of the guest below with argument n; the call must succeed.
  CallResult run(std::string_view name, int32_t n) {
    Instance* inst = instantiate(kGuest);
    if (!inst) return {};
    auto f = inst->get_function(name);
    if (!f) {
      ADD_FAILURE() << "no export " << name;
      return {};
    }
    Value arg = Value::make_i32(n);
    CallResult r = store_.call(*f, std::span<const Value>(&arg, 1));
    EXPECT_TRUE(r.ok()) << r.message;
    return r;
  }
  int32_t run_i32(std::string_view name, int32_t n) {
    CallResult r = run(name, n);
    return r.values.empty() ? INT32_MIN : r.values[0].as_i32();
  }
  static const std::string_view kGuest;

  Store store_;
  size_t most_held_ = 0;
  RefPtr kept_ = nullptr;
};

const std::string_view ExceptionCollection::kGuest = R"(
(module
  (import "env" "probe" (func $probe))
  (import "env" "keep" (func $keep (param exnref)))
  (tag $t (param i32))
  (tag $wrap (param exnref))

  ;; Legacy encoding: throw and catch n times; returns the sum of the payloads.
  (func (export "legacy_loop") (param $n i32) (result i32) (local $i i32) (local $sum i32)
    (loop $l
      (try
        (do (throw $t (local.get $i)))
        (catch $t (local.set $sum (i32.add (local.get $sum)))))
      (call $probe)
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.get $sum))

  ;; A caught exception rethrown after n other exceptions came and went.
  (func $rethrow_late (param $n i32) (local $i i32)
    (try
      (do (throw $t (i32.const 777)))
      (catch $t
        (drop)
        (loop $l
          (try (do (throw $t (local.get $i))) (catch $t (drop)))
          (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
                              (local.get $n))))
        (rethrow 0))))
  (func (export "legacy_rethrow_late") (param $n i32) (result i32)
    (try (result i32)
      (do (call $rethrow_late (local.get $n)) (i32.const -1))
      (catch $t)))

  ;; Throws `v` and returns the exnref that catches it.
  (func $catch_ref (param $v i32) (result exnref) (local $e exnref)
    (block $h (result i32 exnref)
      (try_table (catch_ref $t $h) (throw $t (local.get $v)))
      (unreachable))
    (local.set $e)
    (drop)
    (local.get $e))
  (func $churn (param $n i32) (local $i i32)
    (loop $l
      (block $h (result i32) (try_table (catch $t $h) (throw $t (local.get $i))) (unreachable))
      (drop)
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))

  ;; exnref: one kept in a local while n others are thrown, then rethrown with throw_ref.
  (func (export "exnref_kept_in_local") (param $n i32) (result i32) (local $kept exnref)
    (local.set $kept (call $catch_ref (i32.const 4242)))
    (call $churn (local.get $n))
    (call $probe)
    (block $h (result i32)
      (try_table (catch $t $h) (throw_ref (local.get $kept)))
      (i32.const -1)))

  ;; exnref reachable only through another exception's payload.
  (func (export "exnref_in_payload") (param $n i32) (result i32) (local $outer exnref)
    (block $h (result exnref exnref)
      (try_table (catch_ref $wrap $h) (throw $wrap (call $catch_ref (i32.const 99))))
      (unreachable))
    (local.set $outer)
    (drop)
    (call $churn (local.get $n))
    (block $inner (result exnref)
      (try_table (catch $wrap $inner) (throw_ref (local.get $outer)))
      (unreachable))
    (local.set $outer)
    (block $h (result i32)
      (try_table (catch $t $h) (throw_ref (local.get $outer)))
      (i32.const -1)))

  ;; An exnref handed to the host: from then on nothing may be freed under it.
  (func (export "exnref_to_host") (param $n i32)
    (call $keep (call $catch_ref (i32.const 5150)))
    (call $churn (local.get $n))
    (call $probe))
)
)";

TEST_F(ExceptionCollection, ALoopOfThrowsDoesNotAccumulateExceptions) {
  const int32_t n = 100'000;
  EXPECT_EQ(run_i32("legacy_loop", n), static_cast<int32_t>(int64_t{n} * (n - 1) / 2));
  // Without collection during the call this would reach n.
  EXPECT_LE(most_held_, 2 * internal::StoreImpl::kMinExceptionCollection + 1);
  EXPECT_GE(most_held_, 1u);
  EXPECT_TRUE(store_.impl()->exceptions.empty());  // and all are gone once the call ends
}

TEST_F(ExceptionCollection, ACaughtExceptionSurvivesForALegacyRethrow) {
  EXPECT_EQ(run_i32("legacy_rethrow_late", 20'000), 777);
}

TEST_F(ExceptionCollection, AnExnrefInALocalSurvives) {
  EXPECT_EQ(run_i32("exnref_kept_in_local", 20'000), 4242);
  EXPECT_LE(most_held_, 2 * internal::StoreImpl::kMinExceptionCollection + 1);
}

TEST_F(ExceptionCollection, AnExnrefInsideAPayloadSurvives) {
  EXPECT_EQ(run_i32("exnref_in_payload", 20'000), 99);
}

TEST_F(ExceptionCollection, AnExnrefGivenToTheHostIsNeverFreedUnderIt) {
  const int32_t n = 5'000;
  run("exnref_to_host", n);
  EXPECT_GT(most_held_, static_cast<size_t>(n));  // kept: the host may look at any of them
  ASSERT_NE(kept_, nullptr);
  auto contents = store_.exception_contents(kept_);
  ASSERT_TRUE(contents.has_value());
  ASSERT_EQ(contents->second.size(), 1u);
  EXPECT_EQ(contents->second[0].as_i32(), 5150);
}

}  // namespace
}  // namespace rw
