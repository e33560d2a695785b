#pragma once
// CPU time limits for guest calls, enforced from outside the interpreter loop.
//
// The executor does not count ticks or read a clock: on every backward branch and call it only
// tests its store's `attention` byte (a load and a branch, no store, no dependency between
// iterations). One background thread per process watches the calls that run under a CPU budget,
// reads each one's thread CPU clock about every millisecond, and sets the byte of a call whose
// budget is spent; Store::interrupt sets it too. This is the shape of wasmtime's epoch
// interruption, with the clock read per thread so a call is charged only its own CPU time.
//
// The thread starts with the first watched call; once no call has been watched for 100 ms it
// parks on a condition variable (so back-to-back calls never pay a wake-up). A call's CPU time
// is counted from the watcher's first look at it, so up to about a millisecond spent before that
// is not charged; a budget is enforced within about a millisecond after it is spent. watch_cpu
// clears the watch's previous expiry.

#include <time.h>

#include <atomic>
#include <cstdint>

namespace rw::internal {

struct CpuWatch {
  std::atomic<uint8_t>* attention = nullptr;  // set to 1 when the budget is spent
  clockid_t clock{};                          // the calling thread's CPU clock
  uint64_t budget_ns = 0;
  // Written by the watcher only, under its lock.
  uint64_t start_ns = 0;
  bool started = false;
  std::atomic<bool> expired{false};
};

// Starts watching `watch` (its attention, clock and budget set). The calling thread's CPU clock
// is taken by the caller with pthread_getcpuclockid.
void watch_cpu(CpuWatch& watch);
// Stops watching; after it returns the watcher no longer touches `watch`.
void unwatch_cpu(CpuWatch& watch);

}  // namespace rw::internal
