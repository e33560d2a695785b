// rw::objects::Namespace: routes calls to objects, one instance and one FIFO per object, idle
// and LRU eviction.
//
// Scheduling: a call runs on the thread that called handle(). Each object has a "running" flag
// and a FIFO of waiting callers; a caller that finds its object running queues and sleeps on its
// own condition variable, and the finishing caller hands the object directly to the first in
// line (the flag never drops, so a newcomer cannot overtake). Calls to different objects run in
// parallel on their callers' threads, with no thread of our own per object, and their commits
// meet in the storage's group commit. The server's worker threads bound the concurrency.

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "rewind/objects.h"
#include "runtime/objects/object_instance.h"

namespace rw::objects {

using nlohmann::json;
using runtime::FailureRecord;
using runtime::HandleResult;
using runtime::Request;
using runtime::Response;

namespace {

using Clock = std::chrono::steady_clock;

Response json_response(int status, const json& body) {
  Response r;
  r.status = status;
  r.headers.emplace_back("content-type", "application/json");
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

Response failure_response(const FailureRecord& record) {
  json body;
  if (record.message.starts_with("storage commit failed"))
    body["error"] = "storage";
  else if (record.outcome == Outcome::Panic)
    body["error"] = "panic";
  else if (record.outcome == Outcome::HostError)
    body["error"] = "host_error";
  else
    body["error"] = "abort";
  body["request_id"] = record.request_id;
  if (record.trap) body["kind"] = to_string(*record.trap);
  body["message"] = record.message;
  return json_response(record.trap == TrapKind::CpuLimit ? 503 : 500, body);
}

void log_to_stderr(const runtime::LogRecord& record) {
  json j{{"worker", record.worker},         {"instance_id", record.instance_id},
         {"request_id", record.request_id}, {"level", record.level},
         {"stream", record.stream},         {"message", record.message}};
  std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  fwrite(line.data(), 1, line.size(), stderr);
}

struct Waiter {
  std::condition_variable cv;
  bool turn = false;
};

struct Object {
  explicit Object(std::string object_id) : id(std::move(object_id)) {}
  const std::string id;
  // Guarded by the namespace mutex.
  bool running = false;
  std::deque<Waiter*> waiters;
  uint32_t pending = 0;  // running + waiting
  bool in_lru = false;
  std::list<Object*>::iterator lru_position;
  Clock::time_point last_used;
  // Touched only by the caller that holds the object (running), or under the mutex while the
  // object is idle (eviction).
  std::unique_ptr<detail::ObjectInstance> instance;
};

}  // namespace

struct Namespace::Impl {
  Namespace* owner = nullptr;
  std::shared_ptr<detail::NamespaceEnv> env;

  mutable std::mutex mutex;
  std::unordered_map<std::string, std::unique_ptr<Object>> objects;
  std::list<Object*> lru;  // idle objects with an instance, least recently used first
  uint32_t live = 0;       // objects with an instance, plus instances being built
  uint32_t running = 0, waiting = 0, pending = 0;
  uint64_t next_instance_id = 1;
  bool draining = false, stopping = false;
  std::condition_variable idle_cv, reaper_cv;
  NamespaceStats counters;  // counters only; gauges are filled in by stats()
  std::thread reaper;

  ~Impl() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    reaper_cv.notify_all();
    if (reaper.joinable()) reaper.join();
  }

  // Under the mutex: takes an idle object out of the LRU and the table; its instance is returned
  // for destruction outside the lock.
  std::unique_ptr<detail::ObjectInstance> evict_locked(Object* object) {
    lru.erase(object->lru_position);
    object->in_lru = false;
    std::unique_ptr<detail::ObjectInstance> instance = std::move(object->instance);
    if (instance) --live;
    objects.erase(object->id);  // destroys *object
    return instance;
  }

  void reap_loop() {
    auto timeout = env->config.idle_timeout;
    auto period = std::clamp<Clock::duration>(timeout / 4, std::chrono::milliseconds(5),
                                              std::chrono::seconds(1));
    std::unique_lock lock(mutex);
    while (!stopping) {
      reaper_cv.wait_for(lock, period);
      if (stopping) break;
      std::vector<std::unique_ptr<detail::ObjectInstance>> doomed;
      auto now = Clock::now();
      while (!lru.empty() && now - lru.front()->last_used >= timeout) {
        doomed.push_back(evict_locked(lru.front()));
        ++counters.idle_evictions;
      }
      if (doomed.empty()) continue;
      lock.unlock();
      doomed.clear();
      lock.lock();
    }
  }

  HandleResult reject(HandleResult result, int status, json body) {
    result.response = json_response(status, body);
    return result;
  }

