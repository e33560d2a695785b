// The compiler's fused instructions (compare+select, folded address additions, immediate store
// values, loop latches, results computed into the result slot, paired additions, loops whose exit
// branch is turned around, attention checks on backward branches) must keep
// exact wasm semantics, including at the edges where a naive fusion would differ.

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "test_util.h"
#include "wasm/interp/compiler.h"  // CompiledFunc, dispatch_offsets
#include "wasm/interp/runtime.h"   // CompiledModule::fuse

namespace rw::testing {
namespace {

constexpr std::string_view kFusions = R"(
(module
  (memory 1)
  ;; i32.add of a constant folded into the address: the sum wraps at 32 bits before the offset.
  (func (export "load_wrapped") (param i32) (result i32)
    (i32.load8_u offset=4 (i32.add (local.get 0) (i32.const 0x10000))))
  (func (export "store_wrapped") (param i32 i32)
    (i32.store8 offset=2 (i32.add (local.get 0) (i32.const 0x10000)) (local.get 1)))
  ;; The local is written between the add and the load: the load must see the old sum.
  (func (export "load_after_set") (param i32) (result i32)
    (i32.store8 (i32.const 8) (i32.const 42))
    (i32.add (local.get 0) (i32.const 1))
    (local.set 0 (i32.const 100))
    (i32.load8_u))
  (func (export "tee_add") (param i32) (result i32)
    (local.tee 0 (i32.add (local.get 0) (i32.const 5)))
    (local.get 0)
    (i32.add))
;; i32.wrap_i64 folded into the address: only the low 32 bits count.
  (func (export "load_wrap64") (param i64) (result i32)
    (i32.store8 (i32.const 3) (i32.const 77))
    (i32.load8_u offset=1 (i32.wrap_i64 (local.get 0))))
  (func (export "store_wrap64") (param i64 i32) (result i32)
    (i32.store8 (i32.wrap_i64 (local.get 0)) (local.get 1))
    (i32.load8_u (i32.const 9)))
;; An i32.add of two locals folded into the address (register-register form), wrapping too.
  (func (export "load_rr") (param i32 i32) (result i32)
    (i32.store16 (i32.const 40) (i32.const 0x1234))
    (i32.load16_u offset=8 (i32.add (local.get 0) (local.get 1))))
  (func (export "store_rr") (param i32 i32 i64) (result i64)
    (i64.store32 offset=4 (i32.add (local.get 0) (local.get 1)) (local.get 2))
    (i64.load32_u (i32.const 48)))
  ;; The second local is written before the pending sum is used.
  (func (export "rr_after_set") (param i32 i32) (result i32)
    (i32.store8 (i32.const 12) (i32.const 99))
    (i32.add (local.get 0) (local.get 1))
    (local.set 1 (i32.const 1000))
    (i32.load8_u))
  (func (export "rr_result") (param i32 i32) (result i32)
    (i32.add (local.get 1) (local.get 0)))
;; Storing zero into a local still holding its initial zero is skipped; every other one is not.
  (func (export "zero_after_write") (result i32) (local i32)
    (local.set 0 (i32.const 5))
    (local.set 0 (i32.const 0))
    (local.get 0))
  (func (export "zero_in_loop") (param i32) (result i32) (local i32 i32)
    (loop $l
      (local.set 2 (i32.add (local.get 2) (local.get 1)))
      (local.set 1 (i32.const 0))
      (local.set 1 (i32.add (local.get 1) (i32.const 7)))
      (br_if $l (local.tee 0 (i32.add (local.get 0) (i32.const -1)))))
    (local.get 2))
  (func (export "zero_tee") (result i32) (local i32 i64)
    (i32.add (local.tee 0 (i32.const 0)) (i32.wrap_i64 (local.get 1))))
;; Division by a constant: immediate forms only where no trap is possible.
  (func (export "divs") (param i32 i64) (result i64)
    (i64.add
      (i64.extend_i32_u
        (i32.xor (i32.div_u (local.get 0) (i32.const 10))
                 (i32.xor (i32.rem_s (local.get 0) (i32.const -7))
                          (i32.div_u (local.get 0) (i32.const 0x80000000)))))
      (i64.add (i64.div_s (local.get 1) (i64.const -3)) (i64.rem_u (local.get 1) (i64.const 1000)))))
  (func (export "div_by_zero") (param i32) (result i32) (i32.div_u (local.get 0) (i32.const 0)))
  (func (export "div_overflow") (param i32) (result i32) (i32.div_s (local.get 0) (i32.const -1)))
  (func (export "rem_minus_one") (param i64) (result i64) (i64.rem_s (local.get 0) (i64.const -1)))
;; `if (x > m) x -= m` as clang emits it: a conditional add (and its mirror image).
  (func (export "cond_sub") (param i32) (result i32)
    (select (i32.add (local.get 0) (i32.const -65521)) (local.get 0)
            (i32.gt_u (local.get 0) (i32.const 65520))))
  (func (export "cond_add_mirror") (param i32) (result i32)
    (select (local.get 0) (i32.add (local.get 0) (i32.const 100))
            (i32.lt_s (local.get 0) (i32.const 0))))
  ;; The sum just computed by an i32.add (an Adler-32 step): one op for the add and the
  ;; conditional add, which must still leave the sum in its local.
  (func (export "add_cond_sub") (param i32 i32) (result i32)
    (select (i32.add (local.tee 0 (i32.add (local.get 0) (local.get 1))) (i32.const -65521))
            (local.get 0)
            (i32.gt_u (local.get 0) (i32.const 65520))))
  (func (export "add_cond_sum") (param i32 i32) (result i32) (local i32)
    (local.set 2 (i32.add (local.get 1) (local.get 0)))
    (drop (select (local.get 2) (i32.add (local.get 2) (i32.const 100))
                  (i32.lt_s (local.get 2) (i32.const 0))))
    (local.get 2))
  (func (export "add_cond_mirror") (param i32 i32) (result i32) (local i32)
    (local.set 2 (i32.add (local.get 1) (local.get 0)))
    (select (local.get 2) (i32.add (local.get 2) (i32.const 100))
            (i32.lt_s (local.get 2) (i32.const 0))))
  ;; Not the same local: no conditional add.
  (func (export "cond_other") (param i32 i32) (result i32)
    (select (i32.add (local.get 1) (i32.const 1)) (local.get 0)
            (i32.gt_u (local.get 0) (i32.const 5))))
;; Branches on a loaded value.
  (func (export "branch_on_load") (param i32) (result i32)
    (i32.store (i32.const 60) (i32.const 0x100))
    (block $b
      (br_if $b (i32.load8_u (local.get 0)))
      (return (i32.const 1)))
    (if (result i32) (i32.load offset=4 (i32.add (local.get 0) (i32.const 4)))
      (then (i32.const 2)) (else (i32.const 3))))
  ;; Immediate store values, sign-extended: i64.store of -2 writes all eight bytes.
  (func (export "store_i64_neg") (result i64)
    (i64.store (i32.const 16) (i64.const -2))
    (i64.load (i32.const 16)))
  (func (export "store_i64_wide") (result i64)
    (i64.store (i32.const 16) (i64.const 0x1_0000_0001))
    (i64.load (i32.const 16)))
  (func (export "store_f32") (result f32)
    (f32.store (i32.const 24) (f32.const -1.5))
    (f32.load (i32.const 24)))
  (func (export "store_oob")
    (i32.store8 (i32.const 65536) (i32.const 1)))
  ;; Compare + select, and select on eqz (operands swapped).
  (func (export "select_gtu") (param i32 i32 i32) (result i32)
    (select (local.get 0) (local.get 1) (i32.gt_u (local.get 2) (i32.const 10))))
  (func (export "select_lts64") (param i64 i64 i64 i64) (result i64)
    (select (local.get 0) (local.get 1) (i64.lt_s (local.get 2) (local.get 3))))
  (func (export "select_eqz") (param i32 i32 i32) (result i32)
    (select (local.get 0) (local.get 1) (i32.eqz (local.get 2))))
  ;; Loop latches: counter on the left, on the right (mirrored), i64, and a count-down to zero.
  (func (export "latch_left") (param i32) (result i32) (local i32 i32)
    (loop $l
      (local.set 2 (i32.add (local.get 2) (local.get 1)))
      (br_if $l (i32.lt_u (local.tee 1 (i32.add (local.get 1) (i32.const 1))) (local.get 0))))
    (local.get 2))
  (func (export "latch_right") (param i32) (result i32) (local i32 i32)
    (loop $l
      (local.set 2 (i32.add (local.get 2) (i32.const 3)))
      (br_if $l (i32.gt_s (local.get 0) (local.tee 1 (i32.add (local.get 1) (i32.const 1))))))
    (local.get 2))
  (func (export "latch_i64") (param i64) (result i64) (local i64 i64)
    (loop $l
      (local.set 2 (i64.add (local.get 2) (i64.const 1)))
      (br_if $l (i64.ne (local.tee 1 (i64.add (local.get 1) (i64.const -3))) (local.get 0))))
    (local.get 2))
  (func (export "latch_countdown") (param i32) (result i32) (local i32)
    (loop $l
      (local.set 1 (i32.add (local.get 1) (i32.const 2)))
      (br_if $l (local.tee 0 (i32.add (local.get 0) (i32.const -1)))))
    (local.get 1))
  ;; The result computed into slot 0, which is also the parameter it reads.
  (func (export "result_reads_param") (param i32 i32) (result i32)
    (i32.sub (local.get 1) (local.get 0)))
;; Binary ops with an operand loaded: right, left of a commutative op, never left of `sub`.
  (func (export "init_memory")
    (i32.store (i32.const 100) (i32.const 0x01020304))
    (i32.store8 (i32.const 104) (i32.const 0xf0))
    (i64.store (i32.const 112) (i64.const -0x0123456789abcdef))
    (f64.store (i32.const 120) (f64.const 1.5))
    (f32.store (i32.const 128) (f32.const -2.25))
    (f64.store (i32.const 136) (f64.const 4)))
  (func (export "add_load8_right") (param i32 i32) (result i32)
    (i32.add (local.get 0) (i32.load8_u offset=4 (local.get 1))))
  (func (export "add_load_left") (param i32 i32) (result i32)
    (i32.add (i32.load (local.get 1)) (local.get 0)))
  (func (export "sub_load_right") (param i32 i32) (result i32)
    (i32.sub (local.get 0) (i32.load (local.get 1))))
  (func (export "sub_load_left") (param i32 i32) (result i32)
    (i32.sub (i32.load (local.get 1)) (local.get 0)))
  (func (export "xor_or_and_mul") (param i32) (result i32)
    (i32.xor
      (i32.xor (local.get 0) (i32.load8_u (i32.const 104)))
      (i32.mul (i32.or (local.get 0) (i32.load (i32.const 100)))
               (i32.and (i32.load (i32.const 100)) (local.get 0)))))
  (func (export "i64_ops") (param i64) (result i64)
    (i64.xor (i64.add (local.get 0) (i64.load (i32.const 112))) (i64.load (i32.const 112))))
  (func (export "f64_dot") (param i32 i32) (result f64)
    (f64.add (f64.mul (f64.load (local.get 0)) (f64.load (local.get 1)))
             (f64.sub (f64.load (local.get 1)) (f64.load (local.get 0)))))
  (func (export "f32_ops") (param f32) (result f32)
    (f32.mul (f32.add (local.get 0) (f32.load (i32.const 128))) (f32.load (i32.const 128))))
  ;; The loaded value also kept in a local: no fusion may drop that write.
  (func (export "load_tee") (param i32) (result i32) (local i32)
    (i32.add (local.get 0) (local.tee 1 (i32.load (i32.const 100))))
    (local.get 1)
    (i32.sub))
;; Both operands loaded: one op, operands in order; a trap is reported at the load that failed.
  (func (export "loads_mul_f64") (param i32 i32) (result f64)
    (f64.mul (f64.load offset=8 (local.get 0)) (f64.load offset=16 (local.get 1))))
  ;; The same with a register-register address (base + index in locals) on either side or both.
  (func (export "loads_mul_f64_ir") (param i32 i32 i32) (result f64)
    (f64.mul (f64.load offset=8 (local.get 0))
             (f64.load offset=16 (i32.add (local.get 1) (local.get 2)))))
  (func (export "loads_mul_f64_ri") (param i32 i32 i32) (result f64)
    (f64.mul (f64.load offset=8 (i32.add (local.get 0) (local.get 1)))
             (f64.load offset=16 (local.get 2))))
  (func (export "loads_add_i32_rr") (param i32 i32 i32 i32) (result i32)
    (i32.add (i32.load (i32.add (local.get 0) (local.get 1)))
             (i32.load offset=4 (i32.add (local.get 2) (local.get 3)))))
  ;; Two additions in a row run as one instruction; the second reads the first one's result.
  (func (export "two_adds") (param $a i32) (param $b i32) (result i32)
    (local.set $a (i32.add (local.get $a) (i32.const 5)))
    (local.set $b (i32.add (local.get $b) (local.get $a)))
    (i32.xor (i32.shl (local.get $a) (i32.const 16)) (local.get $b)))
  ;; A branch lands on the second addition of a pair, which must still run alone.
  (func (export "branch_into_second_add") (param $x i32) (param $skip i32) (result i32)
    (local $y i32)
    (block $b
      (br_if $b (local.get $skip))
      (local.set $x (i32.add (local.get $x) (i32.const 100))))
    (local.set $y (i32.add (local.get $x) (i32.const 1)))
    (i32.add (i32.mul (local.get $x) (i32.const 1000)) (local.get $y)))
  ;; Two loads in a row, the second one's address the first one's value.
  (func (export "load_twice_chain") (param $p i32) (result i32)
    (local $q i32)
    (local.set $q (i32.load offset=4 (local.get $p)))
    (local.set $p (i32.load offset=8 (local.get $q)))
    (i32.add (local.get $p) (local.get $q)))
  ;; x % 10 the way LLVM computes it next to x / 10: x - (x / 10) * 10, both results used.
  (func (export "digit_and_rest") (param $x i32) (result i32 i32)
    (local $q i32)
    (i32.sub (local.get $x) (i32.mul (local.tee $q (i32.div_u (local.get $x) (i32.const 10)))
                                     (i32.const 10)))
    (local.get $q))
  ;; The same shape with the quotient written over x: x - q * 10 then reads the quotient.
  (func (export "digit_over_x") (param $x i32) (result i32)
    (i32.sub (local.get $x) (i32.mul (local.tee $x (i32.div_u (local.get $x) (i32.const 10)))
                                     (i32.const 10))))
  ;; Two loads and a branch on their values: 1 if the branch is taken.
  (func (export "bytes_differ") (param $p i32) (param $q i32) (result i32)
    (block $differ
      (br_if $differ (i32.ne (i32.load8_u offset=1 (local.get $p))
                             (i32.load8_u offset=2 (local.get $q))))
      (return (i32.const 0)))
    (i32.const 1))
  (func (export "words_equal_swapped") (param $p i32) (param $q i32) (result i32)
    (local $a i32) (local $b i32)
    (local.set $a (i32.load (local.get $p)))
    (local.set $b (i32.load (local.get $q)))
    (block $equal
      (br_if $equal (i32.eq (local.get $b) (local.get $a)))
      (return (i32.const 0)))
    (i32.const 1))
  ;; Both loads into the same local: the branch compares that local with itself.
  (func (export "same_slot_twice") (param $p i32) (param $q i32) (result i32)
    (local $a i32)
    (local.set $a (i32.load8_u (local.get $p)))
    (local.set $a (i32.load8_u (local.get $q)))
    (block $differ
      (br_if $differ (i32.ne (local.get $a) (local.get $a)))
      (return (i32.const 0)))
    (i32.const 1))
  ;; Loops that leave by a conditional branch, then go round by `br` (turned around when fused).
  ;; Compares bytes at p and q for n bytes: n if all equal, else -(index of the first mismatch).
  (func (export "exit_then_back") (param $p i32) (param $q i32) (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (block $differ
        (loop $next
          (br_if $differ (i32.ne (i32.load8_u (local.get $p)) (i32.load8_u (local.get $q))))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $done (i32.eqz (local.tee $n (i32.add (local.get $n) (i32.const -1)))))
          (br $next)))
      (return (i32.sub (i32.const 0) (local.get $i))))
    (local.get $i))
  ;; do { ++p; ++n; } while (byte at p + 3 == 0); return n (a branch on a loaded byte, which can
  ;; trap).
  (func (export "exit_on_nonzero_byte") (param $p i32) (result i32)
    (local $n i32)
    (block $out
      (loop $next
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br_if $out (i32.load8_u offset=3 (local.get $p)))
        (br $next)))
    (local.get $n))
  ;; Compare-with-immediate and i64 exits: sums 1..k while k < limit, i64 counting down to zero.
  (func (export "exit_on_compare") (param $limit i32) (param $count i64) (result i64)
    (local $k i32) (local $sum i64)
    (block $out
      (loop $next
        (br_if $out (i32.ge_u (local.get $k) (local.get $limit)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (local.set $sum (i64.add (local.get $sum) (i64.extend_i32_u (local.get $k))))
        (br_if $out (i64.eqz (local.tee $count (i64.sub (local.get $count) (i64.const 1)))))
        (br_if $out (i32.gt_s (local.get $k) (i32.const 1000)))
        (br $next)))
    (local.get $sum))
  (func (export "loads_add_f64") (param i32 i32) (result f64)
    (f64.add (f64.load (local.get 0)) (f64.load (local.get 1))))
  (func (export "loads_f32") (param i32 i32) (result f32)
    (f32.add (f32.mul (f32.load (local.get 0)) (f32.load (local.get 1)))
             (f32.load (local.get 0))))
  (func (export "loads_i32") (param i32 i32) (result i32)
    (i32.mul (i32.add (i32.load (local.get 0)) (i32.load offset=4 (local.get 1)))
             (i32.load (local.get 1))))
  (func (export "loads_i64") (param i32 i32) (result i64)
    (i64.add (i64.mul (i64.load (local.get 0)) (i64.load (local.get 1))) (i64.load (local.get 1))))
  (func (export "store_i64") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "loads_tee") (param i32 i32) (result i32) (local i32)
    (i32.add (local.tee 2 (i32.load (local.get 0))) (i32.load (local.get 1)))
    (local.get 2)
    (i32.sub))
  (func (export "add_load_oob") (param i32 i32) (result i32)
    (i32.add (local.get 0) (i32.load offset=2 (local.get 1))))
;; (a ^ b) * k, the step of multiplicative hashes; with the xor also kept in a local it is not fused.
  (func (export "xor_mul") (param i32 i32) (result i32)
    (i32.mul (i32.xor (local.get 0) (local.get 1)) (i32.const 16777619)))
  ;; Two hash steps in a row (FNV-1a unrolled), the first step's value on either side of the
  ;; second xor; and kept in a local, which must still be written.
  (func (export "xor_mul_twice") (param i32 i32 i32) (result i32)
    (i32.mul (i32.xor (i32.mul (i32.xor (local.get 0) (local.get 1)) (i32.const 16777619))
                      (local.get 2))
             (i32.const 0x01000193)))
  (func (export "xor_mul_twice_right") (param i32 i32 i32) (result i32)
    (i32.mul (i32.xor (local.get 2)
                      (i32.mul (i32.xor (local.get 0) (local.get 1)) (i32.const 31)))
             (i32.const 16777619)))
  (func (export "xor_mul_twice_tee") (param i32 i32 i32) (result i32) (local i32)
    (i32.mul (i32.xor (local.tee 3 (i32.mul (i32.xor (local.get 0) (local.get 1))
                                            (i32.const 16777619)))
                      (local.get 2))
             (i32.const 16777619))
    (local.get 3)
    (i32.sub))
  (func (export "xor_tee_mul") (param i32 i32) (result i32) (local i32)
    (i32.mul (local.tee 2 (i32.xor (local.get 0) (local.get 1))) (i32.const 3))
    (local.get 2)
    (i32.add))
;; Two float additions in one op: the inner sum is rounded first, on either side.
  (func (export "add_add_left") (param f64 f64 f64) (result f64)
    (f64.add (f64.add (local.get 0) (local.get 1)) (local.get 2)))
  (func (export "add_add_right") (param f64 f64 f64) (result f64)
    (f64.add (local.get 0) (f64.add (local.get 1) (local.get 2))))
  (func (export "add_add_f32") (param f32 f32 f32) (result f32)
    (f32.add (local.get 2) (f32.add (local.get 0) (local.get 1))))
  (func (export "add_add_tee") (param f64 f64 f64) (result f64) (local f64)
    (f64.add (local.tee 3 (f64.add (local.get 0) (local.get 1))) (local.get 2))
    (local.get 3)
    (f64.sub))
;; FNV-1a over bytes: the xor with a loaded byte and the multiply are one op.
  (func (export "fnv") (param $p i32) (param $n i32) (result i32) (local $h i32)
    (local.set $h (i32.const 0x811c9dc5))
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $h (i32.mul (i32.xor (local.get $h) (i32.load8_u offset=1 (local.get $p)))
                               (i32.const 16777619)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $h))
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2))))))))
)";

