#include "wasm/decoder/decoder.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "wasm/common/instr_reader.h"
#include "wasm/decoder/name_section.h"

namespace rw::wasm {
namespace {

constexpr uint8_t kMagic[4] = {0x00, 0x61, 0x73, 0x6D};
constexpr uint8_t kVersion[4] = {0x01, 0x00, 0x00, 0x00};

enum SectionId : uint8_t {
  kCustom = 0,
  kType = 1,
  kImport = 2,
  kFunction = 3,
  kTable = 4,
  kMemory = 5,
  kGlobal = 6,
  kExport = 7,
  kStart = 8,
  kElement = 9,
  kCode = 10,
  kData = 11,
  kDataCount = 12,
  kTag = 13,
};

// Position of each known section in the required order; 0 for unknown ids. The tag section sits
// between memory and global (exception handling), data count between element and code.
int section_rank(uint8_t id) {
  switch (id) {
    case kType: return 1;
    case kImport: return 2;
    case kFunction: return 3;
    case kTable: return 4;
    case kMemory: return 5;
    case kTag: return 6;
    case kGlobal: return 7;
    case kExport: return 8;
    case kStart: return 9;
    case kElement: return 10;
    case kDataCount: return 11;
    case kCode: return 12;
    case kData: return 13;
    default: return 0;
  }
}

Error::Kind kind_of(const std::string& reason) {
  return std::string_view(reason).starts_with("unsupported feature") ? Error::Kind::Unsupported
                                                                     : Error::Kind::Malformed;
}

class Decoder {
 public:
  Decoder(std::span<const uint8_t> bytes, const DecodeLimits& limits)
      : bytes_(bytes), limits_(limits) {}

  Result<Module> run();

 private:
  bool read_value_type(BinaryReader& r, ValType& out);
  bool read_ref_type(BinaryReader& r, ValType& out);
  bool read_limits(BinaryReader& r, Limits& out);
  bool read_count(BinaryReader& r, uint32_t& n, uint32_t max, const char* what);
  bool read_table_type(BinaryReader& r, TableType& out);
  bool read_global_type(BinaryReader& r, GlobalType& out);
  bool read_const_expr(BinaryReader& r, ConstExpr& out);

  bool section(uint8_t id, BinaryReader& r);
  bool type_section(BinaryReader& r);
  bool import_section(BinaryReader& r);
  bool function_section(BinaryReader& r);
  bool table_section(BinaryReader& r);
  bool memory_section(BinaryReader& r);
  bool tag_section(BinaryReader& r);
  bool global_section(BinaryReader& r);
  bool export_section(BinaryReader& r);
  bool start_section(BinaryReader& r);
  bool element_section(BinaryReader& r);
  bool data_count_section(BinaryReader& r);
  bool code_section(BinaryReader& r);
  bool read_locals(BinaryReader& b, FunctionBody& body, uint64_t& total);
  bool data_section(BinaryReader& r);
  bool custom_section(BinaryReader& r);

  void finish();

  std::span<const uint8_t> bytes_;
  const DecodeLimits& limits_;
  Module m_;
  std::optional<size_t> code_count_at_;  // where the code section's count is, once seen
  bool saw_data_ = false;
  bool saw_name_section_ = false;
};

bool Decoder::read_value_type(BinaryReader& r, ValType& out) {
  size_t at = r.offset();
  uint8_t b = r.u8();
  if (!r.ok()) return false;
  if (b == static_cast<uint8_t>(ValType::V128)) {
    r.fail_at(at, "unsupported feature: SIMD (v128 value type)");
    return false;
  }
  if (!decode_value_type(b, out)) {
    r.fail_at(at, "malformed value type");
    return false;
  }
  if (out == ValType::ExternRef || out == ValType::FuncRef) m_.features.reference_types = true;
  if (out == ValType::ExnRef) m_.features.exceptions_exnref = true;
  return true;
}

bool Decoder::read_ref_type(BinaryReader& r, ValType& out) {
  size_t at = r.offset();
  uint8_t b = r.u8();
  if (!r.ok()) return false;
  if (!decode_value_type(b, out) || !is_reference(out)) {
    r.fail_at(at, "malformed reference type");
    return false;
  }
  if (out == ValType::ExternRef) m_.features.reference_types = true;
  if (out == ValType::ExnRef) m_.features.exceptions_exnref = true;
  return true;
}

bool Decoder::read_limits(BinaryReader& r, Limits& out) {
  // The flags are a one-bit LEB128 number in 2.0, which fixes the spec's error messages for
  // other values; say what the extra bits would have meant.
  size_t at = r.offset();
  uint8_t flags = r.u8();
  if (!r.ok()) return false;
  if (flags & 0x80) {
    r.fail_at(at, "integer representation too long");
    return false;
  }
  if (flags > 1) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "integer too large (limits flags 0x%02x: %s are not supported)",
                  flags, (flags & 0x04) ? "64-bit memories and tables" : "shared memories");
    r.fail_at(at, buf);
    return false;
  }
  out.min = r.u32_leb();
  if (flags & 1) {
    out.max = r.u32_leb();
  } else {
    out.max.reset();
  }
  return r.ok();
}

