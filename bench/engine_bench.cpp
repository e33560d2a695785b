// Engine benchmarks: compute kernels (bench/kernels/*.c compiled to wasm32), the cost of one
// host-to-guest call, and loading a module with about 1 MiB of code (decode, validate,
// instantiate: function bodies are compiled lazily, so none of this should depend much on the
// amount of code).
//
// The kernel list (name, n, expected result) is bench/kernels/kernels.txt, shared with
// bench/node/kernels.mjs. bench/run-engine-bench.sh runs both and compares.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "rewind/engine.h"
#include "wasm/decoder/decoder.h"
#include "wasm/validator/validator.h"

namespace {

// ---------------------------------------------------------------------------------------------
// A minimal binary-format writer for the generated modules.

struct Bytes {
  std::vector<uint8_t> data;

  void u8(uint8_t b) { data.push_back(b); }
  void uleb(uint64_t v) {
    do {
      uint8_t b = v & 0x7f;
      v >>= 7;
      if (v) b |= 0x80;
      data.push_back(b);
    } while (v);
  }
  void sleb(int64_t v) {
    for (;;) {
      uint8_t b = v & 0x7f;
      v >>= 7;
      bool done = (v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40));
      data.push_back(done ? b : (b | 0x80));
      if (done) return;
    }
  }
  void name(const std::string& s) {
    uleb(s.size());
    data.insert(data.end(), s.begin(), s.end());
  }
  void append(const Bytes& other) { data.insert(data.end(), other.data.begin(), other.data.end()); }
  void section(uint8_t id, const Bytes& contents) {
    u8(id);
    uleb(contents.data.size());
    append(contents);
  }
};

Bytes module_header() {
  Bytes m;
  for (uint8_t b : {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}) m.u8(b);
  return m;
}

constexpr uint8_t kI32 = 0x7f;

// (func (export "nop")) and (func (export "add") (param i32 i32) (result i32))
std::vector<uint8_t> call_module() {
  Bytes m = module_header();
  Bytes types;
  types.uleb(2);
  types.u8(0x60), types.uleb(0), types.uleb(0);
  types.u8(0x60), types.uleb(2), types.u8(kI32), types.u8(kI32), types.uleb(1), types.u8(kI32);
  m.section(1, types);
  Bytes funcs;
  funcs.uleb(2), funcs.uleb(0), funcs.uleb(1);
  m.section(3, funcs);
  Bytes exports;
  exports.uleb(2);
  exports.name("nop"), exports.u8(0), exports.uleb(0);
  exports.name("add"), exports.u8(0), exports.uleb(1);
  m.section(7, exports);
  Bytes code;
  code.uleb(2);
  code.uleb(2), code.uleb(0), code.u8(0x0b);
  Bytes add;
  add.uleb(0);
  add.u8(0x20), add.uleb(0), add.u8(0x20), add.uleb(1), add.u8(0x6a), add.u8(0x0b);
  code.uleb(add.data.size()), code.append(add);
  m.section(10, code);
  return m.data;
}

// One function body of the generated large module: a few loops doing arithmetic and memory
// accesses, a conditional, and a call, as compiled C code tends to look.
Bytes generated_body(uint32_t index, uint32_t function_count) {
  Bytes b;
  b.uleb(1), b.uleb(4), b.u8(kI32);              // 4 i32 locals (2..5)
  b.u8(0x20), b.uleb(0), b.u8(0x21), b.uleb(2);  // local2 = p0
  for (uint32_t block = 0; block < 10; ++block) {
    b.u8(0x02), b.u8(0x40);  // block
    b.u8(0x03), b.u8(0x40);  // loop
    // local2 = local2 * K ^ p1
    b.u8(0x20), b.uleb(2), b.u8(0x41),
        b.sleb(static_cast<int32_t>(2654435761u + index * 31 + block)), b.u8(0x6c), b.u8(0x20),
        b.uleb(1), b.u8(0x73), b.u8(0x21), b.uleb(2);
    // local3 += 4; mem[local3 & 1020] = local2
    b.u8(0x20), b.uleb(3), b.u8(0x41), b.sleb(4), b.u8(0x6a), b.u8(0x22), b.uleb(3);
    b.u8(0x41), b.sleb(1020), b.u8(0x71), b.u8(0x20), b.uleb(2), b.u8(0x36), b.uleb(2), b.uleb(0);
    // local4 = local4 + mem[(local3 + 8) & 1020] >> 3
    b.u8(0x20), b.uleb(4), b.u8(0x20), b.uleb(3), b.u8(0x41), b.sleb(8), b.u8(0x6a), b.u8(0x41),
        b.sleb(1020), b.u8(0x71), b.u8(0x28), b.uleb(2), b.uleb(0), b.u8(0x41), b.sleb(3),
        b.u8(0x76), b.u8(0x6a), b.u8(0x21), b.uleb(4);
    // if (local4 & 1) local5 = local5 - local2 else local5 = local5 + 1
    b.u8(0x20), b.uleb(4), b.u8(0x41), b.sleb(1), b.u8(0x71);
    b.u8(0x04), b.u8(0x40);
    b.u8(0x20), b.uleb(5), b.u8(0x20), b.uleb(2), b.u8(0x6b), b.u8(0x21), b.uleb(5);
    b.u8(0x05);
    b.u8(0x20), b.uleb(5), b.u8(0x41), b.sleb(1), b.u8(0x6a), b.u8(0x21), b.uleb(5);
    b.u8(0x0b);
    // br_if 0 while local3 < 64 * (block + 1)
    b.u8(0x20), b.uleb(3), b.u8(0x41), b.sleb(64 * (block + 1)), b.u8(0x49), b.u8(0x0d), b.uleb(0);
    b.u8(0x0b);  // end loop
    b.u8(0x0b);  // end block
  }
  // return call(next, local2, local5) + local4
  b.u8(0x20), b.uleb(2), b.u8(0x20), b.uleb(5), b.u8(0x10),
      b.uleb((index * 7 + 1) % function_count);
  b.u8(0x20), b.uleb(4), b.u8(0x6a);
  b.u8(0x0b);
  return b;
}

