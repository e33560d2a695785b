// Loops compiled to machine code (src/wasm/jit/loop_compiler.h) against the interpreter: every
// module here runs twice, with its loops compiled and with compile_loops off, and must give the
// same values, traps (kind and byte offset), memory and globals. Each test also checks that the
// loop it means to cover was compiled, so a loop compiler that silently declines fails here.

#include "wasm/jit/loop_compiler.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "wasm/interp/compiler.h"
#include "wasm/interp/runtime.h"

namespace rw::testing {
namespace {

// One module instantiated twice: loops compiled (side 0) and interpreted (side 1).
class TwoSides {
 public:
  explicit TwoSides(std::string_view wat, StoreOptions options = spec_options()) {
    for (int i = 0; i < 2; ++i) {
      modules_[i] = load(wat);
      if (!modules_[i]) return;
      modules_[i]->compiled().compile_loops = i == 0;
      stores_[i] = std::make_unique<Store>(options);
      auto inst = stores_[i]->instantiate(modules_[i], {});
      if (!inst.ok()) {
        ADD_FAILURE() << inst.error().to_string();
        return;
      }
      insts_[i] = inst.value();
    }
  }
  bool ok() const { return insts_[0] && insts_[1]; }

  // Calls `name` on both sides and expects the same outcome; returns side 0's result.
  CallResult both(std::string_view name, std::vector<Value> args) {
    CallResult r[2];
    for (int i = 0; i < 2; ++i) {
      auto f = insts_[i]->get_function(name);
      if (!f) {
        ADD_FAILURE() << "no export " << name;
        return {};
      }
      r[i] = stores_[i]->call(*f, args);
    }
    std::string what = std::string(name) + "(" + describe(args) + ")";
    EXPECT_EQ(r[0].outcome, r[1].outcome) << what << ": " << r[0].message << " / " << r[1].message;
    if (r[0].outcome == Outcome::Abort && r[1].outcome == Outcome::Abort) {
      EXPECT_EQ(r[0].trap, r[1].trap) << what;
      EXPECT_EQ(r[0].message, r[1].message) << what;
      EXPECT_FALSE(r[0].backtrace.empty());
      // Where a deadline lands is arbitrary (the interpreter stops at a backward branch's target,
      // compiled code at a loop header); every other trap is reported at its instruction.
      if (!r[0].backtrace.empty() && !r[1].backtrace.empty() && r[0].trap != TrapKind::CpuLimit)
        EXPECT_EQ(r[0].backtrace[0].offset, r[1].backtrace[0].offset) << what;
    }
    EXPECT_EQ(r[0].values.size(), r[1].values.size()) << what;
    for (size_t k = 0; k < r[0].values.size() && k < r[1].values.size(); ++k)
      EXPECT_EQ(bits(r[0].values[k]), bits(r[1].values[k])) << what << " result " << k;
    return r[0];
  }

  void expect_same_memory() {
    auto a = insts_[0]->get_memory("mem"), b = insts_[1]->get_memory("mem");
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->size_bytes(), b->size_bytes());
    std::vector<uint8_t> x(a->size_bytes()), y(b->size_bytes());
    ASSERT_TRUE(a->read(0, x));
    ASSERT_TRUE(b->read(0, y));
    EXPECT_TRUE(x == y) << "memories differ";
  }

  // Whether export `name` of the compiled side contains a compiled loop (after a call).
  bool compiled(std::string_view name) const {
    const wasm::Module& ir = modules_[0]->compiled().ir;
    for (const wasm::Export& e : ir.exports) {
      if (e.name != name || e.kind != ExternKind::Func) continue;
      const internal::CompiledFunc& f =
          modules_[0]->compiled().code[e.index - ir.num_imported_funcs];
      if (!f.ready.load()) return false;
      uint32_t word = static_cast<uint32_t>(
          internal::dispatch_offsets()[internal::op_id(internal::IOp::JitLoop)]);
      for (const auto& [pos, offset] : f.offsets)
        if (f.code[pos] == word && f.jit_code) return true;
    }
    return false;
  }

  Store& store(int i) { return *stores_[i]; }
  Instance* instance(int i) { return insts_[i]; }