// Reads a vector length. Every element takes at least one byte, so a length beyond the remaining
// bytes is malformed and is rejected before anything is allocated for it.
bool Decoder::read_count(BinaryReader& r, uint32_t& n, uint32_t max, const char* what) {
  size_t at = r.offset();
  n = r.u32_leb();
  if (!r.ok()) return false;
  if (n > r.remaining()) {
    r.fail_at(at, "unexpected end of section or function (" + std::to_string(n) + " " + what +
                      " declared, " + std::to_string(r.remaining()) + " bytes left)");
    return false;
  }
  if (n > max) {
    r.fail_at(at, std::string("too many ") + what + " (" + std::to_string(n) + ", limit " +
                      std::to_string(max) + ")");
    return false;
  }
  return true;
}

bool Decoder::read_table_type(BinaryReader& r, TableType& out) {
  if (!read_ref_type(r, out.element)) return false;
  return read_limits(r, out.limits);
}

bool Decoder::read_global_type(BinaryReader& r, GlobalType& out) {
  if (!read_value_type(r, out.type)) return false;
  size_t at = r.offset();
  uint8_t mut = r.u8();
  if (!r.ok()) return false;
  if (mut > 1) {
    r.fail_at(at, "malformed mutability");
    return false;
  }
  out.is_mutable = mut == 1;
  return true;
}

bool Decoder::read_const_expr(BinaryReader& r, ConstExpr& out) { return decode_const_expr(r, out); }

bool Decoder::type_section(BinaryReader& r) {
  uint32_t n;
  if (!read_count(r, n, limits_.max_types, "types")) return false;
  m_.types.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    size_t at = r.offset();
    uint8_t form = r.u8();
    if (!r.ok()) return false;
    if (form != 0x60) {
      r.fail_at(at, "malformed function type");
      return false;
    }
    FuncType type;
    uint32_t np;
    if (!read_count(r, np, limits_.max_params, "parameters")) return false;
    type.params.resize(np);
    for (auto& t : type.params) {
      if (!read_value_type(r, t)) return false;
    }
    uint32_t nr;
    if (!read_count(r, nr, limits_.max_results, "results")) return false;
    type.results.resize(nr);
    for (auto& t : type.results) {
      if (!read_value_type(r, t)) return false;
    }
    if (nr > 1) m_.features.multi_value = true;
    m_.types.push_back(std::move(type));
  }
  return true;
}

