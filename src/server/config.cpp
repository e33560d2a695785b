#include "server/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

namespace rw::server {
namespace {

Error config_error(std::string message) {
  Error e;
  e.kind = Error::Kind::Other;
  e.message = std::move(message);
  return e;
}

// Thrown inside the parser and turned into an Error at its boundary; keeps the many checks short.
struct ConfigFailure {
  std::string message;
};

std::string where(const toml::node& node) {
  const auto& src = node.source();
  if (src.begin.line == 0) return "";
  return "line " + std::to_string(src.begin.line) + ": ";
}

class TableReader {
 public:
  TableReader(const toml::table& table, std::string context)
      : table_(table), context_(std::move(context)) {}

  void allow(std::initializer_list<std::string_view> keys) {
    std::set<std::string_view> known(keys);
    for (const auto& [key, node] : table_) {
      if (!known.count(key.str())) {
        std::string list;
        for (auto k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
        fail(node, key.str(), "unknown key (expected one of: " + list + ")");
      }
    }
  }

  std::optional<std::string> string(std::string_view key) {
    const toml::node* node = table_.get(key);
    if (!node) return std::nullopt;
    if (auto v = node->value<std::string>(); v && node->is_string()) return *v;
    fail(*node, key, "expected a string");
  }

  // A string the table must have, and not empty.
  std::string required_string(std::string_view key) {
    auto v = string(key);
    if (!v) fail_missing(key);
    if (v->empty()) fail(*table_.get(key), key, "must not be empty");
    return *v;
  }

  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max) {
    const toml::node* node = table_.get(key);
    if (!node) return std::nullopt;
    if (!node->is_integer()) fail(*node, key, "expected an integer");
    int64_t v = *node->value<int64_t>();
    if (v < min || v > max) {
      fail(*node, key,
           "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
               std::to_string(v));
    }
    return v;
  }

  const toml::table* subtable(std::string_view key) {
    const toml::node* node = table_.get(key);
    if (!node) return nullptr;
    if (!node->is_table()) fail(*node, key, "expected a table");
    return node->as_table();
  }

  [[noreturn]] void fail(const toml::node& node, std::string_view key, const std::string& what) {
    throw ConfigFailure{where(node) + context_ + "key '" + std::string(key) + "': " + what};
  }
  [[noreturn]] void fail_missing(std::string_view key) {
    std::string line;
    if (table_.source().begin.line)
      line = "line " + std::to_string(table_.source().begin.line) + ": ";
    throw ConfigFailure{line + context_ + "key '" + std::string(key) + "' is required"};
  }
  const std::string& context() const { return context_; }

