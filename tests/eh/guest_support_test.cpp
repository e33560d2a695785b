// rw::describe_failure and its pieces on small hand-written modules: every convention's failure
// paths (missing exports, bad pointers, stale messages, terminated stores) without a toolchain.

#include "rewind/guest_support.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "rewind/engine.h"

namespace rw {
namespace {

Instance* instantiate(Store& store, std::string_view wat, const Imports& imports = {}) {
  auto module = Module::from_text(wat);
  if (!module.ok()) {
    ADD_FAILURE() << module.error().to_string();
    return nullptr;
  }
  auto instance = store.instantiate(module.value(), imports);
  if (!instance.ok()) {
    ADD_FAILURE() << instance.error().to_string();
    return nullptr;
  }
  return instance.value();
}

CallResult call(Store& store, Instance* instance, std::string_view name,
                std::vector<Value> args = {}) {
  return store.call(*instance->get_function(name), args);
}

// A module following the C/C++ conventions by hand: an abort message buffer at 64 that `abort`
// fills before trapping, a __cpp_exception tag whose payload 100 is "ours" (message at 200).
constexpr std::string_view kConventions = R"(
(module
  (memory (export "memory") 1)
  (global (export "rewind_abort_message") i32 (i32.const 64))
  (global $released (export "released") (mut i32) (i32.const 0))
  (tag $cpp (export "__cpp_exception") (param i32))
  (tag $other (export "other") (param i32 i64))
  (tag $hidden (param i32))
  (data (i32.const 200) "the message\00")
  (data (i32.const 300) "guest reason\00")
  (func (export "abort_with_reason")
    (memory.copy (i32.const 64) (i32.const 300) (i32.const 13))
    (unreachable))
  (func (export "abort_plain") (unreachable))
  (func (export "panic") (param i32) (throw $cpp (local.get 0)))
  (func (export "panic_other") (throw $other (i32.const 7) (i64.const -1)))
  (func (export "panic_hidden") (throw $hidden (i32.const 1)))
  (func (export "rewind_exception_message") (param i32) (result i32)
    (if (result i32) (i32.eq (local.get 0) (i32.const 100))
      (then (i32.const 200)) (else (i32.const 0))))
  (func (export "rewind_exception_release") (param i32)
    (global.set $released (i32.add (global.get $released) (i32.const 1)))))
)";

TEST(DescribeFailure, OkAndTerminatedOutcomes) {
  Store store;
  Instance* inst = instantiate(store, kConventions);
  ASSERT_NE(inst, nullptr);
  CallResult ok;
  EXPECT_EQ(describe_failure(*inst, ok).outcome, Outcome::Ok);
  ASSERT_EQ(call(store, inst, "abort_plain").outcome, Outcome::Abort);
  CallResult refused = call(store, inst, "abort_plain");
  ASSERT_EQ(refused.outcome, Outcome::Terminated);
  FailureReport report = describe_failure(*inst, refused);
  EXPECT_EQ(report.outcome, Outcome::Terminated);
  EXPECT_EQ(report.to_string(), "terminated: store terminated");
}

TEST(DescribeFailure, CppPanicCallsMessageThenRelease) {
  Store store;
  Instance* inst = instantiate(store, kConventions);
  ASSERT_NE(inst, nullptr);
  CallResult r = call(store, inst, "panic", {Value::make_i32(100)});
  ASSERT_EQ(r.outcome, Outcome::Panic);
  FailureReport report = describe_failure(*inst, r);
  EXPECT_TRUE(report.cpp_exception);
  EXPECT_FALSE(report.foreign_payload);
  EXPECT_EQ(report.tag_name, "__cpp_exception");
  EXPECT_EQ(report.guest_message, "the message");
  EXPECT_TRUE(report.exception_released);
  EXPECT_EQ(inst->get_global("released")->get().as_i32(), 1);
  EXPECT_EQ(report.to_string().rfind("panic: the message at ", 0), 0u) << report.to_string();
}

TEST(DescribeFailure, ForeignCppPayloadHasNoMessage) {
  Store store;
  Instance* inst = instantiate(store, kConventions);
  ASSERT_NE(inst, nullptr);
  CallResult r = call(store, inst, "panic", {Value::make_i32(5)});
  FailureReport report = describe_failure(*inst, r);
  EXPECT_TRUE(report.foreign_payload);
  EXPECT_EQ(report.message, "uncaught C++ exception with a foreign payload (i32:5)");
}

TEST(DescribeFailure, OtherTagsAreNamedWithTheirPayload) {
  Store store;
  Instance* inst = instantiate(store, kConventions);
  ASSERT_NE(inst, nullptr);
  FailureReport named = describe_failure(*inst, call(store, inst, "panic_other"));
  EXPECT_FALSE(named.cpp_exception);
  EXPECT_EQ(named.tag_name, "other");
  EXPECT_EQ(named.message, "uncaught exception with other (i32:7, i64:-1)");
  EXPECT_EQ(named.payload.size(), 2u);
  FailureReport hidden = describe_failure(*inst, call(store, inst, "panic_hidden"));
  EXPECT_EQ(hidden.tag_name, "");
  EXPECT_EQ(hidden.message, "uncaught exception with an unexported tag (i32:1)");
  EXPECT_EQ(inst->get_global("released")->get().as_i32(), 0);  // nothing to release
}

TEST(DescribeFailure, PanicOnATerminatedStoreRunsNoGuestCode) {
  Store store;
  Instance* inst = instantiate(store, kConventions);
  ASSERT_NE(inst, nullptr);
  CallResult panic = call(store, inst, "panic", {Value::make_i32(100)});
  ASSERT_EQ(call(store, inst, "abort_plain").outcome, Outcome::Abort);
  FailureReport report = describe_failure(*inst, panic);
  EXPECT_TRUE(report.guest_message.empty());
  EXPECT_FALSE(report.exception_released);
  EXPECT_NE(report.message.find("store is terminated"), std::string::npos);
  EXPECT_EQ(inst->get_global("released")->get().as_i32(), 0);
}

TEST(DescribeFailure, CppTagWithoutTheMessageExportsIsForeign) {
  Store store;
  Instance* inst = instantiate(store, R"(
(module
  (tag $cpp (export "__cpp_exception") (param i32))
  (func (export "panic") (throw $cpp (i32.const 100))))
)");
  ASSERT_NE(inst, nullptr);
  FailureReport report = describe_failure(*inst, call(store, inst, "panic"));
  EXPECT_TRUE(report.cpp_exception);
  EXPECT_TRUE(report.foreign_payload);
  EXPECT_FALSE(report.exception_released);
}

TEST(DescribeFailure, MessageExportThatTrapsLeavesTheMessageOutAndTheStoreTerminated) {
  Store store;
  Instance* inst = instantiate(store, R"(
(module
  (memory 1)
  (tag $cpp (export "__cpp_exception") (param i32))
  (func (export "panic") (throw $cpp (i32.const 100)))
  (func (export "rewind_exception_message") (param i32) (result i32) (unreachable)))
)");
  ASSERT_NE(inst, nullptr);
  FailureReport report = describe_failure(*inst, call(store, inst, "panic"));
  EXPECT_TRUE(report.guest_message.empty());
  EXPECT_TRUE(store.terminated());
}

TEST(DescribeFailure, AbortReasonMakesUnreachableAGuestAbortOnce) {
  Store store;
  Instance* inst = instantiate(store, kConventions);
  ASSERT_NE(inst, nullptr);
  CallResult r = call(store, inst, "abort_with_reason");
  ASSERT_EQ(r.trap, TrapKind::Unreachable);
  FailureReport report = describe_failure(*inst, r);
  EXPECT_EQ(report.kind, TrapKind::GuestAbort);
  EXPECT_EQ(report.trap, TrapKind::Unreachable);
  EXPECT_EQ(report.guest_message, "guest reason");
  EXPECT_EQ(report.to_string().rfind("abort guest_abort (trap unreachable): guest reason", 0), 0u)
      << report.to_string();
  // The buffer is consumed: the next plain abort is reported as what it is.
  store.clear_terminated();
  FailureReport next = describe_failure(*inst, call(store, inst, "abort_plain"));
  EXPECT_EQ(next.kind, TrapKind::Unreachable);
  EXPECT_TRUE(next.guest_message.empty());
}

TEST(DescribeFailure, AbortReasonKeptWhenAsked) {
  Store store;
  Instance* inst = instantiate(store, kConventions);
  ASSERT_NE(inst, nullptr);
  DescribeOptions keep;
  keep.clear_abort_message = false;
  describe_failure(*inst, call(store, inst, "abort_with_reason"), keep);
  EXPECT_EQ(read_abort_message(*inst).value_or(""), "guest reason");
}

TEST(DescribeFailure, AbortMessagePointerOutsideMemoryIsIgnored) {
  Store store;
  Instance* inst = instantiate(store, R"(
(module
  (memory (export "memory") 1)
  (global (export "rewind_abort_message") i32 (i32.const 0x7fffffff))
  (func (export "abort") (unreachable)))
)");
  ASSERT_NE(inst, nullptr);
  EXPECT_FALSE(read_abort_message(*inst).has_value());
  FailureReport report = describe_failure(*inst, call(store, inst, "abort"));
  EXPECT_EQ(report.kind, TrapKind::Unreachable);
  EXPECT_TRUE(report.guest_message.empty());
}

TEST(DescribeFailure, HostErrorsIncludeWhatWhenItAddsSomething) {
  Store store;
  Imports imports;
  std::exception_ptr error;
  imports.define("env", "fail",
                 Extern::of(store.create_host_function(
                     {}, [&](HostContext&, std::span<const Value>, std::span<Value>) {
                       return HostResult::fail(error, "lookup");
                     })));
  Instance* inst = instantiate(store, R"(
(module (import "env" "fail" (func $fail)) (func (export "f") (call $fail)))
)",
                               imports);
  ASSERT_NE(inst, nullptr);
  error = std::make_exception_ptr(std::out_of_range("key 7"));
  EXPECT_EQ(describe_failure(*inst, call(store, inst, "f")).message, "lookup: key 7");
  error = std::make_exception_ptr(42);
  EXPECT_EQ(describe_failure(*inst, call(store, inst, "f")).message, "lookup");
}

