// rewind: run spec scripts, inspect modules, and run WASI programs or single exports.
// Exit codes are documented in cli/commands.h.

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"
#include "serve_command.h"

int main(int argc, char** argv) {
  CLI::App app{"rewind: a WebAssembly runtime that survives guest failures"};
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 ok; 1 load/link/script failure; 2 usage error; for run: the guest's "
      "proc_exit\n"
      "code, 70 on a panic or host error, 134 on an abort (trap).");

  bool verbose = false;
  std::vector<std::string> wast_files;
  auto* wast = app.add_subcommand("wast", "Run WebAssembly spec test scripts (.wast)");
  wast->add_option("files", wast_files, "Script files")->required();
  wast->add_flag("-v,--verbose", verbose, "Print every assertion and per-file counts");

  std::string inspect_path;
  bool inspect_verbose = false;
  auto* inspect = app.add_subcommand("inspect", "Describe a module (.wasm or .wat)");
  inspect->add_option("module", inspect_path, "Module file")->required();
  inspect->add_flag("-v,--verbose", inspect_verbose, "List every name");

  rw::cli::RunOptions run_options;
  auto* run =
      app.add_subcommand("run", "Run a WASI command module, or call one export with --invoke");
  run->add_option("module", run_options.module_path, "Module file (.wasm or .wat)")->required();
  run->add_option(
      "args", run_options.args,
      "With --invoke: the export's arguments; otherwise the guest's arguments. Put them after --\n"
      "when one starts with '-' and is not a number (e.g. -- -inf, -- --flag).");
  run->add_option("--invoke", run_options.invoke,
                  "Call this export instead of _start and print its results");
  run->add_option("--dir", run_options.dirs, "Preopen a host directory: HOST[::GUEST]")
      ->allow_extra_args(false);
  run->add_option("--env", run_options.env, "Set a guest environment variable: KEY=VALUE")
      ->allow_extra_args(false);

  auto serve = rw::cli::add_serve_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return rw::cli::kExitUsage;
  }

  try {
    if (*wast) return rw::cli::wast_command(wast_files, verbose, std::cout);
    if (*inspect)
      return rw::cli::inspect_command(inspect_path, inspect_verbose, std::cout, std::cerr);
    if (*run) return rw::cli::run_command(run_options, std::cout, std::cerr);
    if (*serve.app) return serve.run();
  } catch (const std::exception& e) {
    std::cerr << "rewind: internal error: " << e.what() << "\n";
    return rw::cli::kExitFailure;
  }
  return rw::cli::kExitUsage;
}
