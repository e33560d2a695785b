#include "serve_command.h"

#include <pthread.h>
#include <signal.h>

#include <iostream>

#include "cli/commands.h"
#include "rewind/objects.h"
#include "rewind/runtime.h"
#include "server/config.h"
#include "server/server.h"

namespace rw::cli {

ServeCommand add_serve_command(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  auto* serve = app.add_subcommand(
      "serve", "Serve workers over HTTP: `serve worker.wasm` or `serve --config rewind.toml`");
  serve->add_option("module", options->module_path,
                    "Worker module: serves it on / with no configuration file");
  serve->add_option("-c,--config", options->config_path,
                    "Configuration file (TOML), see docs/configuration.md");
  serve->add_option("--listen", options->listen, "host:port for HTTP (default 127.0.0.1:8080)");
  serve->add_option(
      "--admin-listen", options->admin_listen,
      "host:port for /metrics and /healthz (default 127.0.0.1:9090; \"off\" disables)");
  serve->add_option("--threads", options->threads, "IO threads (default: one per core)")
      ->check(CLI::Range(1, 1024));
  serve->add_option("--access-log", options->access_log,
                    "Write one JSON line per request to this file (\"-\": stderr)");
  return ServeCommand{serve, [options] { return serve_command(*options, std::cout, std::cerr); }};
}

int serve_command(const ServeOptions& options, std::ostream& out, std::ostream& err) {
  if (options.module_path.empty() == options.config_path.empty()) {
    err << "rewind serve: give either a worker module or --config FILE (not both)\n";
    return kExitUsage;
  }
  server::ServerConfig config;
  if (!options.config_path.empty()) {
    auto loaded = server::load_config(options.config_path);
    if (!loaded) {
      err << "rewind serve: " << loaded.error().message << "\n";
      return kExitUsage;
    }
    config = std::move(loaded.value());
  } else {
    config = server::default_config(options.module_path);
  }
  if (!options.listen.empty()) {
    auto ep = server::parse_endpoint(options.listen);
    if (!ep) {
      err << "rewind serve: --listen: " << ep.error().message << "\n";
      return kExitUsage;
    }
    config.listen = ep.value();
  }
  if (!options.admin_listen.empty()) {
    if (options.admin_listen == "off") {
      config.admin_enabled = false;
    } else {
      auto ep = server::parse_endpoint(options.admin_listen);
      if (!ep) {
        err << "rewind serve: --admin-listen: " << ep.error().message << "\n";
        return kExitUsage;
      }
      config.admin_listen = ep.value();
      config.admin_enabled = true;
    }
  }
  if (options.threads) config.threads = *options.threads;
  if (!options.access_log.empty()) config.access_log = options.access_log;

  // Every thread started from here on inherits the blocked signals; this one waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::vector<std::shared_ptr<runtime::Worker>> workers;
#ifndef REWIND_HAVE_WORKER_RUNTIME
  err << "rewind serve: this build has no worker runtime (src/runtime/worker_pool)\n";
  return kExitFailure;
#endif
  for (const auto& worker_config : config.workers) {
#ifdef REWIND_HAVE_WORKER_RUNTIME
    auto worker = runtime::Worker::create(worker_config);
#else
    Result<std::shared_ptr<runtime::Worker>> worker = Error{};
#endif
    if (!worker) {
      err << "rewind serve: worker '" << worker_config.name << "' (" << worker_config.module_path
          << "): " << worker.error().to_string() << "\n";
      return kExitFailure;
    }
    workers.push_back(std::move(worker.value()));
  }
  // Durable-object namespaces are served like workers: the server routes /obj/<name>/<id>/...
  // to the namespace, which runs each object's calls one at a time.
  for (const auto& ns_config : config.durable_objects) {
    auto ns = objects::Namespace::create(ns_config);
    if (!ns) {
      err << "rewind serve: durable object namespace '" << ns_config.name << "' ("
          << ns_config.module_path << "): " << ns.error().to_string() << "\n";
      return kExitFailure;
    }
    auto worker = objects::as_worker(ns.value());
    config.workers.push_back(worker->config());
    workers.push_back(std::move(worker));
  }
  // From here on the server sees every namespace as one more worker.
  config.durable_objects.clear();
  auto server = server::Server::create(config, workers);
  if (!server) {
    err << "rewind serve: " << server.error().message << "\n";
    return kExitFailure;
  }
  server.value()->start();

  std::string where =
      "http://" + server::Endpoint{config.listen.host, server.value()->port()}.to_string();
  out << "rewind serve: listening on " << where;
  if (config.admin_enabled) {
    out << ", admin on http://"
        << server::Endpoint{config.admin_listen.host, server.value()->admin_port()}.to_string();
  }
  out << " (";
  for (size_t i = 0; i < config.routes.size(); ++i) {
    const auto& route = config.routes[i];
    out << (i ? ", " : "") << route.worker << " on " << (route.host.empty() ? "" : route.host)
        << route.path_prefix;
  }
  out << ")" << std::endl;

  int received = 0;
  sigwait(&signals, &received);
  err << "rewind serve: " << (received == SIGINT ? "SIGINT" : "SIGTERM")
      << ": no new connections; finishing requests in flight" << std::endl;
  server.value()->stop();
  err << "rewind serve: stopped" << std::endl;
  return kExitOk;
}

}  // namespace rw::cli
