#pragma once
// Binary format decoder: bytes -> wasm::Module. Checks the encoding (magic, version, section order
// and sizes, LEB128, UTF-8, counts against remaining bytes) but not typing. Errors are
// Error::Kind::Malformed (or Unsupported, e.g. SIMD) with the byte offset of the problem.
//
// Function bodies are not decoded here: they are recorded as byte ranges and read by the
// validator, which reports encoding errors inside them as Malformed. Constant expressions are
// decoded; a non-constant instruction inside one is recorded as it is (its opcode and first
// immediate) so that the validator rejects it as "constant expression required" (Invalid), the
// way the spec classifies it.
//
// The `name` custom section is parsed into Module::names; when it is malformed it is ignored
// (Module::names stays empty) and the module still loads, as in other engines.
//
// Module::features gets what the sections show (multi-value function types, reference types,
// bulk memory segments, mutable global imports/exports, multiple tables, exnref types). Features
// only visible in instructions are added by detect_instruction_features (validator.h).

#include <cstdint>
#include <span>

#include "rewind/error.h"
#include "wasm/common/module.h"
#include "wasm/common/reader.h"

namespace rw::wasm {

struct DecodeLimits {
  uint32_t max_locals_per_function = 50000;
  uint32_t max_functions = 1'000'000;
  uint32_t max_types = 1'000'000;
  uint32_t max_imports = 1'000'000;
  uint32_t max_exports = 1'000'000;
  uint32_t max_params = 1000;
  uint32_t max_results = 1000;
};

Result<Module> decode_module(std::span<const uint8_t> bytes, const DecodeLimits& limits = {});

// Decodes a constant expression (up to and including its `end`) with `reader`; used by the
// decoder for globals and segments. On failure the reason is recorded in `reader`; a reason that
// starts with "unsupported feature" means Error::Kind::Unsupported, any other Malformed.
bool decode_const_expr(BinaryReader& reader, ConstExpr& out);

}  // namespace rw::wasm
