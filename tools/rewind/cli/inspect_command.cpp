#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <ostream>

#include "cli/commands.h"
#include "wasm/common/module.h"
#include "wasm/common/reader.h"
#include "wasm/validator/validator.h"

namespace rw::cli {
namespace {

const char* section_name(uint8_t id) {
  static const char* const kNames[] = {"custom", "type",   "import",    "function", "table",
                                       "memory", "global", "export",    "start",    "element",
                                       "code",   "data",   "datacount", "tag"};
  return id < std::size(kNames) ? kNames[id] : "unknown";
}

std::string limits_text(const Limits& limits) {
  if (limits.max) return fmt::format("min {} max {}", limits.min, *limits.max);
  return fmt::format("min {}", limits.min);
}

std::string global_text(const GlobalType& type) {
  return fmt::format("{}{}", type.is_mutable ? "mut " : "", to_string(type.type));
}

std::string feature_list(const wasm::FeatureSet& f) {
  std::vector<const char*> names;
  if (f.multi_value) names.push_back("multi_value");
  if (f.reference_types) names.push_back("reference_types");
  if (f.bulk_memory) names.push_back("bulk_memory");
  if (f.sign_extension) names.push_back("sign_extension");
  if (f.saturating_float_to_int) names.push_back("saturating_float_to_int");
  if (f.mutable_globals) names.push_back("mutable_globals");
  if (f.multiple_tables) names.push_back("multiple_tables");
  if (f.exceptions_legacy) names.push_back("exceptions_legacy");
  if (f.exceptions_exnref) names.push_back("exceptions_exnref");
  if (f.tail_calls) names.push_back("tail_calls");
  if (names.empty()) return "none (MVP)";
  std::string out;
  for (const char* name : names) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

// Type text of entity `index` of kind `kind` in the module's index spaces.
std::string entity_type(const wasm::Module& m, ExternKind kind, uint32_t index) {
  switch (kind) {
    case ExternKind::Func:
      if (index < m.total_funcs()) return to_string(m.func_type(index));
      break;
    case ExternKind::Table:
      if (index < m.total_tables()) {
        TableType t = m.table_type(index);
        return fmt::format("{} {}", to_string(t.element), limits_text(t.limits));
      }
      break;
    case ExternKind::Memory:
      if (index < m.total_memories()) return "pages " + limits_text(m.memory_type(index).limits);
      break;
    case ExternKind::Global:
      if (index < m.total_globals()) return global_text(m.global_type(index));
      break;
    case ExternKind::Tag:
      if (index < m.total_tags()) {
        uint32_t type = m.tag_type_index(index);
        if (type < m.types.size()) return to_string(m.types[type]);
      }
      break;
  }
  return "?";
}

struct SectionInfo {
  uint8_t id;
  size_t offset;  // of the section id byte
  size_t size;    // of the contents
  std::string custom_name;
};

std::vector<SectionInfo> list_sections(const std::vector<uint8_t>& bytes) {
  std::vector<SectionInfo> sections;
  if (bytes.size() < 8) return sections;
  wasm::BinaryReader reader(std::span<const uint8_t>(bytes).subspan(8), 8);
  while (reader.ok() && !reader.at_end()) {
    SectionInfo info;
    info.offset = reader.offset();
    info.id = reader.u8();
    info.size = reader.u32_leb();
    if (!reader.ok() || info.size > reader.remaining()) break;
    size_t contents = reader.position();
    if (info.id == 0) {
      info.custom_name = reader.name();
      if (!reader.ok()) break;
    }
    reader.seek(contents + info.size);
    sections.push_back(std::move(info));
  }
  return sections;
}

}  // namespace

std::shared_ptr<const Module> load_module(const std::string& path, std::ostream& err) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    err << "rewind: " << path << ": cannot read: " << std::strerror(errno) << "\n";
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    err << "rewind: " << path << ": not a regular file\n";
    return nullptr;
  }
  auto module = Module::from_file(path);
  if (!module.ok()) {
    err << "rewind: " << path << ": " << module.error().to_string() << "\n";
    return nullptr;
  }
  return std::move(module).value();
}