TEST(DescribeFailure, UnnamedFramesAreShownByIndex) {
  Store store;
  Instance* inst = instantiate(store, R"(
(module (func (unreachable)) (func (export "f") (call 0)))
)");
  ASSERT_NE(inst, nullptr);
  FailureReport report = describe_failure(*inst, call(store, inst, "f"));
  EXPECT_EQ(report.to_string(), "abort unreachable: unreachable at func[0] <- func[1]");
}

// A module loaded from text names its functions after their identifiers.
TEST(DescribeFailure, TextIdentifiersNameTheFrames) {
  Store store;
  Instance* inst = instantiate(store, R"(
(module (func $inner (unreachable)) (func (export "f") (call $inner)))
)");
  ASSERT_NE(inst, nullptr);
  FailureReport report = describe_failure(*inst, call(store, inst, "f"));
  EXPECT_EQ(report.to_string(), "abort unreachable: unreachable at inner <- func[1]");
}

// ---------------------------------------------------------------------------------------------
// Pieces

TEST(ReadCString, BoundsAndLimits) {
  Store store;
  Instance* inst = instantiate(store, R"(
(module (memory (export "memory") 1)
  (data (i32.const 10) "hello\00")
  (data (i32.const 65533) "xyz"))
)");
  ASSERT_NE(inst, nullptr);
  Memory memory = *inst->get_memory("memory");
  EXPECT_EQ(read_c_string(memory, 10).value_or("?"), "hello");
  EXPECT_EQ(read_c_string(memory, 10, 3).value_or("?"), "hel");
  EXPECT_EQ(read_c_string(memory, 65533).value_or("?"), "xyz");  // cut at the end of memory
  EXPECT_EQ(read_c_string(memory, 65536).value_or("?"), "");
  EXPECT_FALSE(read_c_string(memory, 65537).has_value());
  EXPECT_FALSE(read_c_string(memory, UINT64_MAX).has_value());
  EXPECT_FALSE(read_c_string(Memory(), 0).has_value());
}

