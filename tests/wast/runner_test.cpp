// The .wast runner over the real engine: small scripts written here, run through run_wast_file,
// checking the pass/fail counts and what is printed for failures.

#include "wasm/wast/runner.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../common/scratch_dir.h"

namespace rw::wasm {
namespace {

struct Run {
  WastSummary summary;
  std::string output;
  std::string path;
};

// Each script gets a file in a directory of its own: ctest runs these tests as parallel
// processes, and a shared name let one test's script be replaced or removed under another.
Run run_script(const std::string& script, bool verbose = false) {
  rw::testing::ScratchDir dir;
  Run r;
  r.path = dir.write("script.wast", script);
  std::ostringstream out;
  WastOptions options;
  options.verbose = verbose;
  r.summary = run_wast_file(r.path, out, options);
  r.output = out.str();
  return r;
}

#define EXPECT_COUNTS(run, p, f)                        \
  do {                                                  \
    EXPECT_EQ((run).summary.passed, p) << (run).output; \
    EXPECT_EQ((run).summary.failed, f) << (run).output; \
  } while (0)

TEST(WastRunner, ReturnsAndRegisteredImports) {
  auto r = run_script(R"wast(
(module $A
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (global (export "g") i32 (i32.const 42)))
(register "a" $A)
(module $B
  (import "a" "add" (func $add (param i32 i32) (result i32)))
  (import "spectest" "print_i32" (func $print (param i32)))
  (import "spectest" "global_i32" (global $g i32))
  (import "spectest" "global_f64" (global $gf f64))
  (import "spectest" "table" (table 10 20 funcref))
  (import "spectest" "memory" (memory 1 2))
  (func (export "run") (result i32) (call $print (i32.const 1)) (call $add (global.get $g) (i32.const 1)))
  (func (export "gf") (result f64) (global.get $gf))
  (func (export "pages") (result i32) (memory.size))
  (func (export "three") (result i32 i64 f32) (i32.const 1) (i64.const -2) (f32.const 0.5)))
(assert_return (invoke "run") (i32.const 667))
(assert_return (invoke "gf") (f64.const 666.6))
(assert_return (invoke "pages") (i32.const 1))
(assert_return (invoke $A "add" (i32.const -1) (i32.const 1)) (i32.const 0))
(assert_return (get $A "g") (i32.const 42))
(assert_return (invoke "three") (i32.const 1) (i64.const -2) (f32.const 0.5))
(assert_return (invoke "three") (either (i32.const 5) (i32.const 1)) (i64.const -2) (f32.const 0.5))
(invoke "run")
)wast");
  EXPECT_COUNTS(r, 7u, 0u);
  EXPECT_EQ(r.output, "");
}

TEST(WastRunner, WrongResultsCountAsFailures) {
  auto r = run_script(R"wast((module (func (export "f") (result i32) (i32.const 1)))
(assert_return (invoke "f") (i32.const 2))
(assert_return (invoke "f") (i32.const 1))
(assert_return (invoke "f") (i64.const 1))
(assert_return (invoke "f"))
(assert_return (invoke "f") (either (i32.const 3) (i32.const 4)))
(assert_return (invoke "missing") (i32.const 1))
)wast");
  EXPECT_COUNTS(r, 1u, 5u);
  EXPECT_NE(
      r.output.find(r.path + ":2: assert_return (invoke \"f\"): expected (i32:2), got (i32:1)"),
      std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(":7: assert_return (invoke \"missing\"): no function export"),
            std::string::npos)
      << r.output;
}

TEST(WastRunner, NanPatterns) {
  auto r = run_script(R"wast((module
  (func (export "div") (param f32 f32) (result f32) (f32.div (local.get 0) (local.get 1)))
  (func (export "id64") (param f64) (result f64) (local.get 0)))
(assert_return (invoke "div" (f32.const 0) (f32.const 0)) (f32.const nan:canonical))
(assert_return (invoke "div" (f32.const 0) (f32.const 0)) (f32.const nan:arithmetic))
(assert_return (invoke "id64" (f64.const -nan)) (f64.const nan:canonical))
(assert_return (invoke "id64" (f64.const nan:0x8000000000001)) (f64.const nan:arithmetic))
(assert_return (invoke "id64" (f64.const nan:0x8000000000001)) (f64.const nan:canonical))
(assert_return (invoke "id64" (f64.const nan:0x1)) (f64.const nan:arithmetic))
(assert_return (invoke "id64" (f64.const nan:0x1)) (f64.const nan:0x1))
(assert_return (invoke "id64" (f64.const 1.5)) (f64.const nan:arithmetic))
(assert_return (invoke "id64" (f64.const -0x0p0)) (f64.const 0))
)wast");
  // Failures: a non-canonical quiet NaN as canonical, a signalling NaN as arithmetic, a
  // number as NaN, and -0 against +0.
  EXPECT_COUNTS(r, 5u, 4u);
}

TEST(WastRunner, ReferenceValues) {
  auto r = run_script(R"wast((module
  (func (export "id") (param externref) (result externref) (local.get 0))
  (func $f)
  (elem declare func $f)
  (func (export "fn") (result funcref) (ref.func $f))
  (func (export "null") (result funcref) (ref.null func)))
(assert_return (invoke "id" (ref.extern 0)) (ref.extern 0))
(assert_return (invoke "id" (ref.extern 7)) (ref.extern 7))
(assert_return (invoke "id" (ref.null extern)) (ref.null extern))
(assert_return (invoke "fn") (ref.func))
(assert_return (invoke "null") (ref.null func))
(assert_return (invoke "id" (ref.extern 0)) (ref.null extern))
(assert_return (invoke "id" (ref.extern 1)) (ref.extern 2))
(assert_return (invoke "null") (ref.func))
(assert_return (invoke "fn") (ref.null func))
)wast");
  EXPECT_COUNTS(r, 5u, 4u);
}

