#pragma once
// Loading the real test guests (tests/guests, built into ${REWIND_BINARY_DIR}/guests) and calling
// their exports. Tests skip when a guest was not built (toolchain missing).

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/engine.h"
#include "rewind/guest_support.h"
#include "wasm/common/module.h"

namespace rw::eh_test {

// Tests that run the engine on a deliberately small native stack scale it under AddressSanitizer,
// whose instrumented frames (with redzones, in a Debug build) are many times larger. Even scaled,
// the stack is orders of magnitude smaller than native recursion per guest frame would need.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr size_t kNativeStackScale = 16;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr size_t kNativeStackScale = 16;
#else
inline constexpr size_t kNativeStackScale = 1;
#endif
#else
inline constexpr size_t kNativeStackScale = 1;
#endif

inline std::string guest_path(std::string_view file) {
  return std::string(REWIND_BINARY_DIR) + "/guests/" + std::string(file);
}

// Modules are immutable and shareable: load each file once per test binary.
inline std::shared_ptr<const Module> load_guest(std::string_view file) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Module>, std::less<>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(file); it != cache.end()) return it->second;
  const std::string path = guest_path(file);
  if (!std::filesystem::exists(path)) return nullptr;
  auto module = Module::from_file(path);
  if (!module.ok()) {
    ADD_FAILURE() << path << ": " << module.error().to_string();
    return nullptr;
  }
  cache.emplace(std::string(file), module.value());
  return module.value();
}

inline Value i32(int32_t v) { return Value::make_i32(v); }

// One store with one instance of a guest, `_initialize` already run.
struct Guest {
  std::unique_ptr<Store> store;
  Instance* instance = nullptr;

  CallResult call(std::string_view name, std::initializer_list<Value> args = {}) const {
    auto f = instance->get_function(name);
    if (!f) {
      ADD_FAILURE() << "no exported function " << name;
      return {};
    }
    std::vector<Value> a(args);
    return store->call(*f, a);
  }
  // Calls an export that must return one i32.
  int32_t call_i32(std::string_view name, std::initializer_list<Value> args = {}) const {
    CallResult r = call(name, args);
    EXPECT_TRUE(r.ok()) << name << ": " << to_string(r.outcome) << " " << r.message;
    if (!r.ok() || r.values.size() != 1) return INT32_MIN;
    return r.values[0].as_i32();
  }
  uint32_t stack_pointer() const {
    auto sp = find_stack_pointer(*instance);
    EXPECT_TRUE(sp.has_value()) << "no __stack_pointer global";
    return sp ? sp->get().i32 : 0;
  }
};

// Instantiates `file`; returns a Guest with instance == nullptr (after a failure or, when the
// file is missing, without one so the caller can skip).
inline Guest instantiate_guest(std::string_view file, StoreOptions options = {},
                               const std::function<void(Store&, Imports&)>& define_imports = {}) {
  Guest g;
  auto module = load_guest(file);
  if (!module) return g;
  g.store = std::make_unique<Store>(options);
  Imports imports;
  if (define_imports) define_imports(*g.store, imports);
  auto instance = g.store->instantiate(module, imports);
  if (!instance.ok()) {
    ADD_FAILURE() << file << ": " << instance.error().to_string();
    return g;
  }
  g.instance = instance.value();
  if (auto init = g.instance->get_function("_initialize")) {
    CallResult r = g.store->call(*init, {});
    if (!r.ok()) {
      ADD_FAILURE() << file << ": _initialize failed: " << r.message;
      g.instance = nullptr;
    }
  }
  return g;
}

#define REQUIRE_GUEST(g, file)                                                         \
  do {                                                                                 \
    if (!(g).instance) {                                                               \
      if (!std::filesystem::exists(::rw::eh_test::guest_path(file)))                   \
        GTEST_SKIP() << "guest " << (file) << " not built (wasm32 toolchain missing)"; \
      FAIL() << "could not instantiate " << (file);                                    \
    }                                                                                  \
  } while (0)

// The names of the backtrace's frames, innermost first.
inline std::vector<std::string> frame_names(const std::vector<BacktraceFrame>& backtrace) {
  std::vector<std::string> names;
  for (const BacktraceFrame& f : backtrace) names.push_back(f.name);
  return names;
}

inline bool has_frame(const std::vector<BacktraceFrame>& backtrace, std::string_view needle) {
  for (const BacktraceFrame& f : backtrace)
    if (f.name.find(needle) != std::string::npos) return true;
  return false;
}

// Encoding parameter for the C and C++ guests built in both exception-handling encodings.
inline auto encodings() { return ::testing::Values(std::string("legacy"), std::string("exnref")); }

inline std::string encoding_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace rw::eh_test
