#pragma once
// Bounds-checked reading of the binary format: bytes, LEB128 integers, floats, names. Every
// failure records the byte offset where it happened and a reason; reading stops at the first one.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace rw::wasm {

class BinaryReader {
 public:
  BinaryReader(std::span<const uint8_t> bytes, size_t base_offset = 0)
      : data_(bytes), base_(base_offset) {}

  bool ok() const { return error_.empty(); }
  bool at_end() const { return pos_ >= data_.size(); }
  size_t remaining() const { return data_.size() - pos_; }
  // Offset relative to the start of the whole module binary.
  size_t offset() const { return base_ + pos_; }
  size_t position() const { return pos_; }
  void seek(size_t pos) { pos_ = pos; }

  const std::string& error() const { return error_; }
  size_t error_offset() const { return error_offset_; }
  // Records the first failure only; later calls are ignored so the root cause is kept.
  void fail(std::string reason) { fail_at(offset(), std::move(reason)); }
  void fail_at(size_t offset, std::string reason);

  uint8_t u8();
  uint32_t u32_leb();
  uint64_t u64_leb();
  int32_t s32_leb();
  int64_t s64_leb();
  // Signed 33-bit LEB as used by block types.
  int64_t s33_leb();
  uint32_t f32_bits();
  uint64_t f64_bits();
  std::span<const uint8_t> bytes(size_t n);
  // A length-prefixed UTF-8 name; fails with "malformed UTF-8 encoding" when invalid.
  std::string name();

 private:
  uint64_t leb_unsigned(unsigned max_bits);
  int64_t leb_signed(unsigned max_bits);

  std::span<const uint8_t> data_;
  size_t base_;
  size_t pos_ = 0;
  std::string error_;
  size_t error_offset_ = 0;
};

bool is_valid_utf8(std::string_view s);

}  // namespace rw::wasm
