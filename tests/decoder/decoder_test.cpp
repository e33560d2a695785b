#include "wasm/decoder/decoder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "wasm/decoder/name_section.h"
#include "wasm_builder.h"

// The largest single allocation made while `track_allocations` is set: the decoder must not size
// anything by a count it has not yet checked against the bytes that remain.
namespace {
std::atomic<bool> track_allocations{false};
std::atomic<size_t> largest_allocation{0};
}  // namespace

void* operator new(size_t size) {
  if (track_allocations.load(std::memory_order_relaxed)) {
    size_t seen = largest_allocation.load(std::memory_order_relaxed);
    while (size > seen && !largest_allocation.compare_exchange_weak(seen, size)) {
    }
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace rw::wasm {
namespace {

using namespace test;

Result<Module> decode(const Bytes& b, const DecodeLimits& limits = {}) {
  return decode_module(std::span<const uint8_t>(b.data(), b.size()), limits);
}

// Asserts rejection with the kind, a message starting with `reason` and, when given, the offset.
void expect_error(const Bytes& b, Error::Kind kind, std::string_view reason,
                  size_t offset = Error::kNoOffset - 1) {
  auto r = decode(b);
  ASSERT_FALSE(r.ok()) << "expected: " << reason;
  EXPECT_EQ(r.error().kind, kind) << r.error().message;
  EXPECT_TRUE(std::string_view(r.error().message).starts_with(reason))
      << "got \"" << r.error().message << "\", expected \"" << reason << "\"";
  if (offset != Error::kNoOffset - 1) EXPECT_EQ(r.error().offset, offset) << r.error().message;
}

void expect_malformed(const Bytes& b, std::string_view reason,
                      size_t offset = Error::kNoOffset - 1) {
  expect_error(b, Error::Kind::Malformed, reason, offset);
}

// A module touching every section, used by the truncation test and the acceptance tests.
ModuleSpec rich_module() {
  ModuleSpec m;
  m.types = {functype({}, {}), functype({I32, I64}, {I32}), functype({I32}, {})};
  m.imports = {
      cat({str("env"), str("f"), {0x00}, uleb(1)}),
      cat({str("env"), str("t"), {0x01, FUNCREF, 0x01, 0x01, 0x10}}),
      cat({str("env"), str("m"), {0x02, 0x00, 0x01}}),
      cat({str("env"), str("g"), {0x03, I32, 0x00}}),
      cat({str("env"), str("e"), {0x04, 0x00}, uleb(2)}),
  };
  m.funcs = {0, 1};
  m.tables = {{EXTERNREF, 0x00, 0x02}};
  m.tags = {{0x00, 0x02}};
  m.globals = {{I64, 0x01, 0x42, 0x2A, 0x0B}, {FUNCREF, 0x00, 0xD2, 0x01, 0x0B}};
  m.exports = {cat({str("run"), {0x00, 0x01}}), cat({str("mem"), {0x02, 0x00}})};
  m.start = 1;
  m.elems = {{0x00, 0x41, 0x00, 0x0B, 0x02, 0x01, 0x02}, {0x01, 0x00, 0x01, 0x02}};
  m.data_count = 2;
  m.bodies = {body({0x00}, {0x0B}), body({0x02, 0x01, I32, 0x02, F64}, {0x20, 0x00, 0x0B})};
  m.datas = {{0x00, 0x41, 0x08, 0x0B, 0x03, 'a', 'b', 'c'}, {0x01, 0x02, 'x', 'y'}};
  // name section: module "rich", function 1 "run", local 1/0 "x", global 1 "fref"
  Bytes names =
      cat({str("name"), section(0, str("rich")), section(1, vec({cat({uleb(1), str("run")})})),
           section(2, vec({cat({uleb(1), vec({cat({uleb(0), str("x")})})})})),
           section(7, vec({cat({uleb(1), str("fref")})}))});
  m.customs = {section(0, names), section(0, cat({str("other"), {1, 2, 3}}))};
  return m;
}

TEST(Decoder, AcceptsEmptyModule) {
  auto r = decode(header());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->types.empty());
  EXPECT_EQ(r->bytes, header());
}

TEST(Decoder, DecodesEverySection) {
  Bytes bin = rich_module().build();
  auto r = decode(bin);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const Module& m = *r;
  ASSERT_EQ(m.types.size(), 3u);
  EXPECT_EQ(m.types[1].params, (std::vector<ValType>{ValType::I32, ValType::I64}));
  EXPECT_EQ(m.types[1].results, (std::vector<ValType>{ValType::I32}));

  ASSERT_EQ(m.imports.size(), 5u);
  EXPECT_EQ(m.imports[0].kind, ExternKind::Func);
  EXPECT_EQ(m.imports[0].type_index, 1u);
  EXPECT_EQ(m.imports[1].kind, ExternKind::Table);
  EXPECT_EQ(m.imports[1].table.limits.min, 1u);
  EXPECT_EQ(m.imports[1].table.limits.max, 16u);
  EXPECT_EQ(m.imports[2].memory.limits.min, 1u);
  EXPECT_FALSE(m.imports[2].memory.limits.max.has_value());
  EXPECT_EQ(m.imports[3].global.type, ValType::I32);
  EXPECT_FALSE(m.imports[3].global.is_mutable);
  EXPECT_EQ(m.imports[4].kind, ExternKind::Tag);
  EXPECT_EQ(m.imports[4].type_index, 2u);
  EXPECT_EQ(m.num_imported_funcs, 1u);
  EXPECT_EQ(m.num_imported_tables, 1u);
  EXPECT_EQ(m.num_imported_memories, 1u);
  EXPECT_EQ(m.num_imported_globals, 1u);
  EXPECT_EQ(m.num_imported_tags, 1u);
  for (int k = 0; k < 5; ++k) {
    ASSERT_EQ(m.import_positions[k].size(), 1u);
    EXPECT_EQ(m.import_positions[k][0], static_cast<uint32_t>(k));
  }

  EXPECT_EQ(m.functions, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(m.total_funcs(), 3u);
  ASSERT_EQ(m.tables.size(), 1u);
  EXPECT_EQ(m.tables[0].element, ValType::ExternRef);
  EXPECT_EQ(m.tables[0].limits.min, 2u);
  EXPECT_EQ(m.tags, (std::vector<uint32_t>{2}));
  ASSERT_EQ(m.globals.size(), 2u);
  EXPECT_TRUE(m.globals[0].type.is_mutable);
  ASSERT_EQ(m.globals[0].init.instrs.size(), 1u);
  EXPECT_EQ(m.globals[0].init.instrs[0].op, Opcode::I64Const);
  EXPECT_EQ(m.globals[0].init.instrs[0].imm, 42u);
  EXPECT_EQ(m.globals[1].init.instrs[0].op, Opcode::RefFunc);
  EXPECT_EQ(m.globals[1].init.instrs[0].imm, 1u);
  ASSERT_EQ(m.exports.size(), 2u);
  EXPECT_EQ(m.exports[0].name, "run");
  EXPECT_EQ(m.exports[1].kind, ExternKind::Memory);
  EXPECT_EQ(m.start, 1u);

  ASSERT_EQ(m.elems.size(), 2u);
  EXPECT_EQ(m.elems[0].mode, SegmentMode::Active);
  ASSERT_EQ(m.elems[0].items.size(), 2u);
  EXPECT_EQ(m.elems[0].items[1].instrs[0].op, Opcode::RefFunc);
  EXPECT_EQ(m.elems[0].items[1].instrs[0].imm, 2u);
  EXPECT_EQ(m.elems[1].mode, SegmentMode::Passive);

  EXPECT_EQ(m.data_count, 2u);
  ASSERT_EQ(m.datas.size(), 2u);
  EXPECT_EQ(m.datas[0].bytes, (Bytes{'a', 'b', 'c'}));
  EXPECT_EQ(m.datas[0].offset.instrs[0].imm, 8u);
  EXPECT_EQ(m.datas[1].mode, SegmentMode::Passive);

  ASSERT_EQ(m.codes.size(), 2u);
  EXPECT_EQ(m.codes[1].local_count, 3u);
  ASSERT_EQ(m.codes[1].locals.size(), 2u);
  EXPECT_EQ(m.codes[1].locals[1].type, ValType::F64);
  // The second body's instructions are `local.get 0; end`, ending at the body's end.
  EXPECT_EQ(m.codes[1].code_end - m.codes[1].code_begin, 3u);
  EXPECT_EQ(m.bytes[m.codes[1].code_begin], 0x20);
  EXPECT_EQ(m.bytes[m.codes[1].code_end - 1], 0x0B);

  EXPECT_EQ(m.names.module_name, "rich");
  EXPECT_EQ(m.function_name(1), "run");
  EXPECT_EQ(m.function_name(0), "");
  EXPECT_EQ(m.names.locals.at(1).at(0), "x");
  EXPECT_EQ(m.names.globals.at(1), "fref");
  ASSERT_EQ(m.customs.size(), 2u);
  EXPECT_EQ(m.customs[1].name, "other");
  EXPECT_EQ(m.customs[1].size, 3u);
  EXPECT_EQ(m.bytes[m.customs[1].offset], 1);

  EXPECT_TRUE(m.features.reference_types);
  EXPECT_TRUE(m.features.bulk_memory);
  EXPECT_TRUE(m.features.multiple_tables);
  EXPECT_TRUE(m.features.mutable_globals == false);
}

TEST(Decoder, EveryTruncationFailsCleanly) {
  Bytes bin = rich_module().build();
  // Dropping the trailing custom sections leaves valid modules; everything else must fail with a
  // malformed error located inside the input.
  for (size_t n = 0; n < bin.size(); ++n) {
    Bytes prefix(bin.begin(), bin.begin() + n);
    auto r = decode(prefix);
    if (r.ok()) continue;
    EXPECT_EQ(r.error().kind, Error::Kind::Malformed) << n << ": " << r.error().message;
    EXPECT_LE(r.error().offset, n) << n << ": " << r.error().message;
  }
  // Once the function section has started, every cut loses function bodies and must fail.
  ModuleSpec m = rich_module();
  m.customs.clear();
  m.datas.clear();
  m.data_count.reset();
  Bytes no_tail = m.build();
  ModuleSpec before_functions;
  before_functions.types = m.types;
  before_functions.imports = m.imports;
  size_t function_section_at = before_functions.build().size();
  for (size_t n = function_section_at + 1; n < no_tail.size(); ++n) {
    Bytes prefix(no_tail.begin(), no_tail.begin() + n);
    EXPECT_FALSE(decode(prefix).ok()) << n;
  }
}

TEST(Decoder, Header) {
  expect_malformed({}, "unexpected end", 0);
  expect_malformed({0x00, 0x61, 0x73}, "unexpected end");
  expect_malformed({0x00, 0x61, 0x73, 0x6D, 0x01}, "unexpected end");
  expect_malformed({0x00, 0x41, 0x53, 0x4D, 0x01, 0x00, 0x00, 0x00}, "magic header not detected",
                   0);
  expect_malformed({0xEF, 0xBB, 0xBF, 0x00, 0x61, 0x73, 0x6D, 0x01}, "magic header not detected");
  expect_malformed({0x00, 0x61, 0x73, 0x6D, 0x02, 0x00, 0x00, 0x00}, "unknown binary version", 4);
  expect_malformed({0x00, 0x61, 0x73, 0x6D, 0x00, 0x00, 0x00, 0x01}, "unknown binary version");
}

TEST(Decoder, SectionIdsAndOrder) {
  expect_malformed(module_of({{0x0E, 0x01, 0x00}}), "malformed section id", 8);
  expect_malformed(module_of({{0x7F, 0x01, 0x00}}), "malformed section id", 8);
  expect_malformed(module_of({{0x80, 0x01, 0x00}}), "malformed section id", 8);
  // Duplicates.
  for (uint8_t id : {1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13}) {
    Bytes empty_vec = id == 12 ? Bytes{0x00} : Bytes{0x00};
    expect_malformed(module_of({section(id, empty_vec), section(id, empty_vec)}),
                     "unexpected content after last section", 11);
  }
  expect_malformed(module_of({section(8, {0x00}), section(8, {0x00})}),
                   "unexpected content after last section");
  // Out of order.
  expect_malformed(module_of({section(2, {0x00}), section(1, {0x00})}),
                   "unexpected content after last section");
  expect_malformed(module_of({section(10, {0x00}), section(12, {0x00})}),
                   "unexpected content after last section");
  expect_malformed(module_of({section(12, {0x00}), section(9, {0x00})}),
                   "unexpected content after last section");
  expect_malformed(module_of({section(11, {0x00}), section(10, {0x00})}),
                   "unexpected content after last section");
  // The tag section goes between memory and global.
  EXPECT_TRUE(
      decode(module_of({section(5, {0x00}), section(13, {0x00}), section(6, {0x00})})).ok());
  expect_malformed(module_of({section(6, {0x00}), section(13, {0x00})}),
                   "unexpected content after last section");
  expect_malformed(module_of({section(13, {0x00}), section(5, {0x00})}),
                   "unexpected content after last section");
  // Custom sections go anywhere.
  EXPECT_TRUE(decode(module_of({section(0, str("a")), section(1, {0x00}), section(0, str("b")),
                                section(11, {0x00}), section(0, str("c"))}))
                  .ok());
}

TEST(Decoder, SectionSizes) {
  // One type declared, two given.
  expect_malformed(module_of({section(1, {0x01, 0x60, 0x00, 0x00, 0x60, 0x00, 0x00})}),
                   "section size mismatch", 14);
  // Section size beyond the end of the module.
  expect_malformed(module_of({{0x01, 0x05, 0x01, 0x60, 0x00}}), "length out of bounds", 9);
  // Two types declared, one given.
  expect_malformed(module_of({section(1, {0x02, 0x60, 0x00, 0x00})}),
                   "unexpected end of section or function", 14);
  // A concatenated second module reads as a custom section that is too long.
  expect_malformed(cat({header(), header()}), "length out of bounds");
  // A custom section whose name runs past the section.
  expect_malformed(module_of({{0x00, 0x02, 0x05, 'a'}}), "length out of bounds");
  expect_malformed(module_of({{0x00}}), "unexpected end");
  expect_malformed(module_of({{0x00, 0x00}}), "unexpected end");
}

TEST(Decoder, HugeCountsFailFastWithoutAllocating) {
  // Function section declaring 0xFFFFFFFF functions in a 20-byte module.
  Bytes bin = module_of({{0x03, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00}});
  largest_allocation = 0;
  track_allocations = true;
  expect_malformed(bin, "unexpected end", 10);
  // The same for every vector in the format.
  for (uint8_t id : {1, 2, 4, 5, 6, 7, 9, 10, 11, 13}) {
    expect_malformed(module_of({{id, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F}}), "unexpected end");
  }
  // Parameter counts, local run counts, data lengths, name lengths.
  expect_malformed(module_of({section(1, {0x01, 0x60, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F})}),
                   "unexpected end");
  expect_malformed(module_of({section(3, {0x01, 0x00}),
                              section(10, {0x01, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x0B})}),
                   "unexpected end");
  expect_malformed(module_of({section(11, {0x01, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F})}),
                   "unexpected end");
  expect_malformed(module_of({section(2, {0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F})}),
                   "length out of bounds");
  track_allocations = false;
  // Every module above is under 40 bytes; a vector sized by one of those counts would be gigabytes.
  EXPECT_GT(largest_allocation.load(), 0u);  // the probe saw the decoder's own allocations
  EXPECT_LT(largest_allocation.load(), size_t{64} << 10);
}

TEST(Decoder, ImplementationLimits) {
  DecodeLimits limits;
  limits.max_types = 1;
  auto r = decode(module_of({section(1, vec({functype({}, {}), functype({}, {})}))}), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("too many types", 0), 0u) << r.error().message;
  limits = {};
  limits.max_params = 2;
  r = decode(module_of({section(1, vec({functype({I32, I32, I32}, {})}))}), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("too many parameters", 0), 0u) << r.error().message;
}

TEST(Decoder, Locals) {
  auto with_locals = [](const Bytes& locals) {
    return single_function({}, {}, {0x0B}, locals).build();
  };
  // 0xFFFFFFFF locals.
  expect_malformed(with_locals({0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, I32}), "too many locals");
  // Four runs of 0x40000000: the total overflows 32 bits.
  expect_malformed(
      with_locals({0x04, 0x80, 0x80, 0x80, 0x80, 0x04, I32,  0x80, 0x80, 0x80, 0x80, 0x04, I64,
                   0x80, 0x80, 0x80, 0x80, 0x04, F32,  0x80, 0x80, 0x80, 0x80, 0x04, F64}),
      "too many locals");
  // 2^32 does not fit a u32 at all.
  expect_malformed(with_locals({0x01, 0x80, 0x80, 0x80, 0x80, 0x10, I32}), "integer too large");
  // Exactly at the limit is fine, one more is not.
  Bytes at_limit = {0x02};
  append_uleb(at_limit, 49999);
  at_limit.push_back(I32);
  at_limit.push_back(0x01);
  at_limit.push_back(I64);
  auto r = decode(with_locals(at_limit));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->codes[0].local_count, 50000u);
  Bytes over = {0x02, 0x01, I32};
  append_uleb(over, 50000);
  over.push_back(I64);
  expect_malformed(with_locals(over), "too many locals");
  // Zero-count runs are allowed.
  EXPECT_TRUE(decode(with_locals({0x03, 0x00, I32, 0x00, I64, 0x02, F32})).ok());
  // Bad local type.
  expect_malformed(with_locals({0x01, 0x01, 0x40}), "malformed value type");
}

TEST(Decoder, FunctionAndCodeCounts) {
  Bytes type = section(1, vec({functype({}, {})}));
  expect_malformed(module_of({type, section(3, {0x02, 0x00, 0x00})}),
                   "function and code section have inconsistent lengths");
  expect_malformed(module_of({section(10, {0x01, 0x02, 0x00, 0x0B})}),
                   "function and code section have inconsistent lengths");
  expect_malformed(
      module_of({type, section(3, {0x02, 0x00, 0x00}), section(10, {0x01, 0x02, 0x00, 0x0B})}),
      "function and code section have inconsistent lengths");
  expect_malformed(module_of({type, section(3, {0x01, 0x00}),
                              section(10, {0x02, 0x02, 0x00, 0x0B, 0x02, 0x00, 0x0B})}),
                   "function and code section have inconsistent lengths");
  EXPECT_TRUE(decode(module_of({section(3, {0x00})})).ok());
  EXPECT_TRUE(decode(module_of({section(10, {0x00})})).ok());
  // A second code section is reported as misplaced even though the first one alone is short.
  expect_malformed(
      module_of({type, section(3, {0x02, 0x00, 0x00}), section(10, {0x01, 0x02, 0x00, 0x0B}),
                 section(10, {0x01, 0x02, 0x00, 0x0B})}),
      "unexpected content after last section");
  // The count mismatch points at the code section's count.
  expect_malformed(module_of({type, section(3, {0x01, 0x00}), section(10, {0x00})}),
                   "function and code section have inconsistent lengths", 20);
  // A body size beyond the section.
  expect_malformed(module_of({type, section(3, {0x01, 0x00}), section(10, {0x01, 0x09, 0x00})}),
                   "unexpected end");
}

TEST(Decoder, DataCount) {
  expect_malformed(module_of({section(12, {0x03}), section(11, {0x02, 0x01, 0x00, 0x01, 0x00})}),
                   "data count and data section have inconsistent lengths");
  expect_malformed(module_of({section(12, {0x01}), section(11, {0x02, 0x01, 0x00, 0x01, 0x00})}),
                   "data count and data section have inconsistent lengths");
  expect_malformed(module_of({section(5, {0x01, 0x00, 0x01}), section(12, {0x01})}),
                   "data count and data section have inconsistent lengths");
  auto r = decode(module_of({section(12, {0x00})}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data_count, 0u);
}

TEST(Decoder, Utf8Names) {
  // Import module name with a lone continuation byte.
  expect_malformed(module_of({section(2, {0x01, 0x01, 0x80, 0x00, 0x00, 0x00})}),
                   "malformed UTF-8 encoding", 11);
  // Overlong encoding of '/' in an export name.
  expect_malformed(module_of({section(7, {0x01, 0x02, 0xC0, 0xAF, 0x02, 0x00})}),
                   "malformed UTF-8 encoding");
  // Surrogate in a custom section name.
  expect_malformed(module_of({section(0, {0x03, 0xED, 0xA0, 0x80})}), "malformed UTF-8 encoding");
  // Valid multi-byte names decode.
  auto r = decode(module_of({section(0, cat({str("\xE2\x82\xAC\xF0\x9F\x98\x80"), {0x01}}))}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->customs[0].name, "\xE2\x82\xAC\xF0\x9F\x98\x80");
}

TEST(Decoder, Leb128) {
  // Type index in the function section with a 6-byte encoding.
  Bytes type = section(1, vec({functype({}, {})}));
  expect_malformed(module_of({type, section(3, {0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00})}),
                   "integer representation too long");
  // 5th byte with bits beyond 32.
  expect_malformed(module_of({type, section(3, {0x01, 0x80, 0x80, 0x80, 0x80, 0x70})}),
                   "integer too large");
  // Padded but in range encodings are fine, including in section sizes.
  auto r = decode(module_of({{0x01, 0x84, 0x80, 0x80, 0x80, 0x00, 0x01, 0x60, 0x00, 0x00},
                             section(3, {0x01, 0x80, 0x80, 0x80, 0x80, 0x00})}));
  EXPECT_FALSE(r.ok());  // function without code section
  EXPECT_EQ(r.error().message, "function and code section have inconsistent lengths");
  // Signed constant too long in a global initialiser.
  expect_malformed(
      module_of({section(6, {0x01, I32, 0x00, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0B})}),
      "integer representation too long");
  // i32.const with unused bits that are not sign bits.
  expect_malformed(
      module_of({section(6, {0x01, I32, 0x00, 0x41, 0xFF, 0xFF, 0xFF, 0xFF, 0x4F, 0x0B})}),
      "integer too large");
}

TEST(Decoder, Limits) {
  expect_malformed(module_of({section(5, {0x01, 0x02})}), "integer too large", 11);
  expect_malformed(module_of({section(5, {0x01, 0x03, 0x00, 0x01})}), "integer too large");
  expect_malformed(module_of({section(5, {0x01, 0x04, 0x00})}), "integer too large");
  expect_malformed(module_of({section(5, {0x01, 0x81, 0x00, 0x00, 0x00})}),
                   "integer representation too long");
  expect_malformed(module_of({section(4, {0x01, FUNCREF, 0x02, 0x00})}), "integer too large");
  expect_malformed(module_of({section(4, {0x01, I32, 0x00, 0x00})}), "malformed reference type");
  auto r = decode(module_of({section(5, {0x01, 0x01, 0x02, 0x80, 0x80, 0x04})}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->memories[0].limits.min, 2u);
  EXPECT_EQ(r->memories[0].limits.max, 65536u);
}

TEST(Decoder, ImportsAndExports) {
  expect_malformed(module_of({section(2, {0x01, 0x00, 0x00, 0x05, 0x00})}), "malformed import kind",
                   13);
  expect_malformed(module_of({section(2, {0x01, 0x00, 0x00, 0x80})}), "malformed import kind");
  expect_malformed(module_of({section(2, {0x01, 0x00, 0x00, 0x04})}), "unexpected end");
  expect_malformed(module_of({section(2, {0x01, 0x00, 0x00, 0x04, 0x01, 0x00})}),
                   "malformed tag attribute");
  expect_malformed(module_of({section(2, {0x01, 0x00, 0x00, 0x03, I32, 0x02})}),
                   "malformed mutability", 15);
  expect_malformed(module_of({section(7, {0x01, 0x00, 0x05, 0x00})}), "malformed export kind");
  auto r = decode(module_of({section(2, {0x01, 0x00, 0x00, 0x03, I64, 0x01}),
                             section(7, {0x01, 0x01, 'g', 0x03, 0x00})}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->features.mutable_globals);
  EXPECT_EQ(r->exports[0].kind, ExternKind::Global);
}

TEST(Decoder, Globals) {
  expect_malformed(module_of({section(6, {0x01, I32, 0x02, 0x41, 0x00, 0x0B})}),
                   "malformed mutability");
  // Missing `end` at the end of the section.
  expect_malformed(module_of({section(6, {0x01, I32, 0x00, 0x41, 0x00})}), "unexpected end");
  // Illegal opcode in an initialiser.
  expect_malformed(module_of({section(6, {0x01, I32, 0x00, 0xF3, 0x0B})}), "illegal opcode", 13);
  // Extended constant expressions decode in order.
  auto r = decode(module_of({section(6, {0x01, I32, 0x00, 0x41, 0x01, 0x41, 0x02, 0x6A, 0x0B})}));
  ASSERT_TRUE(r.ok());
  const auto& instrs = r->globals[0].init.instrs;
  ASSERT_EQ(instrs.size(), 3u);
  EXPECT_EQ(instrs[2].op, Opcode::I32Add);
  EXPECT_EQ(r->globals[0].init.offset, 13u);
  // A non-constant instruction is kept for the validator to reject, with its immediates skipped.
  r = decode(module_of({section(6, {0x01, I32, 0x00, 0x20, 0x80, 0x01, 0x0B})}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->globals[0].init.instrs[0].op, Opcode::LocalGet);
  EXPECT_EQ(r->globals[0].init.instrs[0].imm, 128u);
  // f32/f64 bits and negative integers.
  r = decode(module_of(
      {section(6, {0x03, F32, 0x00, 0x43, 0x00, 0x00, 0xC0, 0x7F, 0x0B, F64,  0x00, 0x44, 1,
                   2,    3,   4,    5,    6,    7,    8,    0x0B, I64,  0x00, 0x42, 0x7F, 0x0B})}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->globals[0].init.instrs[0].imm, 0x7FC00000u);
  EXPECT_EQ(r->globals[1].init.instrs[0].imm, 0x0807060504030201u);
  EXPECT_EQ(r->globals[2].init.instrs[0].imm, ~uint64_t{0});
}

TEST(Decoder, ElementSegmentEncodings) {
  Bytes i32_0 = {0x41, 0x00, 0x0B};
  std::vector<Bytes> segs = {
      cat({{0x00}, i32_0, {0x01, 0x00}}),                                // active table 0, indices
      {0x01, 0x00, 0x01, 0x00},                                          // passive, indices
      cat({{0x02, 0x01}, i32_0, {0x00, 0x01, 0x00}}),                    // active table 1, indices
      {0x03, 0x00, 0x01, 0x00},                                          // declarative, indices
      cat({{0x04}, i32_0, {0x01, 0xD2, 0x00, 0x0B}}),                    // active table 0, exprs
      {0x05, EXTERNREF, 0x01, 0xD0, EXTERNREF, 0x0B},                    // passive, exprs
      cat({{0x06, 0x01}, i32_0, {FUNCREF, 0x01, 0xD0, FUNCREF, 0x0B}}),  // active 1, exprs
      {0x07, FUNCREF, 0x01, 0xD2, 0x00, 0x0B},                           // declarative, exprs
  };
  auto r = decode(module_of({section(9, vec(segs))}));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const auto& e = r->elems;
  ASSERT_EQ(e.size(), 8u);
  SegmentMode modes[8] = {SegmentMode::Active,      SegmentMode::Passive,    SegmentMode::Active,
                          SegmentMode::Declarative, SegmentMode::Active,     SegmentMode::Passive,
                          SegmentMode::Active,      SegmentMode::Declarative};
  uint32_t tables[8] = {0, 0, 1, 0, 0, 0, 1, 0};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(e[i].mode, modes[i]) << i;
    EXPECT_EQ(e[i].table, tables[i]) << i;
    ASSERT_EQ(e[i].items.size(), 1u) << i;
    EXPECT_EQ(e[i].type, i == 5 ? ValType::ExternRef : ValType::FuncRef) << i;
  }
  EXPECT_EQ(e[0].items[0].instrs[0].op, Opcode::RefFunc);
  EXPECT_EQ(e[5].items[0].instrs[0].op, Opcode::RefNull);
  EXPECT_EQ(e[5].items[0].instrs[0].imm, EXTERNREF);
  EXPECT_EQ(e[2].offset.instrs[0].op, Opcode::I32Const);

  expect_malformed(module_of({section(9, {0x01, 0x08})}), "malformed elements segment kind");
  expect_malformed(module_of({section(9, {0x01, 0x01, 0x01, 0x00})}), "malformed element kind");
  expect_malformed(module_of({section(9, {0x01, 0x05, I32, 0x01, 0xD2, 0x00, 0x0B})}),
                   "malformed reference type");
  expect_malformed(module_of({section(9, {0x01, 0x05, FUNCREF, 0x01, 0xF3, 0x00, 0x0B})}),
                   "illegal opcode");
}

TEST(Decoder, DataSegmentEncodings) {
  auto r = decode(module_of({section(11, {0x03, 0x00, 0x41, 0x01, 0x0B, 0x01, 'a', 0x01, 0x00, 0x02,
                                          0x00, 0x41, 0x02, 0x0B, 0x02, 'b', 'c'})}));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->datas.size(), 3u);
  EXPECT_EQ(r->datas[0].mode, SegmentMode::Active);
  EXPECT_EQ(r->datas[1].mode, SegmentMode::Passive);
  EXPECT_TRUE(r->datas[1].bytes.empty());
  EXPECT_EQ(r->datas[2].bytes, (Bytes{'b', 'c'}));
  EXPECT_TRUE(r->features.bulk_memory);
  expect_malformed(module_of({section(11, {0x01, 0x03, 0x00})}), "malformed data segment kind");
  // 7 bytes declared, 6 given.
  expect_malformed(module_of({section(11, {0x01, 0x01, 0x07, 1, 2, 3, 4, 5, 6})}),
                   "unexpected end");
  // 5 declared, 6 given.
  expect_malformed(module_of({section(11, {0x01, 0x01, 0x05, 1, 2, 3, 4, 5, 6})}),
                   "section size mismatch");
}

TEST(Decoder, SimdIsUnsupported) {
  expect_error(module_of({section(1, vec({functype({V128}, {})}))}), Error::Kind::Unsupported,
               "unsupported feature: SIMD", 13);
  expect_error(single_function({}, {}, {0x0B}, {0x01, 0x01, V128}).build(),
               Error::Kind::Unsupported, "unsupported feature: SIMD");
  expect_error(module_of({section(6, {0x01, V128, 0x00, 0xFD, 0x0C, 0x0B})}),
               Error::Kind::Unsupported, "unsupported feature: SIMD");
  // v128.const in an i32 global's initialiser.
  expect_error(module_of({section(6, {0x01, I32, 0x00, 0xFD, 0x0C, 0x0B})}),
               Error::Kind::Unsupported, "unsupported feature: SIMD", 13);
}

TEST(Decoder, TypeForms) {
  expect_malformed(module_of({section(1, {0x01, 0x5F, 0x00, 0x00})}), "malformed function type",
                   11);
  expect_malformed(module_of({section(1, {0x01, 0x60, 0x01, 0x40, 0x00})}), "malformed value type",
                   13);
  expect_malformed(module_of({section(1, {0x01, 0x60, 0x00, 0x01, 0x00})}), "malformed value type",
                   14);
}

TEST(Decoder, Tags) {
  auto r =
      decode(module_of({section(1, vec({functype({I32}, {})})), section(13, {0x01, 0x00, 0x00})}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tags, (std::vector<uint32_t>{0}));
  expect_malformed(module_of({section(13, {0x01, 0x01, 0x00})}), "malformed tag attribute");
}

TEST(Decoder, FeaturesFromSections) {
  auto r = decode(module_of({section(1, vec({functype({}, {I32, I32}), functype({EXNREF}, {})}))}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->features.multi_value);
  EXPECT_TRUE(r->features.exceptions_exnref);
  EXPECT_FALSE(r->features.bulk_memory);
  r = decode(module_of({section(6, {0x01, I32, 0x01, 0x41, 0x00, 0x0B}),
                        section(7, {0x01, 0x01, 'g', 0x03, 0x00})}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->features.mutable_globals);
}

TEST(NameSection, MalformedNameSectionIsIgnored) {
  // The function names subsection claims two entries but holds one.
  Bytes names = cat({str("name"), section(1, {0x02, 0x00, 0x01, 'f'})});
  auto r = decode(module_of({section(0, names)}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->names.functions.empty());
  ASSERT_EQ(r->customs.size(), 1u);
  EXPECT_EQ(r->customs[0].name, "name");
  // Invalid UTF-8 in a name, and a subsection running past the end.
  r = decode(module_of({section(0, cat({str("name"), section(0, {0x01, 0xFF})}))}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->names.module_name.empty());
  r = decode(module_of({section(0, cat({str("name"), {0x01, 0x10, 0x00}}))}));
  ASSERT_TRUE(r.ok());
  // Unknown subsections are skipped.
  r = decode(module_of({section(0, cat({str("name"), section(4, {0x01, 0x02}),
                                        section(1, vec({cat({uleb(3), str("h")})}))}))}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->function_name(3), "h");
}

TEST(NameSection, ParsesDirectly) {
  Bytes contents = cat({section(1, vec({cat({uleb(0), str("a")}), cat({uleb(7), str("b")})})),
                        section(7, vec({cat({uleb(2), str("g")})}))});
  NameSection names;
  ASSERT_TRUE(parse_name_section(contents, 0, names));
  EXPECT_EQ(names.functions.at(7), "b");
  EXPECT_EQ(names.globals.at(2), "g");
  // Huge counts are rejected before reserving.
  Bytes huge = section(1, {0xFF, 0xFF, 0xFF, 0xFF, 0x0F});
  EXPECT_FALSE(parse_name_section(huge, 0, names));
  EXPECT_EQ(names.functions.at(0), "a");  // untouched on failure
}

}  // namespace
}  // namespace rw::wasm