 private:
  const toml::table& table_;
  std::string context_;
};

Endpoint endpoint_or_fail(TableReader& reader, const toml::table& table, std::string_view key,
                          const std::string& text) {
  auto ep = parse_endpoint(text);
  if (!ep) reader.fail(*table.get(key), key, ep.error().message);
  return ep.value();
}

void parse_server(const toml::table& table, ServerConfig& config) {
  TableReader r(table, "[server] ");
  r.allow({"listen", "admin_listen", "threads", "guest_threads", "access_log", "failure_log",
           "max_header_kb", "idle_timeout_s", "shutdown_timeout_s"});
  if (auto v = r.string("listen")) config.listen = endpoint_or_fail(r, table, "listen", *v);
  if (auto v = r.string("admin_listen")) {
    if (v->empty() || *v == "off") {
      config.admin_enabled = false;
    } else {
      config.admin_listen = endpoint_or_fail(r, table, "admin_listen", *v);
    }
  }
  if (auto v = r.integer("threads", 1, 1024)) config.threads = static_cast<uint32_t>(*v);
  if (auto v = r.integer("guest_threads", 1, 4096))
    config.guest_threads = static_cast<uint32_t>(*v);
  if (auto v = r.string("access_log")) config.access_log = *v;
  if (auto v = r.string("failure_log")) config.failure_log = *v;
  if (auto v = r.integer("max_header_kb", 1, 1024))
    config.max_header_bytes = static_cast<uint32_t>(*v * 1024);
  if (auto v = r.integer("idle_timeout_s", 1, 86400))
    config.idle_timeout = std::chrono::seconds(*v);
  if (auto v = r.integer("shutdown_timeout_s", 0, 86400))
    config.shutdown_timeout = std::chrono::seconds(*v);
}

// Fills the fields a worker and a durable-object namespace share: on_panic, on_abort,
// max_consecutive_failures, the limits, init/reinit exports and env.
template <class Config>
void parse_recovery_and_limits(TableReader& named, const toml::table& table, Config& w) {
  if (auto v = named.string("on_panic")) {
    if (*v == "keep")
      w.on_panic = runtime::PanicMode::Keep;
    else if (*v == "rollback")
      w.on_panic = runtime::PanicMode::Rollback;
    else
      named.fail(*table.get("on_panic"), "on_panic",
                 "expected \"keep\" or \"rollback\", got \"" + *v + "\"");
  }
  if (auto v = named.string("on_abort")) {
    if (*v == "reset")
      w.on_abort = runtime::AbortMode::Reset;
    else if (*v == "rollback")
      w.on_abort = runtime::AbortMode::Rollback;
    else
      named.fail(*table.get("on_abort"), "on_abort",
                 "expected \"reset\" or \"rollback\", got \"" + *v + "\"");
  }
  if (auto v = named.integer("max_consecutive_failures", 1, 1000000))
    w.max_consecutive_failures = static_cast<uint32_t>(*v);
  if (auto v = named.integer("cpu_ms", 0, 3600 * 1000))
    w.limits.cpu_per_request = std::chrono::milliseconds(*v);
  if (auto v = named.integer("max_memory_mb", 1, 4096))
    w.limits.max_memory_pages = static_cast<uint32_t>(*v * 16);  // 16 pages of 64 KiB per MiB
  if (auto v = named.integer("max_body_kb", 0, 4 * 1024 * 1024))
    w.limits.max_request_body_bytes = static_cast<uint64_t>(*v) * 1024;
  if (auto v = named.string("init_export")) w.init_export = *v;
  if (auto v = named.string("reinit_export")) w.reinit_export = *v;
  if (const toml::table* env = named.subtable("env")) {
    for (const auto& [key, node] : *env) {
      if (!node.is_string()) {
        throw ConfigFailure{where(node) + named.context() + "key 'env." + std::string(key.str()) +
                            "': expected a string"};
      }
      w.env[std::string(key.str())] = *node.value<std::string>();
    }
  }
}

std::string absolute_to(const std::filesystem::path& base_dir, const std::string& path) {
  std::filesystem::path p(path);
  return p.is_absolute() ? p.string() : (base_dir / p).string();
}

runtime::WorkerConfig parse_worker(const toml::table& table, size_t index,
                                   const std::filesystem::path& base_dir) {
  TableReader r(table, "[[worker]] #" + std::to_string(index + 1) + " ");
  r.allow({"name", "module", "instances", "on_panic", "on_abort", "max_consecutive_failures",
           "cpu_ms", "max_memory_mb", "max_body_kb", "max_queue", "init_export", "reinit_export",
           "env"});
  runtime::WorkerConfig w;
  w.name = r.required_string("name");
  // From here on, errors name the worker rather than its position.
  TableReader named(table, "[[worker]] '" + w.name + "' ");
  w.module_path = absolute_to(base_dir, named.required_string("module"));
  if (auto v = named.integer("instances", 0, 4096)) w.instances = static_cast<uint32_t>(*v);
  parse_recovery_and_limits(named, table, w);
  if (auto v = named.integer("max_queue", 1, 1 << 24))
    w.limits.max_queued_requests = static_cast<uint32_t>(*v);
  return w;
}

// [[durable_object]]: a namespace and the route that reaches it (returned separately).
objects::NamespaceConfig parse_durable_object(const toml::table& table, size_t index,
                                              const std::filesystem::path& base_dir,
                                              RouteConfig& route) {
  TableReader r(table, "[[durable_object]] #" + std::to_string(index + 1) + " ");
  r.allow({"name", "module", "database", "path", "on_panic", "on_abort", "max_consecutive_failures",
           "cpu_ms", "max_memory_mb", "max_body_kb", "max_queue", "max_queue_per_object",
           "idle_timeout_s", "max_live_objects", "concurrency", "init_export", "reinit_export",
           "env"});
  objects::NamespaceConfig ns;
  ns.name = r.required_string("name");
  TableReader named(table, "[[durable_object]] '" + ns.name + "' ");
  ns.module_path = absolute_to(base_dir, named.required_string("module"));
  // Storage must outlive the process: by default next to the configuration, named after the
  // namespace.
  ns.db_path = absolute_to(base_dir, named.string("database").value_or(ns.name + ".db"));
  parse_recovery_and_limits(named, table, ns);
  if (auto v = named.integer("max_queue", 1, 1 << 24))
    ns.limits.max_queued_requests = static_cast<uint32_t>(*v);
  if (auto v = named.integer("max_queue_per_object", 1, 1 << 20))
    ns.max_queue_per_object = static_cast<uint32_t>(*v);
  if (auto v = named.integer("idle_timeout_s", 0, 86400 * 365))
    ns.idle_timeout = std::chrono::seconds(*v);
  if (auto v = named.integer("max_live_objects", 1, 1 << 24))
    ns.max_live_objects = static_cast<uint32_t>(*v);
  if (auto v = named.integer("concurrency", 1, 4096)) ns.concurrency = static_cast<uint32_t>(*v);
  route = RouteConfig{"/obj/" + ns.name, "", ns.name, /*strip_prefix=*/true};
  if (auto v = named.string("path")) {
    if (v->empty() || (*v)[0] != '/') named.fail(*table.get("path"), "path", "must start with '/'");
    route.path_prefix = *v;
  }
  return ns;
}

RouteConfig parse_route(const toml::table& table, size_t index) {
  TableReader r(table, "[[route]] #" + std::to_string(index + 1) + " ");
  r.allow({"path", "host", "worker", "strip_prefix"});
  RouteConfig route;
  auto path = r.string("path");
  auto host = r.string("host");
  auto worker = r.string("worker");
  if (!worker) r.fail_missing("worker");
  if (!path && !host) r.fail_missing("path' or 'host");
  if (path) {
    if (path->empty() || (*path)[0] != '/')
      r.fail(*table.get("path"), "path", "must start with '/'");
    route.path_prefix = *path;
  }
  if (host) {
    if (host->empty()) r.fail(*table.get("host"), "host", "must not be empty");
    route.host = *host;
  }
  route.worker = *worker;
  if (const toml::node* strip = table.get("strip_prefix")) {
    if (!strip->is_boolean()) r.fail(*strip, "strip_prefix", "expected true or false");
    route.strip_prefix = *strip->value<bool>();
  }
  return route;
}

}  // namespace

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<Endpoint> parse_endpoint(std::string_view text) {
  Endpoint ep;
  std::string_view port_text;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return config_error("expected [ipv6]:port, got \"" + std::string(text) + "\"");
    ep.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return config_error("expected host:port, got \"" + std::string(text) + "\"");
    ep.host = colon == 0 ? "127.0.0.1" : std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port > 65535)
    return config_error("invalid port in \"" + std::string(text) + "\"");
  ep.port = static_cast<uint16_t>(port);
  if (ep.host.empty()) return config_error("empty host in \"" + std::string(text) + "\"");
  return ep;
}

