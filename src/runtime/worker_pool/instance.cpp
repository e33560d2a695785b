#include "runtime/worker_pool/instance.h"

#include <algorithm>
#include <cstring>

#include "rewind/guest_support.h"
#include "rewind/lifecycle.h"
#include "runtime/wasi/guest_output.h"

namespace rw::runtime::detail {

namespace {

Error init_error(std::string message) {
  return Error{Error::Kind::Uninstantiable, std::move(message)};
}

}  // namespace

PoolInstance::PoolInstance(std::shared_ptr<WorkerEnv> env, uint64_t id)
    : env_(std::move(env)),
      id_(id),
      state_(std::make_shared<CallState>()),
      output_([this](std::string_view level, std::string_view stream, std::string_view line) {
        emit(level, stream, line);
      }) {
  state_->log = [this](std::string_view level, std::string_view stream, std::string_view message) {
    emit(level, stream, message);
  };
}

PoolInstance::~PoolInstance() { drop_generation(); }

void PoolInstance::drop_generation() {
  // The store's host functions refer to state_, whose log sink refers to this object; the
  // lifecycle must go before the store.
  lifecycle_.reset();
  instance_ = nullptr;
  store_.reset();
  wasi_.reset();
}

Result<std::unique_ptr<PoolInstance>> PoolInstance::create(std::shared_ptr<WorkerEnv> env,
                                                           uint64_t id) {
  std::unique_ptr<PoolInstance> instance(new PoolInstance(env, id));
  bool spawnable = env->snapshot && env->snapshot->spawnable();
  Result<void> built =
      spawnable ? instance->spawn_from_snapshot() : instance->initialise_from_module();
  if (!built) return built.error();
  return instance;
}

void PoolInstance::emit(std::string_view level, std::string_view stream, std::string_view message) {
  if (!env_->log) return;
  LogRecord record;
  record.worker = env_->config.name;
  record.instance_id = id_;
  record.request_id = request_id_;
  record.level = level;
  record.stream = stream;
  record.message = message;
  env_->log(record);
}

StoreOptions PoolInstance::store_options() const {
  StoreOptions options;
  options.limits.max_memory_pages = env_->config.limits.max_memory_pages;
  options.limits.cpu_time_per_call = env_->config.limits.cpu_per_request;
  return options;
}

// The rewind imports bound to this instance's CallState, and WASI with a fresh context when the
// module imports it.
Result<Imports> PoolInstance::make_imports(Store& store) {
  const WorkerConfig& config = env_->config;
  Imports imports;
  define_imports(store, imports, state_);
  wasi_.reset();
  if (!env_->imports_wasi) return imports;
  auto context =
      wasi::request_guest_context(config.name, config.env, config.limits.cpu_per_request, output_);
  if (!context) return context.error();
  wasi_ = context.value();
  wasi::define_imports(store, imports, wasi_);
  return imports;
}

Result<void> PoolInstance::initialise_from_module() {
  drop_generation();
  const WorkerConfig& config = env_->config;
  auto store = std::make_unique<Store>(store_options());
  auto imports = make_imports(*store);
  if (!imports) return imports.error();
  auto instantiated = store->instantiate(env_->module, imports.value());
  if (!instantiated) return instantiated.error();
  Instance* instance = instantiated.value();

  // The version first, before any of the guest's own initialisation runs.
  auto version = instance->get_function(kVersionExport);
  if (!version || version->type() != FuncType{{}, {ValType::I32}})
    return init_error("rewind_abi_version must be a function () -> i32 (see docs/guest-abi.md)");
  CallResult v = store->call(*version, {});
  if (!v.ok()) return init_error("rewind_abi_version failed: " + describe_outcome(v));
  if (v.values[0].as_i32() != kAbiVersion)
    return init_error("worker was built for rewind guest ABI version " +
                      std::to_string(v.values[0].as_i32()) + "; this runtime implements version " +
                      std::to_string(kAbiVersion) + " (see docs/guest-abi.md)");

  auto handle = instance->get_function(kHandleExport);
  if (!handle || handle->type() != FuncType{})
    return init_error("rewind_handle must be a function () -> () (see docs/guest-abi.md)");

  state_->begin(nullptr);
  if (auto initialize = instance->get_function("_initialize")) {
    CallResult r = store->call(*initialize, {});
    flush_output();
    if (!r.ok()) return init_error("_initialize failed: " + describe_outcome(r));
  }
  if (!config.init_export.empty()) {
    auto init = instance->get_function(config.init_export);
    if (!init || init->type() != FuncType{})
      return init_error("init export " + config.init_export +
                        " is missing or not a function () -> ()");
    CallResult r = store->call(*init, {});
    flush_output();
    if (!r.ok()) return init_error(config.init_export + " failed: " + describe_outcome(r));
  }

  // This instance's post-initialisation state is what every reset returns to; the first one
  // also becomes the worker's snapshot for spawning the rest of the pool.
  auto snapshot = Snapshot::capture(*instance);
  if (!snapshot) return snapshot.error();
  if (!env_->snapshot) env_->snapshot = snapshot.value();
  auto lifecycle = Lifecycle::attach(*instance, snapshot.value());
  if (!lifecycle) return lifecycle.error();

  store_ = std::move(store);
  instance_ = instance;
  lifecycle_ = std::move(lifecycle.value());
  handle_ = *handle;
  return {};
}

Result<void> PoolInstance::spawn_from_snapshot() {
  drop_generation();
  auto spawned = rw::spawn(
      env_->snapshot, [this](Store& store) { return make_imports(store); }, store_options());
  if (!spawned) return spawned.error();
  SpawnedInstance& s = spawned.value();
  store_ = std::move(s.store);
  instance_ = s.instance;
  lifecycle_ = std::move(s.lifecycle);
  handle_ = *instance_->get_function(kHandleExport);
  return {};
}

bool PoolInstance::rollback() {
  if (!lifecycle_ || (wasi_ && wasi_->exit_code())) return false;
  return lifecycle_->rollback();
}

Result<void> PoolInstance::reset(const std::string& failure_json) {
  ++generation_;
  if (!lifecycle_ || (wasi_ && wasi_->exit_code())) {
    // The WASI context remembers an exit, and a failed earlier reset leaves no instance: start
    // from a new store, from the snapshot when possible.
    auto rebuilt = env_->snapshot && env_->snapshot->spawnable() ? spawn_from_snapshot()
                                                                 : initialise_from_module();
    if (!rebuilt) return rebuilt;
  } else {
    lifecycle_->reset();
  }
  auto reinit = instance_->get_function(env_->config.reinit_export);
  if (env_->config.reinit_export.empty() || !reinit || reinit->type() != FuncType{}) return {};
  state_->begin(nullptr);
  state_->failure_json = failure_json;
  CallResult r = store_->call(*reinit, {});
  state_->failure_json.reset();
  flush_output();
  if (r.ok()) return {};
  // A reinit that fails leaves no trustworthy state: back to the snapshot, without it.
  emit("error", "log", env_->config.reinit_export + " failed after reset: " + describe_outcome(r));
  lifecycle_->reset();
  return {};
}

RunResult PoolInstance::run(const Request& request, bool checkpoint) {
  RunResult result;
  if (!instance_ || !lifecycle_) {
    result.outcome = Outcome::Abort;
    result.trap = TrapKind::HostAbort;
    result.message = "instance unavailable: its last reset failed";
    result.needs_recovery = true;
    return result;
  }
  request_id_ = request.request_id;
  state_->begin(&request);
  if (checkpoint) lifecycle_->checkpoint();
  CallResult r = store_->call(handle_, {});
  flush_output();
  state_->request = nullptr;

  if (r.ok()) {
    if (checkpoint) lifecycle_->commit();
    result.response = std::move(state_->response);
    request_id_.clear();
    return result;
  }

  if (auto code = wasi::exit_code_of(r)) {
    // exit() inside a handler: the C library has run its exit path and WASI remembers the exit,
    // so this instance cannot serve again. An abort of the guest's own asking.
    result.outcome = Outcome::Abort;
    result.trap = TrapKind::GuestAbort;
    result.message = "worker called proc_exit(" + std::to_string(*code) + ")";
    result.backtrace = r.backtrace;
    result.needs_recovery = true;
    result.exited = true;
    request_id_.clear();
    return result;
  }

  CallFailure failure = classify_failure(*instance_, r, *state_);
  result.outcome = failure.outcome;
  result.trap = failure.trap;
  result.message = std::move(failure.message);
  result.backtrace = r.backtrace;
  result.needs_recovery = store_->terminated() || result.outcome == Outcome::Abort;
  request_id_.clear();
  return result;
}

}  // namespace rw::runtime::detail
