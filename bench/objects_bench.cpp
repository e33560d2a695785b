// Durable objects end to end, without HTTP: acknowledged writes per second through
// Namespace::handle (guest call, storage transaction, durable commit before the answer) on one
// object and across many, with the p50/p99 latency of one write. Durability is on
// (synchronous=FULL), so the disk's fsync cost dominates; group commit shares it between
// objects.
//
//   build/bench/objects_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "rewind/objects.h"

namespace {

using Clock = std::chrono::steady_clock;

const std::string kBank = std::string(REWIND_BINARY_DIR) + "/examples/bank.wasm";

// `objects` threads, one per object, each making `calls` deposits.
void BM_ObjectDeposits(benchmark::State& state) {
  const int objects = static_cast<int>(state.range(0));
  const int calls = static_cast<int>(state.range(1));
  if (!std::filesystem::exists(kBank)) {
    state.SkipWithError("examples/bank.wasm not built");
    return;
  }
  auto dir = std::filesystem::temp_directory_path() /
             ("rewind_objects_bench_" + std::to_string(::getpid()));
  for (auto _ : state) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    rw::objects::NamespaceConfig config;
    config.name = "bank";
    config.module_path = kBank;
    config.db_path = (dir / "bank.db").string();
    config.max_live_objects = static_cast<uint32_t>(objects) + 16;
    auto ns = rw::objects::Namespace::create(config);
    if (!ns) {
      state.SkipWithError(ns.error().to_string().c_str());
      return;
    }
    std::vector<std::vector<double>> latencies(static_cast<size_t>(objects));
    std::vector<int> failures(static_cast<size_t>(objects), 0);
    auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int o = 0; o < objects; ++o) {
      threads.emplace_back([&, o] {
        rw::runtime::Request request;
        request.method = "POST";
        request.target = "/deposit?account=a&amount=1";
        for (int i = 0; i < calls; ++i) {
          auto t0 = Clock::now();
          auto r = ns.value()->handle("obj" + std::to_string(o), request);
          latencies[o].push_back(
              std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          if (r.response.status != 200) ++failures[o];
        }
      });
    }
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    state.SetIterationTime(seconds);
    std::vector<double> all;
    int failed = 0;
    for (int o = 0; o < objects; ++o) {
      all.insert(all.end(), latencies[o].begin(), latencies[o].end());
      failed += failures[o];
    }
    std::sort(all.begin(), all.end());
    state.counters["writes_per_s"] = static_cast<double>(all.size()) / seconds;
    state.counters["p50_ms"] = all[all.size() / 2];
    state.counters["p99_ms"] = all[std::min(all.size() - 1, all.size() * 99 / 100)];
    state.counters["failed"] = failed;
    ns.value()->drain();
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ObjectDeposits)
    ->ArgNames({"objects", "calls_each"})
    ->Args({1, 300})
    ->Args({100, 20})
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
