// Fatal-error reporting without stdio. libc++ and libc++abi report fatal errors (std::terminate,
// a failed operator new, a violated precondition) by printing to stderr and calling abort().
// Printing would make every C++ module import WASI's fd_write, fd_seek and fd_close, and the text
// would be lost anyway. Instead the message goes into `rewind_abort_message`, a buffer that
// rewind-cc exports (as a global holding its address), and the guest traps with `unreachable`.
// After the trap the host may read the NUL-terminated text from memory; it must not call into
// the instance. See sdk/README.md.
#include <__verbose_abort>
#include <cstdarg>
#include <cstddef>
#include <cstdint>

extern "C" {
// Exported by the linker flag --export-if-defined=rewind_abort_message.
char rewind_abort_message[512];
}

namespace {

// A small printf subset (%s %c %d %i %u %x %p %%, with l/ll/z length modifiers), because libc's
// vsnprintf drags in stdio and with it the WASI imports we are avoiding.
class MessageWriter {
 public:
  void put(char c) {
    if (length_ + 1 < sizeof(rewind_abort_message)) rewind_abort_message[length_++] = c;
  }
  void put(const char* text) {
    if (text == nullptr) text = "(null)";
    while (*text != 0) put(*text++);
  }
  void put_unsigned(unsigned long long value, unsigned base) {
    char digits[24];
    int count = 0;
    do {
      digits[count++] = "0123456789abcdef"[value % base];
      value /= base;
    } while (value != 0);
    while (count > 0) put(digits[--count]);
  }
  void put_signed(long long value) {
    if (value < 0) {
      put('-');
      put_unsigned(0ull - static_cast<unsigned long long>(value), 10);
    } else {
      put_unsigned(static_cast<unsigned long long>(value), 10);
    }
  }
  void finish() { rewind_abort_message[length_] = 0; }

 private:
  size_t length_ = 0;
};

[[noreturn]] void record_and_trap(const char* format, va_list args) {
  MessageWriter out;
  for (const char* p = format; *p != 0; ++p) {
    if (*p != '%') {
      out.put(*p);
      continue;
    }
    int longs = 0;
    bool size = false;
    for (++p; *p == 'l' || *p == 'z'; ++p) {
      if (*p == 'l') ++longs;
      if (*p == 'z') size = true;
    }
    auto next_unsigned = [&]() -> unsigned long long {
      if (longs >= 2) return va_arg(args, unsigned long long);
      if (longs == 1) return va_arg(args, unsigned long);
      if (size) return va_arg(args, size_t);
      return va_arg(args, unsigned);
    };
    switch (*p) {
      case 's': out.put(va_arg(args, const char*)); break;
      case 'c': out.put(static_cast<char>(va_arg(args, int))); break;
      case 'd':
      case 'i':
        if (longs >= 2)
          out.put_signed(va_arg(args, long long));
        else if (longs == 1)
          out.put_signed(va_arg(args, long));
        else
          out.put_signed(va_arg(args, int));
        break;
      case 'u': out.put_unsigned(next_unsigned(), 10); break;
      case 'x': out.put_unsigned(next_unsigned(), 16); break;
      case 'p':
        out.put("0x");
        out.put_unsigned(reinterpret_cast<uintptr_t>(va_arg(args, void*)), 16);
        break;
      case '%': out.put('%'); break;
      case 0: --p; break;  // a lone % at the end
      default:
        out.put('%');
        out.put(*p);
        break;
    }
  }
  out.finish();
  __builtin_trap();
}

}  // namespace

// Replaces libc++abi's internal reporter (its only definition, so the stdio one is never linked).
extern "C" [[noreturn]] void __abort_message(const char* format, ...) {
  va_list args;
  va_start(args, format);
  record_and_trap(format, args);
}

// libc++ documents this function as replaceable by the program.
[[noreturn]] void std::__libcpp_verbose_abort(const char* format, ...) noexcept {
  va_list args;
  va_start(args, format);
  record_and_trap(format, args);
}
