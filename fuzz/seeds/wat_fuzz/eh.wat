(module
  (tag $e (param i32))
  (func (export "f") (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (throw $e (i32.const 7)))
      (i32.const 0)))
  (func (export "g") (result i32)
    (try (result i32) (do (throw $e (i32.const 1))) (catch $e) (catch_all (i32.const 2)))))
