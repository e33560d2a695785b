// rewind_throw_panic: lets C code (and C++ code that prefers a plain call) raise a C++
// exception that the host reports as a panic with the given message.
#include <cstdlib>
#include <cstring>
#include <exception>

#include "internal.h"

namespace {

class GuestPanic final : public std::exception {
 public:
  explicit GuestPanic(const char* message) : message_(copy(message)) {}
  GuestPanic(const GuestPanic& other) : message_(copy(other.message_)) {}
  GuestPanic& operator=(const GuestPanic&) = delete;
  ~GuestPanic() override { std::free(message_); }
  const char* what() const noexcept override { return message_ ? message_ : "panic"; }

 private:
  static char* copy(const char* text) { return text ? strdup(text) : nullptr; }
  char* message_;
};

}  // namespace

extern "C" [[noreturn]] void rewind_throw_panic(const char* message) { throw GuestPanic(message); }
