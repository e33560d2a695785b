/* rewind guest SDK: the worker ABI, version 1, for C (docs/guest-abi.md).
 *
 * A worker is a wasm32 reactor module that exports `rewind_abi_version() -> i32` and
 * `rewind_handle() -> ()`. REWIND_WORKER(fn) defines both:
 *
 *   #include <rewind/worker.h>
 *   static void handle(void) {
 *     rewind_response_header_str("content-type", "text/plain");
 *     rewind_write_str("hello\n");
 *   }
 *   REWIND_WORKER(handle)
 *
 * Build with sdk/rewind-cc (or rewind_add_guest in CMake).
 *
 * Conventions of the imports (module "rewind"):
 * - Pointers and lengths are checked by the host. A range outside linear memory, or a value the
 *   ABI forbids (a status outside 100..999, a header name that is not a token, CR/LF in a header
 *   value), aborts the request with trap kind host_abort and a message naming the function.
 * - Copy-out functions (request_method, request_target, request_header_*, failure_record) copy
 *   at most `cap` bytes to `buf` and return the value's full length, so a result larger than
 *   `cap` means "call again with a bigger buffer". They never write a NUL terminator. */
#ifndef REWIND_WORKER_H
#define REWIND_WORKER_H

#include <rewind/guest.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REWIND_ABI_VERSION 1

#define REWIND_ABI_IMPORT(name) REWIND_IMPORT("rewind", name)

/* Request. */
REWIND_ABI_IMPORT("request_method") int32_t rewind_request_method(char* buf, size_t cap);
/* Path and query as received, e.g. "/items?id=3". */
REWIND_ABI_IMPORT("request_target") int32_t rewind_request_target(char* buf, size_t cap);
REWIND_ABI_IMPORT("request_header_count") int32_t rewind_request_header_count(void);
/* -1 when index >= rewind_request_header_count(). */
REWIND_ABI_IMPORT("request_header_name")
int32_t rewind_request_header_name(int32_t index, char* buf, size_t cap);
REWIND_ABI_IMPORT("request_header_value")
int32_t rewind_request_header_value(int32_t index, char* buf, size_t cap);
/* The first header whose name equals `name` ignoring ASCII case; -1 when there is none. */
REWIND_ABI_IMPORT("request_header_get")
int32_t rewind_request_header_get(const char* name, size_t name_len, char* buf, size_t cap);
REWIND_ABI_IMPORT("request_body_length") int64_t rewind_request_body_length(void);
/* The next chunk of the body: up to cap bytes, 0 at the end. */
REWIND_ABI_IMPORT("request_body_read") int32_t rewind_request_body_read(void* buf, size_t cap);

/* Response. Buffered by the host and sent when rewind_handle returns normally; on a panic or an
 * abort the host discards it and sends its own error response. Default status 200. */
REWIND_ABI_IMPORT("response_status") void rewind_response_status(int32_t status);
REWIND_ABI_IMPORT("response_header")
void rewind_response_header(const char* name, size_t name_len, const char* value,
                            size_t value_len);
REWIND_ABI_IMPORT("response_body_write") void rewind_response_body_write(const void* data,
                                                                          size_t len);

/* Logging, time, randomness. */
enum { REWIND_LOG_DEBUG = 0, REWIND_LOG_INFO = 1, REWIND_LOG_WARN = 2, REWIND_LOG_ERROR = 3 };
REWIND_ABI_IMPORT("log") void rewind_log(int32_t level, const char* message, size_t len);
/* Wall clock (Unix epoch) and a monotonic clock, in nanoseconds. */
REWIND_ABI_IMPORT("now_ns") int64_t rewind_now_ns(void);
REWIND_ABI_IMPORT("monotonic_ns") int64_t rewind_monotonic_ns(void);
/* Fills buf with cryptographically secure random bytes (len <= 1 MiB). */
REWIND_ABI_IMPORT("random") void rewind_random(void* buf, size_t len);

/* Failures. */
/* Records the message of a panic that is about to abort (a panic=abort language's panic hook);
 * the abort that follows is reported with it. */
REWIND_ABI_IMPORT("panic_message") void rewind_panic_message(const char* message, size_t len);
/* Aborts the request at once (trap kind guest_abort, with `message`). No cleanup, no catch
 * handler runs; the instance is recovered per the worker's abort mode. */
REWIND_ABI_IMPORT("abort")
__attribute__((noreturn)) void rewind_abort(const char* message, size_t len);
/* Inside the reinit export after a reset: the failure that caused it, as JSON. -1 elsewhere. */
REWIND_ABI_IMPORT("failure_record") int32_t rewind_failure_record(char* buf, size_t cap);
/* Raises a host error carrying `message` (outcome host_error): for testing how a worker and the
 * host handle failing host functions. Guest cleanups run; C++ `catch (...)` does not see it. */
REWIND_ABI_IMPORT("debug_host_error")
void rewind_debug_host_error(const char* message, size_t len);

/* Conveniences over the imports. */
static inline void rewind_write(const void* data, size_t len) {
  rewind_response_body_write(data, len);
}
static inline void rewind_write_str(const char* text) {
  rewind_response_body_write(text, strlen(text));
}
static inline void rewind_response_header_str(const char* name, const char* value) {
  rewind_response_header(name, strlen(name), value, strlen(value));
}
static inline void rewind_log_str(int32_t level, const char* message) {
  rewind_log(level, message, strlen(message));
}
__attribute__((noreturn)) static inline void rewind_abort_str(const char* message) {
  rewind_abort(message, strlen(message));
}

/* Defines the two exports of a worker: rewind_abi_version and rewind_handle, which calls
 * `handler` (a `void handler(void)`). Use once per module. */
#define REWIND_WORKER(handler)                                                              \
  REWIND_EXPORT("rewind_abi_version") int32_t rewind_worker_abi_version_(void) {            \
    return REWIND_ABI_VERSION;                                                              \
  }                                                                                         \
  REWIND_EXPORT("rewind_handle") void rewind_worker_handle_(void) { handler(); }

#ifdef __cplusplus
}
#endif

#endif /* REWIND_WORKER_H */
