#include <fmt/format.h>

#include <ostream>

#include "cli/commands.h"
#include "wasm/wast/runner.h"

namespace rw::cli {
namespace {

std::string counts(const wasm::WastSummary& summary) {
  std::string line = fmt::format("{} passed, {} failed", summary.passed, summary.failed);
  if (summary.skipped) line += fmt::format(", {} skipped", summary.skipped);
  return line;
}

}  // namespace

int wast_command(const std::vector<std::string>& files, bool verbose, std::ostream& out) {
  wasm::WastSummary total;
  wasm::WastOptions options;
  options.verbose = verbose;
  for (const std::string& file : files) {
    wasm::WastSummary summary = wasm::run_wast_file(file, out, options);
    if (verbose) out << file << ": " << counts(summary) << "\n";
    total += summary;
  }
  out << counts(total) << "\n";
  out.flush();
  return total.failed == 0 ? kExitOk : kExitFailure;
}

}  // namespace rw::cli
