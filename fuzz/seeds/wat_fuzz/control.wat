(module
  (global $count (mut i32) (i32.const 0))
  (func $fac (export "fac") (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.const 1))
      (else (i64.mul (local.get 0) (return_call $fac (i64.sub (local.get 0) (i64.const 1)))))))
  (func (export "switch") (param i32) (result i32)
    (block $c (block $b (block $a
      (br_table $a $b $c (local.get 0)))
      (return (i32.const 10)))
      (return (i32.const 20)))
    (i32.const 30))
  (func (export "loop") (param $n i32) (result i32) (local $i i32)
    (loop $next
      (global.set $count (i32.add (global.get $count) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $i) (local.get $n))))
    (select (local.get $i) (i32.const -1) (i32.ge_s (local.get $n) (i32.const 0)))))
