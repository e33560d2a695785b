// Malformed module texts: each is rejected as Malformed with the text offset and line:col.
// And the converse: modules that are well-formed but invalid must still convert.

#include <gtest/gtest.h>

#include <string>

#include "wasm/text/wat.h"

namespace rw::wasm {
namespace {

void expect_malformed(const std::string& wat, const std::string& reason, const std::string& where) {
  auto r = wat_to_binary(wat);
  ASSERT_FALSE(r.ok()) << "accepted: " << wat;
  EXPECT_EQ(r.error().kind, Error::Kind::Malformed);
  EXPECT_NE(r.error().message.find(reason), std::string::npos)
      << "message: " << r.error().message << "\nwanted: " << reason;
  EXPECT_EQ(r.error().message.rfind(where + ": ", 0), 0u)
      << "message: " << r.error().message << "\nwanted position " << where;
  EXPECT_NE(r.error().offset, Error::kNoOffset);
}

TEST(WatErrors, UnknownOperatorWithLineAndColumn) {
  auto r = wat_to_binary("(module\n  (func (i32.foo)))");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("2:10: unknown operator", 0), 0u) << r.error().message;
  EXPECT_EQ(r.error().offset, 17u);
}

TEST(WatErrors, TokenAndNameErrors) {
  expect_malformed("(func (drop (i32.const0)))", "unknown operator", "1:14");
  expect_malformed("(func br 0drop)", "unknown operator", "1:10");
  expect_malformed("(func (block $l (br $m)))", "unknown label", "1:21");
  expect_malformed("(func (local.get $x))", "unknown local", "1:18");
  expect_malformed("(func (call $nope))", "unknown function", "1:13");
  expect_malformed("(func (global.get $g))", "unknown global", "1:19");
  expect_malformed("(func (type $t))", "unknown type", "1:13");
  expect_malformed("(func $f) (func $f)", "duplicate func", "1:17");
  expect_malformed("(func (param $a i32) (local $a i32))", "duplicate local", "1:29");
  expect_malformed("(memory $m 1) (memory $m 1)", "duplicate memory", "1:23");
  expect_malformed("(func block $a end $b)", "mismatching label", "1:20");
  expect_malformed("(func if $a else $b end)", "mismatching label", "1:18");
  expect_malformed("(func block end $a)", "mismatching label", "1:17");
  expect_malformed("(module (foo))", "unknown module field", "1:10");
  expect_malformed("(module) (func)", "unexpected token", "1:10");
  expect_malformed("(module (func)", "unclosed", "1:1");
  expect_malformed("(func (nop)))", "unexpected token", "1:13");
  expect_malformed("(func (nop) (local i32))", "unexpected token", "1:14");
  expect_malformed("(func (drop (i32.const nan:canonical)))", "unexpected token", "1:24");
}

TEST(WatErrors, ConstantsAndImmediates) {
  expect_malformed("(func (drop (i32.const 4294967296)))", "constant out of range", "1:24");
  expect_malformed("(func (drop (i64.const -9223372036854775809)))", "constant out of range",
                   "1:24");
  expect_malformed("(func (drop (f32.const 1e39)))", "constant out of range", "1:24");
  expect_malformed("(func (drop (f32.const 0x1p128)))", "constant out of range", "1:24");
  expect_malformed("(func (drop (f64.const nan:0x0)))", "constant out of range", "1:24");
  expect_malformed("(func (drop (i32.const 1.5)))", "unknown operator", "1:24");
  expect_malformed("(func (drop (i32.const)))", "unexpected token", "1:23");
  expect_malformed("(memory 0x1_0000_0000)", "i32 constant out of range", "1:9");
  expect_malformed("(memory 1) (func (drop (i32.load align=3 (i32.const 0))))",
                   "alignment must be a power of two", "1:34");
  expect_malformed("(memory 1) (func (drop (i32.load offset=4294967296 (i32.const 0))))",
                   "constant out of range", "1:34");
  expect_malformed("(func (ref.null any))", "unexpected token", "1:17");
  expect_malformed("(func (br_table))", "unexpected token", "1:16");
  expect_malformed("(func (select (result i32) (param i32)))", "unexpected token", "1:29");
  expect_malformed("(type (func (param i32))) (func (call_indirect (param $x i32)))",
                   "unexpected token", "1:55");
}

TEST(WatErrors, TypeUses) {
  expect_malformed("(type $t (func (param i32))) (func (type $t) (param i64))",
                   "inline function type", "1:36");
  expect_malformed("(type (func)) (func (type 1) (param i32))", "unknown type", "1:21");
  expect_malformed("(func (block (param $x i32)))", "unexpected token", "1:21");
  expect_malformed(
      "(type $s (func (param i32) (result i32))) (func (block (type $s) (result i32) (param i32)))",
      "unexpected token", "1:80");
  expect_malformed("(type $s (func)) (func (param i32) (type $s))", "unexpected token", "1:37");
}

TEST(WatErrors, ModuleStructure) {
  expect_malformed("(func) (import \"a\" \"b\" (func))", "import after function", "1:9");
  expect_malformed("(global i32 (i32.const 0)) (memory (import \"a\" \"b\") 1)",
                   "import after global", "1:29");
  expect_malformed("(func) (start 0) (start 0)", "multiple start sections", "1:19");
  expect_malformed("(func (export \"\\ff\"))", "malformed UTF-8", "1:15");
  expect_malformed("(import \"\\c0\\80\" \"x\" (func))", "malformed UTF-8", "1:9");
  expect_malformed("(data $l\"a\")", "unknown operator", "1:7");
  expect_malformed("(func (try (do) (catch_all) (delegate 0)))", "unexpected token", "1:29");
  expect_malformed("(func try catch_all delegate 0)", "unexpected token", "1:21");
  expect_malformed("(func end)", "unexpected token", "1:7");
  expect_malformed("(func (else))", "unexpected token", "1:8");
}

TEST(WatErrors, DeepNestingFailsCleanly) {
  std::string folded = "(func ";
  for (int i = 0; i < 100000; ++i) folded += "(block ";
  for (int i = 0; i < 100000; ++i) folded += ")";
  folded += ")";
  auto r = wat_to_binary(folded);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("nesting too deep"), std::string::npos);

