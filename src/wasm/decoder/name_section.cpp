#include "wasm/decoder/name_section.h"

#include <string>
#include <unordered_map>
#include <utility>

#include "wasm/common/reader.h"

namespace rw::wasm {
namespace {

enum NameSubsection : uint8_t {
  kModuleName = 0,
  kFunctionNames = 1,
  kLocalNames = 2,
  kGlobalNames = 7
};

// Each entry takes at least two bytes (index and name length), which bounds the count.
bool read_name_map(BinaryReader& r, std::unordered_map<uint32_t, std::string>& out) {
  uint32_t n = r.u32_leb();
  if (!r.ok() || n > r.remaining() / 2) return false;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t index = r.u32_leb();
    std::string name = r.name();
    if (!r.ok()) return false;
    out[index] = std::move(name);
  }
  return true;
}

bool read_indirect_name_map(
    BinaryReader& r, std::unordered_map<uint32_t, std::unordered_map<uint32_t, std::string>>& out) {
  uint32_t n = r.u32_leb();
  if (!r.ok() || n > r.remaining() / 2) return false;
  out.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t index = r.u32_leb();
    if (!r.ok() || !read_name_map(r, out[index])) return false;
  }
  return true;
}

}  // namespace

bool parse_name_section(std::span<const uint8_t> contents, size_t base_offset, NameSection& out) {
  BinaryReader r(contents, base_offset);
  NameSection names;
  while (!r.at_end()) {
    uint8_t id = r.u8();
    uint32_t size = r.u32_leb();
    if (!r.ok() || size > r.remaining()) return false;
    size_t sub_offset = r.offset();
    BinaryReader sub(r.bytes(size), sub_offset);
    bool ok = true;
    switch (id) {
      case kModuleName: names.module_name = sub.name(); break;
      case kFunctionNames: ok = read_name_map(sub, names.functions); break;
      case kLocalNames: ok = read_indirect_name_map(sub, names.locals); break;
      case kGlobalNames: ok = read_name_map(sub, names.globals); break;
      default: continue;  // label, type, table, ... names: not used by rewind
    }
    if (!ok || !sub.ok() || !sub.at_end()) return false;
  }
  out = std::move(names);
  return true;
}

}  // namespace rw::wasm
