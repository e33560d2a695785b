#include "runtime/objects/object_instance.h"

#include <algorithm>
#include <set>

#include "rewind/guest_support.h"
#include "runtime/wasi/wasi.h"

namespace rw::objects::detail {

using runtime::detail::CallFailure;
using runtime::detail::classify_failure;
using runtime::detail::describe_outcome;

namespace {

constexpr std::string_view kSeeDocs = " (see docs/guest-abi.md and docs/durable-objects.md)";

Error object_error(Error::Kind kind, std::string message) {
  return Error{kind, std::move(message)};
}

StoreOptions store_options(const NamespaceConfig& config) {
  StoreOptions options;
  options.limits.max_memory_pages = config.limits.max_memory_pages;
  options.limits.cpu_time_per_call = config.limits.cpu_per_request;
  options.terminate_on_abort = true;
  return options;
}

constexpr std::string_view kObjectIdImport = "object_id";

FuncType object_id_type() { return FuncType{{ValType::I32, ValType::I32}, {ValType::I32}}; }

// rewind.object_id(buf, cap) -> len: copies min(len, cap) bytes of the object's id to buf and
// returns the id's length. Usable in calls and in the reinit export.
void define_object_id_import(Store& store, Imports& imports, const std::string& object_id) {
  auto callback = [object_id](HostContext& ctx, std::span<const Value> args,
                              std::span<Value> results) -> HostResult {
    uint64_t ptr = static_cast<uint32_t>(args[0].i32), cap = static_cast<uint32_t>(args[1].i32);
    std::optional<Memory> memory = ctx.memory();
    if (!memory) return HostResult::abort("rewind.object_id: the module has no memory");
    if (cap > 0 && ptr + cap > memory->size_bytes())
      return HostResult::abort("rewind.object_id: range [" + std::to_string(ptr) + ", " +
                               std::to_string(ptr + cap) + ") is outside linear memory (" +
                               std::to_string(memory->size_bytes()) + " bytes)");
    size_t n = std::min<size_t>(cap, object_id.size());
    if (n > 0) memory->write(ptr, std::span(reinterpret_cast<const uint8_t*>(object_id.data()), n));
    results[0] = Value::make_i32(static_cast<int32_t>(object_id.size()));
    return HostResult::ok();
  };
  imports.define(std::string(runtime::detail::kAbiModule), std::string(kObjectIdImport),
                 Extern::of(store.create_host_function(object_id_type(), callback,
                                                       std::string(kObjectIdImport))));
}

// A transaction that is rolled back unless committed, and is the storage functions' target for
// as long as it lives.
class BoundTransaction {
 public:
  BoundTransaction(durable::Storage& storage, durable::StorageContext& context,
                   std::string_view object_id)
      : tx_(storage.begin(object_id)), context_(context) {
    context_.transaction = &tx_;
  }
  ~BoundTransaction() {
    context_.transaction = nullptr;
    tx_.rollback();
  }
  void unbind() { context_.transaction = nullptr; }
  durable::Transaction& tx() { return tx_; }