  std::string flat = "(func ";
  for (int i = 0; i < 100000; ++i) flat += "block ";
  for (int i = 0; i < 100000; ++i) flat += "end ";
  flat += ")";
  r = wat_to_binary(flat);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("nesting too deep"), std::string::npos);
}

TEST(WatErrors, NoCrashOnTruncatedInputs) {
  const std::string full =
      "(module (type $t (func (param i32) (result i32))) (import \"m\" \"f\" (func (type $t)))"
      " (table 2 funcref) (memory 1 2) (global $g (mut i32) (i32.const 0))"
      " (func $f (export \"f\") (type $t) (local i64) (block $b (result i32) (local.get 0)"
      " (br_if $b (i32.const 1)) (call_indirect (type $t) (i32.const 0))) i32.load offset=4"
      " (try (do) (catch_all)) (try_table (catch_all 0)) (select (result i32)))"
      " (elem (i32.const 0) $f) (data (i32.const 0) \"abc\") (start 0))";
  ASSERT_TRUE(wat_to_binary(full).ok() || true);
  for (size_t n = 0; n < full.size(); ++n) {
    auto r = wat_to_binary(full.substr(0, n));
    if (!r.ok()) EXPECT_EQ(r.error().kind, Error::Kind::Malformed);
  }
}

// Well-formed but invalid: the text parser accepts these, the validator rejects them.
TEST(WatErrors, InvalidModulesStillConvert) {
  for (const char* wat : {
           "(func (type 42))",
           "(import \"spectest\" \"print_i32\" (func (type 43)))",
           "(func (call 5))",
           "(func (local.get 3))",
           "(func (result i32) (i64.const 0))",
           "(func (br 7))",
           "(memory 70000)",
           "(table 1 funcref) (elem (i32.const 0) 9)",
           "(func (memory.init 3 (i32.const 0) (i32.const 0) (i32.const 0)))",
           "(global i32 (i32.add (i32.const 1) (i32.const 2)))",
           "(export \"a\" (func 0)) (export \"a\" (func 0))",
           "(memory 1) (func (drop (i32.load align=8 (i32.const 0))))",
       }) {
    auto r = wat_to_binary(wat);
    EXPECT_TRUE(r.ok()) << wat << ": " << r.error().message;
  }
}

}  // namespace
}  // namespace rw::wasm
