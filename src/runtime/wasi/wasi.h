#pragma once
// A WASI preview 1 host (`wasi_snapshot_preview1`) for command and reactor modules built with
// wasi-libc, defined through the public embedding API (Store::create_host_function).
//
// Every guest pointer and length is checked against the caller's memory: a bad pointer gives
// errno EFAULT, never a host crash. Output goes to callbacks so an embedder (the CLI, the server)
// decides where a guest's stdout and stderr end up.
//
// proc_exit: the host function returns HostResult::fail with an ExitRequest. The engine unwinds
// the guest as it does for any host error and the call comes back as Outcome::HostError carrying
// the ExitRequest (exit_code_of() extracts it). We chose a host error rather than an abort
// because exiting is not a failure of the instance: an abort would terminate the store and be
// logged as a crash. A guest that swallows the unwinding with catch_all cannot keep running as if
// nothing happened: the context remembers the exit, and every later WASI call raises the same
// ExitRequest again.

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/engine.h"

namespace rw::wasi {

// WASI errno values (wasi_snapshot_preview1), those the host returns.
enum class Errno : uint16_t {
  Success = 0,
  TooBig = 1,
  Access = 2,
  Again = 6,
  BadF = 8,
  Busy = 10,
  Exist = 20,
  Fault = 21,
  FileTooBig = 22,
  Intr = 27,
  Inval = 28,
  IO = 29,
  IsDir = 31,
  Loop = 32,
  MFile = 33,
  NameTooLong = 37,
  NFile = 41,
  NoBufs = 42,
  NoEnt = 44,
  NoMem = 48,
  NoSpc = 51,
  NoSys = 52,
  NotDir = 54,
  NotEmpty = 55,
  NotSup = 58,
  NotTty = 59,
  Overflow = 61,
  Perm = 63,
  Pipe = 64,
  ROFS = 69,
  SPipe = 70,
  XDev = 75,
  NotCapable = 76,
};

// Raised (as the host error of a HostResult::fail) by proc_exit.
struct ExitRequest : std::exception {
  explicit ExitRequest(uint32_t exit_code) : code(exit_code) {}
  const char* what() const noexcept override { return "wasi proc_exit"; }
  uint32_t code;
};

// The exit code carried by a call that ended with proc_exit, if it did.
std::optional<uint32_t> exit_code_of(const CallResult& result);

using OutputSink = std::function<void(std::string_view bytes)>;
// Fills `buffer` and returns the number of bytes read: 0 at end of input, -1 on error.
using InputSource = std::function<int64_t(std::span<uint8_t> buffer)>;

struct Preopen {
  std::string host_path;   // a directory on the host
  std::string guest_path;  // the name the guest sees it under ("/data", ".")
};

struct WasiConfig {
  std::vector<std::string> args;  // argv, including argv[0]
  std::vector<std::string> env;   // "KEY=VALUE"
  OutputSink stdout_sink;         // empty: output is discarded
  OutputSink stderr_sink;
  InputSource stdin_source;       // empty: stdin is at end of input
  std::vector<Preopen> preopens;  // fds 3, 4, ... in order
  // Upper bound on one poll_oneoff sleep, so a guest cannot park its thread for hours.
  std::chrono::nanoseconds max_sleep = std::chrono::seconds(60);

  // Sinks and source wired to this process's stdin, stdout and stderr.
  void inherit_stdio();
};

// The state of one WASI "process": arguments, environment and the descriptor table. Used by one
// store (one thread) at a time.
class WasiContext {
 public:
  // Opens the preopened directories. Fails with a message naming the directory that could not
  // be opened.
  static Result<std::shared_ptr<WasiContext>> create(WasiConfig config);
  ~WasiContext();
  WasiContext(const WasiContext&) = delete;
  WasiContext& operator=(const WasiContext&) = delete;

  const WasiConfig& config() const { return config_; }
  // Set once the guest has called proc_exit.
  std::optional<uint32_t> exit_code() const { return exit_code_; }

  // The implementation of the host functions; public so the import table can refer to it.
  struct Fd;
  struct Impl;

 private:
  explicit WasiContext(WasiConfig config);
  friend struct Impl;

  WasiConfig config_;
  std::map<uint32_t, std::unique_ptr<Fd>> fds_;
  std::optional<uint32_t> exit_code_;
};

// The module name WASI preview 1 imports come from.
inline constexpr std::string_view kModuleName = "wasi_snapshot_preview1";

// Defines every wasi_snapshot_preview1 function in `imports`, as host functions of `store`
// bound to `context`. Functions rewind does not implement return ENOSYS.
void define_imports(Store& store, Imports& imports, std::shared_ptr<WasiContext> context);

// Names of all functions define_imports defines, for tools that list them.
std::vector<std::string_view> function_names();

}  // namespace rw::wasi
