#pragma once
// Helpers for the interpreter tests: load modules from text, instantiate, call exports.

#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <string_view>

#include "rewind/engine.h"
#include "wasm/text/wat.h"

namespace rw::testing {

inline std::shared_ptr<const Module> load(std::string_view wat) {
  auto r = Module::from_text(wat);
  if (!r.ok()) {
    ADD_FAILURE() << "module did not load: " << r.error().to_string();
    return nullptr;
  }
  return r.value();
}

// Text -> binary with a name section listing the given function names appended (the text
// encoder, like the reference interpreter, emits none).
inline std::shared_ptr<const Module> load_with_names(
    std::string_view wat, const std::vector<std::pair<uint32_t, std::string>>& names) {
  auto binary = wasm::wat_to_binary(wat);
  if (!binary.ok()) {
    ADD_FAILURE() << binary.error().to_string();
    return nullptr;
  }
  std::vector<uint8_t> bytes = binary.value();
  auto leb = [](std::vector<uint8_t>& v, uint32_t x) {
    do {
      uint8_t b = x & 0x7f;
      x >>= 7;
      if (x) b |= 0x80;
      v.push_back(b);
    } while (x);
  };
  std::vector<uint8_t> map;
  leb(map, static_cast<uint32_t>(names.size()));
  for (const auto& [index, name] : names) {
    leb(map, index);
    leb(map, static_cast<uint32_t>(name.size()));
    map.insert(map.end(), name.begin(), name.end());
  }
  std::vector<uint8_t> contents = {4, 'n', 'a', 'm', 'e', 1};
  leb(contents, static_cast<uint32_t>(map.size()));
  contents.insert(contents.end(), map.begin(), map.end());
  bytes.push_back(0);
  leb(bytes, static_cast<uint32_t>(contents.size()));
  bytes.insert(bytes.end(), contents.begin(), contents.end());
  auto module = Module::from_binary(bytes);
  if (!module.ok()) {
    ADD_FAILURE() << module.error().to_string();
    return nullptr;
  }
  return module.value();
}

inline Instance* instantiate(Store& store, std::string_view wat, const Imports& imports = {}) {
  auto module = load(wat);
  if (!module) return nullptr;
  auto r = store.instantiate(module, imports);
  if (!r.ok()) {
    ADD_FAILURE() << "instantiation failed: " << r.error().to_string();
    return nullptr;
  }
  return r.value();
}

inline CallResult call(Store& store, Instance* inst, std::string_view name,
                       std::initializer_list<Value> args = {}) {
  auto f = inst->get_function(name);
  if (!f) {
    ADD_FAILURE() << "no exported function " << name;
    return {};
  }
  std::vector<Value> a(args);
  return store.call(*f, a);
}

inline Value i32(int32_t v) { return Value::make_i32(v); }
inline Value i64(int64_t v) { return Value::make_i64(v); }
inline Value f32(float v) { return Value::make_f32(v); }
inline Value f64(double v) { return Value::make_f64(v); }

inline StoreOptions spec_options() {
  StoreOptions o;
  o.terminate_on_abort = false;
  return o;
}

}  // namespace rw::testing