int inspect_command(const std::string& path, bool verbose, std::ostream& out, std::ostream& err) {
  auto module = load_module(path, err);
  if (!module) return kExitFailure;
  const wasm::Module& m = module->ir();

  out << fmt::format("module: {} ({} bytes of binary)\n", path, m.bytes.size());
  if (!m.names.module_name.empty()) out << fmt::format("name: {}\n", m.names.module_name);

  out << "sections:\n";
  for (const SectionInfo& s : list_sections(m.bytes)) {
    std::string label =
        s.id == 0 ? fmt::format("custom \"{}\"", s.custom_name) : section_name(s.id);
    out << fmt::format("  {:<24} at 0x{:06x}  {:>9} bytes\n", label, s.offset, s.size);
  }

  out << fmt::format("imports ({}):\n", m.imports.size());
  for (size_t i = 0; i < m.imports.size(); ++i) {
    const wasm::Import& imp = m.imports[i];
    std::string type;
    switch (imp.kind) {
      case ExternKind::Func:
      case ExternKind::Tag:
        type = imp.type_index < m.types.size() ? to_string(m.types[imp.type_index]) : "?";
        break;
      case ExternKind::Table:
        type = fmt::format("{} {}", to_string(imp.table.element), limits_text(imp.table.limits));
        break;
      case ExternKind::Memory: type = "pages " + limits_text(imp.memory.limits); break;
      case ExternKind::Global: type = global_text(imp.global); break;
    }
    out << fmt::format("  {:<6} {}.{}: {}\n", to_string(imp.kind), imp.module, imp.name, type);
  }

  out << fmt::format("exports ({}):\n", m.exports.size());
  for (const wasm::Export& exp : m.exports) {
    out << fmt::format("  {:<6} {}: {}  [{} {}]\n", to_string(exp.kind), exp.name,
                       entity_type(m, exp.kind, exp.index), to_string(exp.kind), exp.index);
  }
  if (m.start) out << fmt::format("start: func {}\n", *m.start);

  out << "features: " << feature_list(wasm::features_with_instructions(m)) << "\n";

  uint64_t body_bytes = 0;
  uint32_t largest = 0, largest_index = 0;
  for (size_t i = 0; i < m.codes.size(); ++i) {
    uint32_t size = m.codes[i].code_end - m.codes[i].code_begin;
    body_bytes += size;
    if (size > largest) {
      largest = size;
      largest_index = m.num_imported_funcs + static_cast<uint32_t>(i);
    }
  }
  out << fmt::format("functions: {} defined, {} imported; {} types\n", m.functions.size(),
                     m.num_imported_funcs, m.types.size());
  out << fmt::format("code: {} bytes of instructions", body_bytes);
  if (largest) {
    std::string name = m.function_name(largest_index);
    out << fmt::format("; largest function {}{} ({} bytes)", largest_index,
                       name.empty() ? "" : " " + name, largest);
  }
  out << "\n";
  uint64_t data_bytes = 0;
  for (const auto& d : m.datas) data_bytes += d.bytes.size();
  out << fmt::format("tables: {}, memories: {}, globals: {}, tags: {} (defined)\n", m.tables.size(),
                     m.memories.size(), m.globals.size(), m.tags.size());
  out << fmt::format("data segments: {} ({} bytes), element segments: {}\n", m.datas.size(),
                     data_bytes, m.elems.size());

  out << fmt::format("custom sections ({}):\n", m.customs.size());
  for (const auto& c : m.customs)
    out << fmt::format("  \"{}\" at 0x{:06x}, {} bytes\n", c.name, c.offset, c.size);

  // Names, sorted by index; by default only the first few, since toolchains name every function.
  std::map<uint32_t, std::string> names(m.names.functions.begin(), m.names.functions.end());
  out << fmt::format("names: {} functions, {} globals named\n", names.size(),
                     m.names.globals.size());
  constexpr size_t kShown = 10;
  size_t shown = 0;
  for (const auto& [index, name] : names) {
    if (!verbose && shown == kShown) {
      out << fmt::format("  ... {} more (-v to list all)\n", names.size() - kShown);
      break;
    }
    out << fmt::format("  func {}: {}\n", index, name);
    ++shown;
  }
  return kExitOk;
}

}  // namespace rw::cli