ServerConfig default_config(const std::string& module_path) {
  ServerConfig config;
  runtime::WorkerConfig worker;
  std::string stem = std::filesystem::path(module_path).stem().string();
  worker.name = stem.empty() ? "default" : stem;
  worker.module_path = module_path;
  config.workers.push_back(worker);
  config.routes.push_back(RouteConfig{"/", "", worker.name});
  return config;
}

Result<void> validate_config(const ServerConfig& config) {
  if (config.workers.empty() && config.durable_objects.empty())
    return config_error("no [[worker]] or [[durable_object]] configured");
  std::set<std::string> names;
  for (const auto& w : config.workers) {
    if (!names.insert(w.name).second)
      return config_error("[[worker]] key 'name': duplicate worker name '" + w.name + "'");
  }
  for (const auto& ns : config.durable_objects) {
    if (!names.insert(ns.name).second)
      return config_error("[[durable_object]] key 'name': the name '" + ns.name +
                          "' is already used by a worker or another namespace");
  }
  for (size_t i = 0; i < config.routes.size(); ++i) {
    const auto& route = config.routes[i];
    if (!names.count(route.worker)) {
      return config_error("[[route]] #" + std::to_string(i + 1) +
                          " key 'worker': no worker named '" + route.worker + "'");
    }
  }
  if (config.routes.empty() && config.workers.size() > 1)
    return config_error("several workers but no [[route]]: say which paths go where");
  if (config.routes.empty()) return config_error("no [[route]] configured");
  for (const auto& w : config.workers) {
    bool routed = std::any_of(config.routes.begin(), config.routes.end(),
                              [&](const RouteConfig& r) { return r.worker == w.name; });
    if (!routed)
      return config_error("[[worker]] '" + w.name + "' has no [[route]]: say which paths go to it");
  }
  return {};
}

