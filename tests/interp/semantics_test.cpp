// Instruction semantics: arithmetic edge cases and every trap kind with its spec message.

#include <cmath>
#include <cstring>

#include "test_util.h"

namespace rw::testing {
namespace {

constexpr std::string_view kArith = R"(
(module
  (func (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "rem_s") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "div_u64") (param i64 i64) (result i64) (i64.div_u (local.get 0) (local.get 1)))
  (func (export "rem_s64") (param i64 i64) (result i64) (i64.rem_s (local.get 0) (local.get 1)))
  (func (export "div_s64") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
  (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "trunc_u64") (param f32) (result i64) (i64.trunc_f32_u (local.get 0)))
  (func (export "trunc_sat") (param f64) (result i32) (i32.trunc_sat_f64_s (local.get 0)))
  (func (export "min") (param f32 f32) (result f32) (f32.min (local.get 0) (local.get 1)))
  (func (export "max") (param f64 f64) (result f64) (f64.max (local.get 0) (local.get 1)))
  (func (export "nearest") (param f64) (result f64) (f64.nearest (local.get 0)))
  (func (export "neg") (param f32) (result f32) (f32.neg (local.get 0)))
  (func (export "rotl") (param i32 i32) (result i32) (i32.rotl (local.get 0) (local.get 1)))
  (func (export "shr_s") (param i64 i64) (result i64) (i64.shr_s (local.get 0) (local.get 1)))
  (func (export "clz") (param i64) (result i64) (i64.clz (local.get 0)))
  (func (export "demote") (param f64) (result f32) (f32.demote_f64 (local.get 0)))
  (func (export "sum") (param i32) (result i32) (local i32 i32)
    ;; exercises local.get folding, local.set retargeting and loop back-edges
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get 0)))
        (local.set 1 (i32.add (local.get 1) (local.get 0)))
        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
        (br $next)))
    (local.get 1))
  (func (export "swap") (param i32 i32) (result i32 i32)
    ;; pending reads of a local that is overwritten before they are consumed
    (local.get 1) (local.get 0) (local.set 1 (local.get 1)) (local.set 0 (i32.const 99)))
  (func (export "tee") (param i32) (result i32) (local i32)
    (local.get 1) (local.tee 1 (i32.add (local.get 0) (i32.const 5))) (i32.add))
)
)";

class Semantics : public ::testing::Test {
 protected:
  void SetUp() override {
    inst = instantiate(store, kArith);
    ASSERT_NE(inst, nullptr);
  }
  CallResult run(std::string_view name, std::initializer_list<Value> args) {
    return call(store, inst, name, args);
  }
  void expect_trap(std::string_view name, std::initializer_list<Value> args, TrapKind kind,
                   const char* message) {
    CallResult r = run(name, args);
    EXPECT_EQ(r.outcome, Outcome::Abort) << name;
    EXPECT_EQ(r.trap, kind) << name;
    EXPECT_EQ(r.message, message) << name;
    EXPECT_FALSE(r.backtrace.empty());
  }
  Store store{spec_options()};
  Instance* inst = nullptr;
};

TEST_F(Semantics, IntegerDivisionTraps) {
  expect_trap("div_s", {i32(1), i32(0)}, TrapKind::IntegerDivideByZero, "integer divide by zero");
  expect_trap("div_s", {i32(INT32_MIN), i32(-1)}, TrapKind::IntegerOverflow, "integer overflow");
  expect_trap("div_s64", {i64(INT64_MIN), i64(-1)}, TrapKind::IntegerOverflow, "integer overflow");
  expect_trap("div_u64", {i64(5), i64(0)}, TrapKind::IntegerDivideByZero, "integer divide by zero");
  EXPECT_EQ(run("rem_s", {i32(INT32_MIN), i32(-1)}).values.at(0).as_i32(), 0);
  EXPECT_EQ(run("rem_s64", {i64(INT64_MIN), i64(-1)}).values.at(0).as_i64(), 0);
  EXPECT_EQ(run("rem_s", {i32(-7), i32(2)}).values.at(0).as_i32(), -1);
  EXPECT_EQ(run("div_s", {i32(-7), i32(2)}).values.at(0).as_i32(), -3);
}