 private:
  static uint64_t bits(const Value& v) {
    return v.type == ValType::I32 || v.type == ValType::F32 ? v.i32 : v.i64;
  }
  static std::string describe(const std::vector<Value>& args) {
    std::string s;
    for (const Value& v : args) s += (s.empty() ? "" : ", ") + std::to_string(bits(v));
    return s;
  }
  std::shared_ptr<const Module> modules_[2];
  std::unique_ptr<Store> stores_[2];
  Instance* insts_[2] = {nullptr, nullptr};
};

bool jit_here() { return internal::jit::available(); }

const std::vector<uint64_t> kEdges32 = {0,          1,          2,          3,          7,
                                        31,         32,         33,         0x7fffffff, 0x80000000,
                                        0xffffffff, 0xfffffffe, 0x12345678, 0x9abcdef0, 10};
const std::vector<uint64_t> kEdges64 = {0,
                                        1,
                                        2,
                                        63,
                                        64,
                                        65,
                                        0xffffffff,
                                        0x100000000,
                                        0x7fffffffffffffff,
                                        0x8000000000000000,
                                        0xffffffffffffffff,
                                        0xfffffffffffffffe,
                                        0x123456789abcdef0,
                                        10};

Value make(bool is64, uint64_t v) {
  return is64 ? i64(static_cast<int64_t>(v)) : i32(static_cast<int32_t>(static_cast<uint32_t>(v)));
}

// For every integer operation, a function that applies it inside a loop, to operands that are
// locals held in registers ("_r"), locals left in their slots because busier locals took the
// registers ("_m"), and an immediate on either side ("_k<n>" / "_l<n>").
struct OpCase {
  std::string op;
  bool is64;
  int arity;      // 1 or 2
  bool result64;  // the result's type
};

std::vector<OpCase> op_cases() {
  std::vector<OpCase> cases;
  for (bool w : {false, true}) {
    std::string t = w ? "i64." : "i32.";
    for (const char* op : {"add", "sub", "mul", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl",
                           "rotr", "div_s", "div_u", "rem_s", "rem_u"})
      cases.push_back({t + op, w, 2, w});
    for (const char* op :
         {"eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"})
      cases.push_back({t + op, w, 2, false});
    for (const char* op : {"clz", "ctz", "popcnt", "extend8_s", "extend16_s"})
      cases.push_back({t + op, w, 1, w});
    cases.push_back({t + "eqz", w, 1, false});
  }
  cases.push_back({"i64.extend32_s", true, 1, true});
  cases.push_back({"i32.wrap_i64", true, 1, false});
  cases.push_back({"i64.extend_i32_s", false, 1, true});
  cases.push_back({"i64.extend_i32_u", false, 1, true});
  return cases;
}

std::string name_of(const OpCase& c) {
  std::string n = c.op;
  for (char& ch : n)
    if (ch == '.') ch = '_';
  return n;
}

const std::vector<int64_t> kImmediates = {0, 1, -1, 5, 31, 32, 63, INT32_MIN, INT32_MAX};

std::string op_module() {
  std::string wat = "(module\n";
  for (const OpCase& c : op_cases()) {
    std::string t = c.is64 ? "i64" : "i32", rt = c.result64 ? "i64" : "i32";
    std::string n = name_of(c);
    std::string operands = c.arity == 2 ? "(local.get $a) (local.get $b)" : "(local.get $a)";
    // The loop runs twice; the second pass recomputes the same value.
    std::string loop_tail =
        "(br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 2)))";
    wat += "(func (export \"" + n + "_r\") (param $a " + t + ") (param $b " + t + ") (result " +
           rt + ") (local $r " + rt + ") (local $i i32) (loop $l (local.set $r (" + c.op + " " +
           operands + ")) " + loop_tail + ") (local.get $r))\n";
    // Six busier locals take the five registers: $a, $b, $r and $i stay in their slots.
    std::string busy;
    for (int k = 0; k < 6; ++k)
      busy += "(local.set $d" + std::to_string(k) + " (i32.add (local.get $d" + std::to_string(k) +
              ") (local.get $d" + std::to_string(k) + ")))";
    wat += "(func (export \"" + n + "_m\") (param $a " + t + ") (param $b " + t + ") (result " +
           rt + ") (local $r " + rt +
           ") (local $i i32) (local $d0 i32) (local $d1 i32) (local $d2 i32) (local $d3 i32) "
           "(local $d4 i32) (local $d5 i32) (loop $l " +
           busy + "(local.set $r (" + c.op + " " + operands + ")) " + loop_tail +
           ") (local.get $r))\n";
    if (c.arity != 2) continue;
    for (size_t k = 0; k < kImmediates.size(); ++k) {
      std::string imm = "(" + t + ".const " + std::to_string(kImmediates[k]) + ")";
      for (bool left : {false, true}) {
        std::string ops = left ? imm + " (local.get $b)" : "(local.get $a) " + imm;
        wat += "(func (export \"" + n + (left ? "_l" : "_k") + std::to_string(k) +
               "\") (param $a " + t + ") (param $b " + t + ") (result " + rt + ") (local $r " + rt +
               ") (local $i i32) (loop $l (local.set $r (" + c.op + " " + ops + ")) " + loop_tail +
               ") (local.get $r))\n";
      }
    }
  }
  return wat + ")";
}

TEST(LoopCompiler, EveryIntegerOperationMatchesTheInterpreter) {
  TwoSides sides(op_module());
  ASSERT_TRUE(sides.ok());
  std::mt19937_64 rng(7);
  for (const OpCase& c : op_cases()) {
    const auto& edges = c.is64 ? kEdges64 : kEdges32;
    std::vector<uint64_t> values = edges;
    for (int k = 0; k < 6; ++k) values.push_back(c.is64 ? rng() : rng() & 0xffffffff);
    std::vector<std::string> variants = {"_r", "_m"};
    if (c.arity == 2)
      for (size_t k = 0; k < kImmediates.size(); ++k) {
        variants.push_back("_k" + std::to_string(k));
        variants.push_back("_l" + std::to_string(k));
      }
    for (const std::string& v : variants) {
      std::string fn = name_of(c) + v;
      for (uint64_t a : values) {
        if (c.arity == 1) {
          sides.both(fn, {make(c.is64, a), make(c.is64, 0)});
          continue;
        }
        for (uint64_t b : values) sides.both(fn, {make(c.is64, a), make(c.is64, b)});
      }
      if (jit_here()) EXPECT_TRUE(sides.compiled(fn)) << fn;
    }
  }
}

constexpr std::string_view kMemoryLoops = R"((module
  (memory (export "mem") 1)
  (global $g (export "g") (mut i64) (i64.const 5))
  ;; Fills n bytes from p with a pattern, then sums them back with every load width.
  (func (export "fill_and_sum") (param $p i32) (param $n i32) (result i64)
    (local $i i32) (local $s i64)
    (block $done
      (loop $fill
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.add (local.get $p) (local.get $i))
                    (i32.mul (local.get $i) (i32.const 37)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $fill)))
    (local.set $i (i32.const 0))
    (block $done2
      (loop $sum
        (br_if $done2 (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $n)))
        (local.set $s (i64.add (local.get $s) (i64.load offset=0 (i32.add (local.get $p) (local.get $i)))))
        (local.set $s (i64.xor (local.get $s) (i64.load32_s (i32.add (local.get $p) (local.get $i)))))
        (local.set $s (i64.sub (local.get $s) (i64.load32_u (i32.add (local.get $p) (local.get $i)))))
        (local.set $s (i64.add (local.get $s) (i64.load16_s (i32.add (local.get $p) (local.get $i)))))
        (local.set $s (i64.add (local.get $s) (i64.load16_u (i32.add (local.get $p) (local.get $i)))))
        (local.set $s (i64.add (local.get $s) (i64.load8_s (i32.add (local.get $p) (local.get $i)))))
        (local.set $s (i64.add (local.get $s) (i64.load8_u offset=3 (i32.add (local.get $p) (local.get $i)))))
        (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (i32.load16_s offset=1 (i32.add (local.get $p) (local.get $i))))))
        (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (i32.load8_s offset=2 (i32.add (local.get $p) (local.get $i))))))
        (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (i32.load16_u (i32.add (local.get $p) (local.get $i))))))
        (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (i32.load (i32.add (local.get $p) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 3)))
        (br $sum)))
    (local.get $s))
  ;; Stores of every width at p + k * 8 for k < n, values from the global, which it bumps.
  (func (export "store_widths") (param $p i32) (param $n i32)
    (local $k i32) (local $a i32)
    (loop $l
      (local.set $a (i32.add (local.get $p) (i32.shl (local.get $k) (i32.const 3))))
      (i64.store offset=0 (local.get $a) (global.get $g))
      (i64.store32 offset=8 (local.get $a) (i64.mul (global.get $g) (i64.const -3)))
      (i64.store16 offset=12 (local.get $a) (global.get $g))
      (i64.store8 offset=14 (local.get $a) (global.get $g))
      (i32.store16 offset=16 (local.get $a) (i32.wrap_i64 (global.get $g)))
      (i32.store offset=18 (local.get $a) (i32.const -7))
      (global.set $g (i64.add (global.get $g) (i64.const 0x10000000001)))
      (br_if $l (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (local.get $n)))))
  ;; Exits through three different labels, and a trap in the middle.
  (func (export "exits") (param $x i32) (result i32)
    (local $i i32)
    (block $a
      (block $b
        (block $c
          (loop $l
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $a (i32.eq (local.get $i) (local.get $x)))
            (if (i32.and (i32.eq (local.get $i) (i32.const 50)) (i32.eq (local.get $x) (i32.const 1000)))
              (then (br $b)))
            (if (i32.and (i32.eq (local.get $i) (i32.const 60)) (i32.eq (local.get $x) (i32.const 1001)))
              (then (br $c)) (else (nop)))
            (if (i32.and (i32.eq (local.get $i) (i32.const 70)) (i32.eq (local.get $x) (i32.const 1002)))
              (then (unreachable)))
            (drop (i32.div_u (i32.const 1) (i32.sub (local.get $i) (i32.const 80))))
            (br $l)))
        (return (i32.add (local.get $i) (i32.const 1000))))
      (return (i32.add (local.get $i) (i32.const 2000))))
    (i32.add (local.get $i) (i32.const 3000)))
  ;; select in all its forms, and a nested loop.
  (func (export "selects") (param $x i32) (param $y i32) (result i32)
    (local $i i32) (local $j i32) (local $s i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $s (i32.add (local.get $s)
          (select (local.get $i) (local.get $j) (i32.lt_s (local.get $i) (local.get $j)))))
        (local.set $s (i32.xor (local.get $s)
          (select (i32.const 7) (local.get $x) (local.get $y))))
        (local.set $s (i32.add (local.get $s)
          (select (result i32) (local.get $x) (i32.const -1) (i32.and (local.get $j) (i32.const 1)))))
        (br_if $inner (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const 5))))
      (br_if $outer (i32.ne (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 7))))
    (local.get $s))
))";