bool Decoder::import_section(BinaryReader& r) {
  uint32_t n;
  if (!read_count(r, n, limits_.max_imports, "imports")) return false;
  for (uint32_t i = 0; i < n; ++i) {
    Import imp;
    imp.module = r.name();
    imp.name = r.name();
    size_t at = r.offset();
    uint8_t kind = r.u8();
    if (!r.ok()) return false;
    switch (kind) {
      case 0:
        imp.kind = ExternKind::Func;
        imp.type_index = r.u32_leb();
        break;
      case 1:
        imp.kind = ExternKind::Table;
        if (!read_table_type(r, imp.table)) return false;
        break;
      case 2:
        imp.kind = ExternKind::Memory;
        if (!read_limits(r, imp.memory.limits)) return false;
        break;
      case 3:
        imp.kind = ExternKind::Global;
        if (!read_global_type(r, imp.global)) return false;
        if (imp.global.is_mutable) m_.features.mutable_globals = true;
        break;
      case 4: {
        imp.kind = ExternKind::Tag;
        size_t attr_at = r.offset();
        uint8_t attribute = r.u8();
        if (r.ok() && attribute != 0) {
          r.fail_at(attr_at, "malformed tag attribute");
          return false;
        }
        imp.type_index = r.u32_leb();
        break;
      }
      default: r.fail_at(at, "malformed import kind"); return false;
    }
    if (!r.ok()) return false;
    m_.imports.push_back(std::move(imp));
  }
  return true;
}

bool Decoder::function_section(BinaryReader& r) {
  uint32_t n;
  if (!read_count(r, n, limits_.max_functions, "functions")) return false;
  m_.functions.resize(n);
  for (auto& f : m_.functions) f = r.u32_leb();
  return r.ok();
}

bool Decoder::table_section(BinaryReader& r) {
  uint32_t n;
  if (!read_count(r, n, std::numeric_limits<uint32_t>::max(), "tables")) return false;
  for (uint32_t i = 0; i < n; ++i) {
    TableType t;
    if (!read_table_type(r, t)) return false;
    m_.tables.push_back(t);
  }
  return true;
}

bool Decoder::memory_section(BinaryReader& r) {
  uint32_t n;
  if (!read_count(r, n, std::numeric_limits<uint32_t>::max(), "memories")) return false;
  for (uint32_t i = 0; i < n; ++i) {
    MemoryType t;
    if (!read_limits(r, t.limits)) return false;
    m_.memories.push_back(t);
  }
  return true;
}

bool Decoder::tag_section(BinaryReader& r) {
  uint32_t n;
  if (!read_count(r, n, std::numeric_limits<uint32_t>::max(), "tags")) return false;
  m_.tags.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    size_t at = r.offset();
    uint8_t attribute = r.u8();
    if (r.ok() && attribute != 0) {
      r.fail_at(at, "malformed tag attribute");
      return false;
    }
    m_.tags.push_back(r.u32_leb());
    if (!r.ok()) return false;
  }
  return true;
}

bool Decoder::global_section(BinaryReader& r) {
  uint32_t n;
  if (!read_count(r, n, std::numeric_limits<uint32_t>::max(), "globals")) return false;
  for (uint32_t i = 0; i < n; ++i) {
    Global g;
    if (!read_global_type(r, g.type)) return false;
    if (!read_const_expr(r, g.init)) return false;
    m_.globals.push_back(std::move(g));
  }
  return true;
}

bool Decoder::export_section(BinaryReader& r) {
  uint32_t n;
  if (!read_count(r, n, limits_.max_exports, "exports")) return false;
  for (uint32_t i = 0; i < n; ++i) {
    Export e;
    e.name = r.name();
    size_t at = r.offset();
    uint8_t kind = r.u8();
    if (!r.ok()) return false;
    if (kind > 4) {
      r.fail_at(at, "malformed export kind");
      return false;
    }
    e.kind = static_cast<ExternKind>(kind);
    e.index = r.u32_leb();
    if (!r.ok()) return false;
    m_.exports.push_back(std::move(e));
  }
  return true;
}

bool Decoder::start_section(BinaryReader& r) {
  m_.start = r.u32_leb();
  return r.ok();
}

