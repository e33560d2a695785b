/* The smallest rewind worker, in C: answers every request with a greeting that names the
 * request's method and target. Serve it with `rewind serve hello-worker.wasm`. */
#include <rewind/worker.h>

static void handle(void) {
  char method[16];
  char target[512];
  int32_t method_len = rewind_request_method(method, sizeof method);
  int32_t target_len = rewind_request_target(target, sizeof target);
  /* The copy-out imports return the full length; a longer value was cut at the buffer size. */
  if (method_len > (int32_t)sizeof method) method_len = sizeof method;
  if (target_len > (int32_t)sizeof target) target_len = sizeof target;

  rewind_response_header_str("content-type", "text/plain; charset=utf-8");
  rewind_write_str("Hello from rewind! You sent ");
  rewind_write(method, (size_t)method_len);
  rewind_write_str(" ");
  rewind_write(target, (size_t)target_len);
  rewind_write_str("\n");
}

REWIND_WORKER(handle)
