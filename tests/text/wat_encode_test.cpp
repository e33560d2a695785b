// Encodings of small modules, one per abbreviation and instruction class. The expected bytes
// were produced by wabt's wat2wasm (1.0.32, --enable-all) and checked to match rewind's encoder
// byte for byte; they are embedded so the test does not need wabt.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "wasm/decoder/decoder.h"
#include "wasm/text/wat.h"

namespace rw::wasm {
namespace {

std::string hex(const std::vector<uint8_t>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

void expect_encoding(const char* wat, const char* expected_hex) {
  auto bin = wat_to_binary(wat);
  ASSERT_TRUE(bin.ok()) << bin.error().message;
  EXPECT_EQ(hex(*bin), expected_hex);
}

TEST(WatEncode, Empty) { expect_encoding(R"wat((module))wat", "0061736d01000000"); }

TEST(WatEncode, FuncLocals) {
  expect_encoding(
      R"wat((module (func $add (export "add") (param $a i32) (param $b i32) (result i32) (local $t i32) (local i64 i64)
  (local.set $t (i32.add (local.get $a) (local.get $b))) local.get $t)))wat",
      "0061736d0100000001070160027f7f017f030201000707010361646400000a11010f02017f027e20"
      "0020016a210220020b");
}

TEST(WatEncode, ImplicitTypes) {
  expect_encoding(R"wat((module
  (func $f (result f64) (f64.const 0))
  (func $g (param i32))
  (func $h (result f64) (f64.const 1))
  (type $t (func (param i32)))
  (func (type $t) (param i32))
  (func (call $f) drop)))wat",
                  "0061736d01000000010c0360017f006000017c60000003060501000100020a25050b004400000000"
                  "000000000b02000b0b0044000000000000f03f0b02000b050010001a0b");
}

TEST(WatEncode, Imports) {
  expect_encoding(R"wat((module
  (import "env" "f" (func $f (param i32)))
  (func $g (import "env" "g") (result i32))
  (table $t (import "env" "t") 1 2 funcref)
  (memory (import "env" "m") 1)
  (global $gl (import "env" "gl") (mut i64))
  (func (export "run") (call $f (call $g)))
  (export "t2" (table $t))
  (global $x (export "x") f32 (f32.const 1.5))
  (start 2)))wat",
                  "0061736d01000000010c0360017f006000017f600000022f0503656e760166000003656e76016700"
                  "0103656e760174017001010203656e76016d02000103656e7602676c037e01030201020609017d00"
                  "430000c03f0b0710030372756e00020274320100017803010801020a08010600100110000b");
}

TEST(WatEncode, InlineSegments) {
  expect_encoding(R"wat((module
  (func $a) (func $b)
  (table $t funcref (elem $a $b $a))
  (memory $m (data "hello" "\00\ff"))
  (func (call_indirect (type 0) (i32.const 1)))))wat",
                  "0061736d01000000010401600000030403000000040501700103030504010101010909010041000b"
                  "030001000a0f0302000b02000b070041011100000b0b0d010041000b0768656c6c6f00ff");
}

TEST(WatEncode, Control) {
  expect_encoding(R"wat((module
  (func (param i32) (result i32)
    (block $outer (result i32)
      (loop $l
        (br_if $l (local.get 0))
        (if (result i32) (local.get 0) (then (i32.const 1)) (else (br $outer (i32.const 2))))
        drop)
      block $inner
        local.get 0
        br_table $inner $inner 0
      end $inner
      i32.const 3
      if $i (result i32) i32.const 4 else $i i32.const 5 end $i
    ))))wat",
                  "0061736d0100000001060160017f017f030201000a2f012d00027f034020000d002000047f410105"
                  "41020c020b1a0b024020000e020000000b4103047f41040541050b0b0b");
}

TEST(WatEncode, Memarg) {
  expect_encoding(R"wat((module (memory 1)
  (func (result i64)
    (i32.store offset=4 align=2 (i32.const 0) (i32.load8_u offset=0x10 (i32.const 1)))
    (i64.store16 align=1 (i32.const 0) (i64.const -1))
    (f64.store (i32.const 8) (f64.load align=8 (i32.const 8)))
    (drop (memory.grow (memory.size)))
    (i64.load32_s offset=65535 (i32.const 0)))))wat",
                  "0061736d010000000105016000017e0302010005030100010a2b012900410041012d001036010441"
                  "00427f3d0000410841082b03003903003f0040001a41003402ffff030b");
}