bool Decoder::element_section(BinaryReader& r) {
  uint32_t n;
  if (!read_count(r, n, std::numeric_limits<uint32_t>::max(), "element segments")) return false;
  for (uint32_t i = 0; i < n; ++i) {
    ElemSegment seg;
    size_t at = r.offset();
    uint32_t flags = r.u32_leb();
    if (!r.ok()) return false;
    if (flags > 7) {
      r.fail_at(at, "malformed elements segment kind");
      return false;
    }
    // Bit 0: passive or declarative (bit 1 tells which); else active, with an explicit table
    // index when bit 1 is set. Bit 2: items are expressions with an explicit reference type,
    // else function indices with an element kind byte.
    bool passive_or_declarative = flags & 1;
    bool explicit_table_or_declarative = flags & 2;
    bool expressions = flags & 4;
    if (passive_or_declarative) {
      seg.mode = explicit_table_or_declarative ? SegmentMode::Declarative : SegmentMode::Passive;
      m_.features.bulk_memory = true;
    } else {
      seg.mode = SegmentMode::Active;
      if (explicit_table_or_declarative) {
        seg.table = r.u32_leb();
        if (seg.table != 0) m_.features.reference_types = true;
      }
      if (!read_const_expr(r, seg.offset)) return false;
    }
    bool has_type_byte = passive_or_declarative || explicit_table_or_declarative;
    if (expressions) {
      m_.features.reference_types = true;
      if (has_type_byte && !read_ref_type(r, seg.type)) return false;
    } else if (has_type_byte) {
      size_t kind_at = r.offset();
      uint8_t elem_kind = r.u8();
      if (!r.ok()) return false;
      if (elem_kind != 0) {
        r.fail_at(kind_at, "malformed element kind");
        return false;
      }
    }
    uint32_t count;
    if (!read_count(r, count, std::numeric_limits<uint32_t>::max(), "elements")) return false;
    seg.items.reserve(count);
    for (uint32_t k = 0; k < count; ++k) {
      ConstExpr item;
      if (expressions) {
        if (!read_const_expr(r, item)) return false;
      } else {
        item.offset = static_cast<uint32_t>(r.offset());
        uint32_t func = r.u32_leb();
        if (!r.ok()) return false;
        item.instrs.push_back(ConstInstr{Opcode::RefFunc, func});
      }
      seg.items.push_back(std::move(item));
    }
    m_.elems.push_back(std::move(seg));
  }
  return true;
}

bool Decoder::data_count_section(BinaryReader& r) {
  m_.data_count = r.u32_leb();
  m_.features.bulk_memory = true;
  return r.ok();
}

bool Decoder::code_section(BinaryReader& r) {
  // The count is compared with the function section's once all sections are read, so that
  // misplaced sections are reported first, as the spec interpreter does.
  code_count_at_ = r.offset();
  uint32_t n;
  if (!read_count(r, n, limits_.max_functions, "function bodies")) return false;
  m_.codes.resize(n);
  for (FunctionBody& body : m_.codes) {
    body.body_offset = static_cast<uint32_t>(r.offset());
    uint32_t size = r.u32_leb();
    if (!r.ok()) return false;
    if (size > r.remaining()) {
      r.fail_at(body.body_offset, "unexpected end of section or function (function body size)");
      return false;
    }
    size_t body_begin = r.offset();
    BinaryReader b(r.bytes(size), body_begin);
    uint64_t total = 0;
    if (!read_locals(b, body, total)) {
      r.fail_at(b.error_offset(), b.error());
      return false;
    }
    body.local_count = static_cast<uint32_t>(total);
    body.code_begin = static_cast<uint32_t>(b.offset());
    body.code_end = static_cast<uint32_t>(body_begin + size);
  }
  return true;
}

bool Decoder::read_locals(BinaryReader& b, FunctionBody& body, uint64_t& total) {
  uint32_t runs;
  if (!read_count(b, runs, std::numeric_limits<uint32_t>::max(), "local entries")) return false;
  body.locals.reserve(runs);
  for (uint32_t k = 0; k < runs; ++k) {
    size_t run_at = b.offset();
    LocalRun run;
    run.count = b.u32_leb();
    if (!b.ok()) return false;
    total += run.count;
    if (total > limits_.max_locals_per_function) {
      b.fail_at(run_at, "too many locals");
      return false;
    }
    if (!read_value_type(b, run.type)) return false;
    body.locals.push_back(run);
  }
  return true;
}

