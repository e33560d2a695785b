// The worker the load test drives (bench/load/run-load.sh):
//
//   /            a trivial answer, the same bytes bare_server.cpp sends
//   /work?n=N    N iterations of a little arithmetic (default 100000), then the result
//   /panic       throws: a panic, 500
//   /abort       executes `unreachable`: an abort, the instance is recovered, 500
#include <cstdint>
#include <cstdlib>
#include <rewind/worker.hpp>
#include <stdexcept>
#include <string>

namespace {

void handle(rw::worker::Request& request, rw::worker::Response& response) {
  std::string path = request.path();
  if (path == "/panic") throw std::runtime_error("load: deliberate panic");
  if (path == "/abort") __builtin_trap();
  if (path == "/work") {
    // The trip count comes from the request so the compiler cannot fold the loop away.
    uint32_t n =
        static_cast<uint32_t>(std::atoi(request.query_param("n").value_or("100000").c_str()));
    uint32_t x = 1;
    for (uint32_t i = 0; i < n; ++i) x = x * 1664525u + 1013904223u + (x >> 7);
    response.header("content-type", "text/plain").write(std::to_string(x) + "\n");
    return;
  }
  response.header("content-type", "text/plain").write("hello\n");
}

}  // namespace

REWIND_HANDLER(handle)
