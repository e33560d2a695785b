#include <cstdio>
#include <string>

#include "rewind/engine.h"
#include "rewind/error.h"
#include "rewind/types.h"

namespace rw {

const char* to_string(ValType t) {
  switch (t) {
    case ValType::I32: return "i32";
    case ValType::I64: return "i64";
    case ValType::F32: return "f32";
    case ValType::F64: return "f64";
    case ValType::V128: return "v128";
    case ValType::FuncRef: return "funcref";
    case ValType::ExternRef: return "externref";
    case ValType::ExnRef: return "exnref";
  }
  return "?";
}

std::string to_string(const FuncType& t) {
  auto list = [](const std::vector<ValType>& v) {
    std::string s = "(";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) s += ", ";
      s += to_string(v[i]);
    }
    return s + ")";
  };
  return list(t.params) + " -> " + list(t.results);
}

const char* to_string(ExternKind k) {
  switch (k) {
    case ExternKind::Func: return "func";
    case ExternKind::Table: return "table";
    case ExternKind::Memory: return "memory";
    case ExternKind::Global: return "global";
    case ExternKind::Tag: return "tag";
  }
  return "?";
}

std::string to_string(const Value& v) {
  char buf[64];
  switch (v.type) {
    case ValType::I32: std::snprintf(buf, sizeof buf, "i32:%d", v.as_i32()); break;
    case ValType::I64: std::snprintf(buf, sizeof buf, "i64:%lld", static_cast<long long>(v.as_i64())); break;
    case ValType::F32: std::snprintf(buf, sizeof buf, "f32:%.9g", static_cast<double>(v.as_f32())); break;
    case ValType::F64: std::snprintf(buf, sizeof buf, "f64:%.17g", v.as_f64()); break;
    default:
      if (v.is_null()) std::snprintf(buf, sizeof buf, "%s:null", to_string(v.type));
      else std::snprintf(buf, sizeof buf, "%s:%p", to_string(v.type), v.ref);
  }
  return buf;
}

std::string Error::to_string() const {
  const char* kind_name = "error";
  switch (kind) {
    case Kind::Malformed: kind_name = "malformed"; break;
    case Kind::Invalid: kind_name = "invalid"; break;
    case Kind::Unsupported: kind_name = "unsupported"; break;
    case Kind::Unlinkable: kind_name = "unlinkable"; break;
    case Kind::Uninstantiable: kind_name = "uninstantiable"; break;
    case Kind::Other: break;
  }
  std::string s = kind_name;
  if (offset != kNoOffset) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " at offset 0x%zx", offset);
    s += buf;
  }
  return s + ": " + message;
}

const char* to_string(TrapKind kind) {
  switch (kind) {
    case TrapKind::Unreachable: return "unreachable";
    case TrapKind::MemoryOutOfBounds: return "memory_out_of_bounds";
    case TrapKind::TableOutOfBounds: return "table_out_of_bounds";
    case TrapKind::IndirectCallNull: return "indirect_call_null";
    case TrapKind::IndirectCallSignature: return "indirect_call_signature";
    case TrapKind::IntegerDivideByZero: return "integer_divide_by_zero";
    case TrapKind::IntegerOverflow: return "integer_overflow";
    case TrapKind::InvalidConversion: return "invalid_conversion";
    case TrapKind::StackOverflow: return "stack_overflow";
    case TrapKind::OutOfMemory: return "out_of_memory";
    case TrapKind::CpuLimit: return "cpu_limit";
    case TrapKind::GuestAbort: return "guest_abort";
    case TrapKind::HostAbort: return "host_abort";
    case TrapKind::NullReference: return "null_reference";
  }
  return "?";
}

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::Ok: return "ok";
    case Outcome::Panic: return "panic";
    case Outcome::HostError: return "host_error";
    case Outcome::Abort: return "abort";
    case Outcome::Terminated: return "terminated";
  }
  return "?";
}

}  // namespace rw
