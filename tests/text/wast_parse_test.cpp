// The .wast script parser: commands, lines, values and module forms.

#include <gtest/gtest.h>

#include "wasm/text/wast.h"
#include "wasm/text/wat.h"

namespace rw::wasm {
namespace {

using Kind = WastCommand::Kind;

TEST(WastParse, CommandsLinesAndModules) {
  const char* script = R"wast(;; header
(module $M (func (export "f") (param i32) (result i32) (local.get 0)))
(register "m" $M)
(module binary "\00asm" "\01\00\00\00")
(module quote "(func" " $f)")
(invoke "f" (i32.const 1))
(get $M "g")
(assert_return (invoke $M "f" (i32.const -1)) (i32.const 0xffffffff))
(assert_trap (invoke "f" (i32.const 0)) "unreachable")
(assert_trap (module (func $s unreachable) (start $s)) "unreachable")
(assert_exhaustion (invoke "f") "call stack exhausted")
(assert_exception (invoke "f"))
(assert_invalid (module (func (result i32))) "type mismatch")
(assert_malformed (module quote "(func (i32.const0))") "unknown operator")
(assert_unlinkable (module (import "x" "y" (func))) "unknown import")
(assert_uninstantiable (module (func $s unreachable) (start $s)) "unreachable")
)wast";
  auto r = parse_wast(script);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& c = *r;
  ASSERT_EQ(c.size(), 15u);
  EXPECT_EQ(c[0].kind, Kind::Module);
  EXPECT_EQ(c[0].line, 2u);
  EXPECT_EQ(c[0].module->name, "M");
  EXPECT_EQ(c[0].module->form, WastModule::Form::Text);
  EXPECT_FALSE(c[0].module->text_error.has_value());
  EXPECT_EQ(c[0].module->binary,
            wat_to_binary("(func (export \"f\") (param i32) (result i32) (local.get 0))").value());
  EXPECT_EQ(c[1].kind, Kind::Register);
  EXPECT_EQ(c[1].register_as, "m");
  EXPECT_EQ(c[1].register_module, "M");
  EXPECT_EQ(c[2].module->form, WastModule::Form::Binary);
  EXPECT_EQ(c[2].module->binary.size(), 8u);
  EXPECT_EQ(c[3].module->form, WastModule::Form::Quote);
  EXPECT_EQ(c[3].module->quote, "(func $f)");
  EXPECT_EQ(c[4].kind, Kind::Action);
  EXPECT_EQ(c[4].action->name, "f");
  ASSERT_EQ(c[4].action->args.size(), 1u);
  EXPECT_EQ(c[5].action->kind, WastAction::Kind::Get);
  EXPECT_EQ(c[5].action->module, "M");
  EXPECT_EQ(c[6].kind, Kind::AssertReturn);
  EXPECT_EQ(c[6].line, 8u);
  EXPECT_EQ(c[6].action->args[0].bits, 0xFFFFFFFFu);
  ASSERT_EQ(c[6].expected.size(), 1u);
  EXPECT_EQ(c[6].expected[0][0].bits, 0xFFFFFFFFu);
  EXPECT_EQ(c[7].kind, Kind::AssertTrap);
  EXPECT_EQ(c[7].text, "unreachable");
  EXPECT_TRUE(c[7].action.has_value());
  EXPECT_EQ(c[8].kind, Kind::AssertTrap);
  EXPECT_TRUE(c[8].module.has_value());
  EXPECT_EQ(c[9].kind, Kind::AssertExhaustion);
  EXPECT_EQ(c[10].kind, Kind::AssertException);
  EXPECT_EQ(c[11].kind, Kind::AssertInvalid);
  EXPECT_FALSE(c[11].module->text_error.has_value());
  EXPECT_EQ(c[12].kind, Kind::AssertMalformed);
  EXPECT_FALSE(quote_module_to_binary(c[12].module->quote).ok());
  EXPECT_EQ(c[13].kind, Kind::AssertUnlinkable);
  EXPECT_EQ(c[14].kind, Kind::AssertUninstantiable);
}

TEST(WastParse, ExpectedValues) {
  auto r = parse_wast(R"wast((assert_return (invoke "f")
  (f32.const nan:canonical) (f64.const nan:arithmetic) (f32.const -nan:0x1)
  (ref.null func) (ref.null extern) (ref.null exn) (ref.extern 0) (ref.extern) (ref.func)
  (either (i32.const 1) (i32.const 2)) (i64.const -1) (f64.const 0x1p-1074)))wast");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& e = (*r)[0].expected;
  ASSERT_EQ(e.size(), 12u);
  EXPECT_EQ(e[0][0].kind, WastValue::Kind::NanCanonical);
  EXPECT_EQ(e[0][0].type, ValType::F32);
  EXPECT_EQ(e[1][0].kind, WastValue::Kind::NanArithmetic);
  EXPECT_EQ(e[1][0].type, ValType::F64);
  EXPECT_EQ(e[2][0].kind, WastValue::Kind::Exact);
  EXPECT_EQ(e[2][0].bits, 0xFF800001u);
  EXPECT_TRUE(e[3][0].is_null);
  EXPECT_EQ(e[3][0].type, ValType::FuncRef);
  EXPECT_EQ(e[4][0].type, ValType::ExternRef);
  EXPECT_EQ(e[5][0].type, ValType::ExnRef);
  EXPECT_FALSE(e[6][0].is_null);
  EXPECT_EQ(e[6][0].bits, 1u);  // ref.extern 0 is host pointer 1, never null
  EXPECT_EQ(e[7][0].kind, WastValue::Kind::AnyRef);
  EXPECT_EQ(e[8][0].kind, WastValue::Kind::AnyRef);
  ASSERT_EQ(e[9].size(), 2u);
  EXPECT_EQ(e[9][1].bits, 2u);
  EXPECT_EQ(e[10][0].bits, 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(e[11][0].bits, 1u);
}

TEST(WastParse, BadTextModuleIsAnOutcomeNotAScriptError) {
  auto r = parse_wast(
      "(module (func (i32.const0)))\n(assert_invalid (module (func $f) (func $f)) \"x\")");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  ASSERT_TRUE((*r)[0].module->text_error.has_value());
  EXPECT_EQ((*r)[0].module->text_error->kind, Error::Kind::Malformed);
  EXPECT_TRUE((*r)[1].module->text_error.has_value());
}

TEST(WastParse, ScriptOfBareModuleFields) {
  auto r = parse_wast("(func) (memory 0) (func (export \"f\"))");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].kind, Kind::Module);
  EXPECT_FALSE((*r)[0].module->binary.empty());
}

TEST(WastParse, ScriptErrors) {
  for (const char* bad : {
           "(assert_return (invoke \"f\" (i32.const 1.5)))",
           "(assert_return (invoke \"f\") (i32.const 99999999999))",
           "(assert_trap (invoke \"f\"))",
           "(frobnicate)",
           "(register)",
           "(invoke \"f\" (v128.const i32x4 0 0 0 0))",
           "(module",
           "(assert_return (invoke \"f\") (ref.null any))",
           "(assert_malformed (module quote \"x\"",
           "\"stray string\"",
       }) {
    auto r = parse_wast(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) EXPECT_EQ(r.error().kind, Error::Kind::Malformed);
  }
}

}  // namespace
}  // namespace rw::wasm
