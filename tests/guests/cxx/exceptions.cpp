// C++ exceptions inside one guest: unwinding, catching, escaping to the host.
// Built as exceptions.legacy.wasm and exceptions.exnref.wasm; tests/guests/README.md lists what
// the host should see for every export.
#include <exception>
#include <rewind/guest.hpp>
#include <stdexcept>
#include <string>

namespace {

// Every destructor of a Recorder appends its id here, so the host (and the guest) can check that
// unwinding ran them, and in which order.
constexpr int kMaxLog = 64;
int destructor_log[kMaxLog];
int destructor_count = 0;

struct Recorder {
  int id;
  explicit Recorder(int id) : id(id) {}
  Recorder(const Recorder&) = delete;
  ~Recorder() {
    if (destructor_count < kMaxLog) destructor_log[destructor_count] = id;
    ++destructor_count;
  }
};

struct Base {
  virtual ~Base() = default;
  virtual int code() const { return 1; }
};
struct Derived : Base {
  int code() const override { return 2; }
};
struct Other {
  virtual ~Other() = default;
};
struct Multiple : Other, Derived {
  int code() const override { return 3; }
};

int live_objects = 0;  // ThrownCounter instances alive; 0 means every thrown object was freed
struct ThrownCounter {
  int value;
  explicit ThrownCounter(int value) : value(value) { ++live_objects; }
  ThrownCounter(const ThrownCounter& other) : value(other.value) { ++live_objects; }
  ~ThrownCounter() { --live_objects; }
};

int calls = 0;  // survives panics: the instance stays live

[[gnu::noinline]] void throw_runtime_error(const char* message) {
  throw std::runtime_error(message);
}

[[gnu::noinline]] void three_frames(int depth) {
  Recorder guard(depth);
  if (depth == 3) throw_runtime_error("deep");
  three_frames(depth + 1);
}

}  // namespace