// Every test runs on the module compiled normally and compiled without fusion: the fused
// operations must give what the plain code gives.
class Fusion : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    auto module = load(kFusions);
    ASSERT_NE(module, nullptr);
    module_ = module;
    module->compiled().fuse = GetParam();
    module->compiled().compile_loops = false;  // the interpreter's own translation is tested here
    auto inst = store_.instantiate(module, {});
    ASSERT_TRUE(inst.ok()) << inst.error().to_string();
    inst_ = inst.value();
  }
  CallResult run(std::string_view name, std::initializer_list<Value> args = {}) {
    CallResult r = call(store_, inst_, name, args);
    EXPECT_TRUE(r.ok()) << name << ": " << r.message;
    return r;
  }
  // The first operation of export `name`'s compiled code (it must have been called).
  uint32_t first_op(std::string_view name) {
    const wasm::Module& ir = module_->compiled().ir;
    for (const wasm::Export& e : ir.exports) {
      if (e.name != name) continue;
      const internal::CompiledFunc& f = module_->compiled().code[e.index - ir.num_imported_funcs];
      return f.ready.load() ? f.code.at(0) : UINT32_MAX;
    }
    return UINT32_MAX;
  }
  // Whether export `name`'s compiled code holds `op` (an operand word could only match by
  // coincidence: the functions here are small and their operands are small numbers).
  bool has_op(std::string_view name, internal::IOp op) {
    const wasm::Module& ir = module_->compiled().ir;
    for (const wasm::Export& e : ir.exports) {
      if (e.name != name) continue;
      const internal::CompiledFunc& f = module_->compiled().code[e.index - ir.num_imported_funcs];
      return f.ready.load() && std::find(f.code.begin(), f.code.end(), op_word(op)) != f.code.end();
    }
    return false;
  }
  // Expects an out-of-bounds trap reported at a load of kFusions whose opcode is `opcode` and
  // whose memarg offset (one LEB byte after the alignment) is `offset`: which load trapped.
  void expect_trap_at_load(const CallResult& r, uint8_t opcode, uint8_t offset) {
    ASSERT_EQ(r.outcome, Outcome::Abort) << r.message;
    EXPECT_EQ(r.trap, TrapKind::MemoryOutOfBounds);
    ASSERT_FALSE(r.backtrace.empty());
    auto bytes = wasm::wat_to_binary(kFusions);
    ASSERT_TRUE(bytes.ok());
    uint32_t at = r.backtrace[0].offset;
    ASSERT_LT(at + 2, bytes.value().size());
    EXPECT_EQ(bytes.value()[at], opcode);
    EXPECT_EQ(bytes.value()[at + 2], offset);
  }
  static uint32_t op_word(internal::IOp op) {
    return static_cast<uint32_t>(internal::dispatch_offsets()[internal::op_id(op)]);
  }
  std::shared_ptr<const Module> module_;
  Store store_{spec_options()};
  Instance* inst_ = nullptr;
};

