#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "../common/scratch_dir.h"
#include "server/logs.h"
#include "server/metrics.h"

namespace rw::server {
namespace {

runtime::FailureRecord abort_record() {
  runtime::FailureRecord f;
  f.worker = "chaos";
  f.instance_id = 3;
  f.generation = 7;
  f.request_id = "abc-1";
  f.outcome = Outcome::Abort;
  f.trap = TrapKind::Unreachable;
  f.message = "unreachable executed \"here\"\n";
  f.backtrace = {{12, "handle_unreachable", 0x120}, {3, "", 0x40}};
  f.action = "reset";
  f.recovery_time = std::chrono::microseconds(1500);
  return f;
}

TEST(FailureLog, OneJsonLineWithEveryField) {
  std::string line = failure_json(abort_record());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["event"], "guest_failure");
  EXPECT_EQ(j["worker"], "chaos");
  EXPECT_EQ(j["instance_id"], 3);
  EXPECT_EQ(j["generation"], 7);
  EXPECT_EQ(j["request_id"], "abc-1");
  EXPECT_EQ(j["outcome"], "abort");
  EXPECT_EQ(j["trap_kind"], "unreachable");
  EXPECT_EQ(j["message"], "unreachable executed \"here\"\n");
  ASSERT_EQ(j["backtrace"].size(), 2u);
  EXPECT_EQ(j["backtrace"][0]["name"], "handle_unreachable");
  EXPECT_EQ(j["backtrace"][0]["func_index"], 12);
  EXPECT_EQ(j["backtrace"][0]["offset"], 0x120);
  EXPECT_EQ(j["recovery_action"], "reset");
  EXPECT_DOUBLE_EQ(j["recovery_ms"].get<double>(), 1.5);
  EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

TEST(FailureLog, PanicHasNoTrapKindAndInvalidUtf8IsReplaced) {
  runtime::FailureRecord f;
  f.outcome = Outcome::Panic;
  f.message = std::string("bad \xff\xfe bytes");
  auto j = nlohmann::json::parse(failure_json(f));
  EXPECT_EQ(j["outcome"], "panic");
  EXPECT_TRUE(j["trap_kind"].is_null());
  EXPECT_EQ(j["recovery_action"], "none");
  EXPECT_NE(j["message"].get<std::string>().find("bad"), std::string::npos);
}

TEST(AccessLog, OneJsonLine) {
  AccessEntry e;
  e.request_id = "r1";
  e.remote = "127.0.0.1:5555";
  e.method = "POST";
  e.target = "/x?y=1";
  e.worker = "w";
  e.status = 201;
  e.response_bytes = 12;
  e.duration = std::chrono::milliseconds(2);
  auto j = nlohmann::json::parse(access_json(e));
  EXPECT_EQ(j["event"], "access");
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["target"], "/x?y=1");
  EXPECT_EQ(j["status"], 201);
  EXPECT_EQ(j["bytes"], 12);
  EXPECT_EQ(j["worker"], "w");
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 2.0);
}

TEST(LineSink, AppendsWholeLinesToAFile) {
  rw::testing::ScratchDir dir;
  std::string path = dir.file("lines.log");
  {
    auto sink = LineSink::open(path);
    ASSERT_TRUE(sink.ok());
    sink.value()->write("one");
    sink.value()->write("two");
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "one\ntwo\n");
  EXPECT_FALSE(LineSink::open("/nonexistent-dir/x.log").ok());
}

// Every sample line of the text format: name{labels} value.
void expect_valid_exposition(const std::string& text) {
  std::regex sample(R"([a-z_]+(\{([a-z_]+="(\\.|[^"\\])*",?)*\})? [0-9.e+-]+)");
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
  }
}

TEST(Metrics, CountsAndHistogram) {
  Metrics m({"a", "b\"q"});
  m.record(0, 200, std::chrono::microseconds(50), nullptr);
  m.record(0, 200, std::chrono::milliseconds(3), nullptr);
  runtime::FailureRecord panic;
  panic.outcome = Outcome::Panic;
  panic.action = "none";
  m.record(0, 500, std::chrono::milliseconds(1), &panic);
  auto abort = abort_record();
  m.record(0, 500, std::chrono::milliseconds(1), &abort);
  abort.trap = TrapKind::CpuLimit;
  abort.action = "rollback";
  m.record(1, 503, std::chrono::seconds(20), &abort);
  m.record_rejected(0, 413);
  m.record_rejected(-1, 404);
  std::string text = m.render();
  expect_valid_exposition(text);
  auto has = [&](const std::string& line) {
    EXPECT_NE(text.find(line + "\n"), std::string::npos) << "missing: " << line << "\n" << text;
  };
  has("# TYPE rewind_requests_total counter");
  has("rewind_requests_total{worker=\"a\",status=\"200\"} 2");
  has("rewind_requests_total{worker=\"a\",status=\"500\"} 2");
  has("rewind_requests_total{worker=\"a\",status=\"413\"} 1");
  has("rewind_requests_total{worker=\"b\\\"q\",status=\"503\"} 1");
  has("rewind_unrouted_requests_total{status=\"404\"} 1");
  has("rewind_rejected_requests_total{worker=\"a\"} 1");
  has("rewind_panics_total{worker=\"a\"} 1");
  has("rewind_panics_total{worker=\"b\\\"q\"} 0");
  has("rewind_aborts_total{worker=\"a\",kind=\"unreachable\"} 1");
  has("rewind_aborts_total{worker=\"b\\\"q\",kind=\"cpu_limit\"} 1");
  has("rewind_recoveries_total{worker=\"a\",action=\"reset\"} 1");
  has("rewind_recoveries_total{worker=\"b\\\"q\",action=\"rollback\"} 1");
  has("# TYPE rewind_request_duration_seconds histogram");
  has("rewind_request_duration_seconds_bucket{worker=\"a\",le=\"0.0001\"} 1");
  has("rewind_request_duration_seconds_bucket{worker=\"a\",le=\"0.001\"} 3");
  has("rewind_request_duration_seconds_bucket{worker=\"a\",le=\"0.005\"} 4");
  has("rewind_request_duration_seconds_bucket{worker=\"a\",le=\"+Inf\"} 4");
  has("rewind_request_duration_seconds_count{worker=\"a\"} 4");
  has("rewind_request_duration_seconds_bucket{worker=\"b\\\"q\",le=\"10\"} 0");
  has("rewind_request_duration_seconds_bucket{worker=\"b\\\"q\",le=\"+Inf\"} 1");
  has("rewind_request_duration_seconds_sum{worker=\"a\"} 0.00505");
}

}  // namespace
}  // namespace rw::server

namespace rw::server {
namespace {

TEST(FailureLog, DeepBacktracesAreCut) {
  runtime::FailureRecord f;
  f.outcome = Outcome::Abort;
  f.trap = TrapKind::StackOverflow;
  for (uint32_t i = 0; i < 5000; ++i) f.backtrace.push_back({i, "deep", i});
  std::string line = failure_json(f);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["backtrace"].size(), 32u);
  EXPECT_EQ(j["backtrace"][0]["func_index"], 0);
  EXPECT_EQ(j["backtrace_omitted"], 5000 - 32);
  EXPECT_LT(line.size(), 4096u);
}

}  // namespace
}  // namespace rw::server
