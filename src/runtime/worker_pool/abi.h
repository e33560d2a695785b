#pragma once
// The host side of the rewind guest ABI, version 1 (docs/guest-abi.md): the `rewind` import
// module a worker uses to read its request, build its response, log, read clocks and randomness,
// and report panics and aborts.
//
// Every guest pointer and length is checked against the caller's memory; a bad one aborts the
// call with host_abort and a message naming the function, never touches host memory.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/engine.h"
#include "rewind/runtime.h"

namespace rw::runtime::detail {

inline constexpr int32_t kAbiVersion = 1;
inline constexpr std::string_view kAbiModule = "rewind";
inline constexpr std::string_view kHandleExport = "rewind_handle";
inline constexpr std::string_view kVersionExport = "rewind_abi_version";

// Bounds on what a guest can make the host hold for one response.
inline constexpr uint64_t kMaxResponseBodyBytes = 64ull << 20;
inline constexpr size_t kMaxResponseHeaders = 128;
inline constexpr size_t kMaxHeaderNameBytes = 256;
inline constexpr size_t kMaxHeaderValueBytes = 8192;
inline constexpr size_t kMaxLogMessageBytes = 16384;
inline constexpr size_t kMaxRandomBytes = 1 << 20;

// level: "debug", "info", "warn", "error"; stream: "log", "stdout" or "stderr".
using GuestLogSink =
    std::function<void(std::string_view level, std::string_view stream, std::string_view message)>;

// What the host functions of one instance work on. One request at a time (an instance runs on
// one thread at a time).
struct CallState {
  const Request* request = nullptr;  // null outside a request (init, reinit)
  uint64_t body_offset = 0;
  Response response;
  uint64_t response_body_bytes = 0;
  std::optional<std::string> panic_message;        // from rewind.panic_message
  std::optional<std::string> guest_abort_message;  // set when rewind.abort was called
  std::optional<std::string> failure_json;         // the record rewind.failure_record returns
  GuestLogSink log;

  // Clears everything a previous request left and points at `request` (may be null).
  void begin(const Request* request);
};

// Checks the module's imports and exports against ABI version 1 without running it: every
// `rewind` import is one this version defines, with its type; other imports come only from
// wasi_snapshot_preview1; the module exports memory, rewind_handle: () -> () and
// rewind_abi_version: () -> i32. The error says what is wrong and points at docs/guest-abi.md.
Result<void> check_module(const Module& module);

// Defines every `rewind` import in `imports` as host functions of `store` bound to `state`.
void define_imports(Store& store, Imports& imports, std::shared_ptr<CallState> state);

// "outcome[ trap]: message", for log lines and errors about a call.
std::string describe_outcome(const CallResult& r);

// How a failed call is reported: its outcome (a terminated store counts as an abort), trap kind
// and message, with what the guest said through this ABI (rewind.abort, or rewind.panic_message
// before a panic or a trap: a panic=abort language's path) preferred over what the engine and
// describe_failure found. Must run before any rollback: a C++ panic's message is read from guest
// memory.
struct CallFailure {
  Outcome outcome = Outcome::Abort;
  std::optional<TrapKind> trap;  // aborts only
  std::string message;
};
CallFailure classify_failure(Instance& instance, const CallResult& r, const CallState& state);

// The names of the `rewind` imports of version 1.
std::vector<std::string_view> function_names();

}  // namespace rw::runtime::detail
