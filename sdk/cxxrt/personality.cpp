// The personality for WebAssembly exceptions. Every landing pad that catches typed exceptions
// stores its call-site index and its function's LSDA in __wasm_lpad_context, then calls
// _Unwind_CallPersonality with the caught payload and branches on the selector we leave behind:
// the matching catch clause's type index, or 0 when nothing matches (the pad then rethrows).
// WebAssembly unwinds in a single phase, so there is no search/cleanup split.
//
// The LSDA is the usual gcc_except_table (Itanium ABI / LSB "Exception Frames"): header,
// call-site table, action table, type table. On wasm the call-site table is not indexed by
// address: entry i belongs to landing pad i, and each entry is (landing pad, action) as ULEB128.
#include <cstring>

#include "internal.h"

using namespace rewind_cxxrt;

namespace {

// DWARF exception-header pointer encodings.
constexpr uint8_t kEncodingOmit = 0xff;
constexpr uint8_t kEncodingAbsPtr = 0x00;
constexpr uint8_t kEncodingUleb128 = 0x01;
constexpr uint8_t kEncodingUdata2 = 0x02;
constexpr uint8_t kEncodingUdata4 = 0x03;
constexpr uint8_t kEncodingUdata8 = 0x04;
constexpr uint8_t kEncodingSleb128 = 0x09;
constexpr uint8_t kEncodingSdata2 = 0x0a;
constexpr uint8_t kEncodingSdata4 = 0x0b;
constexpr uint8_t kEncodingSdata8 = 0x0c;

enum ReasonCode : int { kHandlerFound = 6, kContinueUnwind = 8 };

uintptr_t read_uleb128(const uint8_t*& p) {
  uintptr_t result = 0;
  unsigned shift = 0;
  uint8_t byte;
  do {
    byte = *p++;
    if (shift < sizeof(uintptr_t) * 8) result |= uintptr_t(byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  return result;
}

intptr_t read_sleb128(const uint8_t*& p) {
  uintptr_t result = 0;
  unsigned shift = 0;
  uint8_t byte;
  do {
    byte = *p++;
    if (shift < sizeof(uintptr_t) * 8) result |= uintptr_t(byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  if ((byte & 0x40) && shift < sizeof(uintptr_t) * 8) result |= ~uintptr_t{0} << shift;
  return static_cast<intptr_t>(result);
}

template <typename T>
T read_raw(const uint8_t*& p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  p += sizeof(T);
  return value;
}

// Only the value formats matter on wasm: the compiler emits absolute pointers (no pc-relative,
// text-relative or indirect application), since there is no addressable code.
uintptr_t read_encoded(const uint8_t*& p, uint8_t encoding) {
  switch (encoding & 0x0f) {
    case kEncodingAbsPtr: return read_raw<uintptr_t>(p);
    case kEncodingUleb128: return read_uleb128(p);
    case kEncodingUdata2: return read_raw<uint16_t>(p);
    case kEncodingUdata4: return read_raw<uint32_t>(p);
    case kEncodingUdata8: return static_cast<uintptr_t>(read_raw<uint64_t>(p));
    case kEncodingSleb128: return static_cast<uintptr_t>(read_sleb128(p));
    case kEncodingSdata2: return static_cast<uintptr_t>(read_raw<int16_t>(p));
    case kEncodingSdata4: return static_cast<uintptr_t>(read_raw<int32_t>(p));
    case kEncodingSdata8: return static_cast<uintptr_t>(read_raw<int64_t>(p));
    default: __builtin_trap();  // a corrupt LSDA; nothing sensible can be done
  }
}

size_t encoded_size(uint8_t encoding) {
  switch (encoding & 0x0f) {
    case kEncodingAbsPtr: return sizeof(uintptr_t);
    case kEncodingUdata2:
    case kEncodingSdata2: return 2;
    case kEncodingUdata4:
    case kEncodingSdata4: return 4;
    case kEncodingUdata8:
    case kEncodingSdata8: return 8;
    default: __builtin_trap();  // type tables need fixed-size entries
  }
}

struct TypeTable {
  const uint8_t* base = nullptr;  // entries are indexed backwards from here
  uint8_t encoding = kEncodingOmit;

  const std::type_info* entry(intptr_t index) const {
    const uint8_t* p = base - static_cast<size_t>(index) * encoded_size(encoding);
    return reinterpret_cast<const std::type_info*>(read_encoded(p, encoding));
  }
};

// An exception specification (`throw(A, B)`) matches, i.e. its handler runs, when the exception
// is of none of the listed types. A foreign exception never matches a listed type.
bool violates_exception_spec(const TypeTable& types, intptr_t filter, const Header* header) {
  const uint8_t* list = types.base + (-filter - 1);
  for (uintptr_t index = read_uleb128(list); index != 0; index = read_uleb128(list)) {
    const std::type_info* allowed = types.entry(static_cast<intptr_t>(index));
    void* ignored;
    if (header != nullptr && can_catch(allowed, header->type, header->thrown_object, &ignored)) {
      return false;
    }
  }
  return true;
}

int personality(void* payload, LandingPadContext& context) {
  context.selector = 0;
  const uint8_t* p = context.lsda;
  if (p == nullptr) return kContinueUnwind;

  uint8_t lp_start_encoding = *p++;
  if (lp_start_encoding != kEncodingOmit) read_encoded(p, lp_start_encoding);
  TypeTable types;
  types.encoding = *p++;
  if (types.encoding != kEncodingOmit) {
    uintptr_t offset = read_uleb128(p);
    types.base = p + offset;
  }
  uint8_t call_site_encoding = *p++;
  uintptr_t call_site_table_length = read_uleb128(p);
  const uint8_t* action_table = p + call_site_table_length;

  uintptr_t action_entry = 0;
  bool found = false;
  for (uint32_t index = 0; p < action_table; ++index) {
    read_encoded(p, call_site_encoding);  // landing pad: implied by the index on wasm
    uintptr_t action = read_uleb128(p);
    if (index == context.lpad_index) {
      action_entry = action;
      found = true;
      break;
    }
  }
  // No entry, or a cleanup-only pad: nothing here catches.
  if (!found || action_entry == 0) return kContinueUnwind;

  Header* header = own_exception(payload);
  const uint8_t* action = action_table + action_entry - 1;
  for (;;) {
    intptr_t type_index = read_sleb128(action);
    const uint8_t* next_field = action;
    intptr_t next_offset = read_sleb128(action);

    if (type_index > 0) {
      const std::type_info* catch_type = types.entry(type_index);
      if (catch_type == nullptr) {  // catch (...)
        if (header != nullptr) header->adjusted_ptr = header->thrown_object;
        context.selector = static_cast<int32_t>(type_index);
        return kHandlerFound;
      }
      void* adjusted;
      if (header != nullptr &&
          can_catch(catch_type, header->type, header->thrown_object, &adjusted)) {
        header->adjusted_ptr = adjusted;
        context.selector = static_cast<int32_t>(type_index);
        return kHandlerFound;
      }
    } else if (type_index < 0) {
      if (violates_exception_spec(types, type_index, header)) {
        if (header != nullptr) header->adjusted_ptr = header->thrown_object;
        context.selector = static_cast<int32_t>(type_index);
        return kHandlerFound;
      }
    }
    // type_index == 0 is a cleanup; the pad's own code runs it, so just keep looking.
    if (next_offset == 0) return kContinueUnwind;
    action = next_field + next_offset;
  }
}

}  // namespace

extern "C" int _Unwind_CallPersonality(void* payload) {
  return personality(payload, __wasm_lpad_context);
}
