// Instantiation and linking: imports and exports across instances, segment initialisation,
// lazy compilation.

#include "test_util.h"
#include "wasm/common/module.h"
#include "wasm/interp/compiler.h"
#include "wasm/interp/runtime.h"

namespace rw::testing {
namespace {

constexpr std::string_view kProvider = R"(
(module
  (memory (export "mem") 1)
  (table (export "tab") 2 funcref)
  (global (export "counter") (mut i32) (i32.const 10))
  (tag (export "tag") (param i32))
  (func $get (export "get") (result i32) (i32.load (i32.const 8)))
  (elem (i32.const 0) $get))
)";

constexpr std::string_view kConsumer = R"(
(module
  (import "p" "mem" (memory 1))
  (import "p" "tab" (table 2 funcref))
  (import "p" "counter" (global $c (mut i32)))
  (import "p" "tag" (tag $t (param i32)))
  (import "p" "get" (func $get (result i32)))
  (type $r (func (result i32)))
  (func (export "write") (param i32) (i32.store (i32.const 8) (local.get 0)))
  (func (export "via_table") (result i32) (call_indirect (type $r) (i32.const 0)))
  (func (export "bump") (global.set $c (i32.add (global.get $c) (i32.const 1))))
  (func (export "throw") (throw $t (i32.const 5)))
  (func (export "direct") (result i32) (call $get)))
)";

TEST(Linking, InstancesShareImportedObjects) {
  Store store;
  Instance* provider = instantiate(store, kProvider);
  ASSERT_NE(provider, nullptr);
  Imports imports;
  for (const char* name : {"mem", "tab", "counter", "tag", "get"})
    imports.define("p", name, *provider->get_export(name));
  Instance* consumer = instantiate(store, kConsumer, imports);
  ASSERT_NE(consumer, nullptr);

  ASSERT_TRUE(call(store, consumer, "write", {i32(1234)}).ok());
  EXPECT_EQ(call(store, provider, "get").values.at(0).as_i32(), 1234);
  EXPECT_EQ(call(store, consumer, "via_table").values.at(0).as_i32(), 1234);
  EXPECT_EQ(call(store, consumer, "direct").values.at(0).as_i32(), 1234);
  ASSERT_TRUE(call(store, consumer, "bump").ok());
  EXPECT_EQ(provider->get_global("counter")->get().as_i32(), 11);
  CallResult r = call(store, consumer, "throw");
  EXPECT_EQ(r.outcome, Outcome::Panic);
  EXPECT_EQ(r.exception_tag, *provider->get_tag("tag"));  // imported tags alias
  // Same function object through both instances (ref identity).
  EXPECT_EQ(consumer->function(0), *provider->get_function("get"));
  EXPECT_EQ(provider->table(0).get(0)->ref, provider->function(0).impl());
}

TEST(Linking, UnknownAndIncompatibleImports) {
  Store store;
  auto module = load(R"((module (import "env" "f" (func (param i32)))))");
  ASSERT_NE(module, nullptr);
  auto r = store.instantiate(module, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, Error::Kind::Unlinkable);
  EXPECT_NE(r.error().message.find("unknown import"), std::string::npos);

  Imports wrong;
  wrong.define(
      "env", "f",
      Extern::of(store.create_host_function(
          FuncType{{ValType::I64}, {}}, [](HostContext&, std::span<const Value>, std::span<Value>) {
            return HostResult::ok();
          })));
  r = store.instantiate(module, wrong);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, Error::Kind::Unlinkable);
  EXPECT_NE(r.error().message.find("incompatible import type"), std::string::npos);

  Imports kind_mismatch;
  kind_mismatch.define("env", "f", Extern::of(store.create_global({ValType::I32, false}, i32(1))));
  r = store.instantiate(module, kind_mismatch);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, Error::Kind::Unlinkable);

  auto mem_module = load(R"((module (import "env" "m" (memory 2 3))))");
  ASSERT_NE(mem_module, nullptr);
  Imports small;
  small.define("env", "m", Extern::of(store.create_memory({{1, 3}}).value()));
  EXPECT_FALSE(store.instantiate(mem_module, small).ok());
  Imports unbounded;
  unbounded.define("env", "m", Extern::of(store.create_memory({{2, std::nullopt}}).value()));
  EXPECT_FALSE(store.instantiate(mem_module, unbounded).ok());
  Imports fits;
  fits.define("env", "m", Extern::of(store.create_memory({{2, 3}}).value()));
  EXPECT_TRUE(store.instantiate(mem_module, fits).ok());
}

TEST(Linking, FailedSegmentKeepsEarlierEffects) {
  Store store(spec_options());
  Memory mem = store.create_memory({{1, std::nullopt}}).value();
  Imports imports;
  imports.define("env", "m", Extern::of(mem));
  auto module = load(R"(
(module
  (import "env" "m" (memory 1))
  (data (i32.const 0) "ab")
  (data (i32.const 65535) "cd"))
)");
  ASSERT_NE(module, nullptr);
  auto r = store.instantiate(module, imports);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, Error::Kind::Uninstantiable);
  EXPECT_EQ(r.error().message, "out of bounds memory access");
  EXPECT_EQ(mem.data()[0], 'a');
  EXPECT_EQ(mem.data()[65535], 0);
}

