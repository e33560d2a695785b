// Durable object storage: acknowledged writes per second and commit latency.
//
// One "write" is one call's transaction (one put of a 100-byte value under a fresh key) that
// commit() has made durable. Each object is driven by its own thread, one call at a time, as the
// runtime serialises calls to an object; "objects" is therefore also the number of concurrent
// calls. Arguments: group commit (0/1), objects, sync (1 = FULL, 0 = NORMAL).
//
// The database goes to $REWIND_BENCH_DIR (default $TMPDIR or /tmp), so the disk under test can
// be chosen. Run: durable_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "rewind/durable.h"

namespace {

using namespace rw::durable;
using Clock = std::chrono::steady_clock;

std::string scratch_dir() {
  const char* base = getenv("REWIND_BENCH_DIR");
  if (!base || !*base) base = getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/rewind-durable-bench-XXXXXX";
  if (!mkdtemp(pattern.data())) return {};
  return pattern;
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t index = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

void BM_DurableWrites(benchmark::State& state) {
  const bool grouped = state.range(0) != 0;
  const int objects = static_cast<int>(state.range(1));
  const bool full = state.range(2) != 0;
  // Enough commits per iteration that thread start-up is noise next to the syncs.
  const int calls_per_object = std::max(4, 200 / objects);

  std::string dir = scratch_dir();
  if (dir.empty()) {
    state.SkipWithError("cannot create a scratch directory");
    return;
  }
  StorageOptions options;
  options.path = dir + "/ns.db";
  options.group_commit = grouped;
  options.sync = full ? Sync::Full : Sync::Normal;
  auto opened = Storage::open(options);
  if (!opened.ok()) {
    state.SkipWithError(opened.error().message.c_str());
    return;
  }
  std::shared_ptr<Storage> storage = opened.value();
  const std::string value(100, 'v');

  std::vector<std::vector<double>> latencies(static_cast<size_t>(objects));
  std::atomic<bool> failed{false};
  uint64_t next_key = 0;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int o = 0; o < objects; ++o) {
      threads.emplace_back([&, o, base = next_key] {
        std::string id = "object-" + std::to_string(o);
        auto& mine = latencies[static_cast<size_t>(o)];
        for (int i = 0; i < calls_per_object; ++i) {
          Transaction tx = storage->begin(id);
          tx.put("key-" + std::to_string(base + static_cast<uint64_t>(i)), value);
          auto start = Clock::now();
          if (!tx.commit().ok()) failed = true;
          mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        }
      });
    }
    for (auto& t : threads) t.join();
    next_key += static_cast<uint64_t>(calls_per_object);
  }
  if (failed) state.SkipWithError("a commit failed");

  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  StorageStats stats = storage->stats();
  state.SetItemsProcessed(static_cast<int64_t>(stats.commits));
  state.counters["writes_per_s"] =
      benchmark::Counter(static_cast<double>(stats.commits), benchmark::Counter::kIsRate);
  state.counters["p50_us"] = percentile(all, 0.50);
  state.counters["p99_us"] = percentile(all, 0.99);
  state.counters["calls_per_sync"] =
      stats.batches ? static_cast<double>(stats.commits) / static_cast<double>(stats.batches) : 0;
  storage.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

void Arguments(benchmark::internal::Benchmark* b) {
  b->ArgNames({"group", "objects", "full"});
  for (int full : {1, 0})
    for (int group : {0, 1})
      for (int objects : {1, 10, 100}) b->Args({group, objects, full});
}

BENCHMARK(BM_DurableWrites)
    ->Apply(Arguments)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0);

// Reads inside a call: a get of a committed key, and a list of 100 entries, from one object of
// 10,000 keys (100-byte values), with a few of the call's own writes to merge.
class ReadFixture {
 public:
  ReadFixture() {
    dir_ = scratch_dir();
    StorageOptions options;
    options.path = dir_ + "/ns.db";
    storage_ = Storage::open(options).value();
    Transaction tx = storage_->begin("object");
    for (int i = 0; i < 10000; ++i) tx.put(key(i), std::string(100, 'v'));
    (void)tx.commit();
  }
  ~ReadFixture() {
    storage_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  static std::string key(int i) {
    char buf[16];
    snprintf(buf, sizeof buf, "key-%06d", i);
    return buf;
  }
  Storage& storage() { return *storage_; }

 private:
  std::string dir_;
  std::shared_ptr<Storage> storage_;
};

void BM_Get(benchmark::State& state) {
  ReadFixture fixture;
  Transaction tx = fixture.storage().begin("object");
  tx.put(ReadFixture::key(5), "own write");
  int i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(tx.get(ReadFixture::key(i)));
    i = (i + 7919) % 10000;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Get);

void BM_List100(benchmark::State& state) {
  ReadFixture fixture;
  Transaction tx = fixture.storage().begin("object");
  for (int i = 0; i < 10000; i += 50) tx.remove(ReadFixture::key(i));
  ListOptions list;
  list.prefix = "key-00";
  list.limit = 100;
  for (auto _ : state) benchmark::DoNotOptimize(tx.list(list));
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_List100);

}  // namespace

BENCHMARK_MAIN();
