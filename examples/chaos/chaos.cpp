// The chaos worker: one endpoint per way a guest can fail, to watch rewind recover.
//
//   /              ok: {"ok":true,"served":N} (N: requests this instance has answered)
//   /panic         throws std::runtime_error               -> panic, 500
//   /unreachable   executes `unreachable`                  -> abort unreachable, 500
//   /oom           allocates until memory.grow fails       -> abort out_of_memory, 500
//   /recurse       recursion without end                   -> abort stack_overflow, 500
//   /loop          an endless loop                         -> abort cpu_limit, 503
//   /host-fail     a host function that fails              -> host_error, 500
//   /abort         rewind.abort with a message             -> abort guest_abort, 500
//   /terminate     an exception leaves a noexcept function -> abort guest_abort (std::terminate)
//   /divide?by=0   integer division by zero                -> abort integer_divide_by_zero
//   /bad-pointer   passes the host a pointer outside memory -> abort host_abort
//   /exit          exit(3)                                  -> abort guest_abort (proc_exit)
//   /log           writes to stdout, stderr and rewind.log  -> ok
#include <cstdio>
#include <cstdlib>
#include <rewind/worker.hpp>
#include <stdexcept>
#include <string>

namespace {

int served = 0;
volatile int sink = 0;

// Uses only wasm locals (no shadow stack), so it runs into the engine's call-depth limit rather
// than into memory below the shadow stack.
[[gnu::noinline]] int deep(int n) {
  if (sink < 0) return n;
  return deep(n + 1) * 3 + n;
}

struct Cleanup {
  ~Cleanup() { rw::worker::log(rw::worker::LogLevel::Info, "chaos: cleanup ran"); }
};

[[gnu::noinline]] void throw_fatal() { throw std::runtime_error("thrown inside noexcept"); }

// An exception that reaches a noexcept boundary calls std::terminate: an abort, not a panic.
[[gnu::noinline]] void throws_through_noexcept() noexcept { throw_fatal(); }

void ok(rw::worker::Response& response) {
  ++served;
  response.header("content-type", "application/json")
      .write("{\"ok\":true,\"served\":" + std::to_string(served) + "}\n");
}

void handle(rw::worker::Request& request, rw::worker::Response& response) {
  std::string path = request.path();
  if (path == "/") return ok(response);
  if (path == "/panic") throw std::runtime_error("chaos: deliberate panic");
  if (path == "/unreachable") __builtin_trap();
  if (path == "/oom") {
    for (;;) {
      volatile char* block = new char[1 << 20];
      block[0] = 1;
    }
  }
  if (path == "/recurse") {
    sink = deep(0);
    return ok(response);
  }
  if (path == "/loop") {
    for (;;) sink = sink + 1;
  }
  if (path == "/host-fail") {
    Cleanup cleanup;
    const char message[] = "chaos: host function failed";
    rewind_debug_host_error(message, sizeof message - 1);
    return ok(response);
  }
  if (path == "/abort") rw::worker::abort("chaos: guest abort");
  if (path == "/terminate") throws_through_noexcept();
  if (path == "/divide") {
    int by = std::atoi(request.query_param("by").value_or("0").c_str());
    int quotient = 100 / by;
    response.write(std::to_string(quotient) + "\n");
    return;
  }
  if (path == "/bad-pointer") {
    rewind_request_target(reinterpret_cast<char*>(0xffffff00u), 4096);
    return ok(response);
  }
  if (path == "/exit") std::exit(3);
  if (path == "/log") {
    std::printf("chaos: to stdout\n");
    std::fflush(stdout);
    std::fprintf(stderr, "chaos: to stderr\n");
    rw::worker::log(rw::worker::LogLevel::Warn, "chaos: to the log");
    return ok(response);
  }
  response.status(404).header("content-type", "text/plain").write("no such chaos\n");
}

}  // namespace

REWIND_HANDLER(handle)
