/* rewind guest SDK, C interface.
 *
 * Export/import attributes and panics. The worker ABI (requests, responses, logging) is in
 * <rewind/worker.h> (C) and <rewind/worker.hpp> (C++), which include this header.
 *
 * Build guests with sdk/rewind-cc (or rewind_add_guest in CMake), which links the matching
 * exception runtime. */
#ifndef REWIND_GUEST_H
#define REWIND_GUEST_H

#ifdef __cplusplus
extern "C" {
#endif

/* Exports a function under `name`:  REWIND_EXPORT("handle") int handle(int x) { ... } */
#define REWIND_EXPORT(name) __attribute__((export_name(name), used))

/* Declares a function provided by the host in module `module` under `name`:
 *   REWIND_IMPORT("env", "host_call") int host_call(int x); */
#define REWIND_IMPORT(module, name) __attribute__((import_module(module), import_name(name)))

/* Shorthand for imports from the "env" module. */
#define REWIND_HOST_IMPORT(name) REWIND_IMPORT("env", name)

#if defined(__wasm_exception_handling__) || defined(__cpp_exceptions)
/* Raises a C++ exception whose message is `message` (copied). If no guest frame catches it, the
 * host sees a panic for this call and gets `message` back through the module's
 * rewind_exception_message export; the instance stays live. Guest cleanups run on the way out.
 * Available in modules built with --eh=legacy or --eh=exnref. */
__attribute__((noreturn)) void rewind_throw_panic(const char* message);
#endif

#ifdef __cplusplus
}
#endif

#endif /* REWIND_GUEST_H */
