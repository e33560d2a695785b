// Feeds arbitrary text to the WAT parser. What it accepts must decode: the text format's encoder
// must never produce a malformed binary, and asked for a name section it must append one that
// decodes to the same module.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wasm/decoder/decoder.h"
#include "wasm/text/wat.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto binary = rw::wasm::wat_to_binary(text);
  if (!binary.ok()) return 0;
  auto decoded = rw::wasm::decode_module(binary.value());
  // The encoder may legitimately emit modules the validator rejects (assert_invalid cases), and
  // SIMD is unsupported, but never bytes the decoder calls malformed.
  if (!decoded.ok() && decoded.error().kind == rw::Error::Kind::Malformed) __builtin_trap();
  // With the identifiers as a name section: the same module with a well-formed name section
  // appended, whose names decode.
  auto named = rw::wasm::wat_to_binary(text, {.name_section = true});
  if (!named.ok() || named->size() <= binary->size() ||
      !std::equal(binary->begin(), binary->end(), named->begin()))
    __builtin_trap();
  auto named_decoded = rw::wasm::decode_module(named.value());
  if (named_decoded.ok() != decoded.ok()) __builtin_trap();
  return 0;
}
