// What a failure costs at the host boundary, next to a plain successful call in the same run:
//
// - a panic caught at the boundary: call -> throw -> unwind -> Outcome::Panic (a C guest that
//   throws a static payload, so the figure is the engine's own cost), and the same for a C++
//   guest (exception allocation, personality, a destructor in a cleanup pad, rethrow), alone and
//   with what a host does next (rewind_exception_release, or the full rw::describe_failure);
// - a trap: call -> unreachable -> Outcome::Abort (then clear_terminated, which is what a
//   lifecycle layer's recovery starts with; the recovery itself is benchmarked elsewhere).
//
// The guests are the test guests (tests/guests), built into ${REWIND_BINARY_DIR}/guests. Each
// benchmark reports its time per call and, as the counter `x_ok`, that time divided by the time
// of a plain successful call into the same module (measured once per module before the runs),
// both in thread CPU time. Read the CPU column: the wall-clock one counts other processes.
//
//   build/bench/eh_bench --benchmark_min_time=0.5

#include <benchmark/benchmark.h>
#include <time.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rewind/engine.h"
#include "rewind/guest_support.h"

namespace {

using rw::CallResult;
using rw::Outcome;
using rw::Value;

// Thread CPU time: the machine is shared, and wall time would count other processes.
double cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct Guest {
  std::unique_ptr<rw::Store> store;
  rw::Instance* instance = nullptr;
  rw::Function function(const char* name) const { return *instance->get_function(name); }
};

// Instantiates a test guest (and runs _initialize); instance is null when it was not built.
Guest load(const std::string& file) {
  Guest g;
  const std::string path = std::string(REWIND_BINARY_DIR) + "/guests/" + file;
  if (!std::filesystem::exists(path)) return g;
  auto module = rw::Module::from_file(path);
  if (!module.ok()) return g;
  g.store = std::make_unique<rw::Store>();
  auto instance = g.store->instantiate(module.value(), {});
  if (!instance.ok()) return g;
  g.instance = instance.value();
  if (auto init = g.instance->get_function("_initialize")) {
    if (!g.store->call(*init, {}).ok()) g.instance = nullptr;
  }
  return g;
}

// Nanoseconds per successful call of `name` in a fresh instance of `file` (best of 5 rounds).
double ok_call_ns(const std::string& file, const char* name, std::vector<Value> args) {
  static std::map<std::string, double> cache;
  const std::string key = file + ":" + name;
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  Guest g = load(file);
  if (!g.instance) return 0;
  rw::Function f = g.function(name);
  double best = 1e300;
  constexpr int kCalls = 200'000;
  for (int round = 0; round < 5; ++round) {
    const double start = cpu_ns();
    for (int i = 0; i < kCalls; ++i) benchmark::DoNotOptimize(g.store->call(f, args));
    best = std::min(best, (cpu_ns() - start) / kCalls);
  }
  cache[key] = best;
  return best;
}

// Runs `body` once per iteration and reports x_ok against the module's plain call.
template <class Body>
void measure(benchmark::State& state, double baseline_ns, Body body) {
  const double start = cpu_ns();
  for (auto _ : state) body();
  const double elapsed = cpu_ns() - start;
  if (state.iterations() > 0 && baseline_ns > 0)
    state.counters["x_ok"] = elapsed / static_cast<double>(state.iterations()) / baseline_ns;
}

#define SKIP_IF_MISSING(g, file)                                                \
  if (!(g).instance) {                                                          \
    state.SkipWithError(("guest " + std::string(file) + " not built").c_str()); \
    return;                                                                     \
  }

std::string encoding(const benchmark::State& state) {
  return state.range(0) == 0 ? "legacy" : "exnref";
}

// ---------------------------------------------------------------------------------------------
// Baselines

void BM_OkCall_Cxx(benchmark::State& state) {
  const std::string file = "exceptions." + encoding(state) + ".wasm";
  Guest g = load(file);
  SKIP_IF_MISSING(g, file);
  rw::Function f = g.function("calls");
  double baseline = ok_call_ns(file, "calls", {});
  measure(state, baseline, [&] {
    CallResult r = g.store->call(f, {});
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_OkCall_Cxx)->Arg(0)->Arg(1)->ArgName("exnref");

void BM_OkCall_Traps(benchmark::State& state) {
  Guest g = load("traps.wasm");
  SKIP_IF_MISSING(g, "traps.wasm");
  rw::Function f = g.function("ok");
  const Value arg = Value::make_i32(1);
  double baseline = ok_call_ns("traps.wasm", "ok", {arg});
  measure(state, baseline, [&] {
    CallResult r = g.store->call(f, std::span<const Value>(&arg, 1));
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_OkCall_Traps);

// ---------------------------------------------------------------------------------------------
// Panics

// c_throw: one guest frame, `throw __cpp_exception (static struct address)`, no guest allocation.
void BM_Panic_C(benchmark::State& state) {
  const std::string file = "c_throw." + encoding(state) + ".wasm";
  Guest g = load(file);
  SKIP_IF_MISSING(g, file);
  rw::Function f = g.function("c_throw");
  const Value arg = Value::make_i32(7);
  double baseline = ok_call_ns(file, "c_calls", {});
  measure(state, baseline, [&] {
    CallResult r = g.store->call(f, std::span<const Value>(&arg, 1));
    if (r.outcome != Outcome::Panic) state.SkipWithError("expected a panic");
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_Panic_C)->Arg(0)->Arg(1)->ArgName("exnref");

// throw_escape: std::runtime_error through a destructor's cleanup pad, out of the export; the
// host releases the exception as it must (otherwise every panic leaks it in the guest's heap).
void BM_Panic_Cxx_Release(benchmark::State& state) {
  const std::string file = "exceptions." + encoding(state) + ".wasm";
  Guest g = load(file);
  SKIP_IF_MISSING(g, file);
  rw::Function f = g.function("throw_escape");
  rw::Function release = g.function("rewind_exception_release");
  double baseline = ok_call_ns(file, "calls", {});
  measure(state, baseline, [&] {
    CallResult r = g.store->call(f, {});
    if (r.outcome != Outcome::Panic) state.SkipWithError("expected a panic");
    g.store->call(release, r.exception_payload);
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_Panic_Cxx_Release)->Arg(0)->Arg(1)->ArgName("exnref");

// The same, with the full report a host logs: message, release, backtrace copy.
void BM_Panic_Cxx_Describe(benchmark::State& state) {
  const std::string file = "exceptions." + encoding(state) + ".wasm";
  Guest g = load(file);
  SKIP_IF_MISSING(g, file);
  rw::Function f = g.function("throw_escape");
  double baseline = ok_call_ns(file, "calls", {});
  measure(state, baseline, [&] {
    CallResult r = g.store->call(f, {});
    rw::FailureReport report = rw::describe_failure(*g.instance, r);
    if (report.guest_message != "boom") state.SkipWithError("expected panic(boom)");
    benchmark::DoNotOptimize(report);
  });
}
BENCHMARK(BM_Panic_Cxx_Describe)->Arg(0)->Arg(1)->ArgName("exnref");

// ---------------------------------------------------------------------------------------------
// Traps

void BM_Trap_Unreachable(benchmark::State& state) {
  Guest g = load("traps.wasm");
  SKIP_IF_MISSING(g, "traps.wasm");
  rw::Function f = g.function("trap_unreachable");
  const Value one = Value::make_i32(1);
  double baseline = ok_call_ns("traps.wasm", "ok", {one});
  measure(state, baseline, [&] {
    CallResult r = g.store->call(f, {});
    if (r.outcome != Outcome::Abort) state.SkipWithError("expected an abort");
    g.store->clear_terminated();
    benchmark::DoNotOptimize(r);
  });
}
BENCHMARK(BM_Trap_Unreachable);

// A trap two frames deep (a load out of bounds in `load`), with the abort report.
void BM_Trap_OutOfBounds_Describe(benchmark::State& state) {
  Guest g = load("traps.wasm");
  SKIP_IF_MISSING(g, "traps.wasm");
  rw::Function f = g.function("load");
  const Value address = Value::make_i32(static_cast<int32_t>(0xfffffff0u));
  const Value one = Value::make_i32(1);
  double baseline = ok_call_ns("traps.wasm", "ok", {one});
  measure(state, baseline, [&] {
    CallResult r = g.store->call(f, std::span<const Value>(&address, 1));
    rw::FailureReport report = rw::describe_failure(*g.instance, r);
    if (report.kind != rw::TrapKind::MemoryOutOfBounds) state.SkipWithError("expected oob");
    g.store->clear_terminated();
    benchmark::DoNotOptimize(report);
  });
}
BENCHMARK(BM_Trap_OutOfBounds_Describe);

}  // namespace

BENCHMARK_MAIN();
