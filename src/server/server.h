#pragma once
// The HTTP front of rewind: listeners, keep-alive sessions, routing to workers, the admin
// listener (/metrics, /healthz) and graceful shutdown. Architecture: docs/server.md.

#include <cstdint>
#include <memory>
#include <vector>

#include "rewind/error.h"
#include "rewind/runtime.h"
#include "server/config.h"

namespace rw::server {

class Metrics;

class Server {
 public:
  // `workers` are in the order of config.workers. Binds the listeners (so port 0 is resolved
  // when this returns) and opens the logs; nothing is served until start().
  static Result<std::unique_ptr<Server>> create(
      ServerConfig config, std::vector<std::shared_ptr<runtime::Worker>> workers);
  ~Server();  // stop()s if still running

  uint16_t port() const;
  uint16_t admin_port() const;  // 0 when the admin listener is disabled
  const Metrics& metrics() const;

  // Starts the IO threads and the stall monitor (docs/server.md, Threads) and returns.
  void start();
  // Graceful: stops accepting, closes idle keep-alive connections, lets in-flight requests
  // finish (up to shutdown_timeout), drains the workers, joins every thread. Idempotent.
  void stop();

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rw::server