  HandleResult handle(std::string_view object_id, const Request& request);
  void finish(Object* object, std::vector<std::unique_ptr<detail::ObjectInstance>>& doomed);
};

HandleResult Namespace::Impl::handle(std::string_view object_id, const Request& request) {
  auto started = Clock::now();
  HandleResult result;
  const NamespaceConfig& config = env->config;
  auto done = [&](HandleResult r) {
    r.duration = Clock::now() - started;
    return r;
  };
  std::unique_lock lock(mutex);
  ++counters.requests;
  if (object_id.empty() || object_id.size() > config.storage.limits.max_object_id_bytes) {
    ++counters.rejected;
    return done(reject(std::move(result), 400,
                       {{"error", "bad_object_id"},
                        {"request_id", request.request_id},
                        {"limit", config.storage.limits.max_object_id_bytes}}));
  }
  if (request.body.size() > config.limits.max_request_body_bytes) {
    ++counters.rejected;
    return done(reject(std::move(result), 413,
                       {{"error", "request_body_too_large"},
                        {"request_id", request.request_id},
                        {"limit", config.limits.max_request_body_bytes}}));
  }
  if (draining) {
    ++counters.rejected;
    return done(reject(std::move(result), 503,
                       {{"error", "draining"}, {"request_id", request.request_id}}));
  }
  auto found = objects.find(std::string(object_id));
  Object* object = found == objects.end() ? nullptr : found->second.get();
  if (object && object->running &&
      (object->waiters.size() >= config.max_queue_per_object ||
       waiting >= config.limits.max_queued_requests)) {
    ++counters.rejected;
    return done(reject(std::move(result), 503,
                       {{"error", "overloaded"}, {"request_id", request.request_id}}));
  }
  if (!object) {
    auto created = std::make_unique<Object>(std::string(object_id));
    object = created.get();
    objects.emplace(object->id, std::move(created));
  }
  ++object->pending;
  ++pending;
  if (owner->on_admitted) owner->on_admitted(object_id, request);
  if (object->running) {
    Waiter waiter;
    object->waiters.push_back(&waiter);
    ++waiting;
    waiter.cv.wait(lock, [&] { return waiter.turn; });
    --waiting;  // handed over: running stays set on our behalf
  } else {
    object->running = true;
    if (object->in_lru) {
      lru.erase(object->lru_position);
      object->in_lru = false;
    }
  }
  ++running;

  // The object is ours. Build its instance if it has none, making room first.
  std::vector<std::unique_ptr<detail::ObjectInstance>> doomed;
  if (!object->instance) {
    while (live >= config.max_live_objects && !lru.empty()) {
      doomed.push_back(evict_locked(lru.front()));
      ++counters.lru_evictions;
    }
    ++live;
    uint64_t instance_id = next_instance_id++;
    lock.unlock();
    doomed.clear();
    auto created = detail::ObjectInstance::create(env, object->id, instance_id);
    lock.lock();
    ++counters.spawns;
    if (!created) {
      --live;
      ++counters.load_failures;
      FailureRecord record;
      record.worker = config.name + "/" + object->id;
      record.instance_id = instance_id;
      record.request_id = request.request_id;
      record.outcome = Outcome::HostError;
      record.message = "object could not be loaded: " + created.error().message;
      record.action = "none";
      finish(object, doomed);
      lock.unlock();
      result.response = json_response(500, {{"error", "object_unavailable"},
                                            {"request_id", request.request_id},
                                            {"message", record.message}});
      if (owner->on_failure) owner->on_failure(record);
      result.failure = std::move(record);
      return done(std::move(result));
    }
    object->instance = std::move(created.value());
  }
  lock.unlock();

  detail::ObjectCall call = object->instance->call(request);
  std::unique_ptr<detail::ObjectInstance> broken;
  if (object->instance->broken()) broken = std::move(object->instance);

  lock.lock();
  if (broken) --live;
  if (!call.failure) {
    ++counters.ok;
  } else {
    const FailureRecord& record = *call.failure;
    if (record.message.starts_with("storage commit failed")) ++counters.commit_failures;
    if (record.outcome == Outcome::Panic) ++counters.panics;
    if (record.outcome == Outcome::HostError) ++counters.host_errors;
    if (record.outcome == Outcome::Abort) {
      ++counters.aborts;
      ++counters.aborts_by_kind[record.trap ? to_string(*record.trap) : "unknown"];
    }
    if (record.action != "none") ++counters.recoveries;
  }
  finish(object, doomed);
  lock.unlock();
  broken.reset();
  doomed.clear();

  if (call.failure) {
    result.response = failure_response(*call.failure);
    if (owner->on_failure) owner->on_failure(*call.failure);
    result.failure = std::move(call.failure);
  } else {
    result.response = std::move(call.response);
  }
  return done(std::move(result));
}

// Under the mutex, by the caller holding `object`: hands it to the next caller in line, or
// makes it idle (LRU) or forgets it (no instance). Instances to destroy go to `doomed`.
void Namespace::Impl::finish(Object* object,
                             std::vector<std::unique_ptr<detail::ObjectInstance>>& doomed) {
  --running;
  --pending;
  --object->pending;
  object->last_used = Clock::now();
  if (!object->waiters.empty()) {
    Waiter* next = object->waiters.front();
    object->waiters.pop_front();
    next->turn = true;
    next->cv.notify_one();
  } else {
    object->running = false;
    if (object->instance) {
      object->lru_position = lru.insert(lru.end(), object);
      object->in_lru = true;
      // Over the bound because every other object was busy when this one was built: shrink
      // now that some are idle.
      while (live > env->config.max_live_objects && !lru.empty()) {
        Object* victim = lru.front();
        doomed.push_back(evict_locked(victim));
        ++counters.lru_evictions;
        if (victim == object) break;
      }
    } else {
      objects.erase(object->id);
    }
  }
  if (pending == 0) idle_cv.notify_all();
}

Namespace::Namespace(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->owner = this; }

Namespace::~Namespace() {
  drain();
  impl_.reset();  // stops the reaper, then destroys the instances
}

Result<std::shared_ptr<Namespace>> Namespace::create(NamespaceConfig config) {
  auto with_path = [&](Error e) {
    e.message = config.module_path + ": " + e.message;
    return e;
  };
  if (config.module_path.empty())
    return Error{Error::Kind::Other, "namespace " + config.name + " has no module path"};
  if (config.db_path.empty())
    return Error{Error::Kind::Other, "namespace " + config.name + " has no database path"};
  if (config.max_live_objects == 0) config.max_live_objects = 1;
  auto module = Module::from_file(config.module_path);
  if (!module) return with_path(module.error());
  if (auto checked = detail::check_object_module(*module.value()); !checked)
    return with_path(checked.error());

  auto env = std::make_shared<detail::NamespaceEnv>();
  env->module = module.value();
  for (const ImportDesc& imp : env->module->imports())
    if (imp.module == "wasi_snapshot_preview1") env->imports_wasi = true;
  config.storage.path = config.db_path;
  auto storage = durable::Storage::open(config.storage);
  if (!storage) {
    Error e = storage.error();
    e.message = config.db_path + ": " + e.message;
    return e;
  }
  env->storage = storage.value();
  env->config = std::move(config);
  if (auto built = detail::build_snapshot(*env); !built) {
    Error e = built.error();
    e.message = env->config.module_path + ": " + e.message;
    return e;
  }

  auto impl = std::make_unique<Impl>();
  impl->env = env;
  auto ns = std::make_shared<Namespace>(std::move(impl));
  Namespace* raw = ns.get();
  env->log = [raw](const runtime::LogRecord& record) {
    if (raw->on_log)
      raw->on_log(record);
    else
      log_to_stderr(record);
  };
  if (env->config.idle_timeout.count() > 0)
    raw->impl_->reaper = std::thread([impl = raw->impl_.get()] { impl->reap_loop(); });
  return ns;
}

HandleResult Namespace::handle(std::string_view object_id, const Request& request) {
  return impl_->handle(object_id, request);
}

NamespaceStats Namespace::stats() const {
  NamespaceStats s;
  {
    std::lock_guard lock(impl_->mutex);
    s = impl_->counters;
    s.live_objects = impl_->live;
    s.in_flight = impl_->running;
    s.queued = impl_->waiting;
  }
  s.storage = impl_->env->storage->stats();
  return s;
}

const NamespaceConfig& Namespace::config() const { return impl_->env->config; }

const std::shared_ptr<durable::Storage>& Namespace::storage() const { return impl_->env->storage; }

size_t Namespace::evict_idle() {
  std::vector<std::unique_ptr<detail::ObjectInstance>> doomed;
  {
    std::lock_guard lock(impl_->mutex);
    while (!impl_->lru.empty()) {
      doomed.push_back(impl_->evict_locked(impl_->lru.front()));
      ++impl_->counters.idle_evictions;
    }
  }
  return doomed.size();
}

void Namespace::drain() {
  std::unique_lock lock(impl_->mutex);
  impl_->draining = true;
  impl_->idle_cv.wait(lock, [&] { return impl_->pending == 0; });
}

}  // namespace rw::objects