TEST(LoopCompiler, LoadsStoresAndGlobalsMatchTheInterpreter) {
  TwoSides sides(kMemoryLoops);
  ASSERT_TRUE(sides.ok());
  for (int32_t p : {0, 1, 100, 65000, 65500, 65529, 65530, 65536, -1})
    for (int32_t n : {0, 1, 9, 40, 100}) sides.both("fill_and_sum", {i32(p), i32(n)});
  for (int32_t p : {0, 3, 65000, 65514, 65515, 65520, 70000})
    for (int32_t n : {1, 2, 5}) sides.both("store_widths", {i32(p), i32(n)});
  sides.expect_same_memory();
  EXPECT_EQ(sides.instance(0)->get_global("g")->get().as_i64(),
            sides.instance(1)->get_global("g")->get().as_i64());
  if (jit_here()) {
    EXPECT_TRUE(sides.compiled("fill_and_sum"));
    EXPECT_TRUE(sides.compiled("store_widths"));
  }
}

TEST(LoopCompiler, ExitsTrapsAndSelectsMatchTheInterpreter) {
  TwoSides sides(kMemoryLoops);
  ASSERT_TRUE(sides.ok());
  // x < 80: exit to $a at x; 1000: $b at 50; 1001: $c at 60; 1002: unreachable at 70; anything
  // else: division by zero at 80.
  for (int32_t x : {1, 5, 79, 80, 1000, 1001, 1002, 1003, 0, -1}) sides.both("exits", {i32(x)});
  EXPECT_EQ(sides.both("exits", {i32(5)}).values.at(0).as_i32(), 5 + 3000);
  EXPECT_EQ(sides.both("exits", {i32(1000)}).values.at(0).as_i32(), 50 + 2000);
  EXPECT_EQ(sides.both("exits", {i32(1001)}).values.at(0).as_i32(), 60 + 1000);
  EXPECT_EQ(sides.both("exits", {i32(1002)}).trap, TrapKind::Unreachable);
  EXPECT_EQ(sides.both("exits", {i32(0)}).trap, TrapKind::IntegerDivideByZero);
  for (int32_t x : {0, 1, -5})
    for (int32_t y : {0, 1}) sides.both("selects", {i32(x), i32(y)});
  if (jit_here()) {
    EXPECT_TRUE(sides.compiled("exits"));
    EXPECT_TRUE(sides.compiled("selects"));
  }
}