TEST_P(Fusion, FoldedAddressWrapsAt32BitsBeforeTheOffset) {
  // 0xffff0004 + 0x10000 wraps to 4, plus offset 2: byte 6. Read back through the other offset.
  run("store_wrapped", {i32(static_cast<int32_t>(0xffff0004u)), i32(0xab)});
  EXPECT_EQ(run("load_wrapped", {i32(static_cast<int32_t>(0xffff0002u))}).values.at(0).as_i32(),
            0xab);
  // Without the wrap these addresses would be far out of bounds.
  EXPECT_EQ(run("load_wrapped", {i32(static_cast<int32_t>(0xffff000au))}).values.at(0).as_i32(), 0);
  // No wrap, past the end: a trap, not a read at a wrapped address.
  CallResult r = call(store_, inst_, "load_wrapped", {i32(0xfffc)});
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::MemoryOutOfBounds);
}

TEST_P(Fusion, WrappedI64Address) {
  EXPECT_EQ(run("load_wrap64", {i64(0x7'0000'0002)}).values.at(0).as_i32(), 77);
  EXPECT_EQ(run("store_wrap64", {i64(-0x1'0000'0000 + 9), i32(5)}).values.at(0).as_i32(), 5);
  CallResult r = call(store_, inst_, "load_wrap64", {i64(0xffff)});  // 0xffff + 1: out of bounds
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::MemoryOutOfBounds);
}