TEST_F(Semantics, FloatToIntConversions) {
  expect_trap("trunc", {f64(NAN)}, TrapKind::InvalidConversion, "invalid conversion to integer");
  expect_trap("trunc", {f64(2147483648.0)}, TrapKind::IntegerOverflow, "integer overflow");
  expect_trap("trunc", {f64(-2147483649.0)}, TrapKind::IntegerOverflow, "integer overflow");
  EXPECT_EQ(run("trunc", {f64(-2147483648.9)}).values.at(0).as_i32(), INT32_MIN);
  EXPECT_EQ(run("trunc", {f64(2147483647.9)}).values.at(0).as_i32(), INT32_MAX);
  expect_trap("trunc_u64", {f32(-1.0f)}, TrapKind::IntegerOverflow, "integer overflow");
  EXPECT_EQ(run("trunc_u64", {f32(-0.9f)}).values.at(0).as_i64(), 0);
  EXPECT_EQ(run("trunc_sat", {f64(NAN)}).values.at(0).as_i32(), 0);
  EXPECT_EQ(run("trunc_sat", {f64(1e300)}).values.at(0).as_i32(), INT32_MAX);
  EXPECT_EQ(run("trunc_sat", {f64(-1e300)}).values.at(0).as_i32(), INT32_MIN);
}

TEST_F(Semantics, FloatEdgeCases) {
  Value r = run("min", {f32(0.0f), f32(-0.0f)}).values.at(0);
  EXPECT_EQ(r.f32_bits, 0x80000000u);
  r = run("max", {f64(-0.0), f64(0.0)}).values.at(0);
  EXPECT_EQ(r.f64_bits, 0u);
  r = run("min", {f32(NAN), f32(1.0f)}).values.at(0);
  EXPECT_TRUE(std::isnan(r.as_f32()));
  EXPECT_EQ(run("nearest", {f64(2.5)}).values.at(0).as_f64(), 2.0);
  EXPECT_EQ(run("nearest", {f64(-3.5)}).values.at(0).as_f64(), -4.0);
  // neg flips only the sign bit, even of a signalling NaN payload.
  r = run("neg", {Value::make_f32_bits(0x7fa00001u)}).values.at(0);
  EXPECT_EQ(r.f32_bits, 0xffa00001u);
  r = run("demote", {Value::make_f64_bits(0x7ff8000000000001ull)}).values.at(0);
  EXPECT_TRUE(std::isnan(r.as_f32()));
  EXPECT_EQ(run("rotl", {i32(static_cast<int32_t>(0x80000001u)), i32(33)}).values.at(0).as_i32(),
            3);
  EXPECT_EQ(run("shr_s", {i64(-8), i64(65)}).values.at(0).as_i64(), -4);
  EXPECT_EQ(run("clz", {i64(0)}).values.at(0).as_i64(), 64);
}

TEST_F(Semantics, LocalFoldingKeepsOrder) {
  EXPECT_EQ(run("sum", {i32(100)}).values.at(0).as_i32(), 5050);
  CallResult r = run("swap", {i32(1), i32(2)});
  ASSERT_EQ(r.values.size(), 2u);
  EXPECT_EQ(r.values[0].as_i32(), 2);
  EXPECT_EQ(r.values[1].as_i32(), 1);
  EXPECT_EQ(run("tee", {i32(10)}).values.at(0).as_i32(), 15);
}

