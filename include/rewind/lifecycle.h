#pragma once
// Instance lifecycle primitives (docs/lifecycle.md): post-initialisation snapshots, reset to a
// snapshot, per-call checkpoint and rollback, and spawning new instances from a snapshot.
//
//   auto snap = Snapshot::capture(*instance);            // after _initialize and worker init
//   auto life = Lifecycle::attach(*instance, *snap);     // tracks the pages calls write
//   life->checkpoint();  CallResult r = store.call(f, args);
//   r.ok() ? life->commit() : life->rollback();          // or life->reset()
//
// Linear memory of an attached instance is a private (copy-on-write) mapping of the snapshot's
// memory image, a sealed memfd. Writes are tracked per 4 KiB page by the engine's store path, so
// reset costs time in proportion to the pages that differ from the snapshot and rollback in
// proportion to the pages the call wrote, never to the memory size.
//
// Threading: a Snapshot is immutable and may be shared by any number of threads (spawn from
// several threads at once is fine). A Lifecycle belongs to its instance's Store: one thread at a
// time, and never while a call into that store is running.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "rewind/engine.h"
#include "rewind/error.h"

namespace rw {

namespace internal {
struct SnapshotImpl;
struct LifecycleImpl;
}  // namespace internal

// The state of one instance right after initialisation: the contents and size of its memories,
// the values of its globals, the contents of its tables, and which passive segments are dropped.
// Memories, tables and globals the instance imports are included (they are part of the state the
// guest sees).
class Snapshot {
 public:
  // Captures `instance`, which must not be running. Costs one copy of its memory (pages that are
  // all zero are left as holes in the image).
  static Result<std::shared_ptr<const Snapshot>> capture(const Instance& instance);

  const std::shared_ptr<const Module>& module() const;
  // Size in bytes of memory `index` in the snapshot; 0 when there is no such memory.
  uint64_t memory_bytes(uint32_t index = 0) const;
  // Copies the snapshot's bytes of memory `index` (for tests and tools); false when out of range.
  bool read_memory(uint32_t index, uint64_t address, std::span<uint8_t> out) const;
  // False when globals or tables hold references that only mean something in the capturing
  // store (host functions of that store, functions of other instances, exception objects):
  // such a snapshot can reset its own instance but cannot be spawned.
  bool spawnable() const;

  const internal::SnapshotImpl& impl() const { return *impl_; }
  explicit Snapshot(std::unique_ptr<internal::SnapshotImpl> impl);
  ~Snapshot();

 private:
  std::unique_ptr<internal::SnapshotImpl> impl_;
};

struct LifecycleOptions {
  // Reset restores runs of at least this many contiguous dirty 4 KiB pages by dropping them
  // (madvise, so they fault back from the image and their memory is returned to the system);
  // shorter runs are copied back from the image. See docs/lifecycle.md for the measurements.
  uint32_t drop_run_pages = 1024;
};

// Counters, mostly for tests and benchmarks.
struct LifecycleStats {
  uint64_t dirty_pages = 0;       // 4 KiB pages that may differ from the snapshot
  uint64_t checkpoint_pages = 0;  // pages whose pre-image the current checkpoint saved
  uint64_t checkpoints = 0;
  uint64_t rollbacks = 0;
  uint64_t resets = 0;
};

// Attached to one instance: puts it into a snapshot's state, then tracks what calls change so it
// can go back cheaply. Must be destroyed before the instance's Store (spawn() orders this).
class Lifecycle {
 public:
  // Puts `instance` into the snapshot's state (its memories become copy-on-write views of the
  // image) and starts tracking writes. The instance must be of the snapshot's module and belong to
  // the capturing store, or (if spawnable()) to any store. Fails if another Lifecycle is attached.
  static Result<std::unique_ptr<Lifecycle>> attach(Instance& instance,
                                                   std::shared_ptr<const Snapshot> snapshot,
                                                   LifecycleOptions options = {});
  ~Lifecycle();
  Lifecycle(const Lifecycle&) = delete;
  Lifecycle& operator=(const Lifecycle&) = delete;

  // Marks the start of a call. Copies nothing but the mutable globals; the first write to each
  // page afterwards saves that page's pre-image. A second checkpoint commits the first.
  void checkpoint();
  // Discards the checkpoint (the call succeeded, or its effects are kept).
  void commit();
  // Returns memories (contents and size: a memory.grow is undone), globals, tables and segment
  // drops to their state at checkpoint(), and clears the store's terminated flag. False (and
  // nothing changes) when there is no checkpoint, or when called while a call into the store is
  // running (from a host function).
  bool rollback();
  // Returns everything to the snapshot's state and clears the store's terminated flag. Also
  // discards any checkpoint. False (and nothing changes) while a call into the store is running.
  bool reset();

  bool in_checkpoint() const;
  LifecycleStats stats() const;
  Instance& instance() const;
  const std::shared_ptr<const Snapshot>& snapshot() const;

  explicit Lifecycle(std::unique_ptr<internal::LifecycleImpl> impl);

 private:
  std::unique_ptr<internal::LifecycleImpl> impl_;
};

// Host code that writes guest memory through Memory::data() (rather than Memory::write, which is
// tracked) must report the range here first, or an attached Lifecycle cannot undo or reset those
// bytes. Out-of-range reports are ignored; without a Lifecycle this does nothing.
void note_memory_write(Memory memory, uint64_t address, uint64_t size);

// A new Store and instance in a snapshot's state, without running any guest code (no start
// function, no _initialize): the cheap way to scale out a pool.
struct SpawnedInstance {
  std::unique_ptr<Store> store;
  Instance* instance = nullptr;
  std::unique_ptr<Lifecycle> lifecycle;  // declared last: destroyed before the store
};

// Builds the imports for a new store (host functions are per store).
using ImportsBuilder = std::function<Result<Imports>(Store& store)>;

Result<SpawnedInstance> spawn(std::shared_ptr<const Snapshot> snapshot,
                              const ImportsBuilder& imports, StoreOptions options = {},
                              LifecycleOptions lifecycle_options = {});

}  // namespace rw
