// C++ guests (clang-22 -fwasm-exceptions with sdk/cxxrt) in both exception-handling encodings:
// unwinding inside the guest, panics escaping an export, the shadow stack restore, aborts from
// the C++ runtime. The guest's exports are described in tests/guests/README.md.

#include <string>

#include "guest_fixture.h"

namespace rw::eh_test {
namespace {

class CxxExceptions : public ::testing::TestWithParam<std::string> {
 protected:
  std::string file() const { return "exceptions." + GetParam() + ".wasm"; }
  Guest guest(StoreOptions options = {}) const { return instantiate_guest(file(), options); }
};

TEST_P(CxxExceptions, DestructorsRunWhileUnwindingToAnInGuestCatch) {
  Guest g = guest();
  REQUIRE_GUEST(g, file());
  EXPECT_EQ(g.call_i32("dtor_unwind"), 3);
  EXPECT_EQ(g.call_i32("destructor_count"), 3);
  EXPECT_EQ(g.call_i32("destructor_log", {i32(0)}), 3);
  EXPECT_EQ(g.call_i32("destructor_log", {i32(1)}), 2);
  EXPECT_EQ(g.call_i32("destructor_log", {i32(2)}), 1);
  EXPECT_EQ(g.call_i32("live_thrown_objects"), 0);
}

TEST_P(CxxExceptions, ExceptionsCaughtInsideTheGuestAreOrdinaryResults) {
  Guest g = guest();
  REQUIRE_GUEST(g, file());
  EXPECT_EQ(g.call_i32("catch_inside", {i32(20)}), 41);
  EXPECT_EQ(g.call_i32("catch_inside", {i32(-3)}), -5);
  EXPECT_EQ(g.call_i32("exception_ptr_roundtrip"), 3);
  EXPECT_EQ(g.call_i32("uncaught_during_unwind"), 10);
  const int expected_kind[] = {2, 3, 2, 100, 4, 100, -1};
  for (int kind = 0; kind < 7; ++kind)
    EXPECT_EQ(g.call_i32("catch_kind", {i32(kind)}), expected_kind[kind]) << "kind " << kind;
  EXPECT_EQ(g.call_i32("live_thrown_objects"), 0);
  EXPECT_FALSE(g.store->terminated());
}

TEST_P(CxxExceptions, RethrowInsideTheGuestReachesTheOuterCatch) {
  // `throw;` in a catch: __cxa_rethrow, then (legacy) a catch_all landing pad that calls
  // __cxa_end_catch before `rethrow 0`.
  Guest g = guest();
  REQUIRE_GUEST(g, file());
  EXPECT_EQ(g.call_i32("rethrow_inside", {i32(5)}), 2005);
  g.store->clear_terminated();  // keep going after a failure above, to see the next one
  EXPECT_EQ(g.call_i32("nested_handlers"), 121);
  g.store->clear_terminated();
  EXPECT_EQ(g.call_i32("live_thrown_objects"), 0);
}

TEST_P(CxxExceptions, EscapingExceptionIsAPanicWithTagPayloadMessageAndBacktrace) {
  Guest g = guest();
  REQUIRE_GUEST(g, file());
  CallResult r = g.call("throw_escape");
  ASSERT_EQ(r.outcome, Outcome::Panic) << r.message;
  EXPECT_EQ(r.exception_tag, *g.instance->get_tag("__cpp_exception"));
  ASSERT_EQ(r.exception_payload.size(), 1u);
  EXPECT_EQ(r.exception_payload[0].type, ValType::I32);
  EXPECT_NE(r.exception_payload[0].i32, 0u);
  ASSERT_FALSE(r.backtrace.empty());
  EXPECT_EQ(r.backtrace.back().name, "throw_escape");
  EXPECT_FALSE(g.store->terminated());

  // The local destructor ran on the way out.
  EXPECT_EQ(g.call_i32("destructor_count"), 1);
  EXPECT_EQ(g.call_i32("destructor_log", {i32(0)}), 7);

  FailureReport report = describe_failure(*g.instance, r);
  EXPECT_EQ(report.outcome, Outcome::Panic);
  EXPECT_TRUE(report.cpp_exception);
  EXPECT_FALSE(report.foreign_payload);
  EXPECT_EQ(report.tag_name, "__cpp_exception");
  EXPECT_EQ(report.guest_message, "boom");
  EXPECT_EQ(report.message, "boom");
  EXPECT_TRUE(report.exception_released);
  EXPECT_EQ(report.to_string().rfind("panic: boom at ", 0), 0u) << report.to_string();

  // The instance lives on, with its state: throw_escape counted one call.
  EXPECT_EQ(g.call_i32("calls"), 2);
  EXPECT_EQ(g.call_i32("live_thrown_objects"), 0);
}

TEST_P(CxxExceptions, PanicBacktraceStartsWhereTheExceptionWasThrown) {
  Guest g = guest();
  REQUIRE_GUEST(g, file());
  CallResult r = g.call("throw_escape");
  ASSERT_EQ(r.outcome, Outcome::Panic) << r.message;
  // The frames the exception crossed, innermost first, named from the name section, from the
  // throw (inside the runtime's __cxa_throw) out to the export, although the export's cleanup
  // (the Recorder's destructor) caught and rethrew it on the way.
  EXPECT_TRUE(has_frame(r.backtrace, "__cxa_throw"))
      << ::testing::PrintToString(frame_names(r.backtrace));
  EXPECT_TRUE(has_frame(r.backtrace, "throw_runtime_error"))
      << ::testing::PrintToString(frame_names(r.backtrace));
  ASSERT_FALSE(r.backtrace.empty());
  EXPECT_EQ(r.backtrace.back().name, "throw_escape");
  for (const BacktraceFrame& f : r.backtrace) EXPECT_GT(f.offset, 0u) << f.name;
}

TEST_P(CxxExceptions, PanicMessagesForEveryKindOfThrownValue) {
  Guest g = guest();
  REQUIRE_GUEST(g, file());
  struct Case {
    const char* name;
    std::vector<Value> args;
    const char* message;
  };
  const Case cases[] = {
      {"throw_int_escape", {i32(4)}, "C++ exception of type i"},
      {"throw_cstring_escape", {}, "c-string panic"},
      {"throw_panic_helper", {i32(1234)}, "panic helper: 4"},
      {"throw_panic_helper", {i32(-7)}, "panic helper: 3"},
      {"rethrow_escape", {}, "rethrown"},
      {"throw_with_big_frame", {i32(9)}, "big frame"},
  };
  for (const Case& c : cases) {
    CallResult r = g.store->call(*g.instance->get_function(c.name), c.args);
    ASSERT_EQ(r.outcome, Outcome::Panic) << c.name << ": " << r.message;
    FailureReport report = describe_failure(*g.instance, r);
    EXPECT_EQ(report.guest_message, c.message) << c.name;
    EXPECT_TRUE(has_frame(report.backtrace, c.name)) << c.name;
  }
  EXPECT_FALSE(g.store->terminated());
}

TEST_P(CxxExceptions, KeepingThePayloadLetsItBeDescribedAgain) {
  Guest g = guest();
  REQUIRE_GUEST(g, file());
  CallResult r = g.call("throw_cstring_escape");
  ASSERT_EQ(r.outcome, Outcome::Panic);
  DescribeOptions keep;
  keep.release_exception = false;
  FailureReport first = describe_failure(*g.instance, r, keep);
  EXPECT_FALSE(first.exception_released);
  EXPECT_EQ(first.guest_message, "c-string panic");
  FailureReport second = describe_failure(*g.instance, r);
  EXPECT_EQ(second.guest_message, "c-string panic");
  EXPECT_TRUE(second.exception_released);
}

TEST_P(CxxExceptions, ShadowStackPointerIsRestoredAfterEveryPanicWithoutDrift) {
  Guest g = guest();
  REQUIRE_GUEST(g, file());
  const uint32_t before = g.stack_pointer();
  ASSERT_NE(before, 0u);
  EXPECT_EQ(static_cast<uint32_t>(g.call_i32("stack_pointer")), before);
  const uint32_t pages_before = g.instance->get_memory("memory")->pages();
  for (int i = 0; i < 10'000; ++i) {
    CallResult r = g.call("throw_with_big_frame", {i32(i)});
    ASSERT_EQ(r.outcome, Outcome::Panic) << "iteration " << i << ": " << r.message;
    ASSERT_EQ(g.stack_pointer(), before) << "iteration " << i;
    // Release the exception, as a host does, so the heap does not grow either.
    ASSERT_TRUE(release_cpp_exception(*g.instance, r.exception_payload.at(0).i32));
  }
  EXPECT_EQ(static_cast<uint32_t>(g.call_i32("stack_pointer")), before);
  EXPECT_EQ(g.instance->get_memory("memory")->pages(), pages_before);
  EXPECT_EQ(g.call_i32("catch_inside", {i32(1)}), 3);
}

TEST_P(CxxExceptions, WithoutTheRestoreEachPanicLeaksItsFrames) {
  // The control experiment: proves the test above would catch a missing restore.
  StoreOptions options;
  options.restore_stack_pointer = false;
  Guest g = guest(options);
  REQUIRE_GUEST(g, file());
  const uint32_t before = g.stack_pointer();
  ASSERT_EQ(g.call("throw_with_big_frame", {i32(1)}).outcome, Outcome::Panic);
  EXPECT_LE(g.stack_pointer() + 4096, before);
}

TEST_P(CxxExceptions, TerminateInNoexceptIsAnAbortThatNoCatchSees) {
  Guest g = guest();
  REQUIRE_GUEST(g, file());
  CallResult r = g.call("terminate_in_noexcept");
  ASSERT_EQ(r.outcome, Outcome::Abort) << r.message;
  EXPECT_EQ(r.trap, TrapKind::Unreachable);
  EXPECT_TRUE(g.store->terminated());
  EXPECT_TRUE(has_frame(r.backtrace, "terminate_in_noexcept"))
      << ::testing::PrintToString(frame_names(r.backtrace));

  FailureReport report = describe_failure(*g.instance, r);
  EXPECT_EQ(report.kind, TrapKind::GuestAbort);
  EXPECT_EQ(report.trap, TrapKind::Unreachable);
  EXPECT_EQ(report.guest_message, "terminate called after throwing an exception: fatal");
  EXPECT_NE(report.to_string().find("abort guest_abort (trap unreachable): terminate called"),
            std::string::npos)
      << report.to_string();

  // No guest code runs afterwards.
  EXPECT_EQ(g.call("calls").outcome, Outcome::Terminated);
  // The buffer was consumed: a later report of another abort does not repeat this reason.
  EXPECT_EQ(read_abort_message(*g.instance).value_or("?"), "");
}

TEST_P(CxxExceptions, FailedAllocationWithoutMemoryLimitIsAGuestAbort) {
  Guest g = guest();
  REQUIRE_GUEST(g, file());
  EXPECT_EQ(g.call_i32("new_too_big", {i32(100)}), 1);
  CallResult r = g.call("new_too_big", {i32(static_cast<int32_t>(0xffffff00u))});
  ASSERT_EQ(r.outcome, Outcome::Abort);
  FailureReport report = describe_failure(*g.instance, r);
  EXPECT_EQ(report.guest_message, "bad_alloc was thrown in -fno-exceptions mode");
  // malloc refuses a request that size without trying to grow memory, so the engine saw a plain
  // `unreachable` and the guest's reason makes it a guest_abort.
  EXPECT_EQ(r.trap, TrapKind::Unreachable);
  EXPECT_EQ(report.kind, TrapKind::GuestAbort);
}

TEST_P(CxxExceptions, AllocationBeyondTheStoreMemoryLimitIsOutOfMemory) {
  StoreOptions options;
  auto module = load_guest(file());
  if (module)
    options.limits.max_memory_pages =
        static_cast<uint32_t>(module->ir().memories.at(0).limits.min) + 8;
  Guest g = guest(options);
  REQUIRE_GUEST(g, file());
  EXPECT_EQ(g.call_i32("new_too_big", {i32(64 * 1024)}), 1);  // fits under the limit
  CallResult r = g.call("new_too_big", {i32(8 << 20)});       // 8 MiB does not
  ASSERT_EQ(r.outcome, Outcome::Abort) << r.message;
  EXPECT_EQ(r.trap, TrapKind::OutOfMemory);
  FailureReport report = describe_failure(*g.instance, r);
  EXPECT_EQ(report.kind, TrapKind::OutOfMemory);  // never reclassified
  EXPECT_EQ(report.guest_message, "bad_alloc was thrown in -fno-exceptions mode");
}

INSTANTIATE_TEST_SUITE_P(Encodings, CxxExceptions, encodings(), encoding_name);

}  // namespace
}  // namespace rw::eh_test
