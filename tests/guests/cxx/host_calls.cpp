// Guest frames between host frames: host errors crossing guest code, and nested entries
// (host -> guest -> host -> guest). Imports env.host_call and env.call_inner; see README.md.
#include <rewind/guest.hpp>
#include <stdexcept>

REWIND_HOST_IMPORT("host_call") int host_call(int x);
// The host calls back into this instance: which == 0 -> nested_inner_ok, 1 -> nested_inner_panic,
// 2 -> nested_inner_trap (the argument is forwarded to the inner export).
REWIND_HOST_IMPORT("call_inner") int call_inner(int which, int argument);

namespace {

int cleanup_count = 0;    // guards destroyed by unwinding or by normal return
int catch_all_count = 0;  // catch (...) clauses entered
int outer_cleanup_count = 0;
int outer_catch_all_count = 0;

struct CleanupGuard {
  int* counter;
  ~CleanupGuard() { ++*counter; }
};

}  // namespace

extern "C" {

// Calls env.host_call(x) under a cleanup guard and a catch (...) that rethrows.
// - host returns y: returns y + 1; cleanup_count +1, catch_all_count +0.
// - host raises a host error: the error leaves the export unchanged; the guard's destructor runs
//   if the engine unwinds guest frames for host errors (clang emits cleanups as catch_all, so
//   any exception runs them), catch (...) does not (it only catches __cpp_exception):
//   cleanup_count +1, catch_all_count +0.
// - host throws __cpp_exception with payload p: catch (...) runs and rethrows the same payload:
//   the host sees its own exception (payload p) again; cleanup_count +1, catch_all_count +1.
REWIND_EXPORT("call_host_then_cleanup") int call_host_then_cleanup(int x) {
  CleanupGuard guard{&cleanup_count};
  try {
    return host_call(x) + 1;
  } catch (...) {
    ++catch_all_count;
    throw;
  }
}

REWIND_EXPORT("cleanup_count") int get_cleanup_count() { return cleanup_count; }
REWIND_EXPORT("catch_all_count") int get_catch_all_count() { return catch_all_count; }
REWIND_EXPORT("outer_cleanup_count") int get_outer_cleanup_count() { return outer_cleanup_count; }
REWIND_EXPORT("outer_catch_all_count") int get_outer_catch_all_count() {
  return outer_catch_all_count;
}
REWIND_EXPORT("reset_counts") void reset_counts() {
  cleanup_count = catch_all_count = outer_cleanup_count = outer_catch_all_count = 0;
}

// The outer half of a nested entry: asks the host to call inner export `which` of this
// instance. Returns the inner result + 1, or -1 from its catch (...) if a C++ exception came
// back through the host frame. A trap in the inner export must not run the catch (...) or the
// guard: outer_catch_all_count and outer_cleanup_count stay unchanged.
REWIND_EXPORT("nested_outer") int nested_outer(int which, int argument) {
  CleanupGuard guard{&outer_cleanup_count};
  try {
    return call_inner(which, argument) + 1;
  } catch (...) {
    ++outer_catch_all_count;
    return -1;
  }
}

// Inner exports (called by the host from inside env.call_inner).
REWIND_EXPORT("nested_inner_ok") int nested_inner_ok(int argument) { return argument * 2; }

REWIND_EXPORT("nested_inner_panic") int nested_inner_panic(int) {
  throw std::runtime_error("inner panic");
}

REWIND_EXPORT("nested_inner_trap") int nested_inner_trap(int) { __builtin_trap(); }

}  // extern "C"
