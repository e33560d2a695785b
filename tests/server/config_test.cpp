#include "server/config.h"

#include <gtest/gtest.h>

namespace rw::server {
namespace {

Result<ServerConfig> parse(std::string_view text) {
  return parse_config(text, "rewind.toml", "/srv");
}

std::string error_of(std::string_view text) {
  auto r = parse(text);
  EXPECT_FALSE(r.ok()) << "expected an error for:\n" << text;
  return r.ok() ? "" : r.error().message;
}

TEST(Config, FullExample) {
  auto r = parse(R"(
[server]
listen = "0.0.0.0:8000"
admin_listen = "127.0.0.1:9100"
threads = 4
guest_threads = 8
access_log = "-"
failure_log = "/var/log/rewind-failures.log"
max_header_kb = 32
idle_timeout_s = 10
shutdown_timeout_s = 5

[[worker]]
name = "api"
module = "api.wasm"
instances = 4
on_panic = "rollback"
on_abort = "rollback"
max_consecutive_failures = 5
cpu_ms = 250
max_memory_mb = 64
max_body_kb = 512
max_queue = 100
init_export = "init"
env = { MODE = "prod", LEVEL = "2" }

[[worker]]
name = "static"
module = "/abs/static.wasm"

[[route]]
path = "/api"
worker = "api"

[[route]]
host = "static.example.com"
worker = "static"
)");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const ServerConfig& c = r.value();
  EXPECT_EQ(c.listen.host, "0.0.0.0");
  EXPECT_EQ(c.listen.port, 8000);
  EXPECT_EQ(c.admin_listen.port, 9100);
  EXPECT_TRUE(c.admin_enabled);
  EXPECT_EQ(c.threads, 4u);
  EXPECT_EQ(c.guest_threads, 8u);
  EXPECT_EQ(c.access_log, "-");
  EXPECT_EQ(c.failure_log, "/var/log/rewind-failures.log");
  EXPECT_EQ(c.max_header_bytes, 32u * 1024);
  EXPECT_EQ(c.idle_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c.shutdown_timeout, std::chrono::seconds(5));
  ASSERT_EQ(c.workers.size(), 2u);
  const auto& api = c.workers[0];
  EXPECT_EQ(api.name, "api");
  EXPECT_EQ(api.module_path, "/srv/api.wasm");
  EXPECT_EQ(api.instances, 4u);
  EXPECT_EQ(api.on_panic, runtime::PanicMode::Rollback);
  EXPECT_EQ(api.on_abort, runtime::AbortMode::Rollback);
  EXPECT_EQ(api.max_consecutive_failures, 5u);
  EXPECT_EQ(api.limits.cpu_per_request, std::chrono::milliseconds(250));
  EXPECT_EQ(api.limits.max_memory_pages, 64u * 16);
  EXPECT_EQ(api.limits.max_request_body_bytes, 512u * 1024);
  EXPECT_EQ(api.limits.max_queued_requests, 100u);
  EXPECT_EQ(api.init_export, "init");
  EXPECT_EQ(api.env.at("MODE"), "prod");
  EXPECT_EQ(api.env.at("LEVEL"), "2");
  EXPECT_EQ(c.workers[1].module_path, "/abs/static.wasm");
  EXPECT_EQ(c.workers[1].on_panic, runtime::PanicMode::Keep);
  EXPECT_EQ(c.workers[1].on_abort, runtime::AbortMode::Reset);
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.routes[0].path_prefix, "/api");
  EXPECT_EQ(c.routes[0].worker, "api");
  EXPECT_EQ(c.routes[1].host, "static.example.com");
  EXPECT_EQ(c.routes[1].path_prefix, "/");
}

TEST(Config, OneWorkerWithoutRoutesServesEverything) {
  auto r = parse("[[worker]]\nname = \"w\"\nmodule = \"w.wasm\"\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->routes.size(), 1u);
  EXPECT_EQ(r->routes[0].path_prefix, "/");
  EXPECT_EQ(r->routes[0].worker, "w");
  EXPECT_EQ(r->listen.to_string(), "127.0.0.1:8080");
  EXPECT_EQ(r->admin_listen.to_string(), "127.0.0.1:9090");
}

TEST(Config, DurableObjectNamespacesGetARouteAndADatabase) {
  auto r = parse(
      "[[worker]]\nname = \"w\"\nmodule = \"w.wasm\"\n"
      "[[durable_object]]\nname = \"bank\"\nmodule = \"bank.wasm\"\n"
      "[[durable_object]]\nname = \"rooms\"\nmodule = \"/abs/rooms.wasm\"\n"
      "database = \"data/rooms.db\"\npath = \"/r\"\non_abort = \"reset\"\n"
      "max_queue_per_object = 8\nidle_timeout_s = 5\nmax_live_objects = 100\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->durable_objects.size(), 2u);
  const auto& bank = r->durable_objects[0];
  EXPECT_EQ(bank.module_path, "/srv/bank.wasm");
  EXPECT_EQ(bank.db_path, "/srv/bank.db");  // by default next to the configuration
  EXPECT_EQ(bank.on_panic, runtime::PanicMode::Rollback);  // objects roll back by default
  EXPECT_EQ(bank.on_abort, runtime::AbortMode::Rollback);
  const auto& rooms = r->durable_objects[1];
  EXPECT_EQ(rooms.module_path, "/abs/rooms.wasm");
  EXPECT_EQ(rooms.db_path, "/srv/data/rooms.db");
  EXPECT_EQ(rooms.on_abort, runtime::AbortMode::Reset);
  EXPECT_EQ(rooms.max_queue_per_object, 8u);
  EXPECT_EQ(rooms.idle_timeout, std::chrono::seconds(5));
  EXPECT_EQ(rooms.max_live_objects, 100u);
  // The lone worker still serves "/", the namespaces their prefixes with the prefix stripped.
  ASSERT_EQ(r->routes.size(), 3u);
  EXPECT_EQ(r->routes[0].path_prefix, "/obj/bank");
  EXPECT_EQ(r->routes[0].worker, "bank");
  EXPECT_TRUE(r->routes[0].strip_prefix);
  EXPECT_EQ(r->routes[1].path_prefix, "/r");
  EXPECT_EQ(r->routes[2].path_prefix, "/");
  EXPECT_EQ(r->routes[2].worker, "w");
}

TEST(Config, DurableObjectErrorsNameTheKey) {
  const std::string w = "[[worker]]\nname = \"w\"\nmodule = \"w.wasm\"\n";
  EXPECT_NE(error_of("[[durable_object]]\nname = \"b\"\n")
                .find("[[durable_object]] 'b' key 'module' is required"),
            std::string::npos);
  EXPECT_NE(error_of("[[durable_object]]\nname = \"w\"\nmodule = \"b.wasm\"\n" + w)
                .find("the name 'w' is already used"),
            std::string::npos);
  EXPECT_NE(error_of("[[durable_object]]\nname = \"b\"\nmodule = \"b.wasm\"\npath = \"x\"\n")
                .find("key 'path': must start with '/'"),
            std::string::npos);
  EXPECT_NE(error_of("[[durable_object]]\nname = \"b\"\nmodule = \"b.wasm\"\ninstances = 2\n")
                .find("key 'instances': unknown key"),
            std::string::npos);
  // With explicit routes, a worker nobody routes to is a mistake, not a silent default.
  EXPECT_NE(error_of(w + "[[durable_object]]\nname = \"b\"\nmodule = \"b.wasm\"\n" +
                     "[[route]]\npath = \"/x\"\nworker = \"b\"\n")
                .find("[[worker]] 'w' has no [[route]]"),
            std::string::npos);
}

TEST(Config, AdminCanBeTurnedOff) {
  auto r =
      parse("[server]\nadmin_listen = \"off\"\n[[worker]]\nname = \"w\"\nmodule = \"w.wasm\"\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->admin_enabled);
}

TEST(Config, DefaultConfigNamesTheWorkerAfterTheFile) {
  ServerConfig c = default_config("build/examples/hello-worker.wasm");
  ASSERT_EQ(c.workers.size(), 1u);
  EXPECT_EQ(c.workers[0].name, "hello-worker");
  EXPECT_EQ(c.workers[0].module_path, "build/examples/hello-worker.wasm");
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].worker, "hello-worker");
  EXPECT_EQ(c.listen.port, 8080);
  EXPECT_EQ(c.admin_listen.port, 9090);
  EXPECT_TRUE(validate_config(c).ok());
}

TEST(Config, ErrorsNameTheKey) {
  std::string w = "[[worker]]\nname = \"w\"\nmodule = \"w.wasm\"\n";
  EXPECT_NE(
      error_of("[server]\nlisten = 8080\n" + w).find("[server] key 'listen': expected a string"),
      std::string::npos);
  EXPECT_NE(
      error_of("[server]\nlisten = \"nohost\"\n" + w).find("key 'listen': expected host:port"),
      std::string::npos);
  EXPECT_NE(
      error_of("[server]\nlisten = \"1.2.3.4:99999\"\n" + w).find("key 'listen': invalid port"),
      std::string::npos);
  EXPECT_NE(error_of("[server]\nthreads = 0\n" + w).find("key 'threads': must be between 1 and"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nthread = 2\n" + w).find("[server] key 'thread': unknown key"),
            std::string::npos);
  EXPECT_NE(error_of(w + "instances = \"4\"\n")
                .find("[[worker]] 'w' key 'instances': expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of(w + "on_panic = \"ignore\"\n")
                .find("key 'on_panic': expected \"keep\" or \"rollback\""),
            std::string::npos);
  EXPECT_NE(error_of(w + "on_abort = \"keep\"\n")
                .find("key 'on_abort': expected \"reset\" or \"rollback\""),
            std::string::npos);
  EXPECT_NE(error_of(w + "max_memory_mb = 5000\n").find("key 'max_memory_mb'"), std::string::npos);
  EXPECT_NE(error_of(w + "env = { A = 1 }\n").find("key 'env.A': expected a string"),
            std::string::npos);
  EXPECT_NE(error_of(w + "modul = \"x\"\n").find("key 'modul': unknown key"), std::string::npos);
  EXPECT_NE(
      error_of("[[worker]]\nmodule = \"w.wasm\"\n").find("[[worker]] #1 key 'name' is required"),
      std::string::npos);
  EXPECT_NE(error_of("[[worker]]\nname = \"w\"\n").find("[[worker]] 'w' key 'module' is required"),
            std::string::npos);
  EXPECT_NE(error_of(w + w).find("duplicate worker name 'w'"), std::string::npos);
  EXPECT_NE(error_of(w + "[[route]]\npath = \"/x\"\nworker = \"nope\"\n")
                .find("[[route]] #1 key 'worker': no worker named 'nope'"),
            std::string::npos);
  EXPECT_NE(error_of(w + "[[route]]\npath = \"x\"\nworker = \"w\"\n")
                .find("key 'path': must start with '/'"),
            std::string::npos);
  EXPECT_NE(error_of(w + "[[route]]\nworker = \"w\"\n")
                .find("[[route]] #1 key 'path' or 'host' is required"),
            std::string::npos);
  EXPECT_NE(error_of(w + "[[route]]\npath = \"/\"\n").find("key 'worker' is required"),
            std::string::npos);
  EXPECT_NE(error_of(w + "[[worker]]\nname = \"v\"\nmodule = \"v.wasm\"\n")
                .find("several workers but no [[route]]"),
            std::string::npos);
  EXPECT_NE(error_of("").find("no [[worker]]"), std::string::npos);
  EXPECT_NE(error_of("worker = 3\n").find("key 'worker': expected an array of tables"),
            std::string::npos);
  EXPECT_NE(error_of("[bogus]\n").find("key 'bogus': unknown key"), std::string::npos);
}

TEST(Config, ErrorsStartWithTheSourceAndLine) {
  std::string e = error_of(
      "[server]\nlisten = \"127.0.0.1:80\"\nthreads = -3\n[[worker]]\nname=\"w\"\nmodule=\"m\"\n");
  EXPECT_EQ(e.rfind("rewind.toml: line 3: [server] key 'threads'", 0), 0u) << e;
  std::string syntax = error_of("[server\nlisten = 1\n");
  EXPECT_EQ(syntax.rfind("rewind.toml: line 1: ", 0), 0u) << syntax;
}

TEST(Config, StripPrefix) {
  auto r = parse(
      "[[worker]]\nname = \"w\"\nmodule = \"w.wasm\"\n[[route]]\npath = \"/w\"\nworker = "
      "\"w\"\nstrip_prefix = true\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->routes[0].strip_prefix);
  EXPECT_NE(error_of("[[worker]]\nname = \"w\"\nmodule = \"w.wasm\"\n[[route]]\npath = "
                     "\"/w\"\nworker = \"w\"\nstrip_prefix = 1\n")
                .find("key 'strip_prefix': expected true or false"),
            std::string::npos);
}

TEST(Config, TheShippedExampleParses) {
  auto r = load_config(std::string(REWIND_SOURCE_DIR) + "/examples/rewind.toml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->workers.size(), 4u);
  ASSERT_EQ(r->durable_objects.size(), 1u);
  EXPECT_EQ(r->durable_objects[0].name, "bank");
  ASSERT_EQ(r->routes.size(), 5u);  // the four [[route]] tables and the namespace's
  EXPECT_EQ(r->routes[0].path_prefix, "/obj/bank");
  EXPECT_TRUE(r->routes[1].strip_prefix);
  EXPECT_EQ(r->workers[2].env.at("CHAOS_MODE"), "demo");
}

TEST(Config, MissingFile) {
  auto r = load_config("/nonexistent/rewind.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot open"), std::string::npos);
}

TEST(Config, Endpoints) {
  auto a = parse_endpoint("[::1]:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->to_string(), "[::1]:8080");
  auto b = parse_endpoint(":0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "127.0.0.1");
  EXPECT_EQ(b->port, 0);
  EXPECT_FALSE(parse_endpoint("host:").ok());
  EXPECT_FALSE(parse_endpoint("host:12x").ok());
  EXPECT_FALSE(parse_endpoint("[::1]8080").ok());
  EXPECT_FALSE(parse_endpoint(":-1").ok());
}

}  // namespace
}  // namespace rw::server