 private:
  durable::Transaction tx_;
  durable::StorageContext& context_;
};

}  // namespace

Result<void> check_object_module(const Module& module) {
  auto fail = [](std::string message) {
    return Error{Error::Kind::Unlinkable, std::move(message) + std::string(kSeeDocs)};
  };
  std::set<std::string_view> abi_names;
  for (std::string_view name : runtime::detail::function_names()) abi_names.insert(name);
  std::vector<durable::StorageFunction> storage = durable::storage_functions();
  for (const ImportDesc& imp : module.imports()) {
    if (imp.module == runtime::detail::kAbiModule) {
      auto s = std::find_if(storage.begin(), storage.end(),
                            [&](const durable::StorageFunction& f) { return f.name == imp.name; });
      if (imp.name == kObjectIdImport) {
        if (imp.kind != ExternKind::Func || imp.func_type != object_id_type())
          return fail("object imports rewind.object_id as " + to_string(imp.func_type) +
                      ", but it is defined as " + to_string(object_id_type()));
        continue;
      }
      if (s != storage.end()) {
        if (imp.kind != ExternKind::Func || imp.func_type != s->type)
          return fail("object imports rewind." + imp.name + " as " + to_string(imp.func_type) +
                      ", but the storage interface defines it as " + to_string(s->type));
        continue;
      }
      if (imp.kind != ExternKind::Func || !abi_names.contains(imp.name))
        return fail("object imports rewind." + imp.name + ", which guest ABI version " +
                    std::to_string(runtime::detail::kAbiVersion) + " does not define");
    } else if (imp.module != "wasi_snapshot_preview1") {
      return fail("object imports " + imp.module + "." + imp.name +
                  "; objects may import only from \"rewind\" and \"wasi_snapshot_preview1\"");
    }
  }
  bool has_memory = false, has_handle = false, has_version = false;
  for (const ExportDesc& exp : module.exports()) {
    if (exp.kind == ExternKind::Memory && exp.name == "memory") has_memory = true;
    if (exp.name == runtime::detail::kHandleExport) has_handle = true;
    if (exp.name == runtime::detail::kVersionExport) has_version = true;
  }
  if (!has_version)
    return fail("module does not export rewind_abi_version: it was not built as a rewind worker");
  if (!has_handle) return fail("object does not export the request handler rewind_handle");
  if (!has_memory) return fail("object does not export its linear memory as \"memory\"");
  return {};
}

ObjectInstance::ObjectInstance(std::shared_ptr<NamespaceEnv> env, std::string object_id,
                               uint64_t id)
    : env_(std::move(env)),
      object_id_(std::move(object_id)),
      id_(id),
      state_(std::make_shared<runtime::detail::CallState>()),
      storage_context_(std::make_shared<durable::StorageContext>()),
      output_([this](std::string_view level, std::string_view stream, std::string_view line) {
        emit(level, stream, line);
      }) {
  label_ = env_->config.name + "/" + object_id_;
  state_->log = [this](std::string_view level, std::string_view stream, std::string_view message) {
    emit(level, stream, message);
  };
}

ObjectInstance::~ObjectInstance() { drop_store(); }

void ObjectInstance::drop_store() {
  // Host functions refer to state_, whose log sink refers to this object.
  lifecycle_.reset();
  instance_ = nullptr;
  store_.reset();
  wasi_.reset();
}

void ObjectInstance::emit(std::string_view level, std::string_view stream,
                          std::string_view message) {
  if (!env_->log) return;
  runtime::LogRecord record;
  record.worker = label_;
  record.instance_id = id_;
  record.request_id = request_id_;
  record.level = level;
  record.stream = stream;
  record.message = message;
  env_->log(record);
}

Result<Imports> ObjectInstance::make_imports(Store& store) {
  Imports imports;
  runtime::detail::define_imports(store, imports, state_);
  durable::define_storage_imports(store, imports, storage_context_);
  define_object_id_import(store, imports, object_id_);
  wasi_.reset();
  if (!env_->imports_wasi) return imports;
  const NamespaceConfig& config = env_->config;
  auto context =
      wasi::request_guest_context(config.name, config.env, config.limits.cpu_per_request, output_);
  if (!context) return context.error();
  wasi_ = context.value();
  wasi::define_imports(store, imports, wasi_);
  return imports;
}

Result<void> build_snapshot(NamespaceEnv& env) {
  // A throwaway object context: storage functions called during initialisation have no
  // transaction and abort, which fails the load with a clear message.
  auto state = std::make_shared<runtime::detail::CallState>();
  auto storage_context = std::make_shared<durable::StorageContext>();
  Store store(store_options(env.config));
  Imports imports;
  runtime::detail::define_imports(store, imports, state);
  durable::define_storage_imports(store, imports, storage_context);
  define_object_id_import(store, imports, "");  // initialisation belongs to no object
  std::shared_ptr<wasi::WasiContext> wasi;
  if (env.imports_wasi) {
    wasi::WasiConfig wasi_config;
    wasi_config.args = {env.config.name};
    for (const auto& [key, value] : env.config.env) wasi_config.env.push_back(key + "=" + value);
    auto context = wasi::WasiContext::create(std::move(wasi_config));
    if (!context) return context.error();
    wasi = context.value();
    wasi::define_imports(store, imports, wasi);
  }
  auto instantiated = store.instantiate(env.module, imports);
  if (!instantiated) return instantiated.error();
  Instance* instance = instantiated.value();

  auto init_error = [](std::string message) {
    return object_error(Error::Kind::Uninstantiable, std::move(message));
  };
  auto version = instance->get_function(runtime::detail::kVersionExport);
  if (!version || version->type() != FuncType{{}, {ValType::I32}})
    return init_error("rewind_abi_version must be a function () -> i32" + std::string(kSeeDocs));
  CallResult v = store.call(*version, {});
  if (!v.ok()) return init_error("rewind_abi_version failed: " + describe_outcome(v));
  if (v.values[0].as_i32() != runtime::detail::kAbiVersion)
    return init_error("object was built for rewind guest ABI version " +
                      std::to_string(v.values[0].as_i32()) + "; this runtime implements version " +
                      std::to_string(runtime::detail::kAbiVersion));
  auto handle = instance->get_function(runtime::detail::kHandleExport);
  if (!handle || handle->type() != FuncType{})
    return init_error("rewind_handle must be a function () -> ()" + std::string(kSeeDocs));
  const std::string& reinit_name = env.config.reinit_export;
  if (!reinit_name.empty())
    if (auto reinit = instance->get_function(reinit_name); reinit && reinit->type() != FuncType{})
      return init_error("reinit export " + reinit_name + " must be a function () -> ()");

  state->begin(nullptr);
  if (auto initialize = instance->get_function("_initialize")) {
    CallResult r = store.call(*initialize, {});
    if (!r.ok()) return init_error("_initialize failed: " + describe_outcome(r));
  }
  if (!env.config.init_export.empty()) {
    auto init = instance->get_function(env.config.init_export);
    if (!init || init->type() != FuncType{})
      return init_error("init export " + env.config.init_export +
                        " is missing or not a function () -> ()");
    CallResult r = store.call(*init, {});
    if (!r.ok()) return init_error(env.config.init_export + " failed: " + describe_outcome(r));
  }
  auto snapshot = Snapshot::capture(*instance);
  if (!snapshot) return snapshot.error();
  if (!snapshot.value()->spawnable())
    return init_error(
        "the module's initialised state cannot be spawned (its tables or globals hold host "
        "references), so it cannot serve durable objects");
  env.snapshot = snapshot.value();
  return {};
}

Result<void> ObjectInstance::spawn_store() {
  drop_store();
  auto spawned = rw::spawn(
      env_->snapshot, [this](Store& store) { return make_imports(store); },
      store_options(env_->config));
  if (!spawned) return spawned.error();
  SpawnedInstance& s = spawned.value();
  store_ = std::move(s.store);
  instance_ = s.instance;
  lifecycle_ = std::move(s.lifecycle);
  handle_ = *instance_->get_function(runtime::detail::kHandleExport);
  return {};
}

Result<std::unique_ptr<ObjectInstance>> ObjectInstance::create(std::shared_ptr<NamespaceEnv> env,
                                                               std::string object_id,
                                                               uint64_t instance_id) {
  std::unique_ptr<ObjectInstance> object(
      new ObjectInstance(std::move(env), std::move(object_id), instance_id));
  if (auto spawned = object->spawn_store(); !spawned) return spawned.error();
  if (auto loaded = object->load(std::nullopt); !loaded) return loaded.error();
  return object;
}

Result<void> ObjectInstance::load(const std::optional<std::string>& failure_json) {
  const std::string& name = env_->config.reinit_export;
  if (name.empty()) return {};
  auto reinit = instance_->get_function(name);
  if (!reinit) return {};  // the object loads lazily, if at all
  state_->begin(nullptr);
  state_->failure_json = failure_json;
  CallResult r;
  Result<void> committed;
  {
    BoundTransaction bound(*env_->storage, *storage_context_, object_id_);
    r = store_->call(*reinit, {});
    bound.unbind();
    if (r.ok()) committed = bound.tx().commit();
  }
  state_->failure_json.reset();
  flush_output();
  if (!r.ok()) return object_error(Error::Kind::Other, name + " failed: " + describe_outcome(r));
  if (!committed)
    return object_error(Error::Kind::Other,
                        name + " could not commit its writes: " + committed.error().message);
  return {};
}

ObjectCall ObjectInstance::call(const runtime::Request& request) {
  ObjectCall out;
  request_id_ = request.request_id;
  state_->begin(&request);
  // Always checkpointed: a commit that fails must take the call's memory back too, whatever the
  // failure modes.
  lifecycle_->checkpoint();
  CallResult r;
  std::optional<Error> commit_error;
  std::optional<BoundTransaction> bound;
  bound.emplace(*env_->storage, *storage_context_, object_id_);
  r = store_->call(handle_, {});
  bound->unbind();
  state_->request = nullptr;
  flush_output();

  runtime::FailureRecord record;
  record.worker = label_;
  record.instance_id = id_;
  record.request_id = request.request_id;
  bool exited = false;
  if (r.ok()) {
    Result<void> committed = bound->tx().commit();  // the output gate
    bound.reset();
    if (committed) {
      lifecycle_->commit();
      consecutive_failures_ = 0;
      out.response = std::move(state_->response);
      request_id_.clear();
      return out;
    }
    record.outcome = Outcome::HostError;
    record.message = "storage commit failed: " + committed.error().message;
  } else if (auto code = wasi::exit_code_of(r)) {
    bound.reset();
    record.outcome = Outcome::Abort;
    record.trap = TrapKind::GuestAbort;
    record.message = "object called proc_exit(" + std::to_string(*code) + ")";
    record.backtrace = r.backtrace;
    exited = true;
  } else {
    // Described before recovery: a C++ panic's message is read by guest code from memory that
    // the rollback is about to undo.
    CallFailure failure = classify_failure(*instance_, r, *state_);
    bound.reset();  // storage goes back whatever the memory mode
    record.outcome = failure.outcome;
    record.trap = failure.trap;
    record.message = std::move(failure.message);
    record.backtrace = r.backtrace;
  }
  record.generation = generation_;
  bool is_abort = record.outcome == Outcome::Abort || store_->terminated();
  recover(record, is_abort, exited);
  out.failure = std::move(record);
  request_id_.clear();
  return out;
}

void ObjectInstance::recover(runtime::FailureRecord& record, bool is_abort, bool exited) {
  auto started = std::chrono::steady_clock::now();
  const NamespaceConfig& config = env_->config;
  ++consecutive_failures_;
  bool escalate = config.max_consecutive_failures > 0 &&
                  consecutive_failures_ >= config.max_consecutive_failures;
  bool commit_failed =
      record.outcome == Outcome::HostError && record.message.starts_with("storage commit failed");
  bool wants_rollback =
      commit_failed || (is_abort ? config.on_abort == runtime::AbortMode::Rollback
                                 : config.on_panic == runtime::PanicMode::Rollback);
  if (!is_abort && !wants_rollback) {
    lifecycle_->commit();  // PanicMode::Keep: memory stays, the writes are already gone
    record.action = "none";
  } else if (wants_rollback && !escalate && !exited && lifecycle_->rollback()) {
    record.action = "rollback";
  } else {
    record.action = "reset";
    consecutive_failures_ = 0;
    ++generation_;
    record.generation = generation_;
    Result<void> rebuilt;
    if (exited) {
      rebuilt = spawn_store();  // the WASI context remembers the exit: a new store
    } else {
      lifecycle_->reset();
    }
    if (rebuilt) rebuilt = load(runtime::to_json(record));
    if (!rebuilt) {
      record.action = "reset_failed";
      record.message += " (reload failed: " + rebuilt.error().message + ")";
      broken_ = true;
    }
  }
  record.recovery_time = std::chrono::steady_clock::now() - started;
}

}  // namespace rw::objects::detail
