#pragma once
// Helpers for the interpreter tests: load modules from text, instantiate, call exports.

#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <string_view>

#include "rewind/engine.h"
#include "wasm/text/wat.h"

namespace rw::testing {

// Functions, locals and globals are named after their identifiers (Module::from_text).
inline std::shared_ptr<const Module> load(std::string_view wat) {
  auto r = Module::from_text(wat);
  if (!r.ok()) {
    ADD_FAILURE() << "module did not load: " << r.error().to_string();
    return nullptr;
  }
  return r.value();
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
