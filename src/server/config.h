#pragma once
// Configuration of `rewind serve`: listeners, logs, workers and routes. Read from a TOML file
// (docs/configuration.md) or built for the no-config case (`rewind serve worker.wasm`).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/error.h"
#include "rewind/objects.h"
#include "rewind/runtime.h"

namespace rw::server {

// host:port. Port 0 asks the kernel for an ephemeral port (tests).
struct Endpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string to_string() const;
};
// "127.0.0.1:8080", "localhost:80", "[::1]:8080", ":8080" (loopback). Errors say what is wrong.
Result<Endpoint> parse_endpoint(std::string_view text);

// A request matches a route when its Host header (port stripped, case-insensitive) equals `host`
// (if set) and its path starts with `path_prefix` at a segment boundary. The longest prefix
// wins; at equal length a route naming a host wins over one that does not.
struct RouteConfig {
  std::string path_prefix = "/";
  std::string host;  // empty: any host
  std::string worker;
  bool strip_prefix = false;  // the worker sees "/chaos/panic" as "/panic"
};

struct ServerConfig {
  Endpoint listen{"127.0.0.1", 8080};
  Endpoint admin_listen{"127.0.0.1", 9090};
  bool admin_enabled = true;
  uint32_t threads = 0;        // IO threads; 0: one per hardware thread (at least 1)
  uint32_t guest_threads = 0;  // guest calls of one worker at once (slots); 0: its pool size
  std::string access_log;      // empty: off; "-": stderr; otherwise a file (appended)
  std::string failure_log;     // empty or "-": stderr; otherwise a file (appended)
  uint32_t max_header_bytes = 16 * 1024;
  std::chrono::seconds idle_timeout{60};      // keep-alive connections idle longer are closed
  std::chrono::seconds shutdown_timeout{30};  // in-flight requests get this long on shutdown
  std::vector<runtime::WorkerConfig> workers;
  // Durable-object namespaces ([[durable_object]]). Each is served like a worker of the same
  // name at `/obj/<name>` (or its `path`), with the object id as the first path segment:
  // /obj/bank/alice/balance goes to object "alice" as /balance.
  std::vector<objects::NamespaceConfig> durable_objects;
  std::vector<RouteConfig> routes;
};

// `rewind serve worker.wasm`: one worker named after the file, routed at "/".
ServerConfig default_config(const std::string& module_path);

// Parses TOML text. Relative module paths are resolved against base_dir. Errors name the
// source, the line when known, and the key: "rewind.toml: [[worker]] #1 key 'instances': ...".
Result<ServerConfig> parse_config(std::string_view toml_text, std::string_view source_name,
                                  const std::filesystem::path& base_dir);
Result<ServerConfig> load_config(const std::filesystem::path& path);

// Checks what parse_config checks for hand-built configs (routes name workers, names unique).
Result<void> validate_config(const ServerConfig& config);

}  // namespace rw::server