TEST(WatEncode, SelectRefs) {
  expect_encoding(R"wat((module
  (table $t1 2 funcref) (table $t2 3 externref)
  (elem $e func $f)
  (elem $d declare func $f)
  (func $f (param externref) (result i32)
    (drop (select (result i32) (i32.const 1) (i32.const 2) (i32.const 0)))
    (drop (select (f32.const 1) (f32.const 2) (i32.const 0)))
    (table.set $t2 (i32.const 0) (local.get 0))
    (drop (table.get $t1 (i32.const 0)))
    (drop (table.grow $t2 (ref.null extern) (i32.const 1)))
    (drop (table.size $t2))
    (table.fill $t1 (i32.const 0) (ref.null func) (i32.const 1))
    (table.copy $t1 $t1 (i32.const 0) (i32.const 0) (i32.const 0))
    (table.init $t1 $e (i32.const 0) (i32.const 0) (i32.const 0))
    (table.init $e (i32.const 0) (i32.const 0) (i32.const 0))
    (elem.drop $e)
    (ref.is_null (ref.null func)))))wat",
                  "0061736d0100000001060160016f017f030201000407027000026f00030909020100010003000100"
                  "0a60015e004101410241001c017f1a430000803f430000004041001b1a410020002601410025001a"
                  "d06f4101fc0f011afc10011a4100d0704101fc1100410041004100fc0e0000410041004100fc0c00"
                  "00410041004100fc0c0000fc0d00d070d10b");
}

TEST(WatEncode, BulkMemory) {
  expect_encoding(R"wat((module (memory 1)
  (data $p "abc")
  (data (i32.const 8) "xyz")
  (func
    (memory.init $p (i32.const 0) (i32.const 0) (i32.const 3))
    (memory.copy (i32.const 0) (i32.const 1) (i32.const 2))
    (memory.fill (i32.const 0) (i32.const 255) (i32.const 4))
    (data.drop $p))))wat",
                  "0061736d010000000104016000000302010005030100010c01020a25012300410041004103fc0800"
                  "00410041014102fc0a0000410041ff014104fc0b00fc09000b0b0e0201036162630041080b037879"
                  "7a");
}

TEST(WatEncode, Floats) {
  expect_encoding(R"wat((module (func
  (drop (f32.const 0x1p-149)) (drop (f32.const 0x1.fffffep127)) (drop (f32.const -0x0p0))
  (drop (f32.const nan:0x200000)) (drop (f32.const -inf)) (drop (f32.const nan))
  (drop (f32.const 1.5e10)) (drop (f32.const 0x1.000001p0)) (drop (f32.const 1_000.000_1))
  (drop (f64.const 0x1p-1074)) (drop (f64.const -nan:0x1)) (drop (f64.const 2.2250738585072011e-308))
  (drop (f64.const 0x1.fffffffffffff8p0)) (drop (f64.const 1e308)) (drop (f64.const 0.1)))))wat",
                  "0061736d01000000010401600000030201000a7601740043010000001a43ffff7f7f1a4300000080"
                  "1a430000a07f1a43000080ff1a430000c07f1a4376845f501a430000803f1a4302007a441a440100"
                  "0000000000001a44010000000000f0ff1a44ffffffffffff0f001a4400000000000000401a44a0c8"
                  "eb85f3cce17f1a449a9999999999b93f1a0b");
}

TEST(WatEncode, LegacyEh) {
  expect_encoding(R"wat((module
  (tag $e (param i32))
  (tag $e2)
  (func (result i32)
    (try (result i32)
      (do (throw $e (i32.const 1)))
      (catch $e)
      (catch $e2 (i32.const 2))
      (catch_all (rethrow 0))))
  (func
    try $l
      try
        throw $e2
      delegate $l
    catch_all
    end)))wat",
                  "0061736d01000000010c0360017f006000006000017f03030202010d0502000000010a2102120006"
                  "7f410108000700070141021909000b0b0c000640064008011800190b0b");
}

TEST(WatEncode, TailCalls) {
  expect_encoding(R"wat((module
  (type $t (func (param i32) (result i32)))
  (table 1 funcref)
  (func $f (type $t) (return_call $f (local.get 0)))
  (func (type $t) (return_call_indirect (type $t) (local.get 0) (i32.const 0)))))wat",
                  "0061736d0100000001060160017f017f03030200000404017000010a12020600200012000b090020"
                  "0041001300000b");
}

TEST(WatEncode, ElemForms) {
  expect_encoding(R"wat((module
  (global $g (import "m" "g") i32)
  (table $t0 4 funcref) (table $t1 4 funcref) (table $t2 4 externref)
  (func $f)
  (elem (i32.const 0) $f $f)
  (elem (table $t1) (offset (global.get $g)) func $f)
  (elem funcref (ref.func $f) (ref.null func))
  (elem (table $t2) (i32.const 0) externref (ref.null extern))
  (elem (i32.const 2) funcref (item (ref.func $f)))))wat",
                  "0061736d01000000010401600000020801016d0167037f0003020100040a037000047000046f0004"
                  "0929050041000b020000020123000b000100057002d2000bd0700b060241000b6f01d06f0b004102"
                  "0b01000a040102000b");
}

