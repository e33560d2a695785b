#pragma once
// Opcode enumeration and static per-opcode information generated from opcodes.def.

#include <cstdint>
#include <optional>
#include <string_view>

namespace rw::wasm {

// How the immediates that follow an opcode in the binary format are shaped.
enum class ImmKind : uint8_t {
  None,
  Block,         // blocktype
  Label,         // labelidx
  BrTable,       // vec(labelidx) labelidx
  Func,          // funcidx
  CallIndirect,  // typeidx tableidx
  Local,         // localidx
  Global,        // globalidx
  Table,         // tableidx
  MemArg,        // align offset (align bit 6 set: memidx follows, multi-memory)
  MemIdx,        // memidx (a single 0x00 byte in 2.0)
  I32,           // sleb32
  I64,           // sleb64
  F32,           // 4 bytes
  F64,           // 8 bytes
  HeapType,      // reftype byte (funcref/externref/exnref)
  SelectT,       // vec(valtype)
  MemoryInit,    // dataidx memidx
  Data,          // dataidx
  MemoryCopy,    // memidx memidx
  TableInit,     // elemidx tableidx
  Elem,          // elemidx
  TableCopy,     // tableidx tableidx
  Tag,           // tagidx
  TryTable,      // blocktype vec(catch)
};

enum class Opcode : uint16_t {
#define WASM_OP(name, prefix, code, text, imm, sig) name,
#include "wasm/common/opcodes.def"
  Count_
};

struct OpcodeInfo {
  Opcode op;
  uint8_t prefix;  // 0 or 0xFC
  uint32_t code;
  std::string_view text;
  ImmKind imm;
  std::string_view signature;  // "params:results" with i/I/f/F, or "" when typed by hand
};

// Static table indexed by Opcode.
const OpcodeInfo& opcode_info(Opcode op);

// Maps the binary encoding to an opcode; nullopt for unknown or unsupported encodings.
std::optional<Opcode> opcode_from_byte(uint8_t byte);
std::optional<Opcode> opcode_from_prefixed(uint8_t prefix, uint32_t code);

// Maps a text mnemonic ("i32.add") to an opcode. "select" maps to Opcode::Select; the text parser
// turns it into SelectT when a result type follows.
std::optional<Opcode> opcode_from_text(std::string_view text);

}  // namespace rw::wasm
