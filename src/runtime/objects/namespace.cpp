// rw::objects::Namespace: routes calls to objects, one instance and one FIFO per object, idle
// and LRU eviction.
//
// Scheduling: each object has a "running" flag and a FIFO of admitted calls. A thread that
// submits a call to an idle object runs it on the spot. A call for a running object is queued:
// a submit() caller returns at once, and the thread running the object runs the call in its
// turn; a handle() caller sleeps until the call is handed to it, then runs it on its own thread
// (so a blocking caller never serves other callers' calls and returns as soon as its own is
// done). The flag stays set while calls remain queued, so a newcomer cannot overtake them.
// Calls to different objects run in parallel on the calling threads, with no thread of our own
// per object (thousands of objects cost no threads), and their commits meet in the storage's
// group commit.

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
#include "runtime/worker_pool/responses.h"

namespace rw::objects {

using nlohmann::json;
using runtime::FailureRecord;
using runtime::HandleResult;
using runtime::Request;
using runtime::json_response;
using runtime::Response;

namespace {

using Clock = std::chrono::steady_clock;

// A failed commit is the host's failure, not the guest's: name it apart from panics and aborts.
Response object_failure_response(const FailureRecord& record) {
  bool storage = record.message.starts_with("storage commit failed");
  return runtime::failure_response(record, storage ? "storage" : "");
}

struct Waiter;

// A call admitted to an object, waiting for its turn or running.
struct PendingCall {
  std::unique_ptr<Request> owned;  // submit(): the request moved in
  const Request* request = nullptr;
  Namespace::Callback done;
  Clock::time_point admitted;
  // handle(): the caller's thread, blocked until the call is handed to it to run.
  Waiter* waiter = nullptr;
};

struct Waiter {
  std::condition_variable cv;
  std::optional<PendingCall> call;  // set with the turn
};

struct Object {
  explicit Object(std::string object_id) : id(std::move(object_id)) {}
  const std::string id;
  // Guarded by the namespace mutex.
  bool running = false;  // a thread is running this object's calls
  std::deque<PendingCall> queue;
  uint32_t pending = 0;  // running + queued
  bool in_lru = false;
  std::list<Object*>::iterator lru_position;
  Clock::time_point last_used;
  // Touched only by the thread running the object, or under the mutex while the object is
  // idle (eviction).
  std::unique_ptr<detail::ObjectInstance> instance;
};

}  // namespace

void detail::log_to_stderr(const runtime::LogRecord& record) {
  json j{{"worker", record.worker},         {"instance_id", record.instance_id},
         {"request_id", record.request_id}, {"level", record.level},
         {"stream", record.stream},         {"message", record.message}};
  std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  fwrite(line.data(), 1, line.size(), stderr);
}

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

  void submit(std::string_view object_id, PendingCall call);
  void run(Object* object, PendingCall call, std::unique_lock<std::mutex>& lock);
  HandleResult run_one(Object* object, const Request& request, std::unique_lock<std::mutex>& lock);
};

namespace {

void deliver(const Namespace::Callback& done, HandleResult result) {
  try {
    done(std::move(result));
  } catch (...) {
    // A callback must not throw; if it does, the object's queue must keep moving regardless.
  }
}

}  // namespace

void Namespace::Impl::submit(std::string_view object_id, PendingCall call) {
  const NamespaceConfig& config = env->config;
  const Request& request = *call.request;
  auto reject = [&](int status, json body) {
    HandleResult result;
    result.response = json_response(status, body);
    result.duration = Clock::now() - call.admitted;
    deliver(call.done, std::move(result));
  };
  std::unique_lock lock(mutex);
  ++counters.requests;
  if (object_id.empty() || object_id.size() > config.storage.limits.max_object_id_bytes) {
    ++counters.rejected;
    lock.unlock();
    return reject(400, {{"error", "bad_object_id"},
                        {"request_id", request.request_id},
                        {"limit", config.storage.limits.max_object_id_bytes}});
  }
  if (request.body.size() > config.limits.max_request_body_bytes) {
    ++counters.rejected;
    lock.unlock();
    return reject(413, {{"error", "request_body_too_large"},
                        {"request_id", request.request_id},
                        {"limit", config.limits.max_request_body_bytes}});
  }
  if (draining) {
    ++counters.rejected;
    lock.unlock();
    return reject(503, {{"error", "draining"}, {"request_id", request.request_id}});
  }
  auto found = objects.find(std::string(object_id));
  Object* object = found == objects.end() ? nullptr : found->second.get();
  if (object && object->running &&
      (object->queue.size() >= config.max_queue_per_object ||
       waiting >= config.limits.max_queued_requests)) {
    ++counters.rejected;
    lock.unlock();
    return reject(503, {{"error", "overloaded"}, {"request_id", request.request_id}});
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
    Waiter* waiter = call.waiter;
    object->queue.push_back(std::move(call));
    ++waiting;
    // submit(): the thread running the object will run this call after those before it.
    if (!waiter) return;
    // handle(): its own thread runs it when its turn comes (running stays set meanwhile).
    waiter->cv.wait(lock, [&] { return waiter->call.has_value(); });
    PendingCall mine = std::move(*waiter->call);
    run(object, std::move(mine), lock);
    return;
  }
  object->running = true;
  if (object->in_lru) {
    lru.erase(object->lru_position);
    object->in_lru = false;
  }
  run(object, std::move(call), lock);
}

