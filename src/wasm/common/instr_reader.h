#pragma once
// Decodes one instruction at a time from a function body or constant expression, with its
// immediates. Checks the encoding only (malformed input); index ranges and typing are the
// validator's job.

#include <cstdint>
#include <span>
#include <vector>

#include "rewind/types.h"
#include "wasm/common/opcodes.h"
#include "wasm/common/reader.h"

namespace rw::wasm {

struct BlockType {
  enum class Kind : uint8_t { Empty, Value, Index };
  Kind kind = Kind::Empty;
  ValType type = ValType::I32;  // Value
  uint32_t index = 0;           // Index: a type index
};

struct MemArg {
  uint32_t align = 0;   // log2 of the alignment
  uint64_t offset = 0;
  uint32_t memory = 0;
};

enum class CatchKind : uint8_t { Catch = 0, CatchRef = 1, CatchAll = 2, CatchAllRef = 3 };
struct CatchClause {
  CatchKind kind = CatchKind::Catch;
  uint32_t tag = 0;  // Catch and CatchRef
  uint32_t label = 0;
};

// One decoded instruction. The vectors are reused between calls to InstrReader::next, so keep one
// Instr object per loop to avoid allocation.
struct Instr {
  Opcode op = Opcode::Nop;
  uint32_t offset = 0;    // byte offset of the opcode in the module binary
  BlockType block;        // Block, Loop, If, Try, TryTable
  uint32_t index = 0;     // the first index immediate: label, func, local, global, table, tag,
                          // type (call_indirect), elem (table.init, elem.drop), data
                          // (memory.init, data.drop), memory (memory.size/grow/fill),
                          // destination (table.copy, memory.copy)
  uint32_t index2 = 0;    // the second: table for call_indirect and table.init, memory for
                          // memory.init, source for table.copy and memory.copy
  uint64_t value = 0;     // i32.const/i64.const (sign-extended), f32/f64 bits, ValType (ref.null)
  MemArg mem;             // loads and stores
  std::vector<uint32_t> targets;   // br_table: the labels, then the default label last
  std::vector<ValType> types;      // select with types
  std::vector<CatchClause> catches;  // try_table
};

class InstrReader {
 public:
  // Reads instructions from `bytes`, whose first byte is at `base_offset` in the module binary.
  InstrReader(std::span<const uint8_t> bytes, size_t base_offset) : reader_(bytes, base_offset) {}

  // Decodes the next instruction into `out`. Returns false at the end of input or on a
  // malformed encoding; ok() tells the two apart.
  bool next(Instr& out);

  bool ok() const { return reader_.ok(); }
  bool at_end() const { return reader_.at_end(); }
  const std::string& error() const { return reader_.error(); }
  size_t error_offset() const { return reader_.error_offset(); }
  size_t offset() const { return reader_.offset(); }

 private:
  bool read_block_type(BlockType& bt);
  bool read_value_type(ValType& t);

  BinaryReader reader_;
};

// Decodes a value type byte; false for bytes that are not value types rewind knows.
bool decode_value_type(uint8_t byte, ValType& out);

}  // namespace rw::wasm
