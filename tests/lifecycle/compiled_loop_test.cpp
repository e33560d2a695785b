// Dirty-page tracking sees the stores of loops compiled to machine code (src/wasm/jit): they
// check the same page stamps as the interpreter and call the tracker on a page's first write.

#include <gtest/gtest.h>

#include <vector>

#include "rewind/engine.h"
#include "rewind/lifecycle.h"
#include "wasm/interp/compiler.h"
#include "wasm/interp/runtime.h"
#include "wasm/jit/loop_compiler.h"

namespace rw {
namespace {

Value I32(int32_t v) { return Value::make_i32(v); }

TEST(Rollback, UndoesWhatACompiledLoopStored) {
  constexpr std::string_view wat = R"((module (memory (export "mem") 4)
    ;; Writes n words from p (crossing pages), then traps if asked.
    (func (export "scribble") (param $p i32) (param $n i32) (param $fail i32)
      (local $i i32)
      (loop $l
        (i32.store offset=2 (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))
                   (i32.xor (local.get $i) (i32.const 0x5a5a5a5a)))
        (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
      (if (local.get $fail) (then (unreachable))))
    (func (export "peek") (param i32) (result i32) (i32.load (local.get 0)))))";
  auto loaded = Module::from_text(wat);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  auto module = loaded.value();
  StoreOptions options;
  options.terminate_on_abort = false;
  Store store(options);
  auto inst = store.instantiate(module, {});
  ASSERT_TRUE(inst.ok());
  auto snapshot = Snapshot::capture(*inst.value());
  ASSERT_TRUE(snapshot.ok()) << snapshot.error().to_string();
  auto life = Lifecycle::attach(*inst.value(), snapshot.value());
  ASSERT_TRUE(life.ok()) << life.error().to_string();
  auto scribble_fn = inst.value()->get_function("scribble");
  auto peek_fn = inst.value()->get_function("peek");
  ASSERT_TRUE(scribble_fn && peek_fn);
  auto scribble = [&](int32_t p, int32_t n, int32_t fail) {
    std::vector<Value> args = {I32(p), I32(n), I32(fail)};
    return store.call(*scribble_fn, args);
  };
  auto peek = [&](int32_t at) {
    std::vector<Value> args = {I32(at)};
    CallResult r = store.call(*peek_fn, args);
    return r.ok() ? r.values.at(0).as_i32() : -1;
  };
  // Committed: stays.
  life.value()->checkpoint();
  ASSERT_EQ(scribble(100, 8, 0).outcome, Outcome::Ok);
  life.value()->commit();
  // Aborted: rolled back, including a store straddling a page boundary (4094 + 2 .. 4100).
  life.value()->checkpoint();
  CallResult r = scribble(4092, 3000, 1);
  EXPECT_EQ(r.outcome, Outcome::Abort);
  EXPECT_GE(life.value()->stats().checkpoint_pages, 3u);
  ASSERT_TRUE(life.value()->rollback());
  EXPECT_EQ(peek(102), 0x5a5a5a5a);
  EXPECT_EQ(peek(102 + 28), 7 ^ 0x5a5a5a5a);
  for (int32_t at : {4092, 4094, 4096, 8000, 12000, 16000}) EXPECT_EQ(peek(at), 0) << at;
  if (internal::jit::available()) EXPECT_NE(module->compiled().code[0].jit_code, nullptr);
}

}  // namespace
}  // namespace rw
