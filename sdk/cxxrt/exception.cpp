// Allocation, throwing, catching and reference counting of C++ exceptions (Itanium C++ ABI
// section 2.4-2.5, with the WebAssembly twist that throwing is a single `throw` instruction of
// the __cpp_exception tag and there is no separate search phase).
#include <cxxabi.h>

#include <cstdlib>
#include <cstring>
#include <exception>

#include "internal.h"

using namespace rewind_cxxrt;

namespace {

// The module is single-threaded (wasm32-wasi without threads), so plain globals suffice.
Header* caught_exceptions = nullptr;
unsigned uncaught_exceptions = 0;
// The exception most recently thrown and not yet caught or freed. Only for the terminate
// message: a terminate pad reached through catch_all does not get the payload.
Header* last_thrown = nullptr;

Header* header_of(void* object) { return static_cast<Header*>(object) - 1; }

Header* primary_of(Header* header) {
  return header->exception_class == kDependentClass ? header_of(header->thrown_object) : header;
}

[[noreturn]] void throw_payload(void* payload) { __builtin_wasm_throw(0, payload); }

void* allocate_zeroed(size_t size) {
  size_t rounded = (size + 15) & ~size_t{15};
  if (rounded < size) std::terminate();
  void* memory = std::aligned_alloc(16, rounded);
  // There is no emergency pool: running out of memory while throwing is fatal, as it is for
  // any other allocation in a module built with Debian's libc++.
  if (memory == nullptr) std::terminate();
  std::memset(memory, 0, rounded);
  return memory;
}

// std::terminate's default handler in Debian's libc++abi is a silent abort(). Ours records why,
// naming the exception being handled if there is one, so the host can report it.
[[noreturn]] void report_terminate() {
  Header* header = caught_exceptions;
  if (header == nullptr && last_thrown != nullptr) header = last_thrown;
  if (header == nullptr) __abort_message("terminate called");
  if (header->exception_class == kForeignClass) {
    __abort_message("terminate called while handling a foreign exception");
  }
  __abort_message("terminate called after throwing an exception: %s", describe(primary_of(header)));
}

struct InstallTerminateHandler {
  InstallTerminateHandler() { std::set_terminate(report_terminate); }
} install_terminate_handler;

}  // namespace

namespace rewind_cxxrt {

Header* own_exception(void* payload) noexcept {
  // 64-bit arithmetic: a full 4 GiB memory ends at 2^32.
  uint64_t address = reinterpret_cast<uintptr_t>(payload);
  uint64_t memory_end = uint64_t{__builtin_wasm_memory_size(0)} * 65536;
  if (address == 0 || address % alignof(Header) != 0 || address > memory_end ||
      memory_end - address < sizeof(Header)) {
    return nullptr;
  }
  auto* header = static_cast<Header*>(payload);
  if (header->exception_class != kPrimaryClass && header->exception_class != kDependentClass) {
    return nullptr;
  }
  return header;
}

void release_primary(Header* primary) noexcept {
  if (--primary->reference_count != 0) return;
  if (last_thrown == primary) last_thrown = nullptr;
  if (primary->destructor != nullptr) primary->destructor(primary->thrown_object);
  std::free(primary);
}

void release_escaped(Header* header) noexcept {
  if (uncaught_exceptions > 0) --uncaught_exceptions;
  Header* primary = primary_of(header);
  // Forget the payload's identity first, so a second release of it is a no-op even while the
  // object lives on (an exception_ptr may still own it).
  header->exception_class = 0;
  if (last_thrown == header) last_thrown = nullptr;
  if (header != primary) std::free(header);
  release_primary(primary);
}

}  // namespace rewind_cxxrt

