#pragma once
// Validation of a decoded module against the WebAssembly 2.0 typing rules plus exception
// handling (legacy and exnref) and tail calls. Errors are Error::Kind::Invalid (or Malformed when
// an instruction's encoding is bad) with the byte offset of the offending instruction.

#include "rewind/error.h"
#include "wasm/common/module.h"

namespace rw::wasm {

Result<void> validate_module(const Module& module);

}  // namespace rw::wasm
