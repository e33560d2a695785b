#pragma once
// `rewind serve`: the HTTP server (src/server) in front of workers built by the runtime.
// Kept apart from cli/ so that main.cpp registers it with one call.

#include <CLI/CLI.hpp>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>

namespace rw::cli {

struct ServeOptions {
  std::string module_path;  // `rewind serve worker.wasm`: one worker on "/"
  std::string config_path;  // `rewind serve --config rewind.toml`
  std::string listen, admin_listen, access_log;
  std::optional<uint32_t> threads;
};

struct ServeCommand {
  CLI::App* app = nullptr;   // the subcommand; `*app` is true when it was chosen
  std::function<int()> run;  // runs it with what was parsed
};

// Adds `serve` to the command line.
ServeCommand add_serve_command(CLI::App& app);

// Serves until SIGINT or SIGTERM, then shuts down gracefully. Exit codes: 0 after a clean
// shutdown, 1 when a worker or a listener cannot be set up, 2 for usage and configuration errors.
// `out` gets one line saying where it listens.
int serve_command(const ServeOptions& options, std::ostream& out, std::ostream& err);

}  // namespace rw::cli
