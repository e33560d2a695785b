// rw::objects::as_worker: a namespace behind the runtime::Worker interface, so a server that
// routes by path prefix to workers serves objects with no object-specific code.

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "rewind/objects.h"
#include "runtime/objects/object_instance.h"
#include "runtime/worker_pool/responses.h"

namespace rw::objects {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class NamespaceWorker final : public runtime::Worker {
 public:
  explicit NamespaceWorker(std::shared_ptr<Namespace> ns) : ns_(std::move(ns)) {
    const NamespaceConfig& c = ns_->config();
    config_.name = c.name;
    config_.module_path = c.module_path;
    uint32_t hw = std::max(1u, std::thread::hardware_concurrency());
    config_.instances = c.concurrency ? c.concurrency : std::min(4 * hw, 256u);
    config_.on_panic = c.on_panic;
    config_.on_abort = c.on_abort;
    config_.max_consecutive_failures = c.max_consecutive_failures;
    config_.init_export = c.init_export;
    config_.reinit_export = c.reinit_export;
    config_.limits = c.limits;
    config_.env = c.env;
    // The worker's hooks are set by its user after creation: look them up at each call.
    ns_->on_log = [this](const runtime::LogRecord& record) {
      if (on_log)
        on_log(record);
      else
        detail::log_to_stderr(record);
    };
    ns_->on_failure = [this](const runtime::FailureRecord& record) {
      if (on_failure) on_failure(record);
    };
  }
  ~NamespaceWorker() override {
    ns_->drain();
    ns_->on_log = nullptr;
    ns_->on_failure = nullptr;
  }

  runtime::HandleResult handle(const runtime::Request& request) override {
    auto [id, rest] = split_target(request.target);
    if (!id) {
      runtime::HandleResult result;
      result.response = runtime::json_response(
          400, {{"error", "bad_object_id"},
                {"request_id", request.request_id},
                {"message", "expected /<object id>/<path>, with the id percent-encoded"}});
      return result;
    }
    runtime::Request routed = request;  // the guest sees the path below the object
    routed.target = std::move(rest);
    return ns_->handle(*id, routed);
  }

  runtime::WorkerStats stats() const override {
    NamespaceStats s = ns_->stats();
    runtime::WorkerStats w;
    w.requests = s.requests;
    w.ok = s.ok;
    w.panics = s.panics;
    w.host_errors = s.host_errors;
    w.aborts = s.aborts;
    w.recoveries = s.recoveries;
    w.aborts_by_kind = s.aborts_by_kind;
    w.in_flight = s.in_flight;
    w.queued = s.queued;
    return w;
  }

  const runtime::WorkerConfig& config() const override { return config_; }
  void drain() override { ns_->drain(); }

  // "/<id>/<rest>?q" -> id (percent-decoded), "/<rest>?q"; "/<id>" and "/<id>?q" -> "/" and
  // "/?q". No id, or a bad escape: nullopt.
  static std::pair<std::optional<std::string>, std::string> split_target(std::string_view target) {
    if (target.empty() || target[0] != '/') return {std::nullopt, {}};
    target.remove_prefix(1);
    size_t end = target.find_first_of("/?");
    std::string_view raw = target.substr(0, end);
    std::string rest = end == std::string_view::npos ? "/" : std::string(target.substr(end));
    if (!rest.empty() && rest[0] == '?') rest.insert(0, 1, '/');
    if (raw.empty()) return {std::nullopt, {}};
    std::string id;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '%') {
        id.push_back(raw[i]);
        continue;
      }
      if (i + 2 >= raw.size()) return {std::nullopt, {}};
      int hi = hex_value(raw[i + 1]), lo = hex_value(raw[i + 2]);
      if (hi < 0 || lo < 0) return {std::nullopt, {}};
      id.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
    return {std::move(id), std::move(rest)};
  }

 private:
  std::shared_ptr<Namespace> ns_;
  runtime::WorkerConfig config_;
};

}  // namespace

std::shared_ptr<runtime::Worker> as_worker(std::shared_ptr<Namespace> ns) {
  return std::make_shared<NamespaceWorker>(std::move(ns));
}

}  // namespace rw::objects
