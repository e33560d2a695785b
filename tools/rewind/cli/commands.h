#pragma once
// The commands of the `rewind` tool, callable in-process (main.cpp parses the command line).
//
// Exit codes:
//   0    success (for `run`: the guest returned from _start, or called proc_exit(0))
//   N    `run`: the guest called proc_exit(N)
//   1    a failure before any guest code ran, or a script failure: unreadable, malformed, invalid
//        or unlinkable module, missing export, bad --invoke argument; `wast`: any failed assertion
//   2    command-line usage error
//   70   `run`: the call ended in a panic or a host error (EX_SOFTWARE)
//   134  `run`: the call ended in an abort (a trap; 128 + SIGABRT, as a crashed native program)

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "rewind/engine.h"

namespace rw::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitPanic = 70;
constexpr int kExitAbort = 134;

// `rewind wast FILE...`
int wast_command(const std::vector<std::string>& files, bool verbose, std::ostream& out);

// `rewind inspect MODULE`
int inspect_command(const std::string& path, bool verbose, std::ostream& out, std::ostream& err);

struct RunOptions {
  std::string module_path;
  std::string invoke;             // empty: run the WASI command (_start)
  std::vector<std::string> args;  // --invoke: the export's arguments; else the guest's argv[1..]
  std::vector<std::string> dirs;  // --dir HOST[::GUEST]
  std::vector<std::string> env;   // --env KEY=VALUE
};

// `rewind run MODULE ...`. The guest's stdout and stderr go to this process's; `out` receives
// --invoke results, `err` the tool's own messages.
int run_command(const RunOptions& options, std::ostream& out, std::ostream& err);

// Loads a module file (binary or text), or prints "rewind: PATH: <reason>" to `err`.
std::shared_ptr<const Module> load_module(const std::string& path, std::ostream& err);

// One line describing a failed call:
//   outcome=abort trap=unreachable export=run message="..." backtrace="f@0x12 <- g@0x40"
std::string describe_failure(const CallResult& result, const std::string& export_name);

// The process exit code for a call's outcome (0 for ok; the proc_exit code when the guest exited).
int exit_code_for(const CallResult& result);

}  // namespace rw::cli
