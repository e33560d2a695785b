#pragma once
// Host-side support for the guest SDK's conventions (sdk/README.md, docs/exceptions.md): turn a
// failed call into a report with the guest's own words in it.
//
// - C++ panics: an escaping `__cpp_exception` carries one i32 payload; the module's exports
//   `rewind_exception_message(payload) -> i32` and `rewind_exception_release(payload)` give its
//   message and free it. Both are guest calls, so they are only made while the store is live.
// - C/C++ aborts: before a fatal `unreachable` the runtime writes a reason into the buffer that the
//   exported global `rewind_abort_message` points at. Read from memory only; no guest code runs.
// - Rust panics (panic=abort): a panic hook passes the message to the host import
//   `env.panic_message(ptr: i32, len: i32)` before the `unreachable`; PanicMessageSink provides
//   that host function and keeps the text.
//
// Classification: the engine reports a trap's kind as it saw it (CallResult::trap). When the
// trap is `unreachable` and the guest left a reason first (an abort message or a panic hook
// message), the report's `kind` is `guest_abort`: the guest asked to abort, with a message. The
// engine's kind stays available as `trap`. Other kinds (out_of_memory, cpu_limit, ...) are never
// reclassified; a guest message is still attached to them.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/engine.h"

namespace rw {

// Collects the message a Rust guest's panic hook passes to the host before it aborts.
// One sink per store (stores are single-threaded). The host function keeps the sink's state
// alive, so the sink object itself may go away before the store.
class PanicMessageSink {
 public:
  // Longer messages are cut (at a UTF-8 boundary) and end in "...".
  static constexpr size_t kMaxMessageBytes = 4096;

  PanicMessageSink();

  // A host function of type (i32 ptr, i32 len) -> () that records the `len` bytes at `ptr` in
  // the caller's memory 0. A range outside the memory records a placeholder text instead (the
  // guest is about to abort anyway; it never makes the host function fail).
  Function host_function(Store& store) const;
  // Defines the host function as `module`.`name` (the SDK convention: env.panic_message).
  void define(Store& store, Imports& imports, std::string module = "env",
              std::string name = "panic_message") const;

  // The last recorded message, if any, and forgets it.
  std::optional<std::string> take();
  const std::optional<std::string>& last() const;
  void clear();

 private:
  struct State {
    std::optional<std::string> message;
  };
  std::shared_ptr<State> state_;
};

struct DescribeOptions {
  // Panic with the module's __cpp_exception: call rewind_exception_release(payload) once the
  // message is read. Turn it off when the panic is handed on (HostResult::propagate) and an
  // outer frame will describe it; a released payload must not be used again.
  bool release_exception = true;
  // Abort: after reading the rewind_abort_message buffer, write an empty string into it, so a
  // later abort without a reason is not reported with this one's (the buffer survives
  // clear_terminated() unless the instance's memory is reset).
  bool clear_abort_message = true;
  // Abort: where a Rust guest's panic hook put its message (taken, so it is reported once).
  PanicMessageSink* panic_messages = nullptr;
};

// A call's outcome as the host should log and report it.
struct FailureReport {
  Outcome outcome = Outcome::Ok;
  // Abort: the reported kind (see the classification rule at the top of this file).
  TrapKind kind = TrapKind::Unreachable;
  // Abort: the engine's trap kind, unchanged.
  TrapKind trap = TrapKind::Unreachable;
  // What went wrong in one sentence: the guest's message when there is one, otherwise the
  // engine's (trap message, host error description).
  std::string message;
  // What the guest said: C++ what() (or the thrown string), the abort reason, the Rust panic
  // message. Empty when the guest said nothing or it could not be read.
  std::string guest_message;
  // Panic: the tag's export name ("__cpp_exception" for C and C++), empty if not exported.
  std::string tag_name;
  std::vector<Value> payload;             // Panic: the exception's payload
  bool cpp_exception = false;             // Panic: the tag is this module's __cpp_exception
  bool foreign_payload = false;           // ... but the payload is not the SDK runtime's exception
  bool exception_released = false;        // rewind_exception_release was called for the payload
  std::vector<BacktraceFrame> backtrace;  // innermost first, as the engine reported it

  // "panic: boom", "abort guest_abort (trap unreachable): terminate called ...",
  // "host_error: ...", followed by " at f <- g <- h" when there is a backtrace.
  std::string to_string() const;
};

// Describes `result`, a call into `instance` (or a nested call that ended in it). May call the
// instance's rewind_exception_message / rewind_exception_release exports (Panic only, and only
// when the store is not terminated); otherwise reads memory and globals only.
FailureReport describe_failure(Instance& instance, const CallResult& result,
                               const DescribeOptions& options = {});

// The pieces, for hosts that need them one by one.

// LLVM's shadow stack pointer: the global named `__stack_pointer` in the name section.
std::optional<Global> find_stack_pointer(const Instance& instance);
// A NUL-terminated string at `address` in `memory`, at most `max_bytes` long (cut there).
// nullopt when `address` is outside the memory.
std::optional<std::string> read_c_string(const Memory& memory, uint64_t address,
                                         size_t max_bytes = 4096);
// The text in the rewind_abort_message buffer; nullopt when the module has no such global or
// the buffer is outside memory; an empty string when the guest set no reason.
std::optional<std::string> read_abort_message(const Instance& instance);
// rewind_exception_message(payload); nullopt for a foreign payload, when the export is missing,
// when the store is terminated or when the call itself fails.
std::optional<std::string> cpp_exception_message(Instance& instance, uint32_t payload);
// rewind_exception_release(payload); false when it could not be called.
bool release_cpp_exception(Instance& instance, uint32_t payload);

}  // namespace rw