TEST_P(Fusion, RegisterRegisterAddress) {
  EXPECT_EQ(run("load_rr", {i32(30), i32(2)}).values.at(0).as_i32(), 0x1234);
  EXPECT_EQ(run("load_rr", {i32(-8), i32(40)}).values.at(0).as_i32(), 0x1234);  // wraps
  EXPECT_EQ(run("store_rr", {i32(-4), i32(48), i64(-1)}).values.at(0).as_i64(), 0xffffffff);
  CallResult r = call(store_, inst_, "load_rr", {i32(65530), i32(0)});
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::MemoryOutOfBounds);
  EXPECT_EQ(run("rr_after_set", {i32(10), i32(2)}).values.at(0).as_i32(), 99);
  EXPECT_EQ(run("rr_result", {i32(-3), i32(10)}).values.at(0).as_i32(), 7);
}

TEST_P(Fusion, ZeroStoresIntoFreshLocals) {
  EXPECT_EQ(run("zero_after_write").values.at(0).as_i32(), 0);
  EXPECT_EQ(run("zero_in_loop", {i32(3)}).values.at(0).as_i32(), 14);
  EXPECT_EQ(run("zero_tee").values.at(0).as_i32(), 0);
  // Locals are zero on every call, also after a call that left other values in the frame.
  EXPECT_EQ(run("latch_left", {i32(5)}).values.at(0).as_i32(), 10);
  EXPECT_EQ(run("zero_in_loop", {i32(1)}).values.at(0).as_i32(), 0);
}

TEST_P(Fusion, DivisionByConstants) {
  auto expect = [](int32_t x, int64_t y) {
    uint32_t u = static_cast<uint32_t>(x);
    uint32_t low = (u / 10) ^ (static_cast<uint32_t>(x % -7) ^ (u / 0x80000000u));
    return static_cast<int64_t>(low) +
           (y / -3 + static_cast<int64_t>(static_cast<uint64_t>(y) % 1000));
  };
  for (int32_t x : {0, 12345, -12345, INT32_MIN})
    for (int64_t y : {int64_t{0}, int64_t{99999}, int64_t{-99999}, INT64_MIN})
      EXPECT_EQ(run("divs", {i32(x), i64(y)}).values.at(0).as_i64(), expect(x, y)) << x << " " << y;
  CallResult r = call(store_, inst_, "div_by_zero", {i32(1)});
  EXPECT_EQ(r.trap, TrapKind::IntegerDivideByZero);
  r = call(store_, inst_, "div_overflow", {i32(INT32_MIN)});
  EXPECT_EQ(r.trap, TrapKind::IntegerOverflow);
  EXPECT_EQ(run("div_overflow", {i32(5)}).values.at(0).as_i32(), -5);
  EXPECT_EQ(run("rem_minus_one", {i64(INT64_MIN)}).values.at(0).as_i64(), 0);
}

TEST_P(Fusion, ConditionalAdd) {
  EXPECT_EQ(run("cond_sub", {i32(65520)}).values.at(0).as_i32(), 65520);
  EXPECT_EQ(run("cond_sub", {i32(65521)}).values.at(0).as_i32(), 0);
  EXPECT_EQ(run("cond_sub", {i32(70000)}).values.at(0).as_i32(), 70000 - 65521);
  EXPECT_EQ(run("cond_sub", {i32(-1)}).values.at(0).as_i32(), -1 - 65521);  // unsigned compare
  EXPECT_EQ(run("cond_add_mirror", {i32(-5)}).values.at(0).as_i32(), -5);
  EXPECT_EQ(run("cond_add_mirror", {i32(5)}).values.at(0).as_i32(), 105);
  EXPECT_EQ(run("cond_add_mirror", {i32(0)}).values.at(0).as_i32(), 100);
  EXPECT_EQ(run("cond_other", {i32(6), i32(40)}).values.at(0).as_i32(), 41);
  EXPECT_EQ(run("cond_other", {i32(5), i32(40)}).values.at(0).as_i32(), 5);
}

