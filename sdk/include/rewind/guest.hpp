// rewind guest SDK, C++ interface: panics. The worker ABI is in <rewind/worker.hpp>. Everything
// in guest.h is available too.
#pragma once

#include <rewind/guest.h>

namespace rw::guest {

#if defined(__cpp_exceptions)
// Throws an exception that the host reports as a panic with `message`, unless a guest frame
// catches it first (it derives from std::exception, so catch (const std::exception&) does).
[[noreturn]] inline void panic(const char* message) { rewind_throw_panic(message); }
#endif

}  // namespace rw::guest
