#pragma once
// Bounds-checked access to a calling guest's linear memory, for host functions whose ABI treats
// a bad pointer as the guest breaking the contract (the request ABI, the storage ABI): any
// violation throws AbiViolation, which the host-function wrapper turns into
// HostResult::abort (trap kind host_abort) with the message. (WASI reports EFAULT instead, so it
// has its own wrapper.)

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "rewind/engine.h"
#include "rewind/lifecycle.h"

namespace rw::guest {

struct AbiViolation {
  std::string message;
};

class GuestMemory {
 public:
  // `function` names the host function in messages: "rewind.<function>: ...".
  GuestMemory(std::optional<Memory> memory, std::string_view function)
      : memory_(memory), function_(function) {}

  // [ptr, ptr + len) inside memory; the check uses 64-bit arithmetic so it cannot wrap. A guest
  // without memory is refused even for an empty range.
  std::span<uint8_t> range(uint32_t ptr, uint32_t len) const {
    if (!memory_) fail("the calling module has no memory");
    if (len == 0) return {};
    uint64_t size = memory_->size_bytes();
    if (uint64_t{ptr} + len > size)
      fail("range [" + hex(ptr) + ", " + hex(uint64_t{ptr} + len) + ") is outside linear memory (" +
           std::to_string(size) + " bytes)");
    return {memory_->data() + ptr, len};
  }

  // A range the host is about to write through raw pointers: reported to the lifecycle layer
  // first, so rollback and reset undo these bytes like the guest's own stores.
  std::span<uint8_t> writable(uint32_t ptr, uint32_t len) const {
    auto bytes = range(ptr, len);
    if (!bytes.empty()) note_memory_write(*memory_, ptr, len);
    return bytes;
  }

  std::string_view string(uint32_t ptr, uint32_t len) const {
    auto bytes = range(ptr, len);
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }

  // The copy-out convention: checks all of [buf, buf + cap), copies min(value, cap) bytes and
  // returns the full length of the value (saturated to INT32_MAX).
  int32_t copy_out(std::string_view value, uint32_t buf, uint32_t cap) const {
    range(buf, cap);
    size_t n = std::min<size_t>(value.size(), cap);
    auto out = writable(buf, static_cast<uint32_t>(n));
    if (n) std::memcpy(out.data(), value.data(), n);
    return static_cast<int32_t>(std::min<size_t>(value.size(), INT32_MAX));
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw AbiViolation{"rewind." + std::string(function_) + ": " + why};
  }

  static std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
  }

 private:
  std::optional<Memory> memory_;
  std::string_view function_;
};

}  // namespace rw::guest