TEST_P(Fusion, AdditionThenConditionalAdd) {
  auto add_cond_sub = [&](int32_t a, int32_t b) {
    return run("add_cond_sub", {i32(a), i32(b)}).values.at(0).as_i32();
  };
  EXPECT_EQ(add_cond_sub(65000, 520), 65520);
  EXPECT_EQ(add_cond_sub(65000, 521), 0);
  EXPECT_EQ(add_cond_sub(65520, 65520), 65520 + 65520 - 65521);
  EXPECT_EQ(add_cond_sub(-1, 0), -1 - 65521);  // unsigned compare
  EXPECT_EQ(add_cond_sub(INT32_MAX, 1), static_cast<int32_t>(0x80000000u - 65521u));  // wraps
  EXPECT_EQ(run("add_cond_mirror", {i32(-10), i32(5)}).values.at(0).as_i32(), -5);
  EXPECT_EQ(run("add_cond_mirror", {i32(10), i32(5)}).values.at(0).as_i32(), 115);
  // The sum's local holds the sum, not the conditional add's result.
  EXPECT_EQ(run("add_cond_sum", {i32(10), i32(5)}).values.at(0).as_i32(), 15);
  EXPECT_EQ(run("add_cond_sum", {i32(-10), i32(5)}).values.at(0).as_i32(), -5);
  if (GetParam()) {
    EXPECT_EQ(first_op("add_cond_sub"), op_word(internal::IOp::I32AddCondAddI32GtUImm));
    EXPECT_EQ(first_op("add_cond_mirror"), op_word(internal::IOp::I32AddCondAddI32GeSImm));
  }
}

TEST_P(Fusion, BranchOnLoadedValue) {
  EXPECT_EQ(run("branch_on_load", {i32(0)}).values.at(0).as_i32(), 1);     // byte 0 is zero
  EXPECT_EQ(run("branch_on_load", {i32(61)}).values.at(0).as_i32(), 3);    // 0x01 at 61; 69 is 0
  run("store_wrapped", {i32(static_cast<int32_t>(0xffff0030u)), i32(9)});  // byte 50
  EXPECT_EQ(run("branch_on_load", {i32(50)}).values.at(0).as_i32(), 2);  // i32 at 58 is 0x01000000
  CallResult r = call(store_, inst_, "branch_on_load", {i32(65536)});
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::MemoryOutOfBounds);
}

TEST_P(Fusion, PendingAddressSeesTheLocalBeforeItIsWritten) {
  EXPECT_EQ(run("load_after_set", {i32(7)}).values.at(0).as_i32(), 42);  // address 8, not 101
  EXPECT_EQ(run("tee_add", {i32(10)}).values.at(0).as_i32(), 30);
}

TEST_P(Fusion, ImmediateStoreValues) {
  EXPECT_EQ(run("store_i64_neg").values.at(0).as_i64(), -2);
  EXPECT_EQ(run("store_i64_wide").values.at(0).as_i64(), 0x1'0000'0001);
  EXPECT_EQ(run("store_f32").values.at(0).as_f32(), -1.5f);
  CallResult r = call(store_, inst_, "store_oob");
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::MemoryOutOfBounds);
}

TEST_P(Fusion, CompareAndSelect) {
  EXPECT_EQ(run("select_gtu", {i32(1), i32(2), i32(11)}).values.at(0).as_i32(), 1);
  EXPECT_EQ(run("select_gtu", {i32(1), i32(2), i32(10)}).values.at(0).as_i32(), 2);
  EXPECT_EQ(run("select_gtu", {i32(1), i32(2), i32(-1)}).values.at(0).as_i32(), 1);  // unsigned
  EXPECT_EQ(run("select_lts64", {i64(5), i64(6), i64(-1), i64(0)}).values.at(0).as_i64(), 5);
  EXPECT_EQ(run("select_lts64", {i64(5), i64(6), i64(0), i64(-1)}).values.at(0).as_i64(), 6);
  EXPECT_EQ(run("select_eqz", {i32(1), i32(2), i32(0)}).values.at(0).as_i32(), 1);
  EXPECT_EQ(run("select_eqz", {i32(1), i32(2), i32(9)}).values.at(0).as_i32(), 2);
}

TEST_P(Fusion, LoopLatches) {
  EXPECT_EQ(run("latch_left", {i32(5)}).values.at(0).as_i32(), 0 + 1 + 2 + 3 + 4);
  EXPECT_EQ(run("latch_left", {i32(0)}).values.at(0).as_i32(), 0);  // body runs once
  EXPECT_EQ(run("latch_right", {i32(4)}).values.at(0).as_i32(), 12);
  EXPECT_EQ(run("latch_right", {i32(-5)}).values.at(0).as_i32(), 3);  // signed compare
  EXPECT_EQ(run("latch_i64", {i64(-9)}).values.at(0).as_i64(), 3);
  EXPECT_EQ(run("latch_countdown", {i32(4)}).values.at(0).as_i32(), 8);
}

TEST_P(Fusion, ResultComputedIntoSlotZero) {
  EXPECT_EQ(run("result_reads_param", {i32(3), i32(10)}).values.at(0).as_i32(), 7);
  EXPECT_EQ(run("fib", {i32(20)}).values.at(0).as_i32(), 6765);
}

TEST_P(Fusion, BinaryOpsWithALoadedOperand) {
  run("init_memory");
  EXPECT_EQ(run("add_load8_right", {i32(1), i32(100)}).values.at(0).as_i32(), 0xf1);
  // The 32-bit sum wraps.
  EXPECT_EQ(run("add_load8_right", {i32(-1), i32(100)}).values.at(0).as_i32(), 0xef);
  EXPECT_EQ(run("add_load_left", {i32(10), i32(100)}).values.at(0).as_i32(), 0x01020304 + 10);
  EXPECT_EQ(run("sub_load_right", {i32(0), i32(100)}).values.at(0).as_i32(), -0x01020304);
  EXPECT_EQ(run("sub_load_left", {i32(4), i32(100)}).values.at(0).as_i32(), 0x01020300);
  uint32_t x = 0x5a5a5a5a;
  uint32_t expect = (x ^ 0xf0u) ^ ((x | 0x01020304u) * (0x01020304u & x));
  EXPECT_EQ(static_cast<uint32_t>(
                run("xor_or_and_mul", {i32(static_cast<int32_t>(x))}).values.at(0).as_i32()),
            expect);
  uint64_t m = static_cast<uint64_t>(-0x0123456789abcdefll);
  EXPECT_EQ(static_cast<uint64_t>(run("i64_ops", {i64(77)}).values.at(0).as_i64()), (77 + m) ^ m);
  EXPECT_EQ(run("f64_dot", {i32(120), i32(136)}).values.at(0).as_f64(), 1.5 * 4 + (4 - 1.5));
  EXPECT_EQ(run("f64_dot", {i32(136), i32(120)}).values.at(0).as_f64(), 4 * 1.5 + (1.5 - 4));
  EXPECT_EQ(run("f32_ops", {f32(1.0f)}).values.at(0).as_f32(), (1.0f - 2.25f) * -2.25f);
  EXPECT_EQ(run("load_tee", {i32(5)}).values.at(0).as_i32(), 5);
}

TEST_P(Fusion, ALoadFusedIntoAnOpTrapsAsTheLoad) {
  // The reported instruction is the load (i32.load offset=2), not the add.
  expect_trap_at_load(call(store_, inst_, "add_load_oob", {i32(1), i32(65532)}), 0x28, 2);
  EXPECT_EQ(run("add_load_oob", {i32(1), i32(65530)}).values.at(0).as_i32(), 1);
}