TEST(Traps, EveryKindHasItsMessage) {
  Store store(spec_options());
  Instance* inst = instantiate(store, R"(
(module
  (type $v (func))
  (type $i (func (result i32)))
  (memory 1)
  (table 4 funcref)
  (elem (i32.const 0) $nop)
  (func $nop)
  (func (export "unreachable") unreachable)
  (func (export "load") (param i32) (result i32) (i32.load offset=4 (local.get 0)))
  (func (export "store") (param i32) (i64.store (local.get 0) (i64.const 1)))
  (func (export "table_get") (param i32) (result funcref) (table.get (local.get 0)))
  (func (export "call_indirect") (param i32) (call_indirect (type $v) (local.get 0)))
  (func (export "call_wrong") (result i32) (call_indirect (type $i) (i32.const 0)))
  (func (export "fill") (param i32 i32) (memory.fill (local.get 0) (i32.const 7) (local.get 1)))
  (func (export "copy_ok") (result i32)
    (memory.fill (i32.const 100) (i32.const 9) (i32.const 4))
    (memory.copy (i32.const 102) (i32.const 100) (i32.const 4))
    (i32.load (i32.const 102)))
))");
  ASSERT_NE(inst, nullptr);
  struct Case {
    const char* fn;
    std::vector<Value> args;
    TrapKind kind;
    const char* message;
  };
  std::vector<Case> cases = {
      {"unreachable", {}, TrapKind::Unreachable, "unreachable"},
      {"load", {i32(65532)}, TrapKind::MemoryOutOfBounds, "out of bounds memory access"},
      {"load", {i32(-1)}, TrapKind::MemoryOutOfBounds, "out of bounds memory access"},
      {"store", {i32(65529)}, TrapKind::MemoryOutOfBounds, "out of bounds memory access"},
      {"table_get", {i32(4)}, TrapKind::TableOutOfBounds, "out of bounds table access"},
      {"call_indirect", {i32(4)}, TrapKind::TableOutOfBounds, "undefined element"},
      {"call_indirect", {i32(1)}, TrapKind::IndirectCallNull, "uninitialized element"},
      {"call_wrong", {}, TrapKind::IndirectCallSignature, "indirect call type mismatch"},
      {"fill", {i32(65535), i32(2)}, TrapKind::MemoryOutOfBounds, "out of bounds memory access"},
  };
  for (const Case& c : cases) {
    CallResult r = store.call(*inst->get_function(c.fn), c.args);
    EXPECT_EQ(r.outcome, Outcome::Abort) << c.fn;
    EXPECT_EQ(r.trap, c.kind) << c.fn;
    EXPECT_EQ(r.message, c.message) << c.fn;
    ASSERT_FALSE(r.backtrace.empty()) << c.fn;
    EXPECT_GT(r.backtrace[0].offset, 0u) << c.fn;
  }
  // The bulk memory trap happened before any write.
  uint8_t last = 0;
  ASSERT_TRUE(inst->memory(0).read(65535, std::span<uint8_t>(&last, 1)));
  EXPECT_EQ(last, 0);
  EXPECT_EQ(call(store, inst, "call_indirect", {i32(0)}).outcome, Outcome::Ok);
  EXPECT_EQ(call(store, inst, "copy_ok").values.at(0).as_i32(), 0x09090000 + 0x0909);
}

TEST(Traps, BacktraceNamesFunctionsInnermostFirst) {
  Store store(spec_options());
  auto module = load(R"(
(module
  (func $inner (unreachable))
  (func $middle (call $inner))
  (func (export "outer") (call $middle)))
)");
  ASSERT_NE(module, nullptr);
  Instance* inst = store.instantiate(module, {}).value();
  CallResult r = call(store, inst, "outer");
  ASSERT_EQ(r.outcome, Outcome::Abort);
  ASSERT_EQ(r.backtrace.size(), 3u);
  EXPECT_EQ(r.backtrace[0].func_index, 0u);
  EXPECT_EQ(r.backtrace[0].name, "inner");
  EXPECT_EQ(r.backtrace[1].name, "middle");
  EXPECT_EQ(r.backtrace[2].func_index, 2u);
  EXPECT_LT(r.backtrace[0].offset, r.backtrace[1].offset);
}

TEST(Arguments, CheckedAgainstTheType) {
  Store store;
  Instance* inst =
      instantiate(store, R"((module (func (export "f") (param i32) (result i32) (local.get 0))))");
  ASSERT_NE(inst, nullptr);
  CallResult r = call(store, inst, "f", {i64(1)});
  EXPECT_EQ(r.outcome, Outcome::Abort);
  r = call(store, inst, "f", {});
  EXPECT_EQ(r.outcome, Outcome::Abort);
  r = call(store, inst, "f", {i32(7)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.values.at(0).as_i32(), 7);
}

}  // namespace
}  // namespace rw::testing
