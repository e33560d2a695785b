// WorkerInstance (include/rewind/worker.h): recovery policy on top of the lifecycle primitives.

#include "rewind/worker.h"

#include <algorithm>
#include <chrono>

namespace rw {

const char* to_string(RecoveryAction action) {
  switch (action) {
    case RecoveryAction::None: return "none";
    case RecoveryAction::Rollback: return "rollback";
    case RecoveryAction::Reset: return "reset";
  }
  return "none";
}

namespace {

// What the rewind.recovery_* imports and the reinit export report: the last failed call.
struct RecoveryInfo {
  int32_t outcome = 0;  // rw::Outcome of the failure; 0 = none
  int32_t trap = -1;    // rw::TrapKind for aborts
  std::string message;
  uint64_t generation = 0;
};

Error worker_error(Error::Kind kind, std::string message) {
  Error e;
  e.kind = kind;
  e.message = std::move(message);
  return e;
}

CallResult refused(std::string message) {
  CallResult r;
  r.outcome = Outcome::Abort;
  r.trap = TrapKind::HostAbort;
  r.message = std::move(message);
  return r;
}

// The embedder's imports plus the rewind.recovery_* functions the module asks for and the
// embedder did not define.
ImportsBuilder with_recovery_imports(std::shared_ptr<const Module> module, ImportsBuilder user,
                                     std::shared_ptr<RecoveryInfo> info) {
  return [module, user = std::move(user), info](Store& store) -> Result<Imports> {
    Imports imports;
    if (user) {
      Result<Imports> built = user(store);
      if (!built.ok()) return built.error();
      imports = std::move(built).value();
    }
    for (const ImportDesc& d : module->imports()) {
      if (d.module != "rewind" || d.kind != ExternKind::Func || imports.find(d.module, d.name))
        continue;
      FuncType type;
      HostCallback fn;
      if (d.name == "recovery_outcome" || d.name == "recovery_trap") {
        type.results = {ValType::I32};
        bool outcome = d.name == "recovery_outcome";
        fn = [info, outcome](HostContext&, std::span<const Value>, std::span<Value> out) {
          out[0] = Value::make_i32(outcome ? info->outcome : info->trap);
          return HostResult::ok();
        };
      } else if (d.name == "recovery_generation") {
        type.results = {ValType::I64};
        fn = [info](HostContext&, std::span<const Value>, std::span<Value> out) {
          out[0] = Value::make_i64(static_cast<int64_t>(info->generation));
          return HostResult::ok();
        };
      } else if (d.name == "recovery_message") {
        type.params = {ValType::I32, ValType::I32};
        type.results = {ValType::I32};
        fn = [info](HostContext& ctx, std::span<const Value> args, std::span<Value> out) {
          uint64_t ptr = static_cast<uint32_t>(args[0].i32),
                   len = static_cast<uint32_t>(args[1].i32);
          std::optional<Memory> mem = ctx.memory();
          size_t n = std::min<size_t>(len, info->message.size());
          const auto* bytes = reinterpret_cast<const uint8_t*>(info->message.data());
          bool ok = mem && mem->write(ptr, std::span<const uint8_t>(bytes, n));
          out[0] = Value::make_i32(ok ? static_cast<int32_t>(info->message.size()) : -1);
          return HostResult::ok();
        };
      } else {
        continue;  // not ours: linking reports it as unknown
      }
      imports.define(d.module, d.name, Extern::of(store.create_host_function(type, fn, d.name)));
    }
    return imports;
  };
}

}  // namespace

struct WorkerInstance::Impl {
  std::shared_ptr<const Module> module;
  WorkerOptions options;
  std::shared_ptr<RecoveryInfo> info = std::make_shared<RecoveryInfo>();

  std::unique_ptr<Store> store;
  Instance* instance = nullptr;
  std::shared_ptr<const Snapshot> snapshot;
  std::unique_ptr<Lifecycle> lifecycle;  // after store: destroyed first
  std::optional<Function> reinit;
  bool reinit_takes_failure = false;

  uint64_t generation = 0;
  uint32_t consecutive_failures = 0;
  std::optional<RecoveryRecord> last_failure;
  bool busy = false;
  bool checkpointing = false;

  ~Impl() { lifecycle.reset(); }

