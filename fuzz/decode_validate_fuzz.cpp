// Feeds arbitrary bytes to the decoder and, when they decode, to the validator. Any crash,
// sanitizer report, or unbounded allocation (libFuzzer's -rss_limit_mb) is a finding.
#include <cstddef>
#include <cstdint>
#include <span>

#include "wasm/decoder/decoder.h"
#include "wasm/validator/validator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto decoded = rw::wasm::decode_module(std::span<const uint8_t>(data, size));
  if (!decoded.ok()) {
    // A rejection must say where: offsets beyond the input are a decoder bug.
    const auto& err = decoded.error();
    if (err.offset != rw::Error::kNoOffset && err.offset > size) __builtin_trap();
    return 0;
  }
  auto valid = rw::wasm::validate_module(decoded.value());
  if (!valid.ok()) {
    const auto& err = valid.error();
    if (err.offset != rw::Error::kNoOffset && err.offset > size) __builtin_trap();
  }
  return 0;
}
