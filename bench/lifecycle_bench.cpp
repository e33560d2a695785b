// Lifecycle benchmarks (docs/lifecycle.md): reset, rollback, checkpoint overhead, spawn, and the
// two write-tracking mechanisms considered (software dirty stamps vs page protection faults).
//
// Where a target is a ratio, the baseline runs in the same binary and the same run:
//   BM_TrivialCall/plain            vs BM_TrivialCall/checkpointed (and /worker)
//   BM_StoreLoop/untracked          vs BM_StoreLoop/tracked, BM_StoreLoop/checkpointed
//   BM_Sieve/untracked              vs BM_Sieve/checkpointed
//   BM_Reset/1MiB                   vs BM_Reset/64MiB
// Timed sections that are a few microseconds use manual timing around exactly the operation
// (thread CPU time; see clock_type). Compare the CPU column for the others on a loaded machine.

#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "rewind/engine.h"
#include "rewind/lifecycle.h"
#include "rewind/worker.h"

namespace {

using namespace rw;
// Manual timings use the thread's CPU time (page faults and syscalls included), not wall time:
// the benchmark machine is shared, and preemption would otherwise dominate microsecond figures.
struct clock_type {
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<clock_type, duration>;
  static time_point now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return time_point(duration(int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec));
  }
};

// `pages` wasm pages of memory, all initialised with non-zero bytes by a data segment-free init
// export (so the image has no holes), and exports to dirty memory and to do trivial work.
std::string module_text(uint32_t pages) {
  return R"(
(module
  (memory (export "mem") )" +
         std::to_string(pages) + R"( 65536)
  (global $g (mut i32) (i32.const 0))
  (func (export "init") (memory.fill (i32.const 0) (i32.const 0x5a) (i32.mul (memory.size) (i32.const 65536))))
  ;; One i32 store in each of n 4 KiB pages, `stride` bytes apart.
  (func (export "dirty") (param $n i32) (param $stride i32)
    (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.mul (local.get $i) (local.get $stride)) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
  (func (export "trivial") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  ;; Store-heavy: n i32 stores over a 64 KiB window (16 pages), like a hot data structure.
  (func (export "store_loop") (param $n i32)
    (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.and (i32.shl (local.get $i) (i32.const 2)) (i32.const 0xfffc)) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))))
)";
}

struct Env {
  std::unique_ptr<Store> store = std::make_unique<Store>();
  Instance* inst = nullptr;
  std::shared_ptr<const Snapshot> snap;
  std::unique_ptr<Lifecycle> life;

  Env(uint32_t pages, bool attach, LifecycleOptions options = {}) {
    auto module = Module::from_text(module_text(pages));
    if (!module.ok()) std::abort();
    inst = store->instantiate(module.value(), {}).value();
    call("init", {});
    if (!attach) return;
    snap = Snapshot::capture(*inst).value();
    life = Lifecycle::attach(*inst, snap, options).value();
  }
  ~Env() { life.reset(); }
  CallResult call(const char* name, std::vector<rw::Value> args) {
    return store->call(*inst->get_function(name), args);
  }
};

rw::Value I32(int32_t v) { return rw::Value::make_i32(v); }

