#pragma once
// Parser for the `name` custom section (module, function, local and global names).

#include <cstddef>
#include <cstdint>
#include <span>

#include "wasm/common/module.h"

namespace rw::wasm {

// Parses the contents of a `name` section (after its name) whose first byte is at `base_offset`
// in the module. Returns false, leaving `out` untouched, when the section is malformed.
// Subsections other than module (0), function (1), local (2) and global (7) names are skipped.
bool parse_name_section(std::span<const uint8_t> contents, size_t base_offset, NameSection& out);

}  // namespace rw::wasm
