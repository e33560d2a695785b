#include "wasm/interp/cpu_watchdog.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace rw::internal {
namespace {

constexpr std::chrono::milliseconds kPeriod{1};
constexpr int kLingerPeriods = 100;

struct Watcher {
  std::mutex mutex;
  std::condition_variable wake;
  std::vector<CpuWatch*> watches;
  bool thread_started = false;
  // True while the thread waits with no deadline. It lingers (keeps its period) for a while after
  // the last watch ends, so a server whose calls come one after another does not pay a wake-up
  // of the thread per call.
  bool parked = false;
};

// Never destroyed: the watcher thread is detached and may still be waiting when static
// destructors run at exit.
Watcher* g_watcher = nullptr;
std::once_flag g_init;

uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return 0;
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void run(Watcher* w) {
  std::unique_lock lock(w->mutex);
  int idle_periods = 0;
  for (;;) {
    if (w->watches.empty()) {
      if (++idle_periods < kLingerPeriods) {
        w->wake.wait_for(lock, kPeriod);
        continue;
      }
      w->parked = true;
      w->wake.wait(lock, [&] { return !w->watches.empty(); });
      w->parked = false;
    }
    idle_periods = 0;
    for (CpuWatch* watch : w->watches) {
      if (watch->expired.load(std::memory_order_relaxed)) continue;
      uint64_t now = clock_ns(watch->clock);
      if (!watch->started) {
        watch->started = true;
        watch->start_ns = now;
      } else if (now - watch->start_ns >= watch->budget_ns) {
        watch->expired.store(true, std::memory_order_relaxed);
        watch->attention->store(1, std::memory_order_release);
      }
    }
    w->wake.wait_for(lock, kPeriod);
  }
}

Watcher& watcher() {
  std::call_once(g_init, [] {
    g_watcher = new Watcher;
    // A forked child has none of the parent's threads, and the parent's lock may have been held
    // at the fork: the child starts over with a watcher of its own (the old one is abandoned).
    pthread_atfork(nullptr, nullptr, [] { g_watcher = new Watcher; });
  });
  return *g_watcher;
}

}  // namespace

void watch_cpu(CpuWatch& watch) {
  Watcher& w = watcher();
  std::lock_guard lock(w.mutex);
  watch.started = false;
  watch.start_ns = 0;
  watch.expired.store(false, std::memory_order_relaxed);
  w.watches.push_back(&watch);
  if (!w.thread_started) {
    w.thread_started = true;
    std::thread(run, &w).detach();
  } else if (w.parked) {
    w.wake.notify_one();
  }
}

void unwatch_cpu(CpuWatch& watch) {
  Watcher& w = watcher();
  std::lock_guard lock(w.mutex);
  auto it = std::find(w.watches.begin(), w.watches.end(), &watch);
  if (it != w.watches.end()) w.watches.erase(it);
}

}  // namespace rw::internal