// Reset after a call dirtied `dirty` 4 KiB pages spread over the memory.
void BM_Reset(benchmark::State& state) {
  uint32_t pages = static_cast<uint32_t>(state.range(0));
  uint32_t dirty = static_cast<uint32_t>(state.range(1));
  LifecycleOptions options;
  options.drop_run_pages = state.range(2) ? 1 : 1u << 30;  // 1: drop (madvise) every run
  Env env(pages, true, options);
  uint32_t bytes = pages * rw::kPageSize;
  int32_t stride = static_cast<int32_t>(bytes / dirty);
  for (auto _ : state) {
    env.call("dirty", {I32(static_cast<int32_t>(dirty)), I32(stride)});
    auto t0 = clock_type::now();
    env.life->reset();
    auto t1 = clock_type::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  state.SetLabel(std::to_string(bytes >> 20) + " MiB, " + std::to_string(dirty) + " pages, " +
                 (state.range(2) ? "drop" : "copy"));
}
BENCHMARK(BM_Reset)
    ->ArgNames({"wasm_pages", "dirty4k", "drop"})
    ->Args({16, 16, 0})
    ->Args({1024, 16, 0})
    ->Args({16, 16, 1})
    ->Args({1024, 16, 1})
    ->Args({1024, 256, 0})
    ->Args({1024, 256, 1})
    ->UseManualTime();

// The whole cycle: the dirtying call plus the reset (with drop, the next call pays the faults).
void BM_ResetCycle(benchmark::State& state) {
  LifecycleOptions options;
  options.drop_run_pages = state.range(1) ? 1 : 1u << 30;
  Env env(static_cast<uint32_t>(state.range(0)), true, options);
  int32_t stride = static_cast<int32_t>(state.range(0) * rw::kPageSize / 16);
  for (auto _ : state) {
    env.call("dirty", {I32(16), I32(stride)});
    env.life->reset();
  }
  state.SetLabel(state.range(1) ? "drop" : "copy");
}
BENCHMARK(BM_ResetCycle)
    ->ArgNames({"wasm_pages", "drop"})
    ->Args({16, 0})
    ->Args({16, 1})
    ->Args({1024, 0})
    ->Args({1024, 1});

// For comparison: what a runtime without snapshots does: a fresh store, instantiate, initialise.
void BM_FreshInstance(benchmark::State& state) {
  uint32_t pages = static_cast<uint32_t>(state.range(0));
  auto module = Module::from_text(module_text(pages)).value();
  for (auto _ : state) {
    Store store;
    Instance* inst = store.instantiate(module, {}).value();
    store.call(*inst->get_function("init"), {});
    benchmark::DoNotOptimize(inst);
  }
}
BENCHMARK(BM_FreshInstance)->Arg(16)->Arg(1024);

// Rollback of a call that dirtied `dirty` pages.
void BM_Rollback(benchmark::State& state) {
  Env env(16, true);
  int32_t dirty = static_cast<int32_t>(state.range(0));
  for (auto _ : state) {
    env.life->checkpoint();
    env.call("dirty", {I32(dirty), I32(4096 * 3)});
    auto t0 = clock_type::now();
    env.life->rollback();
    auto t1 = clock_type::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
}
BENCHMARK(BM_Rollback)->Arg(4)->Arg(64)->UseManualTime();

// Checkpoint + commit alone, the per-call price of rollback mode when nothing fails.
void BM_CheckpointCommit(benchmark::State& state) {
  Env env(16, true);
  for (auto _ : state) {
    env.life->checkpoint();
    env.life->commit();
  }
}
BENCHMARK(BM_CheckpointCommit);

// A trivial call: plain, with checkpoint/commit around it, and through a worker in rollback mode
// (checkpoint per call) and in reset mode (none).
void BM_TrivialCall(benchmark::State& state) {
  int mode = static_cast<int>(state.range(0));
  std::unique_ptr<Env> env;
  std::unique_ptr<WorkerInstance> worker;
  if (mode >= 2) {
    WorkerOptions o;  // mode 3: the default policy (reset on abort, keep on panic): no checkpoint
    if (mode == 2) {
      o.policy.on_abort = RecoveryPolicy::OnAbort::Rollback;
      o.policy.on_panic = RecoveryPolicy::OnPanic::Rollback;
    }
    worker = WorkerInstance::create(Module::from_text(module_text(16)).value(), o).value();
  } else {
    env = std::make_unique<Env>(16, mode == 1);
  }
  Function f =
      mode >= 2 ? *worker->instance().get_function("trivial") : *env->inst->get_function("trivial");
  rw::Value arg = I32(1);
  std::span<const rw::Value> args(&arg, 1);
  for (auto _ : state) {
    if (mode == 0) {
      benchmark::DoNotOptimize(env->store->call(f, args));
    } else if (mode == 1) {
      env->life->checkpoint();
      CallResult r = env->store->call(f, args);
      r.ok() ? env->life->commit() : void(env->life->rollback());
      benchmark::DoNotOptimize(r);
    } else {
      benchmark::DoNotOptimize(worker->call(f, args));
    }
  }
  state.SetLabel(mode == 0   ? "plain"
                 : mode == 1 ? "checkpointed"
                 : mode == 2 ? "worker(rollback mode)"
                             : "worker(reset mode)");
}
BENCHMARK(BM_TrivialCall)->ArgName("mode")->Arg(0)->Arg(1)->Arg(2)->Arg(3);

// Store-heavy guest loop: untracked memory, tracked (reset mode: no checkpoint), checkpointed.
void BM_StoreLoop(benchmark::State& state) {
  int mode = static_cast<int>(state.range(0));
  Env env(16, mode != 0);
  Function f = *env.inst->get_function("store_loop");
  rw::Value arg = I32(100000);
  std::span<const rw::Value> args(&arg, 1);
  for (auto _ : state) {
    if (mode == 2) env.life->checkpoint();
    benchmark::DoNotOptimize(env.store->call(f, args));
    if (mode == 2) env.life->commit();
  }
  state.SetItemsProcessed(state.iterations() * 100000);
  state.SetLabel(mode == 0 ? "untracked" : mode == 1 ? "tracked" : "checkpointed");
}
BENCHMARK(BM_StoreLoop)->ArgName("mode")->Arg(0)->Arg(1)->Arg(2);

// The sieve kernel (bench/kernels/sieve.c, n = 1M: about 3.5M byte stores over 1 MiB).
void BM_Sieve(benchmark::State& state) {
  std::ifstream in(REWIND_BINARY_DIR "/bench/kernels/sieve.wasm", std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  auto module = Module::from_binary(bytes);
  if (!module.ok()) {
    state.SkipWithError("sieve.wasm not found (build bench_kernels; needs clang-22)");
    return;
  }
  int mode = static_cast<int>(state.range(0));
  Store store;
  Instance* inst = store.instantiate(module.value(), {}).value();
  std::unique_ptr<Lifecycle> life;
  if (mode != 0) life = Lifecycle::attach(*inst, Snapshot::capture(*inst).value()).value();
  Function run = *inst->get_function("run");
  rw::Value arg = I32(1000000);
  std::span<const rw::Value> args(&arg, 1);
  for (auto _ : state) {
    if (mode == 2) life->checkpoint();
    CallResult r = store.call(run, args);
    if (mode == 2) life->commit();
    if (!r.ok() || r.values.at(0).as_i32() != 78498) state.SkipWithError("wrong result");
  }
  state.SetLabel(mode == 0 ? "untracked" : mode == 1 ? "tracked" : "checkpointed");
  life.reset();
}
BENCHMARK(BM_Sieve)->ArgName("mode")->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

// A new instance from a snapshot (store, link, map the image, apply globals and tables).
void BM_Spawn(benchmark::State& state) {
  Env env(static_cast<uint32_t>(state.range(0)), true);
  for (auto _ : state) {
    auto t0 = clock_type::now();
    auto s = rw::spawn(env.snap, nullptr);
    auto t1 = clock_type::now();
    if (!s.ok()) state.SkipWithError("spawn failed");
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
}
BENCHMARK(BM_Spawn)->Arg(16)->Arg(1024)->UseManualTime();

// Spawn plus the first call (which faults the touched pages in from the image).
void BM_SpawnAndCall(benchmark::State& state) {
  Env env(16, true);
  for (auto _ : state) {
    auto s = rw::spawn(env.snap, nullptr);
    rw::Value a[2] = {I32(4), I32(4096)};
    benchmark::DoNotOptimize(s->store->call(*s->instance->get_function("dirty"), a));
  }
}
BENCHMARK(BM_SpawnAndCall);

// The alternative write-tracking mechanism: page protection. Every first write to a page takes a
// SIGSEGV, whose handler records the page and unprotects it; a checkpoint re-protects.
uint8_t* g_region = nullptr;
size_t g_region_bytes = 0;
void on_segv(int, siginfo_t* info, void*) {
  auto* p = static_cast<uint8_t*>(info->si_addr);
  if (p < g_region || p >= g_region + g_region_bytes) std::abort();
  uintptr_t page = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095};
  mprotect(reinterpret_cast<void*>(page), 4096, PROT_READ | PROT_WRITE);
}

void BM_PageProtectFirstWrite(benchmark::State& state) {
  const size_t pages = static_cast<size_t>(state.range(0));
  g_region_bytes = pages * 4096;
  g_region = static_cast<uint8_t*>(
      mmap(nullptr, g_region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  std::memset(g_region, 1, g_region_bytes);
  struct sigaction sa = {}, old = {};
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, &old);
  for (auto _ : state) {
    auto t0 = clock_type::now();
    mprotect(g_region, g_region_bytes, PROT_READ);                  // the checkpoint
    for (size_t i = 0; i < pages; ++i) g_region[i * 4096 + 8] = 2;  // first writes: faults
    auto t1 = clock_type::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  sigaction(SIGSEGV, &old, nullptr);
  munmap(g_region, g_region_bytes);
  state.SetLabel("checkpoint + first write to each of " + std::to_string(pages) + " pages");
}
BENCHMARK(BM_PageProtectFirstWrite)->Arg(4)->Arg(16)->UseManualTime();

// The software equivalent: checkpoint + the same first writes through the engine's store path
// (each pays one stamp check and one pre-image copy), measured from the host.
void BM_SoftwareFirstWrite(benchmark::State& state) {
  const uint32_t pages = static_cast<uint32_t>(state.range(0));
  Env env(16, true);
  Memory mem = *env.inst->get_memory("mem");
  uint8_t two = 2;
  for (auto _ : state) {
    auto t0 = clock_type::now();
    env.life->checkpoint();
    for (uint32_t i = 0; i < pages; ++i) mem.write(i * 4096 + 8, std::span<const uint8_t>(&two, 1));
    auto t1 = clock_type::now();
    env.life->commit();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
}
BENCHMARK(BM_SoftwareFirstWrite)->Arg(4)->Arg(16)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
