#pragma once
// Binary format decoder: bytes -> wasm::Module. Checks the encoding (magic, version, section order
// and sizes, LEB128, UTF-8, counts against remaining bytes) but not typing. Errors are
// Error::Kind::Malformed (or Unsupported, e.g. SIMD) with the byte offset of the problem.

#include <cstdint>
#include <span>

#include "rewind/error.h"
#include "wasm/common/module.h"

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
// decoder for globals and segments.
bool decode_const_expr(BinaryReader& reader, ConstExpr& out);

}  // namespace rw::wasm
