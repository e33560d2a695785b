#pragma once
// Helpers for the worker runtime tests: example modules, requests, JSON bodies.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "rewind/runtime.h"

namespace rw::runtime::test {

inline std::string example(const std::string& name) {
  return std::string(REWIND_BINARY_DIR) + "/examples/" + name + ".wasm";
}

#define REQUIRE_MODULE(path)                                              \
  do {                                                                    \
    if (!std::filesystem::exists(path))                                   \
      GTEST_SKIP() << (path) << " not built (wasm32 toolchain missing?)"; \
  } while (0)

inline Request request(std::string method, std::string target, std::string body = {},
                       std::string id = "req") {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  r.request_id = std::move(id);
  return r;
}

inline Request get(std::string target, std::string id = "req") {
  return request("GET", std::move(target), {}, std::move(id));
}

inline nlohmann::json body_json(const HandleResult& r) {
  return nlohmann::json::parse(r.response.body, nullptr, /*allow_exceptions=*/false);
}

inline std::string header(const Response& r, const std::string& name) {
  for (const auto& [n, v] : r.headers)
    if (n == name) return v;
  return {};
}

// Writes `text` into a fresh file under the system temp directory and returns its path.
inline std::string write_temp(const std::string& name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() /
             ("rewind-runtime-tests-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

inline WorkerConfig config_for(const std::string& path, uint32_t instances = 1) {
  WorkerConfig c;
  c.name = "test";
  c.module_path = path;
  c.instances = instances;
  c.limits.cpu_per_request = std::chrono::milliseconds(300);
  c.limits.max_memory_pages = 256;  // 16 MiB: /oom gets there quickly
  return c;
}

inline std::shared_ptr<Worker> make_worker(const WorkerConfig& c) {
  auto w = Worker::create(c);
  EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.error().to_string());
  if (!w.ok()) return nullptr;
  // Keep test output quiet; tests that look at logs or failures set their own.
  w.value()->on_log = [](const LogRecord&) {};
  w.value()->on_failure = [](const FailureRecord&) {};
  return w.value();
}

}  // namespace rw::runtime::test
