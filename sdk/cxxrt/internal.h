// Internal declarations of rewind's C++ exception runtime for wasm32 (the guest side).
//
// Layout of a thrown exception (one allocation, 16-byte aligned):
//
//   [ __cxa_exception header (48 bytes) ][ thrown object ... ]
//                                        ^ pointer returned by __cxa_allocate_exception
//
// The payload of the __cpp_exception tag is the address of the header. A payload that does not
// point at a header with one of our magic values is a "foreign" exception (for instance a C guest
// that called __builtin_wasm_throw(0, p) directly): only catch (...) matches it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <typeinfo>

namespace __cxxabiv1 {

// Our own header; the name is the one <cxxabi.h> forward-declares.
struct alignas(16) __cxa_exception {
  uint64_t exception_class;  // kPrimaryClass or kDependentClass; read by the host too
  void* thrown_object;       // the object; for a dependent exception, the primary's object
  std::type_info* type;
  void* (*destructor)(void*);  // on wasm, destructors return `this`
  // Number of active catch handlers; negated while the exception is being rethrown.
  int32_t handler_count;
  // Owners of the primary exception object: 1 while thrown or caught, plus every exception_ptr
  // and every dependent exception. Unused in dependent exceptions.
  uint32_t reference_count;
  __cxa_exception* next_caught;  // the stack of currently caught exceptions
  void* adjusted_ptr;            // the object as seen by the matched handler (base class, pointer)
};

}  // namespace __cxxabiv1

namespace rewind_cxxrt {

using Header = __cxxabiv1::__cxa_exception;

static_assert(sizeof(Header) == 48 && alignof(Header) == 16,
              "the host reads this layout; see sdk/README.md");
static_assert(offsetof(Header, thrown_object) == 8 && offsetof(Header, type) == 12);

// "RWNDC++\0" and "RWNDC++\1", little-endian.
inline constexpr uint64_t kPrimaryClass = 0x002B2B43444E5752ull;
inline constexpr uint64_t kDependentClass = 0x012B2B43444E5752ull;
// Wrapper pushed on the caught stack while a foreign exception is being handled.
inline constexpr uint64_t kForeignClass = 0x022B2B43444E5752ull;

struct LandingPadContext {
  uint32_t lpad_index;
  const uint8_t* lsda;
  int32_t selector;
};

// Returns the header if `payload` is an exception thrown by this runtime (primary or dependent),
// nullptr otherwise. Never reads outside linear memory, so arbitrary payloads are safe.
Header* own_exception(void* payload) noexcept;

// Returns true, and the object pointer adjusted for the handler, if a handler for `catch_type`
// catches an exception of `thrown_type` located at `object`.
bool can_catch(const std::type_info* catch_type, const std::type_info* thrown_type, void* object,
               void** adjusted) noexcept;

// Drops one reference to a primary exception; destroys and frees it at zero.
void release_primary(Header* primary) noexcept;

// Accounts for an exception that left the module without being caught, so that the runtime's
// bookkeeping (uncaught count, references) is as if a handler had caught and finished it.
void release_escaped(Header* header) noexcept;

// A human-readable message for a primary exception: what() for std::exception, the string for
// thrown C strings and std::string, else a generic text naming the type. The result stays valid
// until the exception is destroyed or the next call.
const char* describe(Header* primary) noexcept;

}  // namespace rewind_cxxrt

extern "C" rewind_cxxrt::LandingPadContext __wasm_lpad_context;

// Records a printf-style message in rewind_abort_message and traps (abort.cpp).
extern "C" [[noreturn]] void __abort_message(const char* format, ...);