extern "C" {

// Destructors of three frames run while an exception unwinds to a catch in the same export.
// Returns the number of destructors that ran (3); destructor_log holds 3, 2, 1.
REWIND_EXPORT("dtor_unwind") int dtor_unwind() {
  destructor_count = 0;
  try {
    three_frames(1);
  } catch (const std::runtime_error&) {
    return destructor_count;
  }
  return -1;
}

REWIND_EXPORT("destructor_count") int get_destructor_count() { return destructor_count; }

REWIND_EXPORT("destructor_log") int get_destructor_log(int index) {
  return index >= 0 && index < kMaxLog ? destructor_log[index] : -1;
}

REWIND_EXPORT("reset_log") void reset_log() { destructor_count = 0; }

// Throws and catches inside the guest: returns x * 2 + 1 through the catch clause.
REWIND_EXPORT("catch_inside") int catch_inside(int x) {
  try {
    throw x * 2;
  } catch (int value) {
    return value + 1;
  }
}

// Throws std::runtime_error("boom") out of the export, after a local destructor (id 7) ran.
// Host: panic; rewind_exception_message(payload) == "boom"; destructor_count() == 1 afterwards.
REWIND_EXPORT("throw_escape") int throw_escape() {
  ++calls;
  destructor_count = 0;
  Recorder guard(7);
  throw_runtime_error("boom");
  return 0;
}

// Throws an int out of the export. Host: panic; the message is "C++ exception of type i".
REWIND_EXPORT("throw_int_escape") int throw_int_escape(int value) { throw value; }

// Throws a C string out of the export. Host: panic with message "c-string panic".
REWIND_EXPORT("throw_cstring_escape") int throw_cstring_escape() { throw "c-string panic"; }

// rewind_throw_panic from C++: panic with message "panic helper: " + the last digit of x.
// (No std::to_string: it would pull in stdio and with it WASI imports.)
REWIND_EXPORT("throw_panic_helper") int throw_panic_helper(int x) {
  std::string message = "panic helper: ";
  message += static_cast<char>('0' + (x % 10 + 10) % 10);
  rw::guest::panic(message.c_str());
}

// Counts calls to throw_escape and this function; shows state survives panics.
REWIND_EXPORT("calls") int get_calls() { return ++calls; }

// Catch clauses pick the right handler: derived caught as base (with pointer adjustment for
// the second base of Multiple), by pointer, catch (...) for unrelated types.
// kind 0: Derived by const Base& -> 2; 1: Multiple by Base& -> 3; 2: Derived* as Base* -> 2;
// 3: Other thrown, only catch (...) matches -> 100; 4: std::out_of_range as std::exception -> 4;
// 5: int not matching double/char/std::exception, caught by catch (...) -> 100.
REWIND_EXPORT("catch_kind") int catch_kind(int kind) {
  static Derived static_derived;
  try {
    switch (kind) {
      case 0: throw Derived();
      case 1: throw Multiple();
      case 2: throw &static_derived;
      case 3: throw Other();
      case 4: throw std::out_of_range("range");
      case 5: throw 5;
      default: return -1;
    }
  } catch (const Base* base) {
    return base->code();
  } catch (const Base& base) {
    return base.code();
  } catch (const std::exception& e) {
    return e.what()[0] == 'r' ? 4 : -2;
  } catch (double) {
    return -3;
  } catch (char) {
    return -4;
  } catch (...) {
    return 100;
  }
}

// A catch that rethrows with `throw;` to an outer catch in the same export: returns the value
// seen by the outer handler (x) plus 1000 per handler that ran (2).
REWIND_EXPORT("rethrow_inside") int rethrow_inside(int x) {
  int handlers = 0;
  try {
    try {
      throw ThrownCounter(x);
    } catch (ThrownCounter&) {
      ++handlers;
      throw;
    }
  } catch (const ThrownCounter& counter) {
    ++handlers;
    return counter.value + 1000 * handlers;
  }
  return -1;
}

// Thrown objects that are caught are destroyed and freed: 0 after any sequence of catching calls.
REWIND_EXPORT("live_thrown_objects") int live_thrown_objects() { return live_objects; }

// A second exception thrown and caught while the first is being handled, then `throw;` of the
// first again: ok(121) = 1 + 20 + 100 * 1, with every thrown object freed by the time it returns.
REWIND_EXPORT("nested_handlers") int nested_handlers() {
  int result = 0;
  try {
    throw ThrownCounter(1);
  } catch (ThrownCounter& outer) {
    try {
      throw ThrownCounter(20);
    } catch (ThrownCounter& inner) {
      result = outer.value + inner.value;
    }
    try {
      throw;
    } catch (ThrownCounter& again) {
      result += again.value * 100;
    }
  }
  return result + live_objects * 1000;
}

// Rethrows from a catch (...) to the host: panic with message "rethrown".
REWIND_EXPORT("rethrow_escape") int rethrow_escape() {
  try {
    throw_runtime_error("rethrown");
  } catch (...) {
    throw;
  }
  return 0;
}

// std::exception_ptr: current_exception, rethrow_exception, make_exception_ptr. Returns 3.
REWIND_EXPORT("exception_ptr_roundtrip") int exception_ptr_roundtrip() {
  std::exception_ptr saved;
  try {
    throw ThrownCounter(1);
  } catch (...) {
    saved = std::current_exception();
  }
  int result = 0;
  try {
    std::rethrow_exception(saved);
  } catch (const ThrownCounter& counter) {
    result += counter.value;
  }
  std::exception_ptr made = std::make_exception_ptr(ThrownCounter(2));
  try {
    std::rethrow_exception(made);
  } catch (const ThrownCounter& counter) {
    result += counter.value;
  }
  return result;
}

// std::uncaught_exceptions() inside a destructor during unwinding (1) and outside (0):
// returns 10 * during + after = 10.
REWIND_EXPORT("uncaught_during_unwind") int uncaught_during_unwind() {
  static int during;
  struct Probe {
    ~Probe() { during = std::uncaught_exceptions(); }
  };
  try {
    Probe probe;
    throw 1;
  } catch (int) {
  }
  return 10 * during + std::uncaught_exceptions();
}

// The shadow stack pointer (LLVM's __stack_pointer). The host can compare it before and after
// a panic: rewind restores it, so it is equal.
REWIND_EXPORT("stack_pointer") unsigned stack_pointer() {
  unsigned value;
  asm volatile(
      ".globaltype __stack_pointer, i32\n\t"
      "global.get __stack_pointer\n\t"
      "local.set %0"
      : "=r"(value));
  return value;
}

// Uses 4 KiB of shadow stack, then throws out of the export: a panic that leaks that much
// shadow stack unless the host restores __stack_pointer.
REWIND_EXPORT("throw_with_big_frame") int throw_with_big_frame(int x) {
  volatile char buffer[4096];
  buffer[x & 4095] = 1;
  if (buffer[x & 4095] == 1) throw_runtime_error("big frame");
  return buffer[0];
}

// An exception leaving a noexcept function calls std::terminate: an abort (`unreachable`), not a
// panic; no catch clause runs. rewind_abort_message then holds libc++abi's reason.
[[gnu::noinline]] static void throws_through_noexcept() noexcept { throw_runtime_error("fatal"); }

REWIND_EXPORT("terminate_in_noexcept") int terminate_in_noexcept() {
  try {
    throws_through_noexcept();
  } catch (...) {
    return -1;  // must not be reached
  }
  return 0;
}

// operator new failing: Debian's libc++abi (built without exceptions) reports and traps instead
// of throwing std::bad_alloc. An abort (`unreachable`) with rewind_abort_message set.
char* volatile last_allocation;  // keeps the compiler from eliding the allocation
REWIND_EXPORT("new_too_big") int new_too_big(unsigned bytes) {
  last_allocation = new char[bytes];
  int result = last_allocation != nullptr;
  delete[] last_allocation;
  return result;
}

}  // extern "C"
