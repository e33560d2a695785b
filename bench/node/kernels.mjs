// Runs the benchmark kernels under node (V8) as the baseline for rewind's figures.
// Usage: node kernels.mjs WASM_DIR [--kernels FILE] [--min-time SECONDS] [--only NAME]
// Prints one JSON object: { "kernel": { "n", "result", "ns_per_run", "cpu_ns_per_run", "runs" } }.
// Each kernel is warmed up first (so V8's optimising tier has compiled it), then timed over
// repeated runs until --min-time has elapsed. ns_per_run is the median wall time of one run;
// cpu_ns_per_run is the process CPU time of the timed loop divided by the runs, which is less
// disturbed by other load on a shared machine.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
let wasmDir = null;
let kernelsFile = path.join(here, '..', 'kernels', 'kernels.txt');
let minTime = 1.0;
let only = null;
for (let i = 0; i < argv.length; ++i) {
  const a = argv[i];
  if (a === '--kernels') kernelsFile = argv[++i];
  else if (a === '--min-time') minTime = Number(argv[++i]);
  else if (a === '--only') only = argv[++i];
  else if (!a.startsWith('--') && wasmDir === null) wasmDir = a;
  else {
    console.error(`kernels.mjs: unexpected argument ${a}`);
    process.exit(2);
  }
}
if (wasmDir === null || !(minTime > 0)) {
  console.error('usage: node kernels.mjs WASM_DIR [--kernels FILE] [--min-time SECONDS] [--only NAME]');
  process.exit(2);
}

const kernels = fs.readFileSync(kernelsFile, 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'))
  .map((line) => {
    const [name, n, expected] = line.split(/\s+/);
    return { name, n: Number(n), expected: Number(expected) };
  })
  .filter((k) => only === null || k.name === only);

const results = {};
let failed = false;
for (const kernel of kernels) {
  const bytes = fs.readFileSync(path.join(wasmDir, `${kernel.name}.wasm`));
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const run = instance.exports.run;
  const check = (value) => {
    const result = value >>> 0;
    if (result !== kernel.expected) {
      console.error(`kernels.mjs: ${kernel.name}(${kernel.n}) returned ${result}, expected ${kernel.expected}`);
      failed = true;
    }
    return result;
  };

  // Warm-up: at least a few runs and a quarter of the measuring time, so tier-up has happened.
  const warmEnd = performance.now() + minTime * 250;
  let result = check(run(kernel.n));
  for (let i = 0; i < 5 || performance.now() < warmEnd; ++i) run(kernel.n);

  const samples = [];
  const cpuStart = process.cpuUsage();
  const end = performance.now() + minTime * 1000;
  while (samples.length < 10 || performance.now() < end) {
    const start = process.hrtime.bigint();
    result = run(kernel.n);
    samples.push(Number(process.hrtime.bigint() - start));
  }
  const cpu = process.cpuUsage(cpuStart);
  check(result);
  samples.sort((a, b) => a - b);
  results[kernel.name] = {
    n: kernel.n,
    result: result >>> 0,
    ns_per_run: samples[Math.floor(samples.length / 2)],
    cpu_ns_per_run: Math.round(((cpu.user + cpu.system) * 1000) / samples.length),
    runs: samples.length,
  };
}
console.log(JSON.stringify(results, null, 2));
process.exit(failed ? 1 : 0);