Result<ServerConfig> parse_config(std::string_view toml_text, std::string_view source_name,
                                  const std::filesystem::path& base_dir) {
  std::string prefix = std::string(source_name) + ": ";
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    return config_error(prefix + "line " + std::to_string(e.source().begin.line) + ": " +
                        std::string(e.description()));
  }
  ServerConfig config;
  bool explicit_routes = false;
  try {
    TableReader top(root, "");
    top.allow({"server", "worker", "durable_object", "route"});
    if (const toml::table* server = top.subtable("server")) parse_server(*server, config);
    auto array_of_tables = [&](std::string_view key) -> const toml::array* {
      const toml::node* node = root.get(key);
      if (!node) return nullptr;
      const toml::array* arr = node->as_array();
      if (!arr || !arr->is_array_of_tables())
        top.fail(*node, key, "expected an array of tables ([[" + std::string(key) + "]])");
      return arr;
    };
    if (const toml::array* workers = array_of_tables("worker")) {
      for (size_t i = 0; i < workers->size(); ++i)
        config.workers.push_back(parse_worker(*(*workers)[i].as_table(), i, base_dir));
    }
    if (const toml::array* namespaces = array_of_tables("durable_object")) {
      for (size_t i = 0; i < namespaces->size(); ++i) {
        RouteConfig route;
        config.durable_objects.push_back(
            parse_durable_object(*(*namespaces)[i].as_table(), i, base_dir, route));
        config.routes.push_back(std::move(route));
      }
    }
    if (const toml::array* routes = array_of_tables("route")) {
      explicit_routes = true;
      for (size_t i = 0; i < routes->size(); ++i)
        config.routes.push_back(parse_route(*(*routes)[i].as_table(), i));
    }
  } catch (const ConfigFailure& f) {
    return config_error(prefix + f.message);
  }
  // One worker and no routes: it serves everything, as with `rewind serve worker.wasm`.
  if (!explicit_routes && config.workers.size() == 1)
    config.routes.push_back(RouteConfig{"/", "", config.workers[0].name});
  if (auto ok = validate_config(config); !ok) return config_error(prefix + ok.error().message);
  return config;
}

Result<ServerConfig> load_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return config_error(path.string() + ": cannot open the configuration file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path.string(),
                      path.parent_path().empty() ? "." : path.parent_path());
}

}  // namespace rw::server
