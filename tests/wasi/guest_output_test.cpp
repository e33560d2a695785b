// A request-serving guest's WASI: output as log lines, argv and environment from its
// configuration, sleeps bounded by its CPU budget.

#include "runtime/wasi/guest_output.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

namespace rw::wasi {
namespace {

using Line = std::tuple<std::string, std::string, std::string>;  // level, stream, text

struct Captured {
  std::vector<Line> lines;
  OutputLines output{
      [this](std::string_view level, std::string_view stream, std::string_view text) {
        lines.emplace_back(std::string(level), std::string(stream), std::string(text));
      }};
};

TEST(OutputLines, SplitsAtNewlinesAndKeepsPartialLinesUntilFlush) {
  Captured c;
  auto context = request_guest_context("w", {}, std::chrono::milliseconds(0), c.output);
  ASSERT_TRUE(context.ok()) << context.error().to_string();
  const WasiConfig& config = context.value()->config();
  config.stdout_sink("one\ntw");
  config.stdout_sink("o\n\nthr");
  config.stderr_sink("oops\nhalf");
  EXPECT_EQ(c.lines, (std::vector<Line>{{"info", "stdout", "one"},
                                        {"info", "stdout", "two"},
                                        {"info", "stdout", ""},
                                        {"warn", "stderr", "oops"}}));
  c.output.flush();
  ASSERT_EQ(c.lines.size(), 6u);
  EXPECT_EQ(c.lines[4], (Line{"info", "stdout", "thr"}));
  EXPECT_EQ(c.lines[5], (Line{"warn", "stderr", "half"}));
  c.output.flush();  // nothing left
  EXPECT_EQ(c.lines.size(), 6u);
}

TEST(OutputLines, ALineWithoutEndIsCutAt16KiB) {
  Captured c;
  auto context = request_guest_context("w", {}, std::chrono::milliseconds(0), c.output);
  ASSERT_TRUE(context.ok());
  context.value()->config().stdout_sink(std::string(16384 + 10, 'x'));
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(std::get<2>(c.lines[0]).size(), 16384u);
  c.output.flush();
  ASSERT_EQ(c.lines.size(), 2u);
  EXPECT_EQ(std::get<2>(c.lines[1]), std::string(10, 'x'));
}

TEST(OutputLines, SinksOutliveTheOutputLines) {
  std::vector<std::string> seen;
  std::shared_ptr<WasiContext> context;
  {
    OutputLines output([&](std::string_view, std::string_view, std::string_view text) {
      seen.emplace_back(text);
    });
    auto created = request_guest_context("w", {}, std::chrono::milliseconds(0), output);
    ASSERT_TRUE(created.ok());
    context = created.value();
  }
  context->config().stdout_sink("still\n");  // the buffers are shared, not dangling
  EXPECT_EQ(seen, std::vector<std::string>{"still"});
}

TEST(RequestGuestContext, ArgsEnvironmentAndSleepBound) {
  Captured c;
  auto context = request_guest_context("api", {{"A", "1"}, {"B", "x=y"}},
                                       std::chrono::milliseconds(250), c.output);
  ASSERT_TRUE(context.ok());
  const WasiConfig& config = context.value()->config();
  EXPECT_EQ(config.args, std::vector<std::string>{"api"});
  EXPECT_EQ(config.env, (std::vector<std::string>{"A=1", "B=x=y"}));
  EXPECT_EQ(config.max_sleep, std::chrono::milliseconds(250));
  auto unbounded = request_guest_context("api", {}, std::chrono::milliseconds(0), c.output);
  ASSERT_TRUE(unbounded.ok());
  EXPECT_EQ(unbounded.value()->config().max_sleep, WasiConfig{}.max_sleep);
}

}  // namespace
}  // namespace rw::wasi