TEST(LoopCompiler, OutOfBoundsTrapsAtTheAccessThatFaulted) {
  constexpr std::string_view wat = R"((module (memory (export "mem") 1)
    (func (export "walk") (param $p i32) (param $stride i32)
      (local $s i32)
      (loop $l
        (local.set $s (i32.add (local.get $s) (i32.load8_u (local.get $p))))
        (i32.store16 offset=7 (local.get $p) (local.get $s))
        (local.set $s (i32.add (local.get $s) (i32.load offset=2 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (local.get $stride)))
        (br $l)))))";
  TwoSides sides(wat);
  ASSERT_TRUE(sides.ok());
  // Each access in turn is the first out of bounds: the load8 at 65536, the store16 at 65535,
  // the i32 load at 65534.
  for (int32_t start : {65000, 65535 - 7 - 1, 65536 - 6 - 1, 0})
    for (int32_t stride : {1, 3, 1000}) {
      CallResult r = sides.both("walk", {i32(start), i32(stride)});
      EXPECT_EQ(r.trap, TrapKind::MemoryOutOfBounds);
    }
  sides.expect_same_memory();
  if (jit_here()) EXPECT_TRUE(sides.compiled("walk"));
}

TEST(LoopCompiler, DeadlineAndInterruptStopACompiledLoop) {
  StoreOptions options = spec_options();
  options.limits.cpu_time_per_call = std::chrono::milliseconds(30);
  constexpr std::string_view wat = R"((module (memory 1)
    (func (export "spin") (param $n i32) (local $i i32)
      (loop $l
        (i32.store (i32.const 0) (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.ne (local.get $n) (i32.const 0)))))))";
  TwoSides sides(wat, options);
  ASSERT_TRUE(sides.ok());
  CallResult r = sides.both("spin", {i32(1)});
  EXPECT_EQ(r.trap, TrapKind::CpuLimit);
  EXPECT_EQ(r.message, "cpu time limit exceeded");
  if (jit_here()) EXPECT_TRUE(sides.compiled("spin"));
  // The store is not terminated (spec_options), so it runs again, and stops again.
  EXPECT_EQ(sides.both("spin", {i32(1)}).trap, TrapKind::CpuLimit);
  EXPECT_EQ(sides.both("spin", {i32(0)}).outcome, Outcome::Ok);

  // Store::interrupt from another thread stops it with the kind asked for (a store without a
  // deadline, so that only the interrupt can stop it).
  TwoSides no_deadline(wat);
  ASSERT_TRUE(no_deadline.ok());
  Store& store = no_deadline.store(0);
  auto spin = no_deadline.instance(0)->get_function("spin");
  ASSERT_TRUE(spin.has_value());
  std::atomic<bool> done{false};
  std::thread interrupter([&] {
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      store.interrupt(TrapKind::HostAbort);
    }
  });
  std::vector<Value> args = {i32(1)};
  CallResult stopped = store.call(*spin, args);
  done = true;
  interrupter.join();
  EXPECT_EQ(stopped.outcome, Outcome::Abort);
  EXPECT_EQ(stopped.trap, TrapKind::HostAbort);
  EXPECT_EQ(stopped.message, "interrupted");
  ASSERT_FALSE(stopped.backtrace.empty());
  if (jit_here()) EXPECT_TRUE(no_deadline.compiled("spin"));
}