TEST(Linking, StartFunctionTrapIsUninstantiable) {
  Store store(spec_options());
  auto module = load(R"((module (func $s unreachable) (start $s)))");
  ASSERT_NE(module, nullptr);
  auto r = store.instantiate(module, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, Error::Kind::Uninstantiable);
  EXPECT_EQ(r.error().message, "unreachable");
}

TEST(Linking, EngineAccessToUnexportedEntities) {
  Store store;
  Instance* inst = instantiate(store, R"(
(module
  (global (mut i64) (i64.const 42))
  (memory 2)
  (table 3 externref)
  (func $hidden (result i32) (i32.const 9)))
)");
  ASSERT_NE(inst, nullptr);
  EXPECT_EQ(inst->global_count(), 1u);
  EXPECT_EQ(inst->global(0).get().as_i64(), 42);
  EXPECT_TRUE(inst->global(0).set(i64(7)));
  EXPECT_EQ(inst->global(0).get().as_i64(), 7);
  EXPECT_EQ(inst->memory(0).pages(), 2u);
  EXPECT_EQ(inst->table(0).size(), 3u);
  EXPECT_FALSE(inst->table(0).set(0, i32(1)));  // mistyped
  int token = 0;
  EXPECT_TRUE(inst->table(0).set(1, Value::make_externref(&token)));
  EXPECT_EQ(inst->table(0).get(1)->ref, &token);
  EXPECT_FALSE(inst->table(0).get(3).has_value());
  CallResult r = store.call(inst->function(0), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.values.at(0).as_i32(), 9);
  Global immutable = store.create_global({ValType::I32, false}, i32(1));
  EXPECT_FALSE(immutable.set(i32(2)));
  EXPECT_TRUE(immutable.set(i32(2), /*force=*/true));
  EXPECT_EQ(immutable.get().as_i32(), 2);
}

// Builds a binary module with `count` functions of `body_bytes` bytes each (nops).
std::vector<uint8_t> big_module(uint32_t count, uint32_t body_bytes) {
  std::vector<uint8_t> out = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  auto leb = [](std::vector<uint8_t>& v, uint32_t x) {
    do {
      uint8_t b = x & 0x7f;
      x >>= 7;
      if (x) b |= 0x80;
      v.push_back(b);
    } while (x);
  };
  auto section = [&](uint8_t id, const std::vector<uint8_t>& contents) {
    out.push_back(id);
    leb(out, static_cast<uint32_t>(contents.size()));
    out.insert(out.end(), contents.begin(), contents.end());
  };
  section(1, {0x01, 0x60, 0x00, 0x00});  // one type: () -> ()
  std::vector<uint8_t> funcs;
  leb(funcs, count);
  for (uint32_t i = 0; i < count; ++i) funcs.push_back(0);
  section(3, funcs);
  std::vector<uint8_t> exports = {0x01, 0x01, 'f', 0x00, 0x00};  // export "f" = func 0
  section(7, exports);
  std::vector<uint8_t> code;
  leb(code, count);
  for (uint32_t i = 0; i < count; ++i) {
    std::vector<uint8_t> body = {0x00};         // no locals
    body.insert(body.end(), body_bytes, 0x01);  // nop
    body.push_back(0x0b);
    leb(code, static_cast<uint32_t>(body.size()));
    code.insert(code.end(), body.begin(), body.end());
  }
  section(10, code);
  return out;
}

TEST(LazyCompilation, FunctionsAreTranslatedOnFirstCallOnly) {
  std::vector<uint8_t> bytes = big_module(1024, 1024);  // about 1 MiB of code
  auto loaded = Module::from_binary(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  std::shared_ptr<const Module> module = loaded.value();
  Store store;
  // Instantiation translates nothing (its time is measured in bench/engine_bench).
  auto inst = store.instantiate(module, {});
  ASSERT_TRUE(inst.ok());
  internal::CompiledModule& compiled = module->compiled();
  for (uint32_t i = 0; i < 1024; ++i) EXPECT_FALSE(compiled.code[i].ready.load());
  ASSERT_TRUE(call(store, inst.value(), "f").ok());
  EXPECT_TRUE(compiled.code[0].ready.load());
  EXPECT_FALSE(compiled.code[1].ready.load());
  const uint32_t* first = compiled.code[0].code.data();
  // A second store and instance share the translation.
  Store other;
  auto inst2 = other.instantiate(module, {});
  ASSERT_TRUE(inst2.ok());
  ASSERT_TRUE(call(other, inst2.value(), "f").ok());
  EXPECT_EQ(compiled.code[0].code.data(), first);  // not translated again
}

}  // namespace
}  // namespace rw::testing
