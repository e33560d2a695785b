#pragma once
// Value types, function types and values shared by the engine and its embedders.

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace rw {

// Binary encodings of the value types rewind understands.
enum class ValType : uint8_t {
  I32 = 0x7F,
  I64 = 0x7E,
  F32 = 0x7D,
  F64 = 0x7C,
  V128 = 0x7B,  // decoded only to reject SIMD with a clear error
  FuncRef = 0x70,
  ExternRef = 0x6F,
  ExnRef = 0x69,
};

inline bool is_reference(ValType t) {
  return t == ValType::FuncRef || t == ValType::ExternRef || t == ValType::ExnRef;
}
inline bool is_numeric(ValType t) {
  return t == ValType::I32 || t == ValType::I64 || t == ValType::F32 || t == ValType::F64;
}
const char* to_string(ValType t);  // "i32", "funcref", ...

struct FuncType {
  std::vector<ValType> params;
  std::vector<ValType> results;
  bool operator==(const FuncType&) const = default;
};
std::string to_string(const FuncType& t);  // "(i32, i64) -> (f32)"

struct Limits {
  uint64_t min = 0;
  std::optional<uint64_t> max;
  bool operator==(const Limits&) const = default;
};

struct TableType {
  ValType element = ValType::FuncRef;
  Limits limits;
  bool operator==(const TableType&) const = default;
};

struct MemoryType {
  Limits limits;  // in 64 KiB pages
  bool operator==(const MemoryType&) const = default;
};

struct GlobalType {
  ValType type = ValType::I32;
  bool is_mutable = false;
  bool operator==(const GlobalType&) const = default;
};

enum class ExternKind : uint8_t { Func = 0, Table = 1, Memory = 2, Global = 3, Tag = 4 };
const char* to_string(ExternKind k);

constexpr uint32_t kPageSize = 65536;
constexpr uint32_t kMaxPages = 65536;  // 4 GiB for 32-bit memories

// A reference value. For funcref it points at an engine function object, for exnref at an engine
// exception object, for externref it is whatever the host put there. nullptr is the null reference.
using RefPtr = void*;

// One WebAssembly value. Floats are held as bits so NaN payloads survive every round trip.
struct Value {
  ValType type = ValType::I32;
  union {
    uint32_t i32;
    uint64_t i64;
    uint32_t f32_bits;
    uint64_t f64_bits;
    RefPtr ref;
  };

  Value() : i64(0) {}
  static Value make_i32(int32_t v) { Value r; r.type = ValType::I32; r.i64 = 0; r.i32 = static_cast<uint32_t>(v); return r; }
  static Value make_i64(int64_t v) { Value r; r.type = ValType::I64; r.i64 = static_cast<uint64_t>(v); return r; }
  static Value make_f32(float v) { uint32_t b; std::memcpy(&b, &v, 4); return make_f32_bits(b); }
  static Value make_f64(double v) { uint64_t b; std::memcpy(&b, &v, 8); return make_f64_bits(b); }
  static Value make_f32_bits(uint32_t b) { Value r; r.type = ValType::F32; r.i64 = 0; r.f32_bits = b; return r; }
  static Value make_f64_bits(uint64_t b) { Value r; r.type = ValType::F64; r.f64_bits = b; return r; }
  static Value make_ref(ValType t, RefPtr p) { Value r; r.type = t; r.i64 = 0; r.ref = p; return r; }
  static Value make_null(ValType t) { return make_ref(t, nullptr); }
  static Value make_externref(RefPtr p) { return make_ref(ValType::ExternRef, p); }
  static Value zero(ValType t) { Value r; r.type = t; r.i64 = 0; return r; }

  int32_t as_i32() const { return static_cast<int32_t>(i32); }
  int64_t as_i64() const { return static_cast<int64_t>(i64); }
  float as_f32() const { float f; std::memcpy(&f, &f32_bits, 4); return f; }
  double as_f64() const { double d; std::memcpy(&d, &f64_bits, 8); return d; }
  bool is_null() const { return ref == nullptr; }
};
std::string to_string(const Value& v);  // "i32:42", "f64:1.5", "funcref:null"

}  // namespace rw