TEST(WastRunner, Traps) {
  auto r = run_script(R"wast((module
  (memory 1)
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func $loop (export "loop") (call $loop))
  (func (export "ok")))
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
(assert_trap (invoke "div" (i32.const 0x80000000) (i32.const -1)) "integer overflow")
(assert_trap (invoke "load" (i32.const 65536)) "out of bounds memory access")
(assert_exhaustion (invoke "loop") "call stack exhausted")
(assert_trap (invoke "ok") "unreachable")
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "out of bounds memory access")
(assert_exhaustion (invoke "div" (i32.const 1) (i32.const 0)) "call stack exhausted")
(assert_return (invoke "div" (i32.const 7) (i32.const 2)) (i32.const 3))
(invoke "div" (i32.const 1) (i32.const 0))
(invoke "ok")
)wast");
  // The instance keeps working after traps; a trapping top-level invoke is one failure.
  EXPECT_COUNTS(r, 5u, 4u);
  EXPECT_NE(
      r.output.find(":11: assert_trap (invoke \"ok\"): expected trap \"unreachable\", got ok"),
      std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(":15: action (invoke \"div\" i32:1 i32:0): got trap"), std::string::npos)
      << r.output;
}

TEST(WastRunner, ModuleAssertions) {
  auto r = run_script(R"wast(
(assert_invalid (module (func (result i32) (i64.const 0))) "type mismatch")
(assert_invalid (module (func (result i32) (i32.const 0))) "type mismatch")
(assert_malformed (module quote "(func (i32.const0))") "unknown operator")
(assert_malformed (module quote "(func)") "unknown operator")
(assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
(assert_malformed (module binary "\00asm\01\00\00\00") "unknown binary version")
(assert_unlinkable (module (import "nowhere" "f" (func))) "unknown import")
(assert_unlinkable (module (import "spectest" "print_i32" (func (param i64)))) "incompatible import type")
(assert_unlinkable (module (func)) "unknown import")
(assert_uninstantiable (module (func $s unreachable) (start $s)) "unreachable")
(assert_trap (module (memory 1) (data (i32.const 65536) "a")) "out of bounds memory access")
(assert_trap (module (func)) "unreachable")
)wast");
  EXPECT_COUNTS(r, 7u, 5u);
}

TEST(WastRunner, StageMismatchPassesWithANote) {
  // Malformed expected, but the module is well-formed and merely invalid: still rejected, so
  // it passes, with a note in verbose mode.
  auto r =
      run_script("(assert_malformed (module quote \"(func (result i32) (i64.const 0))\") \"x\")\n",
                 /*verbose=*/true);
  EXPECT_COUNTS(r, 1u, 0u);
  EXPECT_NE(r.output.find("note: rejected as invalid"), std::string::npos) << r.output;
}

TEST(WastRunner, Exceptions) {
  auto r = run_script(R"wast((module
  (tag $e (param i32))
  (func (export "throw") (param i32) (throw $e (local.get 0)))
  (func (export "catch") (result i32)
    (block $h (result i32) (try_table (catch $e $h) (throw $e (i32.const 5))) (i32.const 0)))
  (func (export "legacy") (result i32)
    (try (result i32) (do (throw $e (i32.const 6))) (catch $e))))
(assert_exception (invoke "throw" (i32.const 1)))
(assert_return (invoke "catch") (i32.const 5))
(assert_return (invoke "legacy") (i32.const 6))
(assert_exception (invoke "catch"))
(assert_return (invoke "throw" (i32.const 1)))
)wast");
  EXPECT_COUNTS(r, 3u, 2u);
}

TEST(WastRunner, FailedModulesAndMissingInstances) {
  auto r = run_script(R"wast((module (func (export "f") (result i32) (i32.const 1)))
(module (import "nowhere" "x" (func)))
(assert_return (invoke "f") (i32.const 1))
(module (func (i32.const0)))
(module binary "\00asm")
(assert_return (invoke $Nope "f") (i32.const 1))
(register "r" $Nope)
(assert_return (get "f") (i32.const 1))
)wast");
  // The failed module leaves no current instance, so the invoke fails too (not a crash).
  EXPECT_COUNTS(r, 0u, 7u);
}

TEST(WastRunner, BadScriptsAndFiles) {
  auto r = run_script("(module (func)) (assert_return (invoke \"f\" (i32.const nope)))");
  EXPECT_COUNTS(r, 0u, 1u);
  EXPECT_NE(r.output.find("script parse error"), std::string::npos);

  std::ostringstream out;
  WastSummary s = run_wast_file("/nonexistent/dir/x.wast", out);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_NE(out.str().find("cannot read"), std::string::npos);
}

TEST(WastRunner, GarbageBinaryModulesDoNotCrash) {
  std::string script;
  uint32_t seed = 12345;
  for (int i = 0; i < 200; ++i) {
    script += "(module binary \"\\00asm\\01\\00\\00\\00";
    int n = 1 + (seed % 40);
    for (int j = 0; j < n; ++j) {
      seed = seed * 1103515245 + 12345;
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%02x", (seed >> 16) & 0xFF);
      script += buf;
    }
    script += "\")\n";
  }
  auto r = run_script(script);
  EXPECT_EQ(r.summary.passed, 0u);
  EXPECT_LE(r.summary.failed, 200u);
}

}  // namespace
}  // namespace rw::wasm
