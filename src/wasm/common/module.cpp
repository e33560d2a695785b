#include "wasm/common/module.h"

namespace rw::wasm {
namespace {

// Returns the n-th import of the given kind.
const Import& nth_import(const Module& m, ExternKind kind, uint32_t n) {
  const auto& positions = m.import_positions[static_cast<size_t>(kind)];
  if (n < positions.size()) return m.imports[positions[n]];
  for (const Import& imp : m.imports) {
    if (imp.kind != kind) continue;
    if (n == 0) return imp;
    --n;
  }
  static const Import kNone;
  return kNone;
}

}  // namespace

uint32_t Module::func_type_index(uint32_t i) const {
  if (i < num_imported_funcs) return nth_import(*this, ExternKind::Func, i).type_index;
  return functions[i - num_imported_funcs];
}

TableType Module::table_type(uint32_t i) const {
  if (i < num_imported_tables) return nth_import(*this, ExternKind::Table, i).table;
  return tables[i - num_imported_tables];
}

MemoryType Module::memory_type(uint32_t i) const {
  if (i < num_imported_memories) return nth_import(*this, ExternKind::Memory, i).memory;
  return memories[i - num_imported_memories];
}

GlobalType Module::global_type(uint32_t i) const {
  if (i < num_imported_globals) return nth_import(*this, ExternKind::Global, i).global;
  return globals[i - num_imported_globals].type;
}

uint32_t Module::tag_type_index(uint32_t i) const {
  if (i < num_imported_tags) return nth_import(*this, ExternKind::Tag, i).type_index;
  return tags[i - num_imported_tags];
}

std::string Module::function_name(uint32_t func_index) const {
  auto it = names.functions.find(func_index);
  return it == names.functions.end() ? std::string() : it->second;
}

}  // namespace rw::wasm
