// The Rust guest (Debian rustc 1.63, panic=abort, a panic hook that calls env.panic_message) and
// the C guest that throws with __builtin_wasm_throw, in both encodings.

#include <cstring>
#include <string>

#include "guest_fixture.h"

namespace rw::eh_test {
namespace {

constexpr const char* kRust = "panic_hook.wasm";

struct RustGuest {
  PanicMessageSink messages;
  Guest g;
  RustGuest() {
    g = instantiate_guest(
        kRust, {}, [this](Store& store, Imports& imports) { messages.define(store, imports); });
  }
};

TEST(RustGuest, CallsWorkAndNeedNoInitialize) {
  RustGuest rust;
  REQUIRE_GUEST(rust.g, kRust);
  EXPECT_FALSE(rust.g.instance->get_function("_initialize").has_value());
  EXPECT_EQ(rust.g.call_i32("add", {i32(2), i32(40)}), 42);
  EXPECT_EQ(rust.g.call_i32("panic_now", {i32(-5)}), -5);
  EXPECT_EQ(rust.g.call_i32("calls"), 2);
  EXPECT_FALSE(rust.messages.last().has_value());
}

TEST(RustGuest, PanicIsAnUnreachableAbortWithTheHookMessage) {
  RustGuest rust;
  REQUIRE_GUEST(rust.g, kRust);
  CallResult r = rust.g.call("panic_now", {i32(17)});
  ASSERT_EQ(r.outcome, Outcome::Abort) << r.message;
  EXPECT_EQ(r.trap, TrapKind::Unreachable);
  EXPECT_TRUE(rust.g.store->terminated());
  // The panic hook ran before the trap and handed over the message.
  ASSERT_TRUE(rust.messages.last().has_value());
  EXPECT_EQ(*rust.messages.last(), "guest panicked: code 17");
  // Backtrace with Rust function names from the name section; the export is the outermost.
  ASSERT_FALSE(r.backtrace.empty());
  EXPECT_EQ(r.backtrace.back().name, "panic_now")
      << ::testing::PrintToString(frame_names(r.backtrace));
  EXPECT_TRUE(has_frame(r.backtrace, "panic"))
      << ::testing::PrintToString(frame_names(r.backtrace));

  DescribeOptions options;
  options.panic_messages = &rust.messages;
  FailureReport report = describe_failure(*rust.g.instance, r, options);
  EXPECT_EQ(report.trap, TrapKind::Unreachable);
  EXPECT_EQ(report.kind, TrapKind::GuestAbort);
  EXPECT_EQ(report.guest_message, "guest panicked: code 17");
  EXPECT_EQ(report.message, "guest panicked: code 17");
  EXPECT_FALSE(rust.messages.last().has_value());  // taken: reported once

  EXPECT_EQ(rust.g.call("add", {i32(1), i32(1)}).outcome, Outcome::Terminated);
}

TEST(RustGuest, StandardLibraryPanicMessage) {
  RustGuest rust;
  REQUIRE_GUEST(rust.g, kRust);
  EXPECT_EQ(rust.g.call_i32("index_out_of_bounds", {i32(1)}), 2);
  CallResult r = rust.g.call("index_out_of_bounds", {i32(7)});
  ASSERT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::Unreachable);
  DescribeOptions options;
  options.panic_messages = &rust.messages;
  FailureReport report = describe_failure(*rust.g.instance, r, options);
  EXPECT_EQ(report.guest_message, "index out of bounds: the len is 3 but the index is 7");
  EXPECT_EQ(report.kind, TrapKind::GuestAbort);
}

class CThrow : public ::testing::TestWithParam<std::string> {
 protected:
  std::string file() const { return "c_throw." + GetParam() + ".wasm"; }
};

TEST_P(CThrow, ForeignPayloadIsAPanicTheHostCanInterpret) {
  Guest g = instantiate_guest(file());
  REQUIRE_GUEST(g, file());
  CallResult r = g.call("c_throw", {i32(42)});
  ASSERT_EQ(r.outcome, Outcome::Panic) << r.message;
  EXPECT_EQ(r.exception_tag, *g.instance->get_tag("__cpp_exception"));
  ASSERT_EQ(r.exception_payload.size(), 1u);
  const uint32_t address = r.exception_payload[0].i32;
  EXPECT_EQ(r.backtrace.back().name, "c_throw");

  // The guest documents its payload: struct { i32 code; i32 message; }.
  Memory memory = *g.instance->get_memory("memory");
  uint8_t raw[8];
  ASSERT_TRUE(memory.read(address, raw));
  int32_t code, message_address;
  std::memcpy(&code, raw, 4);
  std::memcpy(&message_address, raw + 4, 4);
  EXPECT_EQ(code, 42);
  EXPECT_EQ(read_c_string(memory, static_cast<uint32_t>(message_address)).value_or(""), "c error");

  FailureReport report = describe_failure(*g.instance, r);
  EXPECT_TRUE(report.cpp_exception);
  EXPECT_TRUE(report.foreign_payload);
  EXPECT_TRUE(report.guest_message.empty());
  EXPECT_NE(report.message.find("foreign payload"), std::string::npos) << report.message;
  // Releasing a foreign payload is a no-op in the runtime: the struct is untouched.
  ASSERT_TRUE(memory.read(address, raw));
  std::memcpy(&code, raw, 4);
  EXPECT_EQ(code, 42);
}

TEST_P(CThrow, RewindThrowPanicFromCAndTheInstanceSurvives) {
  Guest g = instantiate_guest(file());
  REQUIRE_GUEST(g, file());
  CallResult r = g.call("c_panic");
  ASSERT_EQ(r.outcome, Outcome::Panic);
  EXPECT_EQ(describe_failure(*g.instance, r).guest_message, "c panic");
  ASSERT_EQ(g.call("c_throw", {i32(1)}).outcome, Outcome::Panic);
  EXPECT_EQ(g.call_i32("c_calls"), 3);
}

INSTANTIATE_TEST_SUITE_P(Encodings, CThrow, encodings(), encoding_name);

}  // namespace
}  // namespace rw::eh_test
