/* A C guest that throws with the __cpp_exception tag directly (built with -mexception-handling,
 * no C++): the payload is any i32 the guest chooses. See README.md. */
#include <rewind/guest.h>

struct c_error {
  int code;
  const char* message;
};

static struct c_error last_error;
static int calls;

/* Throws __cpp_exception with payload = address of a struct c_error {i32 code; i32 message}.
 * Host: panic; the payload is not a runtime exception, so rewind_exception_message returns 0;
 * the host can read code (== `code`) and the message ("c error") from memory. */
REWIND_EXPORT("c_throw") int c_throw(int code) {
  ++calls;
  last_error.code = code;
  last_error.message = "c error";
  __builtin_wasm_throw(0, &last_error);
}

/* Host: panic with message "c panic" (via the C++ runtime's rewind_throw_panic). */
REWIND_EXPORT("c_panic") int c_panic(void) {
  ++calls;
  rewind_throw_panic("c panic");
}

/* Returns the number of calls so far, including this one: the instance survives panics. */
REWIND_EXPORT("c_calls") int c_calls(void) { return ++calls; }