TEST_P(Fusion, BinaryOpsWithBothOperandsLoaded) {
  run("init_memory");  // 100: i32 0x01020304, 112: i64, 120: f64 1.5, 128: f32 -2.25, 136: f64 4
  EXPECT_EQ(run("loads_mul_f64", {i32(112), i32(120)}).values.at(0).as_f64(), 1.5 * 4);
  if (GetParam()) EXPECT_EQ(first_op("loads_mul_f64"), op_word(internal::IOp::F64MulFromF64Loads));
  EXPECT_EQ(run("loads_add_f64", {i32(120), i32(136)}).values.at(0).as_f64(), 5.5);
  EXPECT_EQ(run("loads_f32", {i32(128), i32(128)}).values.at(0).as_f32(), -2.25f * -2.25f + -2.25f);
  uint32_t w = 0x01020304u, w4 = 0x000000f0u;  // the word at 104 is the byte 0xf0, then zeros
  EXPECT_EQ(static_cast<uint32_t>(run("loads_i32", {i32(100), i32(100)}).values.at(0).as_i32()),
            (w + w4) * w);
  uint64_t m = static_cast<uint64_t>(-0x0123456789abcdefll);
  EXPECT_EQ(static_cast<uint64_t>(run("loads_i64", {i32(112), i32(112)}).values.at(0).as_i64()),
            m * m + m);
  EXPECT_EQ(run("loads_tee", {i32(100), i32(104)}).values.at(0).as_i32(), 0xf0);
  // Two NaNs with different payloads: the result is one of them (quieted). Which one is not
  // specified, and the C++ compiler may order the host's add operands either way, so fused and
  // plain code are only held to that.
  uint64_t nan_a = 0x7ff8000000000001ull, nan_b = 0x7ff8000000000002ull;
  run("store_i64", {i32(200), i64(static_cast<int64_t>(nan_a))});
  run("store_i64", {i32(208), i64(static_cast<int64_t>(nan_b))});
  uint64_t sum =
      std::bit_cast<uint64_t>(run("loads_add_f64", {i32(200), i32(208)}).values.at(0).as_f64());
  EXPECT_TRUE(sum == nan_a || sum == nan_b) << std::hex << sum;
}

TEST_P(Fusion, BothLoadsOfAFusedOpTrapAsThemselves) {
  // The left load (f64.load offset=8) out of bounds, the right one in bounds, and the reverse.
  for (auto [left, right, offset] : {std::tuple{65530, 0, 8}, std::tuple{0, 65530, 16}}) {
    SCOPED_TRACE(::testing::Message() << "left " << left << ", right " << right);
    expect_trap_at_load(call(store_, inst_, "loads_mul_f64", {i32(left), i32(right)}), 0x2b,
                        static_cast<uint8_t>(offset));
  }
}

TEST_P(Fusion, BothOperandsLoadedThroughRegisterRegisterAddresses) {
  run("init_memory");  // 100: i32 0x01020304, 112: i64, 120: f64 1.5, 128: f32 -2.25, 136: f64 4
  // Left at 112 + 8 = 120, right at (-4 + 124) + 16 = 136: the index sums wrap at 32 bits.
  EXPECT_EQ(run("loads_mul_f64_ir", {i32(112), i32(-4), i32(124)}).values.at(0).as_f64(), 6.0);
  EXPECT_EQ(run("loads_mul_f64_ri", {i32(-8), i32(120), i32(120)}).values.at(0).as_f64(), 6.0);
  uint32_t w = 0x01020304u, w4 = 0x000000f0u;  // the word at 104 is the byte 0xf0, then zeros
  EXPECT_EQ(
      static_cast<uint32_t>(
          run("loads_add_i32_rr", {i32(-100), i32(200), i32(90), i32(10)}).values.at(0).as_i32()),
      w + w4);
  if (GetParam()) {
    EXPECT_EQ(first_op("loads_mul_f64_ir"), op_word(internal::IOp::F64MulFromF64LoadsIR));
    EXPECT_EQ(first_op("loads_mul_f64_ri"), op_word(internal::IOp::F64MulFromF64LoadsRI));
    EXPECT_EQ(first_op("loads_add_i32_rr"), op_word(internal::IOp::I32AddFromI32LoadsRR));
  }
  // Either load out of bounds traps, reported at its own instruction (told apart by the offset).
  struct Case {
    const char* name;
    std::initializer_list<Value> args;
    uint8_t opcode, offset;
  };
  for (const Case& c : {Case{"loads_mul_f64_ir", {i32(65530), i32(0), i32(0)}, 0x2b, 8},
                        Case{"loads_mul_f64_ir", {i32(0), i32(65000), i32(530)}, 0x2b, 16},
                        Case{"loads_mul_f64_ri", {i32(65000), i32(530), i32(0)}, 0x2b, 8},
                        Case{"loads_mul_f64_ri", {i32(0), i32(0), i32(65530)}, 0x2b, 16},
                        Case{"loads_add_i32_rr", {i32(65534), i32(0), i32(0), i32(0)}, 0x28, 0},
                        Case{"loads_add_i32_rr", {i32(0), i32(0), i32(65530), i32(0)}, 0x28, 4}}) {
    SCOPED_TRACE(c.name);
    expect_trap_at_load(call(store_, inst_, c.name, c.args), c.opcode, c.offset);
  }
}

TEST_P(Fusion, AdjacentAdditionsAsOneInstruction) {
  // two_adds(a, b) = ((a + 5) << 16) ^ (b + (a + 5)), wrapping at 32 bits.
  auto two_adds = [](uint32_t a, uint32_t b) { return ((a + 5) << 16) ^ (b + (a + 5)); };
  for (auto [a, b] : {std::pair{1u, 10u}, std::pair{0xfffffffau, 0xffffffffu},
                      std::pair{0x7fffffffu, 0u}, std::pair{0x12345678u, 0x9abcdef0u}}) {
    SCOPED_TRACE(a);
    EXPECT_EQ(static_cast<uint32_t>(
                  run("two_adds", {i32(static_cast<int32_t>(a)), i32(static_cast<int32_t>(b))})
                      .values.at(0)
                      .as_i32()),
              two_adds(a, b));
  }
  EXPECT_EQ(run("branch_into_second_add", {i32(2), i32(0)}).values.at(0).as_i32(),
            102 * 1000 + 103);
  EXPECT_EQ(run("branch_into_second_add", {i32(2), i32(1)}).values.at(0).as_i32(), 2 * 1000 + 3);
  if (GetParam()) {
    EXPECT_TRUE(has_op("two_adds", internal::IOp::I32AddImmThenAdd));
    EXPECT_TRUE(has_op("branch_into_second_add", internal::IOp::I32AddImmThenAddImm));
  }
}

TEST_P(Fusion, AdjacentLoadsAsOneInstruction) {
  run("store_i64", {i32(104), i64(200)});
  run("store_i64", {i32(208), i64(7)});
  EXPECT_EQ(run("load_twice_chain", {i32(100)}).values.at(0).as_i32(), 207);
  if (GetParam()) EXPECT_TRUE(has_op("load_twice_chain", internal::IOp::I32LoadTwice));
  // Each load traps as itself: the first at p + 4, the second at (the loaded value) + 8.
  run("store_i64", {i32(304), i64(65530)});
  for (auto [p, offset] : {std::pair{65533, 4}, std::pair{300, 8}}) {
    SCOPED_TRACE(p);
    expect_trap_at_load(call(store_, inst_, "load_twice_chain", {i32(p)}), 0x28,
                        static_cast<uint8_t>(offset));
  }
}

