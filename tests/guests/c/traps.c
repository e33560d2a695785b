/* A C guest without exceptions whose exports fail in every way that is an abort in rewind's
 * recovery model. Built with --eh=none. See README.md for the expected trap kinds. */
#include <rewind/guest.h>
#include <stdlib.h>

static volatile int sink;
static int calls;

REWIND_EXPORT("ok") int ok(int x) { return ++calls + x * 0; }

REWIND_EXPORT("trap_unreachable") int trap_unreachable(void) { __builtin_trap(); }

/* abort() in wasi-libc is `unreachable` too. */
REWIND_EXPORT("trap_abort") int trap_abort(void) { abort(); }

REWIND_EXPORT("divide") int divide(int a, int b) { return a / b; } /* b == 0, or INT_MIN / -1 */

REWIND_EXPORT("load") int load(unsigned address) { return *(volatile int*)address; }

REWIND_EXPORT("store") void store(unsigned address, int value) { *(volatile int*)address = value; }

typedef int (*unary_fn)(int);
typedef int (*binary_fn)(int, int);

static int twice(int x) { return 2 * x; }
static unary_fn volatile function_slot = twice;

/* Calls through a function pointer: index 0 is the null table slot (indirect_call_null). */
REWIND_EXPORT("call_null") int call_null(int x) {
  unary_fn f = function_slot;
  if (x >= 0) f = (unary_fn)0;
  return f(x);
}

/* Calls twice(int) as int(int, int): indirect_call_signature. */
REWIND_EXPORT("call_wrong_signature") int call_wrong_signature(int x) {
  binary_fn f = (binary_fn)function_slot;
  return f(x, x);
}

/* Recursion that uses no shadow stack (only wasm locals), so it exhausts the engine's call
 * stack: stack_overflow for a large depth, returns depth for a small one. */
__attribute__((noinline)) static int deep(int n, int limit) {
  if (n >= limit) return sink;
  return deep(n + 1, limit) * 3 + n;
}
REWIND_EXPORT("recurse") int recurse(int depth) {
  deep(0, depth);
  return depth;
}

/* Never returns: for cpu_limit. */
REWIND_EXPORT("spin") int spin(void) {
  for (;;) sink = sink + 1;
}

/* memory.grow by `pages`: returns the old size in pages, or -1 when the maximum is reached. */
REWIND_EXPORT("grow") int grow(int pages) { return __builtin_wasm_memory_grow(0, pages); }

/* memory.grow by `pages`, then traps if the grow failed: out_of_memory, since the trap follows a
 * failed grow in the same call. Returns the old size in pages when the grow succeeds. */
REWIND_EXPORT("grow_then_trap") int grow_then_trap(int pages) {
  int old = __builtin_wasm_memory_grow(0, pages);
  if (old < 0) __builtin_trap();
  return old;
}

/* The trapping float-to-int conversion (C casts use the saturating one, which never traps):
 * NaN -> invalid_conversion, out of range (e.g. 1e10) -> integer_overflow. */
REWIND_EXPORT("convert") int convert(double x) { return __builtin_wasm_trunc_s_i32_f64(x); }

/* Calls through a function pointer whose table index is past the end of the table:
 * table_out_of_bounds ("undefined element"). x < 0 calls twice(x) normally. */
REWIND_EXPORT("call_past_table") int call_past_table(int x) {
  unary_fn f = function_slot;
  if (x >= 0) f = (unary_fn)(__UINTPTR_TYPE__)0x7fffffff;
  return f(x);
}