TEST(LoopCompiler, LoopsItDoesNotTakeStillRun) {
  // A call, a float, a value-carrying block and a branch to the function label: interpreted.
  constexpr std::string_view wat = R"((module
    (func $id (param i32) (result i32) (local.get 0))
    (func (export "call_in_loop") (param $n i32) (result i32) (local $i i32)
      (loop $l (local.set $i (call $id (i32.add (local.get $i) (i32.const 1))))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
      (local.get $i))
    (func (export "float_in_loop") (param $n i32) (result f64) (local $i i32) (local $x f64)
      (loop $l (local.set $x (f64.add (local.get $x) (f64.const 0.5)))
        (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
      (local.get $x))
    (func (export "return_in_loop") (param $n i32) (result i32) (local $i i32)
      (loop $l (if (i32.eq (local.get $i) (local.get $n)) (then (return (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l))
      (i32.const -1))))";
  TwoSides sides(wat);
  ASSERT_TRUE(sides.ok());
  EXPECT_EQ(sides.both("call_in_loop", {i32(10)}).values.at(0).as_i32(), 10);
  EXPECT_EQ(sides.both("float_in_loop", {i32(4)}).values.at(0).as_f64(), 2.0);
  EXPECT_EQ(sides.both("return_in_loop", {i32(6)}).values.at(0).as_i32(), 6);
  EXPECT_FALSE(sides.compiled("call_in_loop"));
  EXPECT_FALSE(sides.compiled("float_in_loop"));
  EXPECT_FALSE(sides.compiled("return_in_loop"));
}

}  // namespace
}  // namespace rw::testing