  Result<void> find_reinit() {
    reinit.reset();
    if (options.reinit_export.empty()) return {};
    std::optional<Function> f = instance->get_function(options.reinit_export);
    if (!f) return {};
    const FuncType& t = f->type();
    if (!t.results.empty())
      return worker_error(Error::Kind::Other, "reinit export must not return values");
    if (t.params.empty()) {
      reinit_takes_failure = false;
    } else if (t.params == std::vector<ValType>{ValType::I32, ValType::I32}) {
      reinit_takes_failure = true;
    } else {
      return worker_error(Error::Kind::Other,
                          "reinit export must take no parameters or (i32 outcome, i32 trap)");
    }
    reinit = f;
    return {};
  }

  // Reset to the snapshot, bump the generation, run the reinit export. A reinit that fails
  // leaves the instance reset again, without it.
  void do_reset(RecoveryRecord* record) {
    lifecycle->reset();
    ++generation;
    info->generation = generation;
    consecutive_failures = 0;
    if (!reinit) return;
    Value args[2] = {Value::make_i32(info->outcome), Value::make_i32(info->trap)};
    std::span<const Value> a(args, reinit_takes_failure ? 2 : 0);
    CallResult r = store->call(*reinit, a);
    if (record) record->reinit_ran = true;
    if (!r.ok()) {
      if (record) record->reinit_error = std::string(to_string(r.outcome)) + ": " + r.message;
      lifecycle->reset();
    }
  }

  void recover(CallResult& result, std::string_view export_name) {
    using clock = std::chrono::steady_clock;
    ++consecutive_failures;
    RecoveryRecord rec;
    rec.export_name = std::string(export_name);
    rec.outcome = result.outcome;
    rec.trap = result.trap;
    rec.message = result.message;
    rec.backtrace = result.backtrace;
    rec.consecutive_failures = consecutive_failures;
    info->outcome = static_cast<int32_t>(result.outcome);
    info->trap = result.outcome == Outcome::Abort ? static_cast<int32_t>(result.trap) : -1;
    info->message = result.message;

    const RecoveryPolicy& p = options.policy;
    RecoveryAction action;
    if (result.outcome == Outcome::Abort)
      action = p.on_abort == RecoveryPolicy::OnAbort::Rollback ? RecoveryAction::Rollback
                                                               : RecoveryAction::Reset;
    else
      action = p.on_panic == RecoveryPolicy::OnPanic::Rollback ? RecoveryAction::Rollback
                                                               : RecoveryAction::None;
    if (action == RecoveryAction::Rollback && p.max_consecutive_failures > 0 &&
        consecutive_failures >= p.max_consecutive_failures) {
      action = RecoveryAction::Reset;
      rec.escalated = true;
    }
    rec.action = action;

    auto start = clock::now();
    switch (action) {
      case RecoveryAction::Rollback:
        if (!lifecycle->rollback()) do_reset(&rec);  // no checkpoint: cannot happen, but be safe
        break;
      case RecoveryAction::Reset: do_reset(&rec); break;
      case RecoveryAction::None:
        if (checkpointing) lifecycle->commit();
        break;
    }
    rec.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start);
    rec.generation = generation;
    last_failure = rec;

    const RecoveryHooks& h = options.hooks;
    if (result.outcome == Outcome::Abort) {
      if (h.on_abort) h.on_abort(rec);
    } else if (h.on_panic) {
      h.on_panic(rec);
    }
    if (action != RecoveryAction::None && h.on_recovery) h.on_recovery(rec);
  }
};

namespace {

Result<std::unique_ptr<WorkerInstance>> finish(std::unique_ptr<WorkerInstance::Impl> impl) {
  Result<void> reinit = impl->find_reinit();
  if (!reinit.ok()) return reinit.error();
  const RecoveryPolicy& p = impl->options.policy;
  impl->checkpointing = p.on_panic == RecoveryPolicy::OnPanic::Rollback ||
                        p.on_abort == RecoveryPolicy::OnAbort::Rollback;
  return std::make_unique<WorkerInstance>(std::move(impl));
}

}  // namespace

