#include "wasm/common/reader.h"

namespace rw::wasm {

void BinaryReader::fail_at(size_t offset, std::string reason) {
  if (!error_.empty()) return;
  error_ = std::move(reason);
  error_offset_ = offset;
  pos_ = data_.size();  // stop further reads
}

uint8_t BinaryReader::u8() {
  if (pos_ >= data_.size()) {
    fail("unexpected end");
    return 0;
  }
  return data_[pos_++];
}

uint64_t BinaryReader::leb_unsigned(unsigned max_bits) {
  uint64_t result = 0;
  unsigned shift = 0;
  size_t start = offset();
  while (true) {
    if (pos_ >= data_.size()) {
      fail_at(start, "unexpected end");
      return 0;
    }
    uint8_t byte = data_[pos_++];
    unsigned remaining_bits = max_bits - shift;
    if (remaining_bits < 7) {
      // Last byte: no continuation, and unused bits must be zero.
      if ((byte & 0x80) || (byte >> remaining_bits) != 0) {
        fail_at(start, (byte & 0x80) ? "integer representation too long" : "integer too large");
        return 0;
      }
    }
    result |= static_cast<uint64_t>(byte & 0x7F) << shift;
    shift += 7;
    if (!(byte & 0x80)) break;
    if (shift >= max_bits) {
      fail_at(start, "integer representation too long");
      return 0;
    }
  }
  return result;
}

int64_t BinaryReader::leb_signed(unsigned max_bits) {
  int64_t result = 0;
  unsigned shift = 0;
  size_t start = offset();
  uint8_t byte = 0;
  while (true) {
    if (pos_ >= data_.size()) {
      fail_at(start, "unexpected end");
      return 0;
    }
    byte = data_[pos_++];
    unsigned remaining_bits = max_bits - shift;
    if (remaining_bits < 7) {
      // Last byte: no continuation; the unused bits must all equal the sign bit.
      if (byte & 0x80) {
        fail_at(start, "integer representation too long");
        return 0;
      }
      int sign_and_unused = static_cast<int8_t>(byte << 1) >> remaining_bits;
      if (sign_and_unused != 0 && sign_and_unused != -1) {
        fail_at(start, "integer too large");
        return 0;
      }
    }
    result |= static_cast<int64_t>(static_cast<uint64_t>(byte & 0x7F) << shift);
    shift += 7;
    if (!(byte & 0x80)) break;
    if (shift >= max_bits) {
      fail_at(start, "integer representation too long");
      return 0;
    }
  }
  if (shift < 64 && (byte & 0x40)) result |= static_cast<int64_t>(~uint64_t{0} << shift);
  return result;
}

uint32_t BinaryReader::u32_leb() { return static_cast<uint32_t>(leb_unsigned(32)); }
uint64_t BinaryReader::u64_leb() { return leb_unsigned(64); }
int32_t BinaryReader::s32_leb() { return static_cast<int32_t>(leb_signed(32)); }
int64_t BinaryReader::s64_leb() { return leb_signed(64); }
int64_t BinaryReader::s33_leb() { return leb_signed(33); }

uint32_t BinaryReader::f32_bits() {
  auto b = bytes(4);
  if (b.size() != 4) return 0;
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}

uint64_t BinaryReader::f64_bits() {
  auto b = bytes(8);
  if (b.size() != 8) return 0;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | b[i];
  return v;
}

std::span<const uint8_t> BinaryReader::bytes(size_t n) {
  if (n > remaining()) {
    fail("unexpected end");
    return {};
  }
  auto s = data_.subspan(pos_, n);
  pos_ += n;
  return s;
}

std::string BinaryReader::name() {
  size_t start = offset();
  uint32_t len = u32_leb();
  if (!ok()) return {};
  if (len > remaining()) {
    fail_at(start, "length out of bounds");
    return {};
  }
  auto b = bytes(len);
  std::string s(reinterpret_cast<const char*>(b.data()), b.size());
  if (!is_valid_utf8(s)) {
    fail_at(start, "malformed UTF-8 encoding");
    return {};
  }
  return s;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    uint8_t c = static_cast<uint8_t>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace rw::wasm