TEST_P(Fusion, TwoLoadsAndABranchOnTheirValues) {
  run("store_i64", {i32(300), i64(0x0044332211)});  // 300: 11 22 33 44 00
  run("store_i64", {i32(400), i64(0x0044332211)});
  // bytes_differ compares the byte at p + 1 with the one at q + 2.
  EXPECT_EQ(run("bytes_differ", {i32(300), i32(399)}).values.at(0).as_i32(), 0);  // 22, 22
  EXPECT_EQ(run("bytes_differ", {i32(300), i32(400)}).values.at(0).as_i32(), 1);  // 22, 33
  EXPECT_EQ(run("words_equal_swapped", {i32(300), i32(400)}).values.at(0).as_i32(), 1);
  EXPECT_EQ(run("words_equal_swapped", {i32(300), i32(401)}).values.at(0).as_i32(), 0);
  EXPECT_EQ(run("same_slot_twice", {i32(300), i32(301)}).values.at(0).as_i32(), 0);
  if (GetParam()) {
    EXPECT_TRUE(has_op("bytes_differ", internal::IOp::I32Load8UTwiceJumpIfNe));
    EXPECT_TRUE(has_op("words_equal_swapped", internal::IOp::I32LoadTwiceJumpIfEq));
    EXPECT_FALSE(has_op("same_slot_twice", internal::IOp::I32Load8UTwiceJumpIfNe));
  }
  // Each load traps as itself.
  expect_trap_at_load(call(store_, inst_, "bytes_differ", {i32(65535), i32(0)}), 0x2d, 1);
  expect_trap_at_load(call(store_, inst_, "bytes_differ", {i32(0), i32(65534)}), 0x2d, 2);
}

TEST_P(Fusion, RemainderBesideTheQuotient) {
  for (uint32_t x : {0u, 9u, 10u, 12345u, 4294967290u, 4294967295u}) {
    SCOPED_TRACE(x);
    CallResult r = run("digit_and_rest", {i32(static_cast<int32_t>(x))});
    EXPECT_EQ(static_cast<uint32_t>(r.values.at(0).as_i32()), x % 10);
    EXPECT_EQ(static_cast<uint32_t>(r.values.at(1).as_i32()), x / 10);
    // Here the left operand was read before x was overwritten: x - (x / 10) * 10 all the same.
    EXPECT_EQ(static_cast<uint32_t>(
                  run("digit_over_x", {i32(static_cast<int32_t>(x))}).values.at(0).as_i32()),
              x % 10);
  }
  if (GetParam()) {
    EXPECT_TRUE(has_op("digit_and_rest", internal::IOp::I32RemUMagic));
    EXPECT_FALSE(has_op("digit_and_rest", internal::IOp::I32MulImm));
  }
}

TEST_P(Fusion, LoopExitTurnedAroundIntoTheBackEdge) {
  run("store_i64", {i32(300), i64(0x0044332211)});
  run("store_i64", {i32(400), i64(0x0044332211)});
  run("store_i64", {i32(500), i64(0x0044992211)});
  EXPECT_EQ(run("exit_then_back", {i32(300), i32(400), i32(5)}).values.at(0).as_i32(), 5);
  EXPECT_EQ(run("exit_then_back", {i32(300), i32(400), i32(1)}).values.at(0).as_i32(), 1);
  EXPECT_EQ(run("exit_then_back", {i32(300), i32(500), i32(5)}).values.at(0).as_i32(), -2);
  EXPECT_EQ(run("exit_then_back", {i32(300), i32(300), i32(3)}).values.at(0).as_i32(), 3);
  EXPECT_EQ(run("exit_on_nonzero_byte", {i32(296)}).values.at(0).as_i32(), 1);   // 300: 0x11
  EXPECT_EQ(run("exit_on_nonzero_byte", {i32(301)}).values.at(0).as_i32(), 96);  // 304..399: 0
  EXPECT_EQ(run("exit_on_compare", {i32(10), i64(100)}).values.at(0).as_i64(), 55);
  EXPECT_EQ(run("exit_on_compare", {i32(10), i64(3)}).values.at(0).as_i64(), 6);
  EXPECT_EQ(run("exit_on_compare", {i32(0), i64(3)}).values.at(0).as_i64(), 0);
  EXPECT_EQ(run("exit_on_compare", {i32(5000), i64(-1)}).values.at(0).as_i64(), 1001 * 1002 / 2);
  if (GetParam()) {
    // The countdown `if (--n == 0) break; continue` went round by one latch.
    EXPECT_TRUE(has_op("exit_then_back", internal::IOp::I32AddImmNz));
    // `br_if $out (load)` jumped out if the byte was set; now it jumps back unless it is.
    EXPECT_TRUE(has_op("exit_on_nonzero_byte", internal::IOp::JumpUnlessLoad8U));
    EXPECT_FALSE(has_op("exit_on_nonzero_byte", internal::IOp::JumpIfLoad8U));
  }
  // The turned-around load still traps as the load (i32.load8_u offset=3): only zeros up to the
  // end of memory, so the load at 65536 traps.
  expect_trap_at_load(call(store_, inst_, "exit_on_nonzero_byte", {i32(65524)}), 0x2d, 3);
}

TEST_P(Fusion, XorThenMultiplyByAConstant) {
  uint32_t h = 0x811c9dc5u;
  EXPECT_EQ(static_cast<uint32_t>(
                run("xor_mul", {i32(static_cast<int32_t>(h)), i32(0x61)}).values.at(0).as_i32()),
            (h ^ 0x61u) * 16777619u);
  EXPECT_EQ(run("xor_tee_mul", {i32(6), i32(3)}).values.at(0).as_i32(), 5 * 3 + 5);
}

TEST_P(Fusion, TwoHashStepsInARow) {
  uint32_t h = 0x811c9dc5u, a = 0x6b, b = 0x65;
  auto run3 = [&](std::string_view name) {
    return static_cast<uint32_t>(
        run(name, {i32(static_cast<int32_t>(h)), i32(static_cast<int32_t>(a)),
                   i32(static_cast<int32_t>(b))})
            .values.at(0)
            .as_i32());
  };
  uint32_t step = (h ^ a) * 16777619u;
  EXPECT_EQ(run3("xor_mul_twice"), (step ^ b) * 16777619u);
  EXPECT_EQ(run3("xor_mul_twice_right"), (b ^ ((h ^ a) * 31u)) * 16777619u);
  EXPECT_EQ(run3("xor_mul_twice_tee"), (step ^ b) * 16777619u - step);
  if (GetParam()) {
    EXPECT_EQ(first_op("xor_mul_twice"), op_word(internal::IOp::I32XorMulImmXorMulImm));
    EXPECT_EQ(first_op("xor_mul_twice_right"), op_word(internal::IOp::I32XorMulImmXorMulImm));
    EXPECT_EQ(first_op("xor_mul_twice_tee"), op_word(internal::IOp::I32XorMulImm));
  }
}