TEST(WatEncode, Blocktypes) {
  expect_encoding(R"wat((module
  (type $pair (func (param i32) (result i32 i32)))
  (func (result i32 i32)
    (i32.const 1)
    (block (type $pair) (i32.const 2))
  )
  (func (result i64)
    (i64.const 7)
    (block (param i64) (result i64)))
  (func (result i32 i64 f32)
    (block (result i32 i64 f32) (i32.const 0) (i64.const 0) (f32.const 0)))))wat",
                  "0061736d01000000011b0560017f027f7f6000027f7f6000017e60017e017e6000037f7e7d030403"
                  "0102040a220309004101020041020b0b0700420702030b0b0e0002044100420043000000000b0b");
}

// try_table has no wabt 1.0.32 support; these bytes were checked by hand against the
// exception-handling proposal's binary format.
TEST(WatEncode, TryTableCatchResolvesLabelsOutsideTheBlock) {
  expect_encoding(
      R"wat((module (tag $e (param i32)) (func (result i32)
        (block $h (result i32) (try_table (result i32) (catch $e $h) (i32.const 1))))))wat",
      "0061736d0100000001090260017f006000017f030201010d030100000a10"
      "010e00027f1f7f0100000041010b0b0b");
}

TEST(WatEncode, TryTableAllCatchKindsAndExnref) {
  expect_encoding(R"wat((module (tag $e) (func (param exnref)
    (block $h (result exnref)
      (try_table (catch_ref $e $h) (catch_all_ref $h) (catch_all 1) (throw_ref (local.get 0))))
    (drop (ref.null exn)))))wat",
                  "0061736d0100000001080260000060016900030201010d030100000a1801"
                  "160002691f40030100000300020120000a0b0bd0691a0b");
}

TEST(WatEncode, BareFieldsWithoutModuleKeyword) {
  auto a = wat_to_binary("(func (export \"f\") (result i32) (i32.const 7))");
  auto b = wat_to_binary("(module (func (export \"f\") (result i32) (i32.const 7)))");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace rw::wasm

namespace rw::wasm {
namespace {

// On request the encoder adds a name section with the module's identifiers; by default it
// encodes exactly what the reference interpreter does, which has none.
TEST(WatNames, IdentifiersBecomeANameSectionOnRequest) {
  const char* wat = R"((module
    (import "env" "log" (func $log (param i32)))
    (global $count (mut i32) (i32.const 0))
    (global i32 (i32.const 1))
    (global $limit i32 (i32.const 9))
    (func $tick (param $by i32) (local $old i32) (local f64) (local $new i32)
      (local.set $old (global.get $count)))
    (func (result i32) (i32.const 0))
    (func $last))
  )";
  auto plain = wat_to_binary(wat);
  ASSERT_TRUE(plain.ok());
  auto plain_module = decode_module(*plain);
  ASSERT_TRUE(plain_module.ok());
  EXPECT_TRUE(plain_module->customs.empty());
  EXPECT_TRUE(plain_module->names.functions.empty());

  auto named = wat_to_binary(wat, {.name_section = true});
  ASSERT_TRUE(named.ok());
  // The name section is appended: everything before it is the spec's encoding.
  ASSERT_GT(named->size(), plain->size());
  EXPECT_TRUE(std::equal(plain->begin(), plain->end(), named->begin()));
  auto m = decode_module(*named);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->function_name(0), "log");  // imports count in the function index space
  EXPECT_EQ(m->function_name(1), "tick");
  EXPECT_EQ(m->function_name(2), "");
  EXPECT_EQ(m->function_name(3), "last");
  ASSERT_EQ(m->names.locals.count(1), 1u);
  const auto& tick_locals = m->names.locals.at(1);
  EXPECT_EQ(tick_locals.size(), 3u);
  EXPECT_EQ(tick_locals.at(0), "by");
  EXPECT_EQ(tick_locals.at(1), "old");
  EXPECT_EQ(tick_locals.at(3), "new");
  EXPECT_EQ(m->names.locals.count(2), 0u);
  EXPECT_EQ(m->names.globals.size(), 2u);
  EXPECT_EQ(m->names.globals.at(0), "count");
  EXPECT_EQ(m->names.globals.at(2), "limit");
}

TEST(WatNames, AModuleWithoutIdentifiersGetsAnEmptyNameSection) {
  auto named = wat_to_binary("(module (func))", {.name_section = true});
  ASSERT_TRUE(named.ok());
  auto m = decode_module(*named);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->names.functions.empty());
}

}  // namespace
}  // namespace rw::wasm