// A module with `function_count` functions of about 890 bytes each, one memory, and an export of
// the first function.
std::vector<uint8_t> large_module(uint32_t function_count) {
  Bytes m = module_header();
  Bytes types;
  types.uleb(1);
  types.u8(0x60), types.uleb(2), types.u8(kI32), types.u8(kI32), types.uleb(1), types.u8(kI32);
  m.section(1, types);
  Bytes funcs;
  funcs.uleb(function_count);
  for (uint32_t i = 0; i < function_count; ++i) funcs.uleb(0);
  m.section(3, funcs);
  Bytes memory;
  memory.uleb(1), memory.u8(0x00), memory.uleb(1);
  m.section(5, memory);
  Bytes exports;
  exports.uleb(1);
  exports.name("f0"), exports.u8(0), exports.uleb(0);
  m.section(7, exports);
  Bytes code;
  code.uleb(function_count);
  for (uint32_t i = 0; i < function_count; ++i) {
    Bytes body = generated_body(i, function_count);
    code.uleb(body.data.size());
    code.append(body);
  }
  m.section(10, code);
  return m.data;
}

const std::vector<uint8_t>& large_module_bytes() {
  // About 1 MiB of code.
  static const std::vector<uint8_t> bytes = large_module(1180);
  return bytes;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

std::shared_ptr<const rw::Module> load(benchmark::State& state, std::span<const uint8_t> bytes) {
  auto module = rw::Module::from_binary(bytes);
  if (!module.ok()) {
    state.SkipWithError(("cannot load module: " + module.error().to_string()).c_str());
    return nullptr;
  }
  return std::move(module).value();
}

// ---------------------------------------------------------------------------------------------
// Kernels

struct Kernel {
  std::string name;
  uint32_t n = 0;
  uint32_t expected = 0;
};

std::vector<Kernel> read_kernels() {
  std::vector<Kernel> kernels;
  std::ifstream in(REWIND_SOURCE_DIR "/bench/kernels/kernels.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Kernel k;
    uint64_t n = 0, expected = 0;
    if (fields >> k.name >> n >> expected) {
      k.n = static_cast<uint32_t>(n);
      k.expected = static_cast<uint32_t>(expected);
      kernels.push_back(k);
    }
  }
  return kernels;
}

void run_kernel(benchmark::State& state, const Kernel& kernel) {
  std::vector<uint8_t> bytes =
      read_file(REWIND_BINARY_DIR "/bench/kernels/" + kernel.name + ".wasm");
  if (bytes.empty()) {
    state.SkipWithError("kernel .wasm not found (build the bench_kernels target; needs clang-22)");
    return;
  }
  auto module = load(state, bytes);
  if (!module) return;
  rw::Store store;
  auto instance = store.instantiate(module, rw::Imports{});
  if (!instance.ok()) {
    state.SkipWithError(("cannot instantiate: " + instance.error().to_string()).c_str());
    return;
  }
  auto run = instance.value()->get_function("run");
  if (!run) {
    state.SkipWithError("kernel exports no run function");
    return;
  }
  rw::Value arg = rw::Value::make_i32(static_cast<int32_t>(kernel.n));
  for (auto _ : state) {
    rw::CallResult result = store.call(*run, {&arg, 1});
    if (!result.ok() || result.values.size() != 1) {
      state.SkipWithError(
          ("run failed: " + std::string(rw::to_string(result.outcome)) + " " + result.message)
              .c_str());
      return;
    }
    if (result.values[0].i32 != kernel.expected) {
      state.SkipWithError(("wrong result " + std::to_string(result.values[0].i32) + ", expected " +
                           std::to_string(kernel.expected))
                              .c_str());
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Calls

void BM_CallNop(benchmark::State& state) {
  std::vector<uint8_t> bytes = call_module();
  auto module = load(state, bytes);
  if (!module) return;
  rw::Store store;
  auto instance = store.instantiate(module, rw::Imports{});
  if (!instance.ok()) return state.SkipWithError(instance.error().to_string().c_str());
  rw::Function nop = *instance.value()->get_function("nop");
  for (auto _ : state) {
    rw::CallResult result = store.call(nop, {});
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_CallNop)->Name("call/nop");

void BM_CallAdd(benchmark::State& state) {
  std::vector<uint8_t> bytes = call_module();
  auto module = load(state, bytes);
  if (!module) return;
  rw::Store store;
  auto instance = store.instantiate(module, rw::Imports{});
  if (!instance.ok()) return state.SkipWithError(instance.error().to_string().c_str());
  rw::Function add = *instance.value()->get_function("add");
  rw::Value args[2] = {rw::Value::make_i32(40), rw::Value::make_i32(2)};
  for (auto _ : state) {
    rw::CallResult result = store.call(add, args);
    if (result.values.empty() || result.values[0].i32 != 42)
      return state.SkipWithError("add returned a wrong result");
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_CallAdd)->Name("call/add_i32");

// ---------------------------------------------------------------------------------------------
// Loading a module with ~1 MiB of code

void BM_LargeDecode(benchmark::State& state) {
  const auto& bytes = large_module_bytes();
  for (auto _ : state) {
    auto module = rw::wasm::decode_module(bytes);
    if (!module.ok()) return state.SkipWithError(module.error().to_string().c_str());
    benchmark::DoNotOptimize(module);
  }
  state.counters["code_bytes"] = static_cast<double>(bytes.size());
}
BENCHMARK(BM_LargeDecode)->Name("load_1mib/decode")->Unit(benchmark::kMicrosecond);

void BM_LargeValidate(benchmark::State& state) {
  const auto& bytes = large_module_bytes();
  auto module = rw::wasm::decode_module(bytes);
  if (!module.ok()) return state.SkipWithError(module.error().to_string().c_str());
  for (auto _ : state) {
    auto valid = rw::wasm::validate_module(module.value());
    if (!valid.ok()) return state.SkipWithError(valid.error().to_string().c_str());
  }
}
BENCHMARK(BM_LargeValidate)->Name("load_1mib/validate")->Unit(benchmark::kMicrosecond);

void BM_LargeFromBinary(benchmark::State& state) {
  const auto& bytes = large_module_bytes();
  for (auto _ : state) {
    auto module = rw::Module::from_binary(bytes);
    if (!module.ok()) return state.SkipWithError(module.error().to_string().c_str());
    benchmark::DoNotOptimize(module);
  }
}
BENCHMARK(BM_LargeFromBinary)->Name("load_1mib/decode_validate")->Unit(benchmark::kMicrosecond);

void BM_LargeInstantiate(benchmark::State& state) {
  const auto& bytes = large_module_bytes();
  auto module = load(state, bytes);
  if (!module) return;
  for (auto _ : state) {
    rw::Store store;
    auto instance = store.instantiate(module, rw::Imports{});
    if (!instance.ok()) return state.SkipWithError(instance.error().to_string().c_str());
    benchmark::DoNotOptimize(instance);
  }
}
BENCHMARK(BM_LargeInstantiate)->Name("load_1mib/instantiate")->Unit(benchmark::kMicrosecond);

// First call into a fresh module: instantiation plus the lazy compilation of the one function
// that runs (and of the function it calls).
void BM_LargeFirstCall(benchmark::State& state) {
  const auto& bytes = large_module_bytes();
  for (auto _ : state) {
    auto module = load(state, bytes);
    if (!module) return;
    rw::Store store(rw::StoreOptions{.limits = {.max_call_depth = 64}});
    auto instance = store.instantiate(module, rw::Imports{});
    if (!instance.ok()) return state.SkipWithError(instance.error().to_string().c_str());
    // The generated functions call each other without end; the depth limit stops the chain.
    rw::Value args[2] = {rw::Value::make_i32(1), rw::Value::make_i32(2)};
    rw::CallResult result = store.call(*instance.value()->get_function("f0"), args);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_LargeFirstCall)
    ->Name("load_1mib/load_and_first_call_64_deep")
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  for (const Kernel& kernel : read_kernels()) {
    benchmark::RegisterBenchmark(("kernel/" + kernel.name).c_str(), [kernel](
                                                                        benchmark::State& state) {
      run_kernel(state, kernel);
    })->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