namespace __cxxabiv1 {
extern "C" {

void* __cxa_allocate_exception(size_t thrown_size) noexcept {
  size_t total = sizeof(Header) + thrown_size;
  if (total < thrown_size) std::terminate();
  auto* header = static_cast<Header*>(allocate_zeroed(total));
  return header + 1;
}

void __cxa_free_exception(void* thrown_object) noexcept { std::free(header_of(thrown_object)); }

__cxa_exception* __cxa_init_primary_exception(void* object, std::type_info* type,
                                              void* (*destructor)(void*)) noexcept {
  Header* header = header_of(object);
  header->exception_class = kPrimaryClass;
  header->thrown_object = object;
  header->type = type;
  header->destructor = destructor;
  header->handler_count = 0;
  header->reference_count = 0;
  header->next_caught = nullptr;
  header->adjusted_ptr = object;
  return header;
}

void __cxa_throw(void* object, std::type_info* type, void* (*destructor)(void*)) {
  Header* header = __cxa_init_primary_exception(object, type, destructor);
  header->reference_count = 1;
  ++uncaught_exceptions;
  last_thrown = header;
  throw_payload(header);
}

void* __cxa_get_exception_ptr(void* payload) noexcept {
  Header* header = own_exception(payload);
  return header != nullptr ? header->adjusted_ptr : payload;
}

void* __cxa_begin_catch(void* payload) noexcept {
  Header* header = own_exception(payload);
  if (header == nullptr) {
    // A foreign exception: remember it so that end_catch and rethrow pair up correctly.
    header = static_cast<Header*>(allocate_zeroed(sizeof(Header)));
    header->exception_class = kForeignClass;
    header->thrown_object = payload;
    header->adjusted_ptr = payload;
    header->handler_count = 1;
    header->next_caught = caught_exceptions;
    caught_exceptions = header;
    return payload;
  }
  if (last_thrown == header) last_thrown = nullptr;
  int32_t count = header->handler_count < 0 ? -header->handler_count : header->handler_count;
  header->handler_count = count + 1;
  if (header != caught_exceptions) {
    header->next_caught = caught_exceptions;
    caught_exceptions = header;
  }
  if (uncaught_exceptions > 0) --uncaught_exceptions;
  return header->adjusted_ptr;
}

void __cxa_end_catch() {
  Header* header = caught_exceptions;
  if (header == nullptr) return;
  if (header->exception_class == kForeignClass) {
    caught_exceptions = header->next_caught;
    std::free(header);
    return;
  }
  if (header->handler_count < 0) {
    // Rethrown: the exception lives on in flight; only the handler is gone.
    if (++header->handler_count == 0) caught_exceptions = header->next_caught;
    return;
  }
  if (--header->handler_count != 0) return;
  caught_exceptions = header->next_caught;
  Header* primary = primary_of(header);
  if (header != primary) std::free(header);
  release_primary(primary);
}

void __cxa_rethrow() {
  Header* header = caught_exceptions;
  if (header == nullptr) std::terminate();
  if (header->exception_class == kForeignClass) throw_payload(header->thrown_object);
  header->handler_count = -header->handler_count;
  ++uncaught_exceptions;
  last_thrown = header;
  throw_payload(header);
}

std::type_info* __cxa_current_exception_type() {
  Header* header = caught_exceptions;
  if (header == nullptr || header->exception_class == kForeignClass) return nullptr;
  return primary_of(header)->type;
}

void __cxa_call_terminate(void* payload) noexcept {
  if (payload != nullptr) __cxa_begin_catch(payload);
  std::terminate();
}

// std::exception_ptr support (libc++ calls these with the primary object pointer).

void* __cxa_current_primary_exception() noexcept {
  Header* header = caught_exceptions;
  if (header == nullptr || header->exception_class == kForeignClass) return nullptr;
  Header* primary = primary_of(header);
  ++primary->reference_count;
  return primary->thrown_object;
}

void __cxa_increment_exception_refcount(void* object) noexcept {
  if (object != nullptr) ++header_of(object)->reference_count;
}

void __cxa_decrement_exception_refcount(void* object) noexcept {
  if (object != nullptr) release_primary(header_of(object));
}

void __cxa_rethrow_primary_exception(void* object) {
  if (object == nullptr) return;
  Header* primary = header_of(object);
  auto* dependent = static_cast<Header*>(allocate_zeroed(sizeof(Header)));
  dependent->exception_class = kDependentClass;
  dependent->thrown_object = object;
  dependent->type = primary->type;
  dependent->destructor = primary->destructor;
  dependent->adjusted_ptr = object;
  ++primary->reference_count;
  ++uncaught_exceptions;
  last_thrown = dependent;
  throw_payload(dependent);
}

bool __cxa_uncaught_exception() noexcept { return uncaught_exceptions != 0; }

unsigned int __cxa_uncaught_exceptions() noexcept { return uncaught_exceptions; }

}  // extern "C"
}  // namespace __cxxabiv1

// Host interface (documented in sdk/README.md). These live in this file, not with the panic
// helper, because every module that throws links this object file and so exports them.

extern "C" __attribute__((export_name("rewind_exception_message"))) const char*
rewind_exception_message(void* payload) noexcept {
  Header* header = own_exception(payload);
  if (header == nullptr) return nullptr;
  return rewind_cxxrt::describe(primary_of(header));
}

extern "C" __attribute__((export_name("rewind_exception_release"))) void rewind_exception_release(
    void* payload) noexcept {
  Header* header = own_exception(payload);
  // Only exceptions that are in flight (thrown, not caught) may be released.
  if (header == nullptr || header->handler_count > 0) return;
  for (Header* caught = caught_exceptions; caught != nullptr; caught = caught->next_caught) {
    if (caught == header) return;
  }
  release_escaped(header);
}