WorkerInstance::WorkerInstance(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorkerInstance::~WorkerInstance() = default;

Result<std::unique_ptr<WorkerInstance>> WorkerInstance::create(std::shared_ptr<const Module> module,
                                                               WorkerOptions options) {
  if (!module) return worker_error(Error::Kind::Other, "no module");
  auto impl = std::make_unique<Impl>();
  impl->module = module;
  impl->options = std::move(options);
  impl->options.store.terminate_on_abort = true;
  impl->store = std::make_unique<Store>(impl->options.store);

  ImportsBuilder build = with_recovery_imports(module, impl->options.imports, impl->info);
  Result<Imports> imports = build(*impl->store);
  if (!imports.ok()) return imports.error();
  Result<Instance*> inst = impl->store->instantiate(module, imports.value());
  if (!inst.ok()) return inst.error();
  impl->instance = inst.value();

  auto run_init = [&](std::string_view name, bool required) -> Result<void> {
    std::optional<Function> f = impl->instance->get_function(name);
    if (!f) {
      if (!required) return {};
      return worker_error(Error::Kind::Uninstantiable,
                          "init export \"" + std::string(name) + "\" not found");
    }
    if (!f->type().params.empty())
      return worker_error(Error::Kind::Uninstantiable,
                          "init export \"" + std::string(name) + "\" must take no parameters");
    CallResult r = impl->store->call(*f, {});
    if (!r.ok())
      return worker_error(
          Error::Kind::Uninstantiable,
          std::string(name) + " failed (" + to_string(r.outcome) + "): " + r.message);
    return {};
  };
  if (Result<void> r = run_init("_initialize", false); !r.ok()) return r.error();
  if (!impl->options.init_export.empty())
    if (Result<void> r = run_init(impl->options.init_export, true); !r.ok()) return r.error();

  Result<std::shared_ptr<const Snapshot>> snap = Snapshot::capture(*impl->instance);
  if (!snap.ok()) return snap.error();
  impl->snapshot = snap.value();
  Result<std::unique_ptr<Lifecycle>> life =
      Lifecycle::attach(*impl->instance, impl->snapshot, impl->options.lifecycle);
  if (!life.ok()) return life.error();
  impl->lifecycle = std::move(life).value();
  return finish(std::move(impl));
}

Result<std::unique_ptr<WorkerInstance>> WorkerInstance::spawn() const {
  auto impl = std::make_unique<Impl>();
  impl->module = impl_->module;
  impl->options = impl_->options;
  impl->snapshot = impl_->snapshot;
  Result<SpawnedInstance> s = rw::spawn(
      impl->snapshot, with_recovery_imports(impl->module, impl->options.imports, impl->info),
      impl->options.store, impl->options.lifecycle);
  if (!s.ok()) return s.error();
  impl->store = std::move(s.value().store);
  impl->instance = s.value().instance;
  impl->lifecycle = std::move(s.value().lifecycle);
  return finish(std::move(impl));
}

CallResult WorkerInstance::call(std::string_view export_name, std::span<const Value> args) {
  std::optional<Function> f = impl_->instance->get_function(export_name);
  if (!f) return refused("no exported function \"" + std::string(export_name) + "\"");
  return call(*f, args, export_name);
}

CallResult WorkerInstance::call(Function function, std::span<const Value> args,
                                std::string_view export_name) {
  Impl& w = *impl_;
  if (w.busy) return refused("worker instance is busy (re-entrant call)");
  w.busy = true;
  struct Release {
    bool& busy;
    ~Release() { busy = false; }
  } release{w.busy};                               // also when a hook throws
  if (w.store->terminated()) w.do_reset(nullptr);  // only if an embedder bypassed call()
  if (w.checkpointing) w.lifecycle->checkpoint();
  CallResult result = w.store->call(function, args);
  switch (result.outcome) {
    case Outcome::Ok:
      // The checkpoint stays open: the next call's checkpoint() replaces it, and nothing rolls
      // back between calls. That saves a call per request on the hot path.
      w.consecutive_failures = 0;
      break;
    case Outcome::Terminated:  // cannot happen after the check above; nothing ran
      if (w.checkpointing) w.lifecycle->commit();
      break;
    case Outcome::Panic:
    case Outcome::HostError:
    case Outcome::Abort: w.recover(result, export_name); break;
  }
  return result;
}

void WorkerInstance::reset() {
  Impl& w = *impl_;
  if (w.busy) return;
  w.busy = true;
  w.info->outcome = 0;
  w.info->trap = -1;
  w.info->message.clear();
  w.do_reset(nullptr);
  w.busy = false;
}

uint64_t WorkerInstance::generation() const { return impl_->generation; }
uint32_t WorkerInstance::consecutive_failures() const { return impl_->consecutive_failures; }
const std::optional<RecoveryRecord>& WorkerInstance::last_failure() const {
  return impl_->last_failure;
}
Store& WorkerInstance::store() const { return *impl_->store; }
Instance& WorkerInstance::instance() const { return *impl_->instance; }
Lifecycle& WorkerInstance::lifecycle() const { return *impl_->lifecycle; }
const std::shared_ptr<const Snapshot>& WorkerInstance::snapshot() const { return impl_->snapshot; }

}  // namespace rw