bool Decoder::data_section(BinaryReader& r) {
  saw_data_ = true;
  size_t at = r.offset();
  uint32_t n;
  if (!read_count(r, n, std::numeric_limits<uint32_t>::max(), "data segments")) return false;
  if (m_.data_count && *m_.data_count != n) {
    r.fail_at(at, "data count and data section have inconsistent lengths");
    return false;
  }
  for (uint32_t i = 0; i < n; ++i) {
    DataSegment seg;
    size_t flags_at = r.offset();
    uint32_t flags = r.u32_leb();
    if (!r.ok()) return false;
    switch (flags) {
      case 0:
        seg.mode = SegmentMode::Active;
        if (!read_const_expr(r, seg.offset)) return false;
        break;
      case 1:
        seg.mode = SegmentMode::Passive;
        m_.features.bulk_memory = true;
        break;
      case 2:
        seg.mode = SegmentMode::Active;
        seg.memory = r.u32_leb();
        if (!read_const_expr(r, seg.offset)) return false;
        break;
      default: r.fail_at(flags_at, "malformed data segment kind"); return false;
    }
    size_t len_at = r.offset();
    uint32_t len = r.u32_leb();
    if (!r.ok()) return false;
    if (len > r.remaining()) {
      r.fail_at(len_at, "unexpected end of section or function (data segment length)");
      return false;
    }
    auto contents = r.bytes(len);
    seg.bytes.assign(contents.begin(), contents.end());
    m_.datas.push_back(std::move(seg));
  }
  return true;
}

bool Decoder::custom_section(BinaryReader& r) {
  CustomSection custom;
  custom.name = r.name();
  if (!r.ok()) return false;
  custom.offset = static_cast<uint32_t>(r.offset());
  custom.size = static_cast<uint32_t>(r.remaining());
  auto contents = r.bytes(r.remaining());
  if (custom.name == "name" && !saw_name_section_) {
    saw_name_section_ = true;
    // A malformed name section is not an error (it is only debug information): drop it.
    if (!parse_name_section(contents, custom.offset, m_.names)) m_.names = NameSection{};
  }
  m_.customs.push_back(std::move(custom));
  return true;
}

bool Decoder::section(uint8_t id, BinaryReader& r) {
  switch (id) {
    case kCustom: return custom_section(r);
    case kType: return type_section(r);
    case kImport: return import_section(r);
    case kFunction: return function_section(r);
    case kTable: return table_section(r);
    case kMemory: return memory_section(r);
    case kTag: return tag_section(r);
    case kGlobal: return global_section(r);
    case kExport: return export_section(r);
    case kStart: return start_section(r);
    case kElement: return element_section(r);
    case kDataCount: return data_count_section(r);
    case kCode: return code_section(r);
    case kData: return data_section(r);
    default: return false;
  }
}

void Decoder::finish() {
  for (auto& positions : m_.import_positions) positions.clear();
  for (uint32_t i = 0; i < m_.imports.size(); ++i) {
    const Import& imp = m_.imports[i];
    m_.import_positions[static_cast<size_t>(imp.kind)].push_back(i);
  }
  m_.num_imported_funcs = static_cast<uint32_t>(m_.import_positions[0].size());
  m_.num_imported_tables = static_cast<uint32_t>(m_.import_positions[1].size());
  m_.num_imported_memories = static_cast<uint32_t>(m_.import_positions[2].size());
  m_.num_imported_globals = static_cast<uint32_t>(m_.import_positions[3].size());
  m_.num_imported_tags = static_cast<uint32_t>(m_.import_positions[4].size());

  if (m_.total_tables() > 1) {
    m_.features.multiple_tables = true;
    m_.features.reference_types = true;
  }
  for (const Export& e : m_.exports) {
    if (e.kind == ExternKind::Global && e.index < m_.total_globals() &&
        m_.global_type(e.index).is_mutable) {
      m_.features.mutable_globals = true;
    }
  }
}

