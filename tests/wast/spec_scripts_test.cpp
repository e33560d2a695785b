// Runs the official spec scripts (../shared/spec, outside the project) through the runner, so a
// regression shows up in wast_tests even without the CLI. Skips when the scripts are absent.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "wasm/wast/runner.h"

namespace rw::wasm {
namespace {

namespace fs = std::filesystem;

void run_directory(const std::string& relative, bool recurse) {
  fs::path dir = fs::path(REWIND_SOURCE_DIR) / ".." / "shared" / "spec" / relative;
  if (!fs::is_directory(dir)) GTEST_SKIP() << "spec scripts not found at " << dir.string();
  std::vector<fs::path> scripts;
  auto collect = [&scripts](const fs::directory_entry& e) {
    if (e.is_regular_file() && e.path().extension() == ".wast") scripts.push_back(e.path());
  };
  if (recurse) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) collect(e);
  } else {
    for (const auto& e : fs::directory_iterator(dir)) collect(e);
  }
  std::sort(scripts.begin(), scripts.end());
  ASSERT_FALSE(scripts.empty());
  WastSummary total;
  std::ostringstream failures;
  for (const fs::path& script : scripts) total += run_wast_file(script.string(), failures);
  EXPECT_EQ(total.failed, 0u) << failures.str();
  EXPECT_GT(total.passed, 0u);
}

TEST(SpecScripts, Core) { run_directory("core", /*recurse=*/false); }

TEST(SpecScripts, ExceptionHandling) { run_directory("exception-handling", /*recurse=*/true); }

}  // namespace
}  // namespace rw::wasm
