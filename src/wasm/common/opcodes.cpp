#include "wasm/common/opcodes.h"

#include <array>
#include <string>
#include <unordered_map>

namespace rw::wasm {
namespace {

constexpr std::array<OpcodeInfo, static_cast<size_t>(Opcode::Count_)> kOpcodeTable = {{
#define WASM_OP(name, prefix, code, text, imm, sig) \
  {Opcode::name, prefix, code, text, ImmKind::imm, sig},
#include "wasm/common/opcodes.def"
}};

struct Lookup {
  std::array<int16_t, 256> single;
  std::unordered_map<uint32_t, Opcode> fc;
  std::unordered_map<std::string_view, Opcode> text;
  Lookup() {
    single.fill(-1);
    for (const OpcodeInfo& info : kOpcodeTable) {
      if (info.prefix == 0) {
        single[info.code] = static_cast<int16_t>(info.op);
      } else {
        fc.emplace(info.code, info.op);
      }
      // Select and SelectT share "select"; keep the first (untyped) one.
      text.emplace(info.text, info.op);
    }
  }
};

const Lookup& lookup() {
  static const Lookup instance;
  return instance;
}

}  // namespace

const OpcodeInfo& opcode_info(Opcode op) { return kOpcodeTable[static_cast<size_t>(op)]; }

std::optional<Opcode> opcode_from_byte(uint8_t byte) {
  int16_t v = lookup().single[byte];
  if (v < 0) return std::nullopt;
  return static_cast<Opcode>(v);
}

std::optional<Opcode> opcode_from_prefixed(uint8_t prefix, uint32_t code) {
  if (prefix != 0xFC) return std::nullopt;
  auto it = lookup().fc.find(code);
  if (it == lookup().fc.end()) return std::nullopt;
  return it->second;
}

std::optional<Opcode> opcode_from_text(std::string_view text) {
  auto it = lookup().text.find(text);
  if (it == lookup().text.end()) return std::nullopt;
  return it->second;
}

}  // namespace rw::wasm
