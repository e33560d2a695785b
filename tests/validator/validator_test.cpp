#include "wasm/validator/validator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "../decoder/wasm_builder.h"
#include "wasm/decoder/decoder.h"

namespace rw::wasm {
namespace {

using namespace test;

constexpr size_t kAnyOffset = Error::kNoOffset - 1;

Result<void> check(const Bytes& b) {
  auto m = decode_module(std::span<const uint8_t>(b.data(), b.size()));
  if (!m.ok()) return m.error();
  return validate_module(*m);
}

void expect_valid(const Bytes& b) {
  auto r = check(b);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
}

// Expects rejection with `kind` and a message starting with `reason`. `code_offset`, when given,
// is the offset of the failing instruction relative to the first function body's first
// instruction.
void expect_error(const Bytes& b, Error::Kind kind, std::string_view reason,
                  size_t code_offset = kAnyOffset) {
  auto m = decode_module(std::span<const uint8_t>(b.data(), b.size()));
  ASSERT_TRUE(m.ok()) << "decoding failed: " << m.error().to_string();
  auto r = validate_module(*m);
  ASSERT_FALSE(r.ok()) << "expected: " << reason;
  EXPECT_EQ(r.error().kind, kind) << r.error().to_string();
  EXPECT_TRUE(std::string_view(r.error().message).starts_with(reason))
      << "got \"" << r.error().message << "\", expected \"" << reason << "\"";
  if (code_offset != kAnyOffset) {
    ASSERT_FALSE(m->codes.empty());
    EXPECT_EQ(r.error().offset, m->codes[0].code_begin + code_offset) << r.error().message;
  }
}

void expect_invalid(const Bytes& b, std::string_view reason, size_t code_offset = kAnyOffset) {
  expect_error(b, Error::Kind::Invalid, reason, code_offset);
}

Bytes fn(const Bytes& params, const Bytes& results, const Bytes& code,
         const Bytes& locals = {0x00}) {
  return single_function(params, results, code, locals).build();
}

// ---------------------------------------------------------------------------------------------
// Basic typing

TEST(ValidatorTyping, AcceptsSimpleFunctions) {
  expect_valid(fn({}, {}, {0x0B}));
  expect_valid(fn({I32, I32}, {I32}, {0x20, 0x00, 0x20, 0x01, 0x6A, 0x0B}));
  expect_valid(fn({}, {I64}, {0x42, 0x05, 0x0B}));
  expect_valid(fn({}, {F64}, {0x44, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0x0B}));
  // Locals after params, by index.
  expect_valid(fn({I32}, {F32}, {0x20, 0x01, 0x0B}, {0x01, 0x01, F32}));
  expect_valid(fn({}, {I32}, {0x41, 0x01, 0x22, 0x00, 0x0B}, {0x01, 0x01, I32}));
}

TEST(ValidatorTyping, OperandMismatches) {
  // i32.add on an i64.
  expect_invalid(fn({}, {I32}, {0x41, 0x01, 0x42, 0x01, 0x6A, 0x0B}),
                 "type mismatch: instruction requires [i32] but stack has [i64]", 4);
  // Popping an empty stack.
  expect_invalid(fn({}, {}, {0x1A, 0x0B}), "type mismatch", 0);
  expect_invalid(fn({}, {I32}, {0x6A, 0x0B}),
                 "type mismatch: instruction requires [i32] but stack has []", 0);
  // Missing result.
  expect_invalid(fn({}, {I32}, {0x0B}), "type mismatch", 0);
  // Extra value at the end.
  expect_invalid(fn({}, {}, {0x41, 0x00, 0x0B}),
                 "type mismatch: block requires [] but stack has [i32]", 2);
  // local.set with the wrong type.
  expect_invalid(fn({I32}, {}, {0x42, 0x00, 0x21, 0x00, 0x0B}), "type mismatch", 2);
  expect_invalid(fn({I32}, {}, {0x20, 0x01, 0x1A, 0x0B}), "unknown local 1", 0);
  // A value from outside a block is not visible inside it.
  expect_invalid(fn({}, {}, {0x41, 0x00, 0x02, 0x40, 0x1A, 0x0B, 0x1A, 0x0B}), "type mismatch", 4);
}

TEST(ValidatorTyping, UnreachableCodeIsPolymorphic) {
  expect_valid(fn({}, {I32}, {0x00, 0x6A, 0x0B}));
  expect_valid(fn({}, {}, {0x00, 0x1A, 0x1A, 0x0B}));
  expect_valid(fn({}, {I32}, {0x00, 0x1B, 0x0B}));                          // select of unknowns
  expect_valid(fn({}, {I64}, {0x00, 0x42, 0x00, 0x41, 0x00, 0x1B, 0x0B}));  // unknown + i64
  expect_valid(fn({}, {I32}, {0x41, 0x01, 0x0F, 0x41, 0x00, 0x0B}));        // return then a value
  expect_invalid(fn({}, {I32}, {0x0F, 0x41, 0x00, 0x0B}), "type mismatch", 0);
  expect_valid(fn({}, {}, {0x02, 0x40, 0x0C, 0x00, 0x6A, 0x1A, 0x0B, 0x0B}));
  // The known part of the stack still has to type check.
  expect_invalid(fn({}, {}, {0x00, 0x42, 0x00, 0x6A, 0x1A, 0x0B}), "type mismatch", 3);
  // After unreachable, extra values at the end are still an error.
  expect_invalid(fn({}, {}, {0x00, 0x41, 0x00, 0x0B}), "type mismatch", 3);
}

TEST(ValidatorTyping, Select) {
  expect_valid(fn({}, {F32}, {0x43, 0, 0, 0, 0, 0x43, 0, 0, 0, 0, 0x41, 0x00, 0x1B, 0x0B}));
  expect_invalid(fn({}, {I32}, {0x41, 0x00, 0x42, 0x00, 0x41, 0x00, 0x1B, 0x0B}), "type mismatch",
                 6);
  // Untyped select on references is invalid, typed select is fine.
  expect_invalid(fn({}, {}, {0xD0, FUNCREF, 0xD0, FUNCREF, 0x41, 0x00, 0x1B, 0x1A, 0x0B}),
                 "type mismatch", 6);
  expect_valid(
      fn({}, {FUNCREF}, {0xD0, FUNCREF, 0xD0, FUNCREF, 0x41, 0x00, 0x1C, 0x01, FUNCREF, 0x0B}));
  expect_invalid(fn({}, {}, {0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x1C, 0x02, I32, I32, 0x0B}),
                 "invalid result arity");
  expect_invalid(fn({}, {}, {0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x1C, 0x00, 0x0B}),
                 "invalid result arity");
}

// ---------------------------------------------------------------------------------------------
// Control flow

TEST(ValidatorControl, BlocksAndMultiValue) {
  expect_valid(fn({}, {I32}, {0x02, I32, 0x41, 0x01, 0x0B, 0x0B}));
  // Block type by index: [i32 i32] -> [i64].
  ModuleSpec m = single_function(
      {}, {I64}, {0x41, 0x01, 0x41, 0x02, 0x02, 0x01, 0x1A, 0x1A, 0x42, 0x00, 0x0B, 0x0B});
  m.types.push_back(functype({I32, I32}, {I64}));
  expect_valid(m.build());
  // Unknown block type index.
  expect_invalid(fn({}, {}, {0x02, 0x05, 0x0B, 0x0B}), "unknown type", 0);
  // Loop labels take the parameters: br 0 in a loop [i32] -> [] needs an i32.
  m = single_function({}, {}, {0x41, 0x01, 0x03, 0x01, 0x0C, 0x00, 0x0B, 0x0B});
  m.types.push_back(functype({I32}, {}));
  expect_valid(m.build());
  m = single_function({}, {}, {0x41, 0x01, 0x03, 0x01, 0x1A, 0x0C, 0x00, 0x0B, 0x0B});
  m.types.push_back(functype({I32}, {}));
  expect_invalid(m.build(), "type mismatch", 5);
  // A block's result must be exact.
  expect_invalid(fn({}, {}, {0x02, I32, 0x0B, 0x1A, 0x0B}), "type mismatch", 2);
}

TEST(ValidatorControl, If) {
  expect_valid(fn({I32}, {I32}, {0x20, 0x00, 0x04, I32, 0x41, 0x01, 0x05, 0x41, 0x02, 0x0B, 0x0B}));
  expect_valid(fn({I32}, {}, {0x20, 0x00, 0x04, 0x40, 0x0B, 0x0B}));
  // Without else, the results must equal the parameters.
  expect_invalid(fn({I32}, {I32}, {0x20, 0x00, 0x04, I32, 0x41, 0x01, 0x0B, 0x0B}), "type mismatch",
                 6);
  ModuleSpec m = single_function({I32}, {I32}, {0x41, 0x05, 0x20, 0x00, 0x04, 0x01, 0x0B, 0x0B});
  m.types.push_back(functype({I32}, {I32}));
  expect_valid(m.build());
  // Condition must be i32.
  expect_invalid(fn({}, {}, {0x42, 0x00, 0x04, 0x40, 0x0B, 0x0B}), "type mismatch", 2);
  // else without if is malformed.
  expect_error(fn({}, {}, {0x02, 0x40, 0x05, 0x0B, 0x0B}), Error::Kind::Malformed, "else", 2);
  // Each branch checked separately.
  expect_invalid(fn({I32}, {I32}, {0x20, 0x00, 0x04, I32, 0x41, 0x01, 0x05, 0x0B, 0x0B}),
                 "type mismatch", 7);
}

TEST(ValidatorControl, Branches) {
  expect_valid(fn({}, {I32}, {0x02, I32, 0x41, 0x01, 0x0C, 0x00, 0x0B, 0x0B}));
  expect_valid(fn({}, {I32}, {0x41, 0x07, 0x0C, 0x00, 0x0B}));  // br to the function
  expect_invalid(fn({}, {}, {0x0C, 0x01, 0x0B}), "unknown label", 0);
  expect_invalid(fn({}, {I32}, {0x02, I32, 0x42, 0x01, 0x0C, 0x00, 0x0B, 0x0B}), "type mismatch",
                 4);
  // br_if keeps the values.
  expect_valid(fn({I32}, {I32}, {0x02, I32, 0x41, 0x01, 0x20, 0x00, 0x0D, 0x00, 0x0B, 0x0B}));
  expect_invalid(fn({I32}, {}, {0x02, 0x40, 0x42, 0x00, 0x0D, 0x00, 0x0B, 0x0B}), "type mismatch",
                 4);
  // br_table: same arity everywhere, each target's types checked.
  expect_valid(
      fn({I32}, {I32},
         {0x02, I32, 0x02, I32, 0x41, 0x01, 0x20, 0x00, 0x0E, 0x01, 0x00, 0x01, 0x0B, 0x0B, 0x0B}));
  expect_invalid(fn({I32}, {I32},
                    {0x02, 0x40, 0x02, I32, 0x41, 0x01, 0x20, 0x00, 0x0E, 0x01, 0x00, 0x01, 0x0B,
                     0x0B, 0x41, 0x00, 0x0B}),
                 "type mismatch", 8);
  expect_invalid(fn({I32}, {}, {0x20, 0x00, 0x0E, 0x01, 0x00, 0x05, 0x0B}), "unknown label", 2);
  expect_invalid(
      fn({I32}, {I32}, {0x02, F32, 0x41, 0x01, 0x20, 0x00, 0x0E, 0x01, 0x00, 0x01, 0x0B, 0x0B}),
      "type mismatch");
  // br_table in unreachable code with partially known operands.
  expect_valid(fn({}, {}, {0x02, I32, 0x00, 0x41, 0x00, 0x0E, 0x00, 0x00, 0x0B, 0x1A, 0x0B}));
  // return checks the function results.
  expect_invalid(fn({}, {I32}, {0x42, 0x00, 0x0F, 0x0B}), "type mismatch", 2);
}

TEST(ValidatorControl, BodyEncoding) {
  // No final end: in the last body the section ends, in an earlier one the next body follows.
  expect_error(fn({}, {}, {0x01}), Error::Kind::Malformed, "unexpected end of section or function");
  ModuleSpec two = single_function({}, {}, {0x01});
  two.funcs.push_back(0);
  two.bodies.push_back(body({0x00}, {0x0B}));
  expect_error(two.build(), Error::Kind::Malformed, "END opcode expected", 1);
  // Bytes after the final end.
  expect_error(fn({}, {}, {0x0B, 0x01}), Error::Kind::Malformed, "section size mismatch", 1);
  // Illegal opcodes.
  expect_error(fn({}, {}, {0x01, 0xFF, 0x0B}), Error::Kind::Malformed, "illegal opcode", 1);
  expect_error(fn({}, {}, {0xFC, 0x7F, 0x0B}), Error::Kind::Malformed, "illegal opcode", 0);
  // Truncated immediate.
  expect_error(fn({}, {}, {0x41}), Error::Kind::Malformed, "unexpected end", 1);
  // memory.size reserved byte.
  ModuleSpec m = single_function({}, {}, {0x3F, 0x01, 0x1A, 0x0B});
  m.memories.push_back({0x00, 0x01});
  expect_error(m.build(), Error::Kind::Malformed, "zero byte expected", 1);
}

TEST(ValidatorControl, DeepNestingDoesNotRecurse) {
  constexpr int kDepth = 100000;
  Bytes code;
  for (int i = 0; i < kDepth; ++i) code.insert(code.end(), {0x02, 0x40});
  for (int i = 0; i < kDepth; ++i) code.push_back(0x0B);
  code.push_back(0x0B);
  expect_valid(fn({}, {}, code));
  // And an error at the innermost level.
  Bytes bad;
  for (int i = 0; i < kDepth; ++i) bad.insert(bad.end(), {0x02, 0x40});
  bad.push_back(0x6A);
  for (int i = 0; i <= kDepth; ++i) bad.push_back(0x0B);
  expect_invalid(fn({}, {}, bad), "type mismatch", 2 * kDepth);
  // Branch to the outermost label from the innermost block.
  Bytes br;
  for (int i = 0; i < kDepth; ++i) br.insert(br.end(), {0x02, 0x40});
  br.push_back(0x0C);
  append_uleb(br, kDepth);
  for (int i = 0; i <= kDepth; ++i) br.push_back(0x0B);
  expect_valid(fn({}, {}, br));
}

TEST(ValidatorControl, LargeBodiesValidate) {
  // About 1 MiB of straight-line arithmetic in 16 functions.
  ModuleSpec m;
  m.types.push_back(functype({I32}, {I32}));
  Bytes code = {0x20, 0x00};
  while (code.size() < 64 * 1024) {
    code.insert(code.end(), {0x41, 0x03, 0x6A, 0x20, 0x00, 0x6C, 0x41, 0x01, 0x76});
  }
  code.push_back(0x0B);
  for (int i = 0; i < 16; ++i) {
    m.funcs.push_back(0);
    m.bodies.push_back(body({0x00}, code));
  }
  Bytes bin = m.build();
  auto decoded = decode_module(bin);
  ASSERT_TRUE(decoded.ok());
  // Validation speed is measured in bench/engine_bench.cpp, not asserted here.
  auto r = validate_module(*decoded);
  EXPECT_TRUE(r.ok()) << r.error().to_string();
}

// ---------------------------------------------------------------------------------------------
// Calls

TEST(ValidatorCalls, CallAndCallIndirect) {
  ModuleSpec m = single_function({}, {I32}, {0x41, 0x01, 0x10, 0x01, 0x0B});
  m.types.push_back(functype({I32}, {I32}));
  m.funcs.push_back(1);
  m.bodies.push_back(body({0x00}, {0x20, 0x00, 0x0B}));
  expect_valid(m.build());
  m.bodies[0] = body({0x00}, {0x41, 0x01, 0x10, 0x02, 0x0B});
  expect_invalid(m.build(), "unknown function 2", 2);
  m.bodies[0] = body({0x00}, {0x42, 0x01, 0x10, 0x01, 0x0B});
  expect_invalid(m.build(), "type mismatch", 2);

  ModuleSpec ci = single_function({}, {I32}, {0x41, 0x05, 0x41, 0x00, 0x11, 0x01, 0x00, 0x0B});
  ci.types.push_back(functype({I32}, {I32}));
  ci.tables.push_back({FUNCREF, 0x00, 0x01});
  expect_valid(ci.build());
  ci.bodies[0] = body({0x00}, {0x41, 0x05, 0x41, 0x00, 0x11, 0x07, 0x00, 0x0B});
  expect_invalid(ci.build(), "unknown type", 4);
  ci.bodies[0] = body({0x00}, {0x41, 0x05, 0x41, 0x00, 0x11, 0x01, 0x01, 0x0B});
  expect_invalid(ci.build(), "unknown table 1", 4);
  ci.tables[0] = {EXTERNREF, 0x00, 0x01};
  ci.bodies[0] = body({0x00}, {0x41, 0x05, 0x41, 0x00, 0x11, 0x01, 0x00, 0x0B});
  expect_invalid(ci.build(), "type mismatch", 4);
}

TEST(ValidatorCalls, TailCalls) {
  ModuleSpec m = single_function({}, {I32}, {0x41, 0x01, 0x12, 0x01, 0x0B});
  m.types.push_back(functype({I32}, {I32}));
  m.types.push_back(functype({I32}, {I64}));
  m.funcs.push_back(1);
  m.bodies.push_back(body({0x00}, {0x20, 0x00, 0x0B}));
  expect_valid(m.build());
  // Code after return_call is unreachable.
  m.bodies[0] = body({0x00}, {0x41, 0x01, 0x12, 0x01, 0x6A, 0x0B});
  expect_valid(m.build());
  // Callee results must equal the caller's.
  m.funcs.push_back(2);
  m.bodies.push_back(body({0x00}, {0x42, 0x00, 0x0B}));
  m.bodies[0] = body({0x00}, {0x41, 0x01, 0x12, 0x02, 0x0B});
  expect_invalid(m.build(), "type mismatch", 2);
  // return_call_indirect.
  m.tables.push_back({FUNCREF, 0x00, 0x01});
  m.bodies[0] = body({0x00}, {0x41, 0x01, 0x41, 0x00, 0x13, 0x01, 0x00, 0x0B});
  expect_valid(m.build());
  m.bodies[0] = body({0x00}, {0x41, 0x01, 0x41, 0x00, 0x13, 0x02, 0x00, 0x0B});
  expect_invalid(m.build(), "type mismatch", 4);
}

// ---------------------------------------------------------------------------------------------
// Variables, memory, tables, references

TEST(ValidatorVariables, Globals) {
  ModuleSpec m = single_function({}, {}, {0x41, 0x01, 0x24, 0x00, 0x0B});
  m.globals.push_back({I32, 0x01, 0x41, 0x00, 0x0B});
  expect_valid(m.build());
  m.globals[0] = {I32, 0x00, 0x41, 0x00, 0x0B};
  expect_invalid(m.build(), "global is immutable", 2);
  m.bodies[0] = body({0x00}, {0x23, 0x01, 0x1A, 0x0B});
  expect_invalid(m.build(), "unknown global 1", 0);
  m.bodies[0] = body({0x00}, {0x42, 0x01, 0x24, 0x00, 0x0B});
  m.globals[0] = {I32, 0x01, 0x41, 0x00, 0x0B};
  expect_invalid(m.build(), "type mismatch", 2);
}

TEST(ValidatorVariables, ConstantExpressions) {
  auto with_global = [](const Bytes& global, const std::vector<Bytes>& imports = {}) {
    ModuleSpec m;
    m.imports = imports;
    m.globals.push_back(global);
    return m.build();
  };
  Bytes imported_i32 = cat({str("m"), str("g"), {0x03, I32, 0x00}});
  Bytes imported_mut = cat({str("m"), str("g"), {0x03, I32, 0x01}});
  expect_valid(with_global({I32, 0x00, 0x41, 0x07, 0x0B}));
  expect_valid(with_global({I32, 0x00, 0x23, 0x00, 0x0B}, {imported_i32}));
  expect_valid(with_global({I32, 0x00, 0x41, 0x01, 0x23, 0x00, 0x6A, 0x0B}, {imported_i32}));
  expect_valid(with_global({EXTERNREF, 0x00, 0xD0, EXTERNREF, 0x0B}));
  expect_invalid(with_global({I32, 0x00, 0x23, 0x00, 0x0B}), "unknown global 0");
  expect_invalid(with_global({I32, 0x00, 0x23, 0x00, 0x0B}, {imported_mut}),
                 "constant expression required");
  expect_invalid(with_global({I32, 0x00, 0x41, 0x00, 0x01, 0x0B}), "constant expression required");
  expect_invalid(with_global({I32, 0x00, 0x41, 0x00, 0x68, 0x0B}), "constant expression required");
  expect_invalid(with_global({I32, 0x00, 0x20, 0x00, 0x0B}), "constant expression required");
  expect_invalid(with_global({I32, 0x00, 0x0B}), "type mismatch");
  expect_invalid(with_global({I32, 0x00, 0x42, 0x00, 0x0B}), "type mismatch");
  expect_invalid(with_global({I32, 0x00, 0x41, 0x00, 0x41, 0x00, 0x0B}), "type mismatch");
  expect_invalid(with_global({I64, 0x00, 0x41, 0x00, 0x42, 0x00, 0x7C, 0x0B}), "type mismatch");
  expect_invalid(with_global({FUNCREF, 0x00, 0xD0, EXTERNREF, 0x0B}), "type mismatch");
  expect_invalid(with_global({FUNCREF, 0x00, 0xD2, 0x00, 0x0B}), "unknown function 0");
  // A defined global is not visible to another global's initialiser in 2.0.
  ModuleSpec two;
  two.globals = {{I32, 0x00, 0x41, 0x00, 0x0B}, {I32, 0x00, 0x23, 0x00, 0x0B}};
  expect_invalid(two.build(), "unknown global 0");
}

TEST(ValidatorMemory, LoadsStoresAndAlignment) {
  ModuleSpec m = single_function({}, {I32}, {0x41, 0x00, 0x28, 0x02, 0x00, 0x0B});
  m.memories.push_back({0x00, 0x01});
  expect_valid(m.build());
  m.bodies[0] = body({0x00}, {0x41, 0x00, 0x28, 0x03, 0x00, 0x0B});
  expect_invalid(m.build(), "alignment must not be larger than natural", 2);
  m.bodies[0] = body({0x00}, {0x41, 0x00, 0x2D, 0x01, 0x00, 0x0B});  // i32.load8_u align 2
  expect_invalid(m.build(), "alignment must not be larger than natural", 2);
  m.bodies[0] = body({0x00}, {0x41, 0x00, 0x29, 0x03, 0x00, 0x0B});  // i64.load -> i64
  expect_invalid(m.build(), "type mismatch", 5);
  m.bodies[0] = body({0x00}, {0x41, 0x00, 0x42, 0x00, 0x37, 0x03, 0x00, 0x41, 0x00, 0x0B});
  expect_valid(m.build());
  m.bodies[0] = body({0x00}, {0x41, 0x00, 0x42, 0x00, 0x36, 0x02, 0x00, 0x41, 0x00, 0x0B});
  expect_invalid(m.build(), "type mismatch", 4);
  m.bodies[0] = body({0x00}, {0x3F, 0x00, 0x40, 0x00, 0x0B});
  expect_valid(m.build());
  // Without a memory.
  expect_invalid(fn({}, {I32}, {0x41, 0x00, 0x28, 0x02, 0x00, 0x0B}), "unknown memory 0", 2);
  expect_invalid(fn({}, {I32}, {0x3F, 0x00, 0x0B}), "unknown memory 0", 0);
  expect_invalid(fn({}, {}, {0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xFC, 0x0B, 0x00, 0x0B}),
                 "unknown memory 0", 6);
}

TEST(ValidatorMemory, BulkMemoryAndDataCount) {
  ModuleSpec m = single_function(
      {}, {}, {0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xFC, 0x08, 0x00, 0x00, 0xFC, 0x09, 0x00, 0x0B});
  m.memories.push_back({0x00, 0x01});
  m.datas.push_back({0x01, 0x00});
  m.data_count = 1;
  expect_valid(m.build());
  // Without the data count section memory.init and data.drop are malformed.
  m.data_count.reset();
  expect_error(m.build(), Error::Kind::Malformed, "data count section required", 6);
  m.data_count = 1;
  m.bodies[0] = body({0x00}, {0xFC, 0x09, 0x01, 0x0B});
  expect_invalid(m.build(), "unknown data segment 1", 0);
  m.bodies[0] = body({0x00}, {0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xFC, 0x0A, 0x00, 0x00,
                              0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xFC, 0x0B, 0x00, 0x0B});
  expect_valid(m.build());
  m.bodies[0] = body({0x00}, {0x41, 0x00, 0x41, 0x00, 0x42, 0x00, 0xFC, 0x0B, 0x00, 0x0B});
  expect_invalid(m.build(), "type mismatch", 6);
}

TEST(ValidatorTables, TableInstructions) {
  ModuleSpec m = single_function(
      {}, {I32},
      {0x41, 0x00,    0x25, 0x00,    0x1A,                          // table.get
       0x41, 0x00,    0xD0, FUNCREF, 0x26, 0x00,                    // table.set
       0xD0, FUNCREF, 0x41, 0x01,    0xFC, 0x0F, 0x00, 0x1A,        // grow
       0x41, 0x00,    0xD0, FUNCREF, 0x41, 0x01, 0xFC, 0x11, 0x00,  // fill
       0x41, 0x00,    0x41, 0x00,    0x41, 0x00, 0xFC, 0x0E, 0x00, 0x00, 0x41, 0x00, 0x41, 0x00,
       0x41, 0x00,    0xFC, 0x0C,    0x00, 0x00, 0xFC, 0x0D, 0x00, 0xFC, 0x10, 0x00, 0x0B});
  m.tables.push_back({FUNCREF, 0x00, 0x01});
  m.elems.push_back({0x01, 0x00, 0x00});
  expect_valid(m.build());

  m.tables.push_back({EXTERNREF, 0x00, 0x01});
  m.bodies[0] = body({0x00}, {0x41, 0x00, 0xD0, FUNCREF, 0x26, 0x01, 0xFC, 0x10, 0x00, 0x0B});
  expect_invalid(m.build(), "type mismatch", 4);
  m.bodies[0] = body(
      {0x00}, {0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xFC, 0x0E, 0x00, 0x01, 0xFC, 0x10, 0x00, 0x0B});
  expect_invalid(m.build(), "type mismatch", 6);
  m.bodies[0] = body(
      {0x00}, {0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xFC, 0x0C, 0x00, 0x01, 0xFC, 0x10, 0x00, 0x0B});
  expect_invalid(m.build(), "type mismatch", 6);
  m.bodies[0] = body({0x00}, {0xFC, 0x0D, 0x03, 0xFC, 0x10, 0x00, 0x0B});
  expect_invalid(m.build(), "unknown elem segment 3", 0);
  m.bodies[0] = body({0x00}, {0xFC, 0x10, 0x02, 0x0B});
  expect_invalid(m.build(), "unknown table 2", 0);
}

TEST(ValidatorReferences, RefFuncNeedsDeclaration) {
  ModuleSpec m = single_function({}, {}, {0xD2, 0x00, 0x1A, 0x0B});
  expect_invalid(m.build(), "undeclared function reference", 0);
  // Declared by a declarative element segment.
  ModuleSpec d = m;
  d.elems.push_back({0x03, 0x00, 0x01, 0x00});
  expect_valid(d.build());
  // By an export.
  d = m;
  d.exports.push_back(cat({str("f"), {0x00, 0x00}}));
  expect_valid(d.build());
  // By a global initialiser.
  d = m;
  d.globals.push_back({FUNCREF, 0x00, 0xD2, 0x00, 0x0B});
  expect_valid(d.build());
  // A ref.func inside a function body does not declare.
  d = m;
  d.funcs.push_back(0);
  d.bodies.push_back(body({0x00}, {0xD2, 0x00, 0x1A, 0x0B}));
  expect_invalid(d.build(), "undeclared function reference");
  // Unknown function.
  expect_invalid(fn({}, {}, {0xD2, 0x03, 0x1A, 0x0B}), "unknown function 3", 0);
}

TEST(ValidatorReferences, RefIsNull) {
  expect_valid(fn({}, {I32}, {0xD0, EXTERNREF, 0xD1, 0x0B}));
  expect_valid(fn({}, {I32}, {0x00, 0xD1, 0x0B}));
  expect_invalid(fn({}, {I32}, {0x41, 0x00, 0xD1, 0x0B}), "type mismatch", 2);
}

// ---------------------------------------------------------------------------------------------
// Module-level rules

TEST(ValidatorModule, SegmentsExportsStartLimits) {
  // Element segment type must match its table; offsets are i32.
  ModuleSpec m;
  m.tables.push_back({EXTERNREF, 0x00, 0x01});
  m.elems.push_back({0x06, 0x00, 0x41, 0x00, 0x0B, EXTERNREF, 0x01, 0xD0, EXTERNREF, 0x0B});
  expect_valid(m.build());
  m.elems[0] = {0x06, 0x00, 0x41, 0x00, 0x0B, FUNCREF, 0x01, 0xD0, FUNCREF, 0x0B};
  expect_invalid(m.build(), "type mismatch");
  m.elems[0] = {0x06, 0x00, 0x42, 0x00, 0x0B, EXTERNREF, 0x00};
  expect_invalid(m.build(), "type mismatch");
  m.elems[0] = {0x06, 0x01, 0x41, 0x00, 0x0B, EXTERNREF, 0x00};
  expect_invalid(m.build(), "unknown table 1");
  m.elems[0] = {0x05, EXTERNREF, 0x01, 0xD0, FUNCREF, 0x0B};
  expect_invalid(m.build(), "type mismatch");
  // Data segments need a memory.
  ModuleSpec d;
  d.datas.push_back({0x00, 0x41, 0x00, 0x0B, 0x00});
  expect_invalid(d.build(), "unknown memory 0");
  d.memories.push_back({0x00, 0x01});
  expect_valid(d.build());
  d.datas[0] = {0x00, 0x42, 0x00, 0x0B, 0x00};
  expect_invalid(d.build(), "type mismatch");

  // Exports.
  ModuleSpec e = single_function({}, {}, {0x0B});
  e.exports = {cat({str("a"), {0x00, 0x00}}), cat({str("a"), {0x00, 0x00}})};
  expect_invalid(e.build(), "duplicate export name");
  e.exports = {cat({str("a"), {0x00, 0x01}})};
  expect_invalid(e.build(), "unknown function 1");
  e.exports = {cat({str("a"), {0x01, 0x00}})};
  expect_invalid(e.build(), "unknown table 0");
  e.exports = {cat({str("a"), {0x02, 0x00}})};
  expect_invalid(e.build(), "unknown memory 0");
  e.exports = {cat({str("a"), {0x03, 0x00}})};
  expect_invalid(e.build(), "unknown global 0");
  e.exports = {cat({str("a"), {0x04, 0x00}})};
  expect_invalid(e.build(), "unknown tag 0");

  // Start function.
  ModuleSpec s = single_function({}, {}, {0x0B});
  s.start = 0;
  expect_valid(s.build());
  s.start = 1;
  expect_invalid(s.build(), "unknown function 1");
  ModuleSpec s2 = single_function({I32}, {}, {0x0B});
  s2.start = 0;
  expect_invalid(s2.build(), "start function");

  // Limits.
  auto memory = [](const Bytes& limits) {
    ModuleSpec mm;
    mm.memories.push_back(limits);
    return mm.build();
  };
  expect_valid(memory({0x01, 0x00, 0x80, 0x80, 0x04}));
  expect_invalid(memory({0x00, 0x81, 0x80, 0x04}), "memory size must be at most 65536 pages");
  expect_invalid(memory({0x01, 0x00, 0x81, 0x80, 0x04}), "memory size must be at most 65536 pages");
  expect_invalid(memory({0x01, 0x02, 0x01}), "size minimum must not be greater than maximum");
  ModuleSpec t;
  t.tables.push_back({FUNCREF, 0x01, 0x02, 0x01});
  expect_invalid(t.build(), "size minimum must not be greater than maximum");
  // Multiple memories are not 2.0.
  ModuleSpec mm;
  mm.memories = {{0x00, 0x00}, {0x00, 0x00}};
  expect_invalid(mm.build(), "multiple memories");
  mm.memories = {{0x00, 0x00}};
  mm.imports = {cat({str("m"), str("m"), {0x02, 0x00, 0x00}})};
  expect_invalid(mm.build(), "multiple memories");
  // Function and import type indices.
  ModuleSpec ft;
  ft.imports = {cat({str("m"), str("f"), {0x00, 0x00}})};
  expect_invalid(ft.build(), "unknown type");
}

// ---------------------------------------------------------------------------------------------
// Exception handling

ModuleSpec with_tag(const Bytes& params, const Bytes& results, const Bytes& code,
                    const Bytes& tag_params = {I32}) {
  ModuleSpec m = single_function(params, results, code);
  m.types.push_back(functype(tag_params, {}));
  m.tags.push_back({0x00, 0x01});
  return m;
}

TEST(ValidatorExceptions, Tags) {
  ModuleSpec m;
  m.types.push_back(functype({}, {I32}));
  m.tags.push_back({0x00, 0x00});
  expect_invalid(m.build(), "non-empty tag result type");
  m.tags[0] = {0x00, 0x01};
  expect_invalid(m.build(), "unknown type");
  m.tags.clear();
  m.imports.push_back(cat({str("m"), str("t"), {0x04, 0x00, 0x00}}));
  expect_invalid(m.build(), "non-empty tag result type");
}

TEST(ValidatorExceptions, Throw) {
  expect_valid(with_tag({}, {}, {0x41, 0x01, 0x08, 0x00, 0x0B}).build());
  expect_valid(with_tag({}, {I64}, {0x41, 0x01, 0x08, 0x00, 0x0B}).build());  // polymorphic after
  expect_invalid(with_tag({}, {}, {0x08, 0x00, 0x0B}).build(),
                 "type mismatch: instruction requires [i32] but stack has []", 0);
  expect_invalid(with_tag({}, {}, {0x42, 0x05, 0x08, 0x00, 0x0B}).build(),
                 "type mismatch: instruction requires [i32] but stack has [i64]", 2);
  expect_invalid(fn({}, {}, {0x08, 0x00, 0x0B}), "unknown tag 0", 0);
  // throw_ref needs an exnref.
  expect_valid(fn({EXNREF}, {}, {0x20, 0x00, 0x0A, 0x0B}));
  expect_invalid(fn({}, {}, {0x0A, 0x0B}), "type mismatch", 0);
  expect_invalid(fn({}, {}, {0xD0, FUNCREF, 0x0A, 0x0B}), "type mismatch", 2);
  expect_valid(fn({}, {}, {0xD0, EXNREF, 0x0A, 0x0B}));
}

TEST(ValidatorExceptions, TryTable) {
  // (block (result i32) (try_table (catch 0 0) (throw 0 (i32.const 1))) (i32.const 0)) drop
  Bytes catch_i32 = {0x02, I32,  0x1F, 0x40, 0x01, 0x00, 0x00, 0x00, 0x41,
                     0x01, 0x08, 0x00, 0x0B, 0x41, 0x00, 0x0B, 0x1A, 0x0B};
  expect_valid(with_tag({}, {}, catch_i32).build());
  // Label expects exnref too for catch_ref.
  Bytes catch_ref = {0x02, 0x02, 0x1F, 0x40, 0x01, 0x01, 0x00,
                     0x00, 0x0B, 0x00, 0x0B, 0x1A, 0x1A, 0x0B};
  ModuleSpec m = with_tag({}, {}, catch_ref);
  m.types.push_back(functype({}, {I32, EXNREF}));
  expect_valid(m.build());
  // catch_ref to a label that only takes the tag's params.
  Bytes wrong_ref = {0x02, I32, 0x1F, 0x40, 0x01, 0x01, 0x00, 0x00, 0x0B, 0x00, 0x0B, 0x1A, 0x0B};
  expect_invalid(with_tag({}, {}, wrong_ref).build(), "type mismatch", 2);
  // catch_all to an empty label; catch_all_ref to an exnref label.
  expect_valid(fn({}, {}, {0x02, 0x40, 0x1F, 0x40, 0x01, 0x02, 0x00, 0x0B, 0x0B, 0x0B}));
  expect_valid(
      fn({}, {}, {0x02, EXNREF, 0x1F, 0x40, 0x01, 0x03, 0x00, 0x0B, 0x00, 0x0B, 0x1A, 0x0B}));
  expect_invalid(fn({}, {}, {0x1F, 0x40, 0x01, 0x03, 0x00, 0x0B, 0x0B}), "type mismatch", 0);
  expect_invalid(
      fn({}, {}, {0x02, I32, 0x1F, 0x40, 0x01, 0x02, 0x00, 0x0B, 0x00, 0x0B, 0x1A, 0x0B}),
      "type mismatch", 2);
  // catch with a tag param type different from the label.
  Bytes wrong_type = {0x02, I64, 0x1F, 0x40, 0x01, 0x00, 0x00, 0x00, 0x0B, 0x00, 0x0B, 0x1A, 0x0B};
  expect_invalid(with_tag({}, {}, wrong_type).build(), "type mismatch", 2);
  // Unknown tag and label.
  expect_invalid(fn({}, {}, {0x1F, 0x40, 0x01, 0x00, 0x00, 0x00, 0x0B, 0x0B}), "unknown tag 0", 0);
  expect_invalid(fn({}, {}, {0x1F, 0x40, 0x01, 0x02, 0x05, 0x0B, 0x0B}), "unknown label", 0);
  // The try_table block itself types like a block.
  expect_invalid(fn({}, {I32}, {0x1F, I32, 0x00, 0x0B, 0x0B}), "type mismatch");
  expect_valid(fn({}, {I32}, {0x1F, I32, 0x00, 0x41, 0x01, 0x0B, 0x0B}));
  // Catch labels are relative to the try_table's enclosing blocks: label 0 here is the function
  // (results [i32]), which matches the tag's [i32].
  expect_valid(
      with_tag({}, {I32}, {0x1F, 0x40, 0x01, 0x00, 0x00, 0x00, 0x0B, 0x41, 0x00, 0x0B}).build());
}

TEST(ValidatorExceptions, LegacyTryCatch) {
  // (try (result i32) (do (i32.const 1)) (catch 0) (catch_all (i32.const 2)))
  Bytes ok = {0x06, I32, 0x41, 0x01, 0x07, 0x00, 0x19, 0x41, 0x02, 0x0B, 0x1A, 0x0B};
  expect_valid(with_tag({}, {}, ok).build());
  // catch body must produce the results: catch 0 pushes i32, but try expects i64.
  Bytes bad_catch = {0x06, I64, 0x42, 0x01, 0x07, 0x00, 0x0B, 0x1A, 0x0B};
  expect_invalid(with_tag({}, {}, bad_catch).build(), "type mismatch", 6);
  // (try (do) (catch_all (i32.const 42))) leaves a value.
  expect_invalid(fn({}, {}, {0x06, 0x40, 0x19, 0x41, 0x2A, 0x0B, 0x0B}),
                 "type mismatch: block requires [] but stack has [i32]", 5);
  // try's do-block must produce the results.
  expect_invalid(fn({}, {I32}, {0x06, I32, 0x19, 0x41, 0x00, 0x0B, 0x0B}), "type mismatch", 2);
  // Structure errors are malformed.
  expect_error(fn({}, {}, {0x19, 0x0B}), Error::Kind::Malformed, "catch_all without", 0);
  expect_error(with_tag({}, {}, {0x02, 0x40, 0x07, 0x00, 0x0B, 0x0B}).build(),
               Error::Kind::Malformed, "catch without", 2);
  expect_error(fn({}, {}, {0x06, 0x40, 0x19, 0x19, 0x0B, 0x0B}), Error::Kind::Malformed,
               "catch_all without", 3);
  expect_invalid(fn({}, {}, {0x06, 0x40, 0x07, 0x00, 0x0B, 0x0B}), "unknown tag 0", 2);
}

TEST(ValidatorExceptions, LegacyRethrowAndDelegate) {
  // rethrow 0 inside catch_all; rethrow 1 from a block nested in a catch.
  expect_valid(fn({}, {}, {0x06, 0x40, 0x19, 0x09, 0x00, 0x0B, 0x0B}));
  expect_valid(fn({}, {}, {0x06, 0x40, 0x19, 0x02, 0x40, 0x09, 0x01, 0x0B, 0x0B, 0x0B}));
  expect_invalid(fn({}, {}, {0x09, 0x00, 0x0B}), "invalid rethrow label", 0);
  expect_invalid(fn({}, {}, {0x02, 0x40, 0x09, 0x00, 0x0B, 0x0B}), "invalid rethrow label", 2);
  expect_invalid(fn({}, {}, {0x06, 0x40, 0x09, 0x00, 0x18, 0x00, 0x0B}), "invalid rethrow label",
                 2);
  expect_invalid(fn({}, {}, {0x06, 0x40, 0x19, 0x09, 0x05, 0x0B, 0x0B}), "unknown label", 3);
  // delegate: label counted outside the try; 0 = the function here.
  expect_valid(fn({}, {}, {0x06, 0x40, 0x18, 0x00, 0x0B}));
  expect_valid(
      fn({}, {I32}, {0x02, 0x40, 0x06, I32, 0x41, 0x01, 0x18, 0x00, 0x1A, 0x0B, 0x41, 0x00, 0x0B}));
  expect_invalid(fn({}, {}, {0x06, 0x40, 0x18, 0x01, 0x0B}), "unknown label", 2);
  expect_invalid(fn({}, {}, {0x06, I32, 0x18, 0x00, 0x1A, 0x0B}), "type mismatch", 2);
  // delegate after a catch is malformed.
  expect_error(fn({}, {}, {0x06, 0x40, 0x19, 0x18, 0x00, 0x0B}), Error::Kind::Malformed,
               "delegate without", 3);
  expect_error(fn({}, {}, {0x02, 0x40, 0x18, 0x00, 0x0B}), Error::Kind::Malformed,
               "delegate without", 2);
}

// ---------------------------------------------------------------------------------------------
// Whole modules

// Every section, with imports of each kind, used consistently.
ModuleSpec full_module() {
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
  m.globals = {{I64, 0x01, 0x42, 0x2A, 0x0B},
               {FUNCREF, 0x00, 0xD2, 0x01, 0x0B},
               {I32, 0x00, 0x23, 0x00, 0x41, 0x01, 0x6A, 0x0B}};
  m.exports = {cat({str("run"), {0x00, 0x02}}), cat({str("mem"), {0x02, 0x00}}),
               cat({str("tag"), {0x04, 0x01}}), cat({str("g"), {0x03, 0x01}})};
  m.start = 1;
  m.elems = {{0x00, 0x41, 0x00, 0x0B, 0x02, 0x01, 0x02}, {0x01, 0x00, 0x01, 0x02}};
  m.data_count = 2;
  // func 1: throws tag 1 when the memory holds a nonzero word, drops data 1.
  m.bodies = {body({0x00}, {0x41, 0x00, 0x28, 0x02, 0x00, 0x04, 0x40, 0x41, 0x07, 0x08, 0x01, 0x0B,
                            0xFC, 0x09, 0x01, 0x0B}),
              body({0x01, 0x01, F64}, {0x20, 0x00, 0x0B})};
  m.datas = {{0x00, 0x41, 0x08, 0x0B, 0x03, 'a', 'b', 'c'}, {0x01, 0x02, 'x', 'y'}};
  return m;
}

TEST(ValidatorModule, AcceptsAModuleWithEverySection) {
  expect_valid(full_module().build());
  ModuleSpec bad_start = full_module();
  bad_start.start = 2;  // (i32, i64) -> i32
  expect_invalid(bad_start.build(), "start function");
}

TEST(ValidatorModule, CorruptedModulesFailCleanly) {
  // Every single-byte corruption of a valid module either decodes and validates or is rejected
  // with an error located inside the input; none may crash (the sanitizer build checks the rest).
  Bytes good = full_module().build();
  for (size_t i = 8; i < good.size(); ++i) {
    for (uint8_t v : {0x00, 0x01, 0x0B, 0x40, 0x7F, 0x80, 0xFF}) {
      Bytes bad = good;
      bad[i] = v;
      auto r = check(bad);
      if (!r.ok() && r.error().offset != Error::kNoOffset) {
        EXPECT_LE(r.error().offset, bad.size()) << i << " " << r.error().message;
      }
    }
  }
  // And every truncation.
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = check(Bytes(good.begin(), good.begin() + n));
    if (!r.ok() && r.error().offset != Error::kNoOffset) EXPECT_LE(r.error().offset, n);
  }
}

// ---------------------------------------------------------------------------------------------
// SIMD and features

TEST(ValidatorSimd, RejectedAsUnsupported) {
  Bytes v128_const = {0xFD, 0x0C};
  for (int i = 0; i < 16; ++i) v128_const.push_back(0);
  v128_const.insert(v128_const.end(), {0x1A, 0x0B});
  expect_error(fn({}, {}, v128_const), Error::Kind::Unsupported, "unsupported feature: SIMD", 0);
  expect_error(fn({}, {}, {0x02, V128, 0x00, 0x0B, 0x0B}), Error::Kind::Unsupported,
               "unsupported feature: SIMD", 0);
  expect_error(fn({}, {}, {0x00, 0x1C, 0x01, V128, 0x1A, 0x0B}), Error::Kind::Unsupported,
               "unsupported feature: SIMD", 1);
}

TEST(ValidatorFeatures, DetectsInstructionFeatures) {
  ModuleSpec m = single_function(
      {}, {}, {0x41, 0x00, 0xC0, 0x1A,                          // i32.extend8_s
               0x43, 0,    0,    0,    0,    0xFC, 0x00, 0x1A,  // i32.trunc_sat_f32_s
               0x06, 0x40, 0x19, 0x0B,                          // try/catch_all
               0x1F, 0x40, 0x00, 0x0B,                          // try_table
               0x02, 0x01, 0x1A, 0x1A, 0x0B,                    // multi-value block
               0x12, 0x00, 0x0B});                              // return_call
  m.types.push_back(functype({}, {I32, I32}));
  m.bodies[0] = body({0x00}, {0x41, 0x00, 0xC0, 0x1A, 0x43, 0,    0,    0,    0,    0xFC, 0x00,
                              0x1A, 0x06, 0x40, 0x19, 0x0B, 0x1F, 0x40, 0x00, 0x0B, 0x02, 0x01,
                              0x00, 0x41, 0x00, 0x41, 0x00, 0x0B, 0x1A, 0x1A, 0x12, 0x00, 0x0B});
  Bytes bin = m.build();
  auto decoded = decode_module(bin);
  ASSERT_TRUE(decoded.ok());
  ASSERT_TRUE(validate_module(*decoded).ok()) << validate_module(*decoded).error().to_string();
  Module mod = std::move(decoded.value());
  EXPECT_FALSE(mod.features.sign_extension);
  detect_instruction_features(mod);
  EXPECT_TRUE(mod.features.sign_extension);
  EXPECT_TRUE(mod.features.saturating_float_to_int);
  EXPECT_TRUE(mod.features.exceptions_legacy);
  EXPECT_TRUE(mod.features.exceptions_exnref);
  EXPECT_TRUE(mod.features.multi_value);
  EXPECT_TRUE(mod.features.tail_calls);
  EXPECT_FALSE(mod.features.bulk_memory);
}

TEST(ValidatorModule, HandBuiltModuleInconsistencies) {
  Module m;
  m.types.push_back(FuncType{});
  m.functions.push_back(0);
  auto r = validate_module(m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, Error::Kind::Malformed);
  m.codes.push_back(FunctionBody{{}, 0, 5, 9, 0});  // outside the (empty) bytes
  r = validate_module(m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, Error::Kind::Malformed);
  // Locals beyond any sane bound.
  Module big;
  big.bytes = {0x0B};
  big.types.push_back(FuncType{});
  big.functions.push_back(0);
  big.codes.push_back(FunctionBody{{LocalRun{0xFFFFFFFF, ValType::I32}}, 0xFFFFFFFF, 0, 1, 0});
  r = validate_module(big);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "too many locals");
  Module v;
  v.types.push_back(FuncType{{ValType::V128}, {}});
  r = validate_module(v);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, Error::Kind::Unsupported);
}

}  // namespace
}  // namespace rw::wasm