// Runs `call` and then the calls queued behind it, on this thread, until the object's queue is
// empty (then the object becomes idle) or the next call belongs to a handle() caller, which is
// handed the object and runs it on its own thread, so that a blocking caller returns as soon as
// its own call is done. Entered and left with the lock held.
void Namespace::Impl::run(Object* object, PendingCall call, std::unique_lock<std::mutex>& lock) {
  for (;;) {
    ++running;
    HandleResult result = run_one(object, *call.request, lock);
    result.duration = Clock::now() - call.admitted;
    --running;
    --pending;
    --object->pending;
    object->last_used = Clock::now();
    std::vector<std::unique_ptr<detail::ObjectInstance>> doomed;
    std::optional<PendingCall> next;
    if (!object->queue.empty()) {
      next.emplace(std::move(object->queue.front()));
      object->queue.pop_front();
      --waiting;
      if (Waiter* waiter = next->waiter) {
        // Notified under the lock: the waiter cannot run (and return, destroying *waiter)
        // before we let go of it.
        waiter->call = std::move(next);
        next.reset();
        waiter->cv.notify_one();
      }
    } else {
      // Idle: from here on another thread may take or evict the object.
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
    bool idle = pending == 0;
    lock.unlock();
    if (idle) idle_cv.notify_all();
    doomed.clear();
    if (result.failure && owner->on_failure) owner->on_failure(*result.failure);
    deliver(call.done, std::move(result));
    lock.lock();
    if (!next) return;  // idle, or handed over
    call = std::move(*next);
  }
}

// One call on the object this thread runs: builds its instance if it has none, then the call.
// Entered and left with the lock held; the guest runs without it.
HandleResult Namespace::Impl::run_one(Object* object, const Request& request,
                                      std::unique_lock<std::mutex>& lock) {
  const NamespaceConfig& config = env->config;
  HandleResult result;
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
      result.response = json_response(500, {{"error", "object_unavailable"},
                                            {"request_id", request.request_id},
                                            {"message", record.message}});
      result.failure = std::move(record);
      return result;
    }
    object->instance = std::move(created.value());
  }
  lock.unlock();

  detail::ObjectCall call = object->instance->call(request);
  // A reset whose reload failed: no trustworthy state, so the next call builds a new instance.
  bool dropped = object->instance->broken();
  if (dropped) object->instance.reset();

  lock.lock();
  if (dropped) --live;
  if (!call.failure) {
    ++counters.ok;
    result.response = std::move(call.response);
    return result;
  }
  const FailureRecord& record = *call.failure;
  if (record.message.starts_with("storage commit failed")) ++counters.commit_failures;
  if (record.outcome == Outcome::Panic) ++counters.panics;
  if (record.outcome == Outcome::HostError) ++counters.host_errors;
  if (record.outcome == Outcome::Abort) {
    ++counters.aborts;
    ++counters.aborts_by_kind[record.trap ? to_string(*record.trap) : "unknown"];
  }
  if (record.action != "none") ++counters.recoveries;
  result.response = object_failure_response(record);
  result.failure = std::move(call.failure);
  return result;
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
      detail::log_to_stderr(record);
  };
  if (env->config.idle_timeout.count() > 0)
    raw->impl_->reaper = std::thread([impl = raw->impl_.get()] { impl->reap_loop(); });
  return ns;
}

HandleResult Namespace::handle(std::string_view object_id, const Request& request) {
  std::mutex mutex;
  std::condition_variable cv;
  std::optional<HandleResult> out;
  Waiter waiter;
  PendingCall call;
  call.request = &request;
  call.admitted = Clock::now();
  call.waiter = &waiter;
  call.done = [&](HandleResult result) {
    std::lock_guard lock(mutex);
    out = std::move(result);
    cv.notify_one();
  };
  impl_->submit(object_id, std::move(call));
  std::unique_lock lock(mutex);
  cv.wait(lock, [&] { return out.has_value(); });
  return std::move(*out);
}

void Namespace::submit(std::string_view object_id, Request request, Callback done) {
  PendingCall call;
  call.owned = std::make_unique<Request>(std::move(request));
  call.request = call.owned.get();
  call.admitted = Clock::now();
  call.done = std::move(done);
  impl_->submit(object_id, std::move(call));
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
