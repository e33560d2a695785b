#pragma once
// Command-line values for `rewind run --invoke`: text -> rw::Value by parameter type, and back.

#include <string>
#include <string_view>

#include "rewind/error.h"
#include "rewind/types.h"

namespace rw::cli {

// Parses `text` as a value of type `type`:
//   i32/i64: decimal (signed or unsigned range) or hex (0x..., optionally negated); `_` separators
//   f32/f64: decimal or hex floats, inf/-inf/infinity, nan/-nan, nan:0xPAYLOAD
//   references: only `null`
// The error message names the text and the type.
Result<Value> parse_value(ValType type, std::string_view text);

// i32/i64 as signed decimal; floats in the shortest form that reads back to the same bits, NaNs
// with their payload when it is not the canonical one ("nan:0x200000").
std::string format_value(const Value& value);

}  // namespace rw::cli
