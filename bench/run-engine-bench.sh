#!/usr/bin/env bash
# Builds the engine benchmarks (Release), runs the node (V8) baseline and rewind on the same
# kernels, and prints a comparison table plus the call and module-loading figures.
# Usage: bench/run-engine-bench.sh [build-dir]   (default: build-release)
# Env: MIN_TIME (seconds per benchmark, default 0.5), JOBS (default 2), FILTER (rewind benchmark
# regex, default all).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-release}
min_time=${MIN_TIME:-0.5}
jobs=${JOBS:-2}
out=$(mktemp -d /tmp/rewind-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_BUILD_TYPE=Release -DREWIND_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j "$jobs" --target engine_bench bench_kernels >/dev/null

echo "== node $(node --version) baseline" >&2
timeout 300 node "$root/bench/node/kernels.mjs" "$build/bench/kernels" --min-time "$min_time" >"$out/node.json"

echo "== rewind" >&2
timeout 600 "$build/bench/engine_bench" --benchmark_min_time="$min_time" \
  --benchmark_filter="${FILTER:-.}" --benchmark_format=json >"$out/rewind.json"

node --input-type=module - "$out/node.json" "$out/rewind.json" <<'JS'
import fs from 'node:fs';
const [nodeFile, rewindFile] = process.argv.slice(2);
const v8 = JSON.parse(fs.readFileSync(nodeFile, 'utf8'));
const rewind = JSON.parse(fs.readFileSync(rewindFile, 'utf8'));
const toNs = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };
const byName = {};
for (const b of rewind.benchmarks) {
  byName[b.name] = b.error_occurred
    ? { error: b.error_message }
    : { ns: b.cpu_time * toNs[b.time_unit], wall: b.real_time * toNs[b.time_unit] };
}
const fmt = (ns) => ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(1)} us` : `${ns.toFixed(1)} ns`;
const pad = (s, n) => String(s).padEnd(n);
// CPU time (per thread for rewind, per process for node) is the headline figure since the machine
// may be shared; wall-clock medians follow in brackets.
console.log(`${pad('kernel', 10)}${pad('rewind cpu', 12)}${pad('node cpu', 12)}${pad('ratio', 8)}${pad('[rewind wall', 14)}${pad('node wall', 12)}ratio]`);
for (const [name, baseline] of Object.entries(v8)) {
  const r = byName[`kernel/${name}`];
  if (!r) { console.log(`${pad(name, 10)}(not run)`); continue; }
  if (r.error) { console.log(`${pad(name, 10)}error: ${r.error}`); continue; }
  const ratio = r.ns / baseline.cpu_ns_per_run;
  const wallRatio = r.wall / baseline.ns_per_run;
  console.log(`${pad(name, 10)}${pad(fmt(r.ns), 12)}${pad(fmt(baseline.cpu_ns_per_run), 12)}` +
    `${pad(ratio.toFixed(1) + 'x', 8)}[${pad(fmt(r.wall), 13)}${pad(fmt(baseline.ns_per_run), 12)}` +
    `${wallRatio.toFixed(1)}x]${ratio > 4 ? '  over the 4x target' : ''}`);
}
console.log('');
console.log('(targets: kernels <= 4x node; calls < 50 ns; instantiate < 1 ms)');
const rows = [
  ['call/nop', 'host->guest call, () -> ()', 50],
  ['call/add_i32', 'host->guest call, (i32, i32) -> i32', 50],
  ['load_1mib/decode', '1 MiB of code: decode', null],
  ['load_1mib/validate', '1 MiB of code: validate', null],
  ['load_1mib/decode_validate', '1 MiB of code: Module::from_binary', null],
  ['load_1mib/instantiate', '1 MiB of code: new Store + instantiate', 1e6],
  ['load_1mib/load_and_first_call_64_deep', '1 MiB of code: load + first call (64 functions)', null],
];
for (const [name, label, target] of rows) {
  const r = byName[name];
  const value = !r ? '(not run)' : r.error ? `error: ${r.error}` : `${fmt(r.ns)} cpu, ${fmt(r.wall)} wall`;
  const goal = target === null ? '' : `  (target < ${fmt(target)})`;
  console.log(`${pad(label, 50)}${value}${goal}`);
}
JS