TEST(FindStackPointer, NeedsTheNameSection) {
  Store store;
  Instance* inst = instantiate(store, R"(
(module (global (mut i32) (i32.const 1024)))
)");
  ASSERT_NE(inst, nullptr);
  EXPECT_FALSE(find_stack_pointer(*inst).has_value());
}

struct HookHarness {
  Store store;
  PanicMessageSink sink;
  Instance* inst = nullptr;
  HookHarness() {
    Imports imports;
    sink.define(store, imports);
    inst = instantiate(store, R"(
(module
  (import "env" "panic_message" (func $hook (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "h\c3\a9llo")
  (func (export "report") (param i32 i32) (call $hook (local.get 0) (local.get 1))))
)",
                       imports);
  }
  void report(uint32_t ptr, uint32_t len) {
    CallResult r = call(
        store, inst, "report",
        {Value::make_i32(static_cast<int32_t>(ptr)), Value::make_i32(static_cast<int32_t>(len))});
    EXPECT_TRUE(r.ok()) << r.message;
  }
};

TEST(PanicMessageSink, RecordsTakesAndClears) {
  HookHarness h;
  ASSERT_NE(h.inst, nullptr);
  EXPECT_FALSE(h.sink.last().has_value());
  h.report(0, 6);
  EXPECT_EQ(h.sink.last().value_or(""), "h\xc3\xa9llo");
  EXPECT_EQ(h.sink.take().value_or(""), "h\xc3\xa9llo");
  EXPECT_FALSE(h.sink.take().has_value());
  h.report(0, 0);
  EXPECT_EQ(h.sink.last().value_or("?"), "");
  h.sink.clear();
  EXPECT_FALSE(h.sink.last().has_value());
}

TEST(PanicMessageSink, OutOfBoundsRangesRecordAPlaceholderNotACrash) {
  HookHarness h;
  ASSERT_NE(h.inst, nullptr);
  h.report(65530, 100);
  ASSERT_TRUE(h.sink.last().has_value());
  EXPECT_NE(h.sink.last()->find("outside the guest's memory"), std::string::npos);
  h.report(0xffffffff, 0xffffffff);
  EXPECT_NE(h.sink.last()->find("outside"), std::string::npos);
  EXPECT_FALSE(h.store.terminated());
}

TEST(PanicMessageSink, LongMessagesAreCutAtAUtf8Boundary) {
  HookHarness h;
  ASSERT_NE(h.inst, nullptr);
  // Fill memory with two-byte sequences so the limit falls inside one.
  Memory memory = *h.inst->get_memory("memory");
  std::vector<uint8_t> text;
  for (int i = 0; i < 5000; ++i) {
    text.push_back(0xc3);
    text.push_back(0xa9);
  }
  ASSERT_TRUE(memory.write(1000, text));
  h.report(1000, static_cast<uint32_t>(text.size()));
  ASSERT_TRUE(h.sink.last().has_value());
  const std::string& cut = *h.sink.last();
  ASSERT_LE(cut.size(), PanicMessageSink::kMaxMessageBytes + 3);
  EXPECT_EQ(cut.substr(cut.size() - 3), "...");
  EXPECT_EQ((cut.size() - 3) % 2, 0u);  // whole characters only
}

TEST(PanicMessageSink, OutlivesTheSinkObject) {
  Store store;
  Imports imports;
  {
    PanicMessageSink sink;
    sink.define(store, imports);
  }
  Instance* inst = instantiate(store, R"(
(module
  (import "env" "panic_message" (func $hook (param i32 i32)))
  (memory 1)
  (func (export "report") (call $hook (i32.const 0) (i32.const 4))))
)",
                               imports);
  ASSERT_NE(inst, nullptr);
  EXPECT_TRUE(call(store, inst, "report").ok());
}

}  // namespace
}  // namespace rw
