// as_worker: a namespace behind runtime::Worker, as a prefix-routing server would use it.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "objects_test_util.h"
#include "rewind/objects.h"

namespace rw::objects {
namespace {

using testing::request;

const std::string kBank = std::string(REWIND_BINARY_DIR) + "/examples/bank.wasm";

class WorkerAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kBank)) GTEST_SKIP() << kBank << " was not built";
    NamespaceConfig config;
    config.name = "bank";
    config.module_path = kBank;
    config.db_path = dir_.file("bank.db");
    config.concurrency = 7;
    auto ns = Namespace::create(config);
    ASSERT_TRUE(ns.ok()) << ns.error().message;
    ns_ = ns.value();
    worker_ = as_worker(ns_);
    worker_->on_log = [](const runtime::LogRecord&) {};
  }

  int status(const std::string& method, const std::string& target) {
    return worker_->handle(request(method, target)).response.status;
  }

  testing::ScratchDir dir_;
  std::shared_ptr<Namespace> ns_;
  std::shared_ptr<runtime::Worker> worker_;
};

TEST_F(WorkerAdapterTest, RoutesByTheFirstPathSegment) {
  EXPECT_EQ(status("POST", "/acme/deposit?account=a&amount=5"), 200);
  auto r = worker_->handle(request("GET", "/acme/balance?account=a"));
  EXPECT_EQ(r.response.body, "{\"account\":\"a\",\"balance\":5}\n");
  // Percent-decoded ids: "acme%2Fx" is the object "acme/x", not "acme".
  EXPECT_EQ(status("GET", "/acme%2Fx/balance?account=a"), 404);
  EXPECT_EQ(status("POST", "/acme%2fx/deposit?account=a&amount=1"), 200);
  durable::Transaction tx = ns_->storage()->begin("acme/x");
  EXPECT_EQ(tx.get("acct/a"), "1");
  // "/acme" and "/acme?x" reach the object as "/" and "/?x" (the bank answers 404 there).
  EXPECT_EQ(worker_->handle(request("GET", "/acme")).response.body, "{\"error\":\"not_found\"}\n");
  EXPECT_EQ(status("GET", "/acme?x=1"), 404);
  EXPECT_EQ(ns_->stats().ok, 6u);
}

TEST_F(WorkerAdapterTest, TargetsWithoutAnIdAre400) {
  for (const char* target : {"/", "", "//balance", "/?x", "/%zz/x", "/%4/x", "/ab%"}) {
    auto r = worker_->handle(request("GET", target));
    EXPECT_EQ(r.response.status, 400) << target;
    EXPECT_NE(r.response.body.find("bad_object_id"), std::string::npos) << target;
  }
  EXPECT_EQ(ns_->stats().spawns, 0u);
}

TEST_F(WorkerAdapterTest, StatsConfigHooksAndDrain) {
  EXPECT_EQ(worker_->config().name, "bank");
  EXPECT_EQ(worker_->config().instances, 7u);
  EXPECT_EQ(worker_->config().on_abort, runtime::AbortMode::Rollback);
  std::vector<runtime::FailureRecord> failures;
  worker_->on_failure = [&](const runtime::FailureRecord& r) { failures.push_back(r); };
  ASSERT_EQ(status("POST", "/b1/deposit?account=a&amount=5"), 200);
  auto failed = worker_->handle(request("POST", "/b1/transfer?from=a&to=b&amount=1&fail=abort"));
  EXPECT_EQ(failed.response.status, 500);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].worker, "bank/b1");
  runtime::WorkerStats stats = worker_->stats();
  EXPECT_EQ(stats.requests, 2u);
  EXPECT_EQ(stats.ok, 1u);
  EXPECT_EQ(stats.aborts, 1u);
  EXPECT_EQ(stats.aborts_by_kind["unreachable"], 1u);
  EXPECT_EQ(stats.recoveries, 1u);
  worker_->drain();
  EXPECT_EQ(status("GET", "/b1/balance?account=a"), 503);
}

}  // namespace
}  // namespace rw::objects