TEST_P(Fusion, TwoFloatAdditionsRoundTheInnerSumFirst) {
  // 1e16 + 1 rounds back to 1e16, so the grouping shows in the result.
  auto f64_of = [&](std::string_view name, double a, double b, double c) {
    return run(name, {f64(a), f64(b), f64(c)}).values.at(0).as_f64();
  };
  EXPECT_EQ(f64_of("add_add_left", 1e16, 1, 1), 1e16);
  EXPECT_EQ(f64_of("add_add_right", 1e16, 1, 1), 1e16 + 2);
  EXPECT_EQ(f64_of("add_add_left", 1, 1, 1e16), 1e16 + 2);
  EXPECT_TRUE(std::isnan(f64_of("add_add_left", 1, NAN, 1)));
  EXPECT_EQ(f64_of("add_add_right", INFINITY, 1, -1), INFINITY);
  // f32 has a spacing of 8 at 1e8: 1e8 + 4 rounds to even (1e8), then so does 4 + 1e8.
  EXPECT_EQ(run("add_add_f32", {f32(1e8f), f32(4), f32(4)}).values.at(0).as_f32(), 1e8f);
  EXPECT_EQ(run("add_add_f32", {f32(4), f32(4), f32(1e8f)}).values.at(0).as_f32(), 1e8f + 8);
  EXPECT_EQ(f64_of("add_add_tee", 1.5, 2, 4), 4);  // the tee'd inner sum is kept
}

TEST_P(Fusion, HashStepOverLoadedBytes) {
  run("init_memory");  // bytes 100..104: 04 03 02 01 f0
  uint32_t h = 0x811c9dc5u;
  for (uint8_t byte : {0x04, 0x03, 0x02, 0x01, 0xf0}) h = (h ^ byte) * 16777619u;
  EXPECT_EQ(static_cast<uint32_t>(run("fnv", {i32(99), i32(5)}).values.at(0).as_i32()), h);
  // The last byte is past the end: a trap reported at the load.
  CallResult r = call(store_, inst_, "fnv", {i32(65530), i32(10)});
  ASSERT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::MemoryOutOfBounds);
  auto bytes = wasm::wat_to_binary(kFusions);
  ASSERT_TRUE(bytes.ok());
  ASSERT_FALSE(r.backtrace.empty());
  EXPECT_EQ(bytes.value().at(r.backtrace[0].offset), 0x2d);  // i32.load8_u
}

INSTANTIATE_TEST_SUITE_P(FusedAndPlain, Fusion, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "fused" : "plain";
                         });

// Unsigned division and remainder by a constant run as a multiplication by a precomputed
// reciprocal (I32DivUMagic, I32RemUMagic) in fused code: checked against the hardware's answer
// for divisors across the whole range and numerators at every edge around them.
TEST(ConstantDivisors, UnsignedDivisionAndRemainderMatchTheHardware) {
  std::vector<uint32_t> divisors = {
      2,          3,          5,          6,           7,          9,          10,
      11,         12,         13,         25,          100,        641,        1000,
      7919,       50021,      65535,      65536,       65537,      1u << 20,   123456789,
      0x7fffffff, 0x80000000, 0x80000001, 3486784401u, 0xfffffffd, 0xfffffffe, 0xffffffff};
  std::mt19937 rng(20261121);
  for (int i = 0; i < 24; ++i) divisors.push_back(std::max<uint32_t>(2, rng() >> (rng() % 31)));
  std::sort(divisors.begin(), divisors.end());
  divisors.erase(std::unique(divisors.begin(), divisors.end()), divisors.end());
  std::string wat = "(module";
  for (uint32_t d : divisors) {
    std::string n = std::to_string(d);
    wat += " (func (export \"div" + n +
           "\") (param i32) (result i32) (i32.div_u (local.get 0) (i32.const " + n + ")))";
    wat += " (func (export \"rem" + n +
           "\") (param i32) (result i32) (i32.rem_u (local.get 0) (i32.const " + n + ")))";
  }
  wat += ")";
  for (bool fuse : {true, false}) {
    auto module = load(wat);
    ASSERT_NE(module, nullptr);
    module->compiled().fuse = fuse;
    Store store(spec_options());
    auto inst = store.instantiate(module, {});
    ASSERT_TRUE(inst.ok());
    for (uint32_t d : divisors) {
      std::vector<uint32_t> numerators = {0,     1,          2,          d - 1,      d,
                                          d + 1, 0xffffffff, 0xfffffffe, 0x80000000, 0x7fffffff};
      for (uint64_t k : {2ull, 3ull, 10ull, 0xffffffffull / d, 0xffffffffull / d - 1})
        for (int64_t delta : {-1, 0, 1})
          if (uint64_t n = k * d + delta; n <= 0xffffffff)
            numerators.push_back(static_cast<uint32_t>(n));
      for (int i = 0; i < 200; ++i) numerators.push_back(static_cast<uint32_t>(rng()));
      for (uint32_t n : numerators) {
        CallResult q =
            call(store, inst.value(), "div" + std::to_string(d), {i32(static_cast<int32_t>(n))});
        CallResult r =
            call(store, inst.value(), "rem" + std::to_string(d), {i32(static_cast<int32_t>(n))});
        ASSERT_TRUE(q.ok() && r.ok());
        ASSERT_EQ(static_cast<uint32_t>(q.values.at(0).as_i32()), n / d) << n << " / " << d;
        ASSERT_EQ(static_cast<uint32_t>(r.values.at(0).as_i32()), n % d) << n << " % " << d;
      }
    }
    // Fused, the divisions did run as multiplications (the first functions divide by 2, then 3);
    // plain code keeps the hardware divide, as the reference the fuzzer compares against.
    if (!fuse) continue;
    const internal::CompiledFunc& div2 = module->compiled().code[0];
    const internal::CompiledFunc& rem3 = module->compiled().code[3];
    ASSERT_TRUE(div2.ready.load() && rem3.ready.load());
    EXPECT_EQ(div2.code.at(0),
              static_cast<uint32_t>(
                  internal::dispatch_offsets()[internal::op_id(internal::IOp::I32DivUMagic)]));
    EXPECT_EQ(rem3.code.at(0),
              static_cast<uint32_t>(
                  internal::dispatch_offsets()[internal::op_id(internal::IOp::I32RemUMagic)]));
  }
}

TEST(FusionLimits, DeadlineStopsALoopOfFusedLatches) {
  StoreOptions options;
  options.limits.cpu_time_per_call = std::chrono::milliseconds(50);
  Store store(options);
  // A latch that never exits (the counter wraps long after the deadline).
  Instance* inst = instantiate(store, R"((module (func (export "spin") (local i64)
    (loop $l (br_if $l (i64.ne (local.tee 0 (i64.add (local.get 0) (i64.const 1)))
                               (i64.const 0)))))))");
  ASSERT_NE(inst, nullptr);
  CallResult r = call(store, inst, "spin");
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::CpuLimit);
}

TEST(FusionLimits, DeadlineStopsALoopWhoseExitWasTurnedAround) {
  StoreOptions options;
  options.limits.cpu_time_per_call = std::chrono::milliseconds(50);
  Store store(options);
  // The exit never fires: the turned-around branch is the loop's only backward branch.
  Instance* inst = instantiate(store, R"((module (func (export "spin") (param i32)
    (block $out (loop $l (br_if $out (i32.eqz (local.get 0))) (br $l))))))");
  ASSERT_NE(inst, nullptr);
  EXPECT_TRUE(call(store, inst, "spin", {i32(0)}).ok());
  CallResult r = call(store, inst, "spin", {i32(1)});
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_EQ(r.trap, TrapKind::CpuLimit);
}

}  // namespace
}  // namespace rw::testing
