#include "wasm/common/instr_reader.h"

namespace rw::wasm {

bool decode_value_type(uint8_t byte, ValType& out) {
  switch (byte) {
    case 0x7F: case 0x7E: case 0x7D: case 0x7C: case 0x7B:
    case 0x70: case 0x6F: case 0x69:
      out = static_cast<ValType>(byte);
      return true;
    default:
      return false;
  }
}

bool InstrReader::read_value_type(ValType& t) {
  size_t at = reader_.offset();
  uint8_t b = reader_.u8();
  if (!reader_.ok()) return false;
  if (!decode_value_type(b, t)) {
    reader_.fail_at(at, "malformed value type");
    return false;
  }
  return true;
}

bool InstrReader::read_block_type(BlockType& bt) {
  size_t at = reader_.offset();
  if (reader_.at_end()) {
    reader_.fail("unexpected end");
    return false;
  }
  // Peek: 0x40 is empty; a value type byte is a single result; otherwise a positive s33 index.
  BinaryReader peek = reader_;
  uint8_t b = peek.u8();
  ValType t;
  if (b == 0x40) {
    reader_.u8();
    bt.kind = BlockType::Kind::Empty;
    return true;
  }
  if (decode_value_type(b, t)) {
    reader_.u8();
    bt.kind = BlockType::Kind::Value;
    bt.type = t;
    return true;
  }
  int64_t idx = reader_.s33_leb();
  if (!reader_.ok()) return false;
  if (idx < 0) {
    reader_.fail_at(at, "malformed block type");
    return false;
  }
  bt.kind = BlockType::Kind::Index;
  bt.index = static_cast<uint32_t>(idx);
  return true;
}

bool InstrReader::next(Instr& out) {
  if (reader_.at_end() || !reader_.ok()) return false;
  out.offset = static_cast<uint32_t>(reader_.offset());
  uint8_t byte = reader_.u8();
  std::optional<Opcode> op;
  if (byte == 0xFC) {
    uint32_t code = reader_.u32_leb();
    if (!reader_.ok()) return false;
    op = opcode_from_prefixed(0xFC, code);
  } else if (byte == 0xFD) {
    reader_.fail_at(out.offset, "unsupported feature: SIMD (0xfd prefix)");
    return false;
  } else {
    op = opcode_from_byte(byte);
  }
  if (!op) {
    reader_.fail_at(out.offset, "illegal opcode");
    return false;
  }
  out.op = *op;
  const OpcodeInfo& info = opcode_info(*op);
  switch (info.imm) {
    case ImmKind::None:
      break;
    case ImmKind::Block:
      if (!read_block_type(out.block)) return false;
      break;
    case ImmKind::Label:
    case ImmKind::Func:
    case ImmKind::Local:
    case ImmKind::Global:
    case ImmKind::Table:
    case ImmKind::Data:
    case ImmKind::Elem:
    case ImmKind::Tag:
      out.index = reader_.u32_leb();
      break;
    case ImmKind::BrTable: {
      uint32_t n = reader_.u32_leb();
      if (!reader_.ok()) return false;
      // Each label takes at least one byte, so a count beyond the remaining bytes is malformed
      // and must not drive an allocation.
      if (n > reader_.remaining()) {
        reader_.fail("unexpected end");
        return false;
      }
      out.targets.clear();
      out.targets.reserve(n + 1);
      for (uint32_t i = 0; i <= n && reader_.ok(); ++i) out.targets.push_back(reader_.u32_leb());
      break;
    }
    case ImmKind::CallIndirect:
      out.index = reader_.u32_leb();
      out.index2 = reader_.u32_leb();
      break;
    case ImmKind::MemArg: {
      size_t align_at = reader_.offset();
      uint32_t align = reader_.u32_leb();
      out.mem.memory = 0;
      // 2.0 has no multi-memory form (bit 6 = memory index follows); like the spec interpreter,
      // any alignment exponent from 32 up is malformed (align.wast).
      if (reader_.ok() && align >= 32) {
        reader_.fail_at(align_at, "malformed memop flags");
        return false;
      }
      out.mem.align = align;
      out.mem.offset = reader_.u32_leb();  // 32-bit memories: offsets are u32
      break;
    }
    case ImmKind::MemIdx: {
      size_t at = reader_.offset();
      uint8_t b = reader_.u8();
      if (reader_.ok() && b != 0) {
        reader_.fail_at(at, "zero byte expected");
        return false;
      }
      out.index = 0;
      break;
    }
    case ImmKind::I32:
      out.value = static_cast<uint64_t>(static_cast<int64_t>(reader_.s32_leb()));
      break;
    case ImmKind::I64:
      out.value = static_cast<uint64_t>(reader_.s64_leb());
      break;
    case ImmKind::F32:
      out.value = reader_.f32_bits();
      break;
    case ImmKind::F64:
      out.value = reader_.f64_bits();
      break;
    case ImmKind::HeapType: {
      ValType t;
      size_t at = reader_.offset();
      uint8_t b = reader_.u8();
      if (!reader_.ok()) return false;
      if (!decode_value_type(b, t) || !is_reference(t)) {
        reader_.fail_at(at, "malformed reference type");
        return false;
      }
      out.value = static_cast<uint64_t>(t);
      break;
    }
    case ImmKind::SelectT: {
      uint32_t n = reader_.u32_leb();
      if (!reader_.ok()) return false;
      if (n > reader_.remaining()) {
        reader_.fail("unexpected end");
        return false;
      }
      out.types.clear();
      for (uint32_t i = 0; i < n; ++i) {
        ValType t;
        if (!read_value_type(t)) return false;
        out.types.push_back(t);
      }
      break;
    }
    case ImmKind::MemoryInit: {
      out.index = reader_.u32_leb();
      size_t at = reader_.offset();
      uint8_t b = reader_.u8();
      if (reader_.ok() && b != 0) {
        reader_.fail_at(at, "zero byte expected");
        return false;
      }
      out.index2 = 0;
      break;
    }
    case ImmKind::MemoryCopy: {
      size_t at = reader_.offset();
      uint8_t a = reader_.u8();
      uint8_t b = reader_.u8();
      if (reader_.ok() && (a != 0 || b != 0)) {
        reader_.fail_at(at, "zero byte expected");
        return false;
      }
      out.index = out.index2 = 0;
      break;
    }
    case ImmKind::TableInit:
      out.index = reader_.u32_leb();   // elem
      out.index2 = reader_.u32_leb();  // table
      break;
    case ImmKind::TableCopy:
      out.index = reader_.u32_leb();   // destination
      out.index2 = reader_.u32_leb();  // source
      break;
    case ImmKind::TryTable: {
      if (!read_block_type(out.block)) return false;
      uint32_t n = reader_.u32_leb();
      if (!reader_.ok()) return false;
      if (n > reader_.remaining()) {
        reader_.fail("unexpected end");
        return false;
      }
      out.catches.clear();
      for (uint32_t i = 0; i < n && reader_.ok(); ++i) {
        CatchClause c;
        size_t at = reader_.offset();
        uint8_t kind = reader_.u8();
        if (!reader_.ok()) return false;
        if (kind > 3) {
          reader_.fail_at(at, "malformed catch clause");
          return false;
        }
        c.kind = static_cast<CatchKind>(kind);
        if (c.kind == CatchKind::Catch || c.kind == CatchKind::CatchRef) c.tag = reader_.u32_leb();
        c.label = reader_.u32_leb();
        out.catches.push_back(c);
      }
      break;
    }
  }
  return reader_.ok();
}

}  // namespace rw::wasm
