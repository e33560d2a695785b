// Engine behaviour that the real guests depend on, reduced to small hand-written modules.

#include <gtest/gtest.h>

#include "rewind/engine.h"

namespace rw {
namespace {

CallResult run(std::string_view wat, std::string_view export_name, Store& store,
               Instance** out = nullptr) {
  auto module = Module::from_text(wat);
  if (!module.ok()) {
    ADD_FAILURE() << module.error().to_string();
    return {};
  }
  auto instance = store.instantiate(module.value(), {});
  if (!instance.ok()) {
    ADD_FAILURE() << instance.error().to_string();
    return {};
  }
  if (out) *out = instance.value();
  return store.call(*instance.value()->get_function(export_name), {});
}

// clang's legacy-encoding landing pad for `throw;` in a catch: __cxa_rethrow is called in a try
// whose catch_all first calls __cxa_end_catch and then does `rethrow 0`. The exception caught by
// catch_all must survive the call made inside the catch body.
TEST(LegacyRethrow, CaughtExceptionSurvivesACallInTheCatchBody) {
  Store store;
  Instance* inst = nullptr;
  CallResult r = run(R"(
(module
  (tag $e (export "e") (param i32))
  ;; Writes a guest-chosen value into every slot of its frame: before the fix one of them was
  ;; the caller's saved exception, which the rethrow then dereferenced as a host pointer.
  (func $clobber (local i64 i64 i64 i64)
    (local.set 0 (i64.const 0x4141414141))
    (local.set 1 (i64.const 0x4141414141))
    (local.set 2 (i64.const 0x4141414141))
    (local.set 3 (i64.const 0x4141414141)))
  (func (export "f")
    (try
      (do (throw $e (i32.const 42)))
      (catch_all
        (call $clobber)
        (rethrow 0)))))
)",
                     "f", store, &inst);
  ASSERT_EQ(r.outcome, Outcome::Panic) << to_string(r.outcome) << ": " << r.message;
  EXPECT_EQ(r.exception_tag, *inst->get_tag("e"));
  ASSERT_EQ(r.exception_payload.size(), 1u);
  EXPECT_EQ(r.exception_payload[0].as_i32(), 42);
}

TEST(LegacyRethrow, CatchWithPayloadAndNestedTriesInTheCatchBody) {
  Store store;
  CallResult r = run(R"(
(module
  (tag $e (param i32))
  (func $clobber (param i32) (result i32) (local i64 i64 i64 i64 i64 i64)
    (local.set 1 (i64.const -1)) (local.set 6 (i64.const -1)) (local.get 0))
  (func (export "f") (result i32)
    (try (result i32)
      (do
        (try (result i32)
          (do (throw $e (i32.const 5)))
          (catch $e
            (drop (call $clobber))
            (try (do (drop (call $clobber (i32.const 1)))) (catch_all))
            (rethrow 0))))
      (catch $e (i32.add (i32.const 100))))))
)",
                     "f", store);
  ASSERT_TRUE(r.ok()) << to_string(r.outcome) << ": " << r.message;
  EXPECT_EQ(r.values.at(0).as_i32(), 105);
}

// A panic's backtrace starts where the exception was thrown, not where a cleanup last rethrew it:
// C++ destructors run in catch_all (+ rethrow) or catch_all_ref (+ throw_ref) landing pads, and
// the frames below them are what a reader of the log needs.
TEST(PanicBacktrace, StartsAtTheOriginalThrowAcrossCleanups) {
  for (const char* cleanup : {
           "(try (do (call $thrower)) (catch_all (rethrow 0)))",
           "(block $h (result exnref) (try_table (catch_all_ref $h) (call $thrower)) (return))"
           " (throw_ref)",
       }) {
    SCOPED_TRACE(cleanup);
    Store store;
    std::string wat = R"(
(module
  (tag $e (param i32))
  (func $thrower (throw $e (i32.const 1)))
  (func (export "f") )" +
                      std::string(cleanup) + "))";
    CallResult r = run(wat, "f", store);
    ASSERT_EQ(r.outcome, Outcome::Panic) << r.message;
    ASSERT_EQ(r.backtrace.size(), 2u);
    EXPECT_EQ(r.backtrace[0].func_index, 0u);  // $thrower
    EXPECT_EQ(r.backtrace[1].func_index, 1u);  // the export
  }
}

}  // namespace
}  // namespace rw