Result<Module> Decoder::run() {
  if (bytes_.size() > std::numeric_limits<uint32_t>::max()) {
    return Error{Error::Kind::Malformed, "module too large (more than 4 GiB)", 0};
  }
  BinaryReader r(bytes_, 0);
  auto magic = r.bytes(4);
  if (!r.ok()) return Error{Error::Kind::Malformed, "unexpected end", r.error_offset()};
  if (!std::equal(magic.begin(), magic.end(), kMagic)) {
    return Error{Error::Kind::Malformed, "magic header not detected", 0};
  }
  auto version = r.bytes(4);
  if (!r.ok()) return Error{Error::Kind::Malformed, "unexpected end", r.error_offset()};
  if (!std::equal(version.begin(), version.end(), kVersion)) {
    return Error{Error::Kind::Malformed, "unknown binary version", 4};
  }

  m_.bytes.assign(bytes_.begin(), bytes_.end());
  int last_rank = 0;
  while (!r.at_end()) {
    size_t section_at = r.offset();
    uint8_t id = r.u8();
    if (id > kTag) {
      return Error{Error::Kind::Malformed, "malformed section id", section_at};
    }
    size_t size_at = r.offset();
    uint32_t size = r.u32_leb();
    if (!r.ok()) return Error{kind_of(r.error()), r.error(), r.error_offset()};
    if (size > r.remaining()) {
      return Error{Error::Kind::Malformed, "length out of bounds (section size)", size_at};
    }
    if (id != kCustom) {
      int rank = section_rank(id);
      if (rank <= last_rank) {
        return Error{Error::Kind::Malformed, "unexpected content after last section", section_at};
      }
      last_rank = rank;
    }
    size_t contents_at = r.offset();
    BinaryReader s(r.bytes(size), contents_at);
    if (!section(id, s) || !s.ok()) {
      std::string reason = s.error();
      // Reads are bounded by the section, so running out of bytes means the section ended.
      if (reason == "unexpected end") reason += " of section or function";
      return Error{kind_of(reason), reason, s.error_offset()};
    }
    if (!s.at_end()) {
      return Error{Error::Kind::Malformed, "section size mismatch", s.offset()};
    }
  }

  if (m_.codes.size() != m_.functions.size()) {
    return Error{Error::Kind::Malformed, "function and code section have inconsistent lengths",
                 code_count_at_.value_or(bytes_.size())};
  }
  if (!saw_data_ && m_.data_count && *m_.data_count != 0) {
    return Error{Error::Kind::Malformed, "data count and data section have inconsistent lengths",
                 bytes_.size()};
  }
  finish();
  return std::move(m_);
}

}  // namespace

bool decode_const_expr(BinaryReader& reader, ConstExpr& out) {
  out.instrs.clear();
  out.offset = static_cast<uint32_t>(reader.offset());
  if (!reader.ok()) return false;
  // InstrReader needs the bytes themselves: take the rest of the reader's input and give back
  // what the expression did not use.
  size_t start = reader.position();
  size_t base = reader.offset();
  std::span<const uint8_t> rest = reader.bytes(reader.remaining());
  reader.seek(start);

  InstrReader instrs(rest, base);
  Instr instr;
  // Non-constant instructions are kept for the validator to reject; a block among them opens a
  // nesting level whose `end` does not end the expression.
  uint32_t depth = 0;
  while (true) {
    if (!instrs.next(instr)) {
      if (instrs.ok()) {
        reader.fail_at(instrs.offset(), "unexpected end of section or function");
      } else {
        reader.fail_at(instrs.error_offset(), instrs.error());
      }
      return false;
    }
    ConstInstr ci;
    ci.op = instr.op;
    switch (instr.op) {
      case Opcode::End:
        if (depth == 0) {
          reader.seek(start + (instrs.offset() - base));
          return true;
        }
        --depth;
        break;
      case Opcode::Block:
      case Opcode::Loop:
      case Opcode::If:
      case Opcode::Try:
      case Opcode::TryTable: ++depth; break;
      case Opcode::I32Const:
      case Opcode::I64Const:
      case Opcode::F32Const:
      case Opcode::F64Const:
      case Opcode::RefNull: ci.imm = instr.value; break;
      default: ci.imm = instr.index; break;
    }
    out.instrs.push_back(ci);
  }
}

Result<Module> decode_module(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
  Decoder decoder(bytes, limits);
  return decoder.run();
}

}  // namespace rw::wasm
