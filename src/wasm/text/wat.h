#pragma once
// WebAssembly text format -> binary format.

#include <cstdint>
#include <string_view>
#include <vector>

#include "rewind/error.h"

namespace rw::wasm {

struct TextOptions {
  // Append a name section with the identifiers of functions, their parameters and locals, and
  // globals (`$fib` is named "fib"), so backtraces name them. The spec's encoding has none.
  bool name_section = false;
};

// Parses one module in the text format (either `(module ...)` or a bare sequence of module
// fields) and encodes it as the binary format, as the spec's reference interpreter would (plus
// the name section when asked). Errors are Error::Kind::Malformed with the byte offset in the
// text; the message names the line and column.
Result<std::vector<uint8_t>> wat_to_binary(std::string_view text, TextOptions options = {});

}  // namespace rw::wasm
