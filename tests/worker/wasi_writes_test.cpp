// Host functions that write guest memory through raw pointers (the WASI layer) report those writes,
// so rollback and reset undo them like guest stores.

#include <gtest/gtest.h>

#include "rewind/worker.h"
#include "runtime/wasi/wasi.h"

namespace rw {
namespace {

constexpr std::string_view kWat = R"(
(module
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (memory (export "memory") 2)
  ;; Nothing but the host writes these pages (70000.., 100000..).
  (func (export "host_writes_then_abort")
    (drop (call $random_get (i32.const 70000) (i32.const 64)))
    (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 100000)))
    (unreachable))
  (func (export "host_writes")
    (drop (call $random_get (i32.const 70000) (i32.const 64))))
  (func (export "peek") (param i32) (result i64) (i64.load (local.get 0))))
)";

std::unique_ptr<WorkerInstance> make_worker(bool rollback) {
  auto module = Module::from_text(kWat);
  EXPECT_TRUE(module.ok()) << module.error().to_string();
  WorkerOptions o;
  if (rollback) {
    o.policy.on_abort = RecoveryPolicy::OnAbort::Rollback;
    o.policy.on_panic = RecoveryPolicy::OnPanic::Rollback;
  }
  o.imports = [](Store& store) -> Result<Imports> {
    auto context = wasi::WasiContext::create({});
    if (!context.ok()) return context.error();
    Imports im;
    wasi::define_imports(store, im, context.value());
    return im;
  };
  auto w = WorkerInstance::create(module.value(), o);
  EXPECT_TRUE(w.ok()) << w.error().to_string();
  return std::move(w).value();
}

int64_t peek(WorkerInstance& w, int32_t address) {
  Value a = Value::make_i32(address);
  CallResult r = w.call("peek", std::span<const Value>(&a, 1));
  EXPECT_TRUE(r.ok()) << r.message;
  return r.ok() ? r.values.at(0).as_i64() : -1;
}

TEST(WasiWrites, RolledBack) {
  auto w = make_worker(true);
  EXPECT_EQ(w->call("host_writes_then_abort", {}).outcome, Outcome::Abort);
  EXPECT_EQ(peek(*w, 70000), 0);
  EXPECT_EQ(peek(*w, 100000), 0);
}

TEST(WasiWrites, Reset) {
  auto w = make_worker(false);
  ASSERT_TRUE(w->call("host_writes", {}).ok());
  EXPECT_NE(peek(*w, 70000), 0);  // 8 random bytes: zero with probability 2^-64
  EXPECT_EQ(w->call("host_writes_then_abort", {}).outcome, Outcome::Abort);
  EXPECT_EQ(w->generation(), 1u);
  EXPECT_EQ(peek(*w, 70000), 0);
  EXPECT_EQ(peek(*w, 100000), 0);
}

}  // namespace
}  // namespace rw
