#pragma once
// The decoded form of a module: what the decoder produces, the validator checks and the
// interpreter instantiates. Function bodies stay as byte ranges of the original binary; the
// validator and the compiler each read them with CodeReader.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rewind/types.h"
#include "wasm/common/opcodes.h"

namespace rw::wasm {

// A constant expression (global initialisers, segment offsets, element items). Only the
// constant instructions appear here; `end` is implicit.
struct ConstInstr {
  Opcode op = Opcode::I32Const;
  uint64_t imm = 0;  // i32/i64 value (sign-extended), f32/f64 bits, ValType for ref.null,
                     // function index for ref.func, global index for global.get
};
struct ConstExpr {
  std::vector<ConstInstr> instrs;
  uint32_t offset = 0;  // where the expression starts in the binary, for error messages
};

struct Import {
  std::string module;
  std::string name;
  ExternKind kind = ExternKind::Func;
  uint32_t type_index = 0;  // Func and Tag: index into Module::types
  TableType table;
  MemoryType memory;
  GlobalType global;
};

struct Export {
  std::string name;
  ExternKind kind = ExternKind::Func;
  uint32_t index = 0;
};

struct Global {
  GlobalType type;
  ConstExpr init;
};

enum class SegmentMode : uint8_t { Active, Passive, Declarative };

struct ElemSegment {
  SegmentMode mode = SegmentMode::Active;
  uint32_t table = 0;
  ConstExpr offset;              // Active only
  ValType type = ValType::FuncRef;
  std::vector<ConstExpr> items;  // function-index forms are turned into ref.func expressions
};

struct DataSegment {
  SegmentMode mode = SegmentMode::Active;
  uint32_t memory = 0;
  ConstExpr offset;  // Active only
  std::vector<uint8_t> bytes;
};

struct LocalRun {
  uint32_t count = 0;
  ValType type = ValType::I32;
};

struct FunctionBody {
  std::vector<LocalRun> locals;  // as encoded; the total is bounded by the decoder
  uint32_t local_count = 0;      // sum of the runs (parameters not included)
  uint32_t code_begin = 0;       // offset in Module::bytes of the first instruction
  uint32_t code_end = 0;         // offset one past the final `end`
  uint32_t body_offset = 0;      // offset of the body's size field, for error messages
};

struct CustomSection {
  std::string name;
  uint32_t offset = 0;  // of the contents (after the name)
  uint32_t size = 0;
};

// Contents of the `name` custom section; missing entries simply have no name.
struct NameSection {
  std::string module_name;
  std::unordered_map<uint32_t, std::string> functions;
  std::unordered_map<uint32_t, std::unordered_map<uint32_t, std::string>> locals;
  std::unordered_map<uint32_t, std::string> globals;
};

// Features a module uses beyond the MVP, reported by `rewind inspect`.
struct FeatureSet {
  bool multi_value = false;
  bool reference_types = false;
  bool bulk_memory = false;
  bool sign_extension = false;
  bool saturating_float_to_int = false;
  bool mutable_globals = false;
  bool multiple_tables = false;
  bool exceptions_legacy = false;
  bool exceptions_exnref = false;
  bool tail_calls = false;
};

struct Module {
  std::vector<uint8_t> bytes;  // the original binary; function bodies point into it

  std::vector<FuncType> types;
  std::vector<Import> imports;
  std::vector<uint32_t> functions;  // type index of each defined (non-imported) function
  std::vector<TableType> tables;    // defined tables
  std::vector<MemoryType> memories; // defined memories
  std::vector<Global> globals;      // defined globals
  std::vector<uint32_t> tags;       // type index of each defined tag
  std::vector<Export> exports;
  std::optional<uint32_t> start;
  std::vector<ElemSegment> elems;
  std::optional<uint32_t> data_count;
  std::vector<FunctionBody> codes;  // parallel to `functions`
  std::vector<DataSegment> datas;
  std::vector<CustomSection> customs;
  NameSection names;
  FeatureSet features;

  // Counts of imported entities; the index spaces put imports first.
  uint32_t num_imported_funcs = 0;
  uint32_t num_imported_tables = 0;
  uint32_t num_imported_memories = 0;
  uint32_t num_imported_globals = 0;
  uint32_t num_imported_tags = 0;
  // For each kind, the positions in `imports` of that kind's imports, in order; filled by the
  // decoder (and by anything else that builds a Module) so index lookups are O(1).
  std::vector<uint32_t> import_positions[5];

  uint32_t total_funcs() const { return num_imported_funcs + static_cast<uint32_t>(functions.size()); }
  uint32_t total_tables() const { return num_imported_tables + static_cast<uint32_t>(tables.size()); }
  uint32_t total_memories() const { return num_imported_memories + static_cast<uint32_t>(memories.size()); }
  uint32_t total_globals() const { return num_imported_globals + static_cast<uint32_t>(globals.size()); }
  uint32_t total_tags() const { return num_imported_tags + static_cast<uint32_t>(tags.size()); }

  // Index-space lookups across imports and definitions. Callers pass in-range indices.
  uint32_t func_type_index(uint32_t func_index) const;
  const FuncType& func_type(uint32_t func_index) const { return types[func_type_index(func_index)]; }
  TableType table_type(uint32_t table_index) const;
  MemoryType memory_type(uint32_t memory_index) const;
  GlobalType global_type(uint32_t global_index) const;
  uint32_t tag_type_index(uint32_t tag_index) const;

  // Name from the name section, or "" when there is none.
  std::string function_name(uint32_t func_index) const;
};

}  // namespace rw::wasm
