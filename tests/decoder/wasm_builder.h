#pragma once
// Hand assembly of WebAssembly binaries for the decoder and validator tests.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace rw::wasm::test {

using Bytes = std::vector<uint8_t>;

inline void append_uleb(Bytes& out, uint64_t v) {
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(b);
  } while (v);
}

inline void append_sleb(Bytes& out, int64_t v) {
  while (true) {
    uint8_t b = v & 0x7F;
    v >>= 7;
    bool done = (v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40));
    if (!done) b |= 0x80;
    out.push_back(b);
    if (done) return;
  }
}

inline Bytes uleb(uint64_t v) {
  Bytes b;
  append_uleb(b, v);
  return b;
}
inline Bytes sleb(int64_t v) {
  Bytes b;
  append_sleb(b, v);
  return b;
}

inline Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A length-prefixed vector of already encoded items.
inline Bytes vec(const std::vector<Bytes>& items) {
  Bytes out = uleb(items.size());
  for (const Bytes& i : items) out.insert(out.end(), i.begin(), i.end());
  return out;
}

inline Bytes str(std::string_view s) {
  Bytes out = uleb(s.size());
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

inline Bytes section(uint8_t id, const Bytes& contents) {
  Bytes out{id};
  append_uleb(out, contents.size());
  out.insert(out.end(), contents.begin(), contents.end());
  return out;
}

inline Bytes header() { return {0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00}; }

inline Bytes module_of(std::initializer_list<Bytes> sections) {
  Bytes out = header();
  for (const Bytes& s : sections) out.insert(out.end(), s.begin(), s.end());
  return out;
}

// Value type bytes.
constexpr uint8_t I32 = 0x7F, I64 = 0x7E, F32 = 0x7D, F64 = 0x7C, V128 = 0x7B, FUNCREF = 0x70,
                  EXTERNREF = 0x6F, EXNREF = 0x69;

inline Bytes functype(const Bytes& params, const Bytes& results) {
  Bytes out{0x60};
  append_uleb(out, params.size());
  out.insert(out.end(), params.begin(), params.end());
  append_uleb(out, results.size());
  out.insert(out.end(), results.begin(), results.end());
  return out;
}

// A function body: `locals` is the encoded local declarations (vec of runs); `code` the
// instructions including the final `end`.
inline Bytes body(const Bytes& locals, const Bytes& code) {
  Bytes contents = cat({locals, code});
  return cat({uleb(contents.size()), contents});
}

// A whole module described entry by entry; build() emits the sections in the required order,
// leaving out the empty ones.
struct ModuleSpec {
  std::vector<Bytes> types;     // functype(...)
  std::vector<Bytes> imports;   // str(module) str(name) kind desc
  std::vector<uint32_t> funcs;  // type index per defined function
  std::vector<Bytes> tables;    // reftype limits
  std::vector<Bytes> memories;  // limits
  std::vector<Bytes> tags;      // 0x00 typeidx
  std::vector<Bytes> globals;   // valtype mut expr
  std::vector<Bytes> exports;   // str(name) kind index
  std::optional<uint32_t> start;
  std::vector<Bytes> elems;
  std::optional<uint32_t> data_count;
  std::vector<Bytes> bodies;  // body(...)
  std::vector<Bytes> datas;
  std::vector<Bytes> customs;  // full custom sections: section(0, ...)

  Bytes build() const {
    Bytes out = header();
    auto add = [&](uint8_t id, const Bytes& contents) {
      Bytes s = section(id, contents);
      out.insert(out.end(), s.begin(), s.end());
    };
    if (!types.empty()) add(1, vec(types));
    if (!imports.empty()) add(2, vec(imports));
    if (!funcs.empty()) {
      std::vector<Bytes> f;
      for (uint32_t t : funcs) f.push_back(uleb(t));
      add(3, vec(f));
    }
    if (!tables.empty()) add(4, vec(tables));
    if (!memories.empty()) add(5, vec(memories));
    if (!tags.empty()) add(13, vec(tags));
    if (!globals.empty()) add(6, vec(globals));
    if (!exports.empty()) add(7, vec(exports));
    if (start) add(8, uleb(*start));
    if (!elems.empty()) add(9, vec(elems));
    if (data_count) add(12, uleb(*data_count));
    if (!bodies.empty()) add(10, vec(bodies));
    if (!datas.empty()) add(11, vec(datas));
    for (const Bytes& c : customs) out.insert(out.end(), c.begin(), c.end());
    return out;
  }
};

// A module with one function of type params -> results whose body is `code` (which must end with
// 0x0b), plus whatever `extra` adds.
inline ModuleSpec single_function(const Bytes& params, const Bytes& results, const Bytes& code,
                                  const Bytes& locals = {0x00}) {
  ModuleSpec m;
  m.types.push_back(functype(params, results));
  m.funcs.push_back(0);
  m.bodies.push_back(body(locals, code));
  return m;
}

}  // namespace rw::wasm::test
