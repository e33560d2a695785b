// Snapshots, reset, checkpoint/rollback and spawn (include/rewind/lifecycle.h). The mechanism and
// the measurements behind its choices are in docs/lifecycle.md.

#include "rewind/lifecycle.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "wasm/interp/runtime.h"

namespace rw {
namespace internal {

namespace {

constexpr uint64_t kTrackPage = uint64_t{1} << kTrackPageShift;
constexpr uint64_t kNoFunc = UINT32_MAX;

Error lifecycle_error(std::string message) {
  Error e;
  e.kind = Error::Kind::Other;
  e.message = std::move(message);
  return e;
}

bool page_is_zero(const uint8_t* p) {
  const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
  uint64_t acc = 0;
  for (size_t i = 0; i < kTrackPage / sizeof(uint64_t); i += 4)
    acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3];
  return acc == 0;
}

}  // namespace

// A memory's contents at snapshot time: a sealed memfd (pages that are all zero are holes) and a
// read-only shared view of it for copying pages back.
struct MemoryImage {
  int fd = -1;
  uint64_t size = 0;  // bytes, a multiple of the wasm page size
  const uint8_t* view = nullptr;
  std::vector<uint8_t> zero;  // per 4 KiB page: 1 when it is all zero

  MemoryImage() = default;
  MemoryImage(const MemoryImage&) = delete;
  MemoryImage& operator=(const MemoryImage&) = delete;
  ~MemoryImage() {
    if (view) munmap(const_cast<uint8_t*>(view), size);
    if (fd >= 0) close(fd);
  }
};

// A reference in a snapshot: a function of the instance by index (meaningful in any store), or a
// raw pointer (null, an externref, or something only the capturing store knows).
struct SnapRef {
  uint64_t func_index = kNoFunc;
  void* raw = nullptr;
};

struct SnapshotImpl {
  std::shared_ptr<const Module> module;
  const StoreImpl* source_store = nullptr;
  const InstanceImpl* source_instance = nullptr;
  bool spawnable = true;

  struct Memory {
    MemoryType type;
    std::unique_ptr<MemoryImage> image;
  };
  std::vector<Memory> memories;

  struct Global {
    GlobalType type;
    uint64_t value = 0;  // numbers
    SnapRef ref;         // references
  };
  std::vector<Global> globals;

  struct Table {
    TableType type;
    std::vector<SnapRef> elems;
  };
  std::vector<Table> tables;

  std::vector<uint8_t> data_dropped;
  std::vector<std::vector<SnapRef>> elem_segments;  // empty when dropped

  SnapRef capture_ref(ValType type, void* p,
                      const std::unordered_map<const void*, uint32_t>& func_indices) {
    SnapRef r;
    r.raw = p;
    if (!p) return r;
    if (type == ValType::FuncRef) {
      auto it = func_indices.find(p);
      if (it != func_indices.end()) {
        r.func_index = it->second;
        return r;
      }
    }
    if (type != ValType::ExternRef) spawnable = false;
    return r;
  }
};

// Dirty-page tracking and the undo log of one linear memory.
struct MemoryTracker {
  MemoryInst* mem = nullptr;
  const MemoryImage* image = nullptr;
  uint32_t* stamps = nullptr;  // one per 4 KiB page of the reservation; 0 = same as the image
  size_t stamps_bytes = 0;
  std::vector<uint32_t> dirty;  // pages with a non-zero stamp, each once

  const bool* checkpoint_active = nullptr;  // the owning Lifecycle's flag (commit is one store)
  uint64_t checkpoint_size = 0;             // bytes
  std::vector<uint32_t> undo_pages;         // pre-images saved since the checkpoint, in order
  std::vector<uint8_t> undo_bytes;          // kTrackPage bytes per entry of undo_pages

  ~MemoryTracker() {
    if (stamps) munmap(stamps, stamps_bytes);
  }

  void save_pre_image(uint32_t page) {
    size_t n = undo_pages.size();
    if ((n + 1) * kTrackPage > undo_bytes.size())
      undo_bytes.resize(std::max<size_t>(undo_bytes.size() * 2, 16 * kTrackPage));
    std::memcpy(undo_bytes.data() + n * kTrackPage, mem->base + uint64_t{page} * kTrackPage,
                kTrackPage);
    undo_pages.push_back(page);
  }

  // Called by the engine before a write touches a page whose stamp is not the current epoch.
  static void first_write(MemoryInst* mem, uint64_t first, uint64_t last) {
    auto* t = static_cast<MemoryTracker*>(mem->tracker);
    const uint32_t epoch = mem->track_epoch;
    const uint64_t checkpoint_pages = t->checkpoint_size >> kTrackPageShift;
    for (uint64_t p = first; p <= last; ++p) {
      uint32_t& stamp = t->stamps[p];
      if (stamp == epoch) continue;
      if (stamp == 0) t->dirty.push_back(static_cast<uint32_t>(p));
      // Pages beyond the size at checkpoint were grown by this call: rollback discards them.
      if (*t->checkpoint_active && p < checkpoint_pages)
        t->save_pre_image(static_cast<uint32_t>(p));
      stamp = epoch;
    }
  }

  // A new epoch makes every page "not yet written" for the write barrier.
  void next_epoch() {
    if (++mem->track_epoch != 0) return;
    // Wrapped: renumber so that recorded pages are 1 and the new epoch 2.
    for (uint32_t p : dirty) stamps[p] = 1;
    mem->track_epoch = 2;
  }

  // Makes [from, to) (beyond the image) inaccessible and zero again, as if never grown.
  void discard_grown(uint64_t from, uint64_t to) {
    if (to <= from) return;
    madvise(mem->base + from, to - from, MADV_DONTNEED);
    mprotect(mem->base + from, to - from, PROT_NONE);
  }

  void set_size(uint64_t bytes) {
    mem->size = bytes;
    mem->type.limits.min = bytes / kPageSize;
  }

  void restore_pages_from_image(uint64_t first, uint64_t count) {
    for (uint64_t p = first; p < first + count; ++p) {
      uint8_t* dst = mem->base + p * kTrackPage;
      if (image->zero[p])
        std::memset(dst, 0, kTrackPage);
      else
        std::memcpy(dst, image->view + p * kTrackPage, kTrackPage);
    }
  }

  void reset(uint32_t drop_run_pages) {
    const uint64_t image_pages = image ? image->size >> kTrackPageShift : 0;
    if (dirty.size() >= drop_run_pages) {
      // Long runs are dropped (the private mapping faults back to the image and the memory goes
      // back to the system); the sort costs little next to that many pages.
      std::sort(dirty.begin(), dirty.end());
      size_t i = 0;
      while (i < dirty.size()) {
        size_t j = i + 1;
        while (j < dirty.size() && dirty[j] == dirty[j - 1] + 1) ++j;
        uint64_t first = dirty[i], last = dirty[j - 1];
        if (first < image_pages) {
          uint64_t end = std::min<uint64_t>(last + 1, image_pages);
          if (end - first >= drop_run_pages)
            madvise(mem->base + first * kTrackPage, (end - first) * kTrackPage, MADV_DONTNEED);
          else
            restore_pages_from_image(first, end - first);
        }
        i = j;
      }
    } else {
      for (uint32_t p : dirty)
        if (p < image_pages) restore_pages_from_image(p, 1);
    }
    for (uint32_t p : dirty) stamps[p] = 0;
    dirty.clear();
    const uint64_t image_size = image ? image->size : 0;
    if (mem->size > image_size) discard_grown(image_size, mem->size);
    set_size(image_size);
    undo_pages.clear();
  }

  void checkpoint() {
    next_epoch();
    checkpoint_size = mem->size;
    undo_pages.clear();
  }

  void rollback() {
    for (size_t i = 0; i < undo_pages.size(); ++i)
      std::memcpy(mem->base + uint64_t{undo_pages[i]} * kTrackPage,
                  undo_bytes.data() + i * kTrackPage, kTrackPage);
    if (mem->size > checkpoint_size) {
      discard_grown(checkpoint_size, mem->size);
      set_size(checkpoint_size);
    }
    undo_pages.clear();
  }
};

struct LifecycleImpl {
  Instance* instance = nullptr;
  InstanceImpl* inst = nullptr;
  std::shared_ptr<const Snapshot> snapshot;
  LifecycleOptions options;
  LifecycleStats stats;

  std::vector<std::unique_ptr<MemoryTracker>> memories;
  MemoryTracker* memory0 = nullptr;  // memories[0], or null
  uint64_t checkpoints = 0;
  bool has_passive_segments = false;

  // Mutable globals, their snapshot values and their values at checkpoint.
  std::vector<GlobalInst*> globals;
  std::vector<uint64_t> global_snapshot, global_checkpoint;

  struct TableState {
    TableInst* table = nullptr;
    std::vector<void*> snapshot_elems;
    uint64_t writes_at_reset = 0;
    // Contents at the last checkpoint, refreshed only when the table changed in between.
    std::vector<void*> checkpoint_elems;
    uint64_t writes_at_checkpoint = 0;
    bool checkpoint_valid = false;
  };
  std::vector<TableState> tables;

  // Passive segments not dropped in the snapshot (only those can change), with their contents.
  std::vector<uint32_t> passive_datas;
  std::vector<uint8_t> data_checkpoint;
  struct ElemSegment {
    uint32_t index;
    std::vector<void*> items;
  };
  std::vector<ElemSegment> passive_elems;
  std::vector<uint8_t> elem_checkpoint;  // 1: present at checkpoint

  bool checkpoint_active = false;

  ~LifecycleImpl() {
    for (auto& t : memories) {
      MemoryInst* m = t->mem;
      m->track_stamps = nullptr;
      m->track_first_write = nullptr;
      m->tracker = nullptr;
    }
  }

  void restore_segments_to_snapshot() {
    for (uint32_t i : passive_datas) inst->data_dropped[i] = 0;
    for (const ElemSegment& s : passive_elems) inst->elem_segments[s.index] = s.items;
  }
};

}  // namespace internal

using internal::GlobalInst;
using internal::kTrackPageShift;
using internal::LifecycleImpl;
using internal::MemoryTracker;
using internal::SnapshotImpl;

// ---------------------------------------------------------------------------------------------
// Snapshot

Snapshot::Snapshot(std::unique_ptr<internal::SnapshotImpl> impl) : impl_(std::move(impl)) {}
Snapshot::~Snapshot() = default;

const std::shared_ptr<const Module>& Snapshot::module() const { return impl_->module; }
bool Snapshot::spawnable() const { return impl_->spawnable; }

uint64_t Snapshot::memory_bytes(uint32_t index) const {
  if (index >= impl_->memories.size()) return 0;
  const auto& image = impl_->memories[index].image;
  return image ? image->size : 0;
}

bool Snapshot::read_memory(uint32_t index, uint64_t address, std::span<uint8_t> out) const {
  uint64_t size = memory_bytes(index);
  if (address > size || out.size() > size - address) return false;
  if (!out.empty())
    std::memcpy(out.data(), impl_->memories[index].image->view + address, out.size());
  return true;
}

Result<std::shared_ptr<const Snapshot>> Snapshot::capture(const Instance& instance) {
  using internal::lifecycle_error;
  const internal::InstanceImpl* inst = instance.impl();
  if (!inst->store->frames.empty() || inst->store->host_nesting != 0)
    return lifecycle_error("cannot snapshot an instance while a call is running");
  if (inst->store->terminated) return lifecycle_error("cannot snapshot a terminated instance");

  auto snap = std::make_unique<SnapshotImpl>();
  snap->module = inst->module;
  snap->source_store = inst->store;
  snap->source_instance = inst;

  std::unordered_map<const void*, uint32_t> func_indices;
  for (uint32_t i = 0; i < inst->funcs.size(); ++i) func_indices.emplace(inst->funcs[i], i);

  for (const internal::MemoryInst* mem : inst->memories) {
    SnapshotImpl::Memory m;
    m.type = mem->type;
    m.image = std::make_unique<internal::MemoryImage>();
    internal::MemoryImage& image = *m.image;
    image.size = mem->size;
    const uint64_t pages = mem->size >> kTrackPageShift;
    image.zero.assign(pages, 1);
    if (mem->size > 0) {
      image.fd = memfd_create("rewind-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
      if (image.fd < 0) return lifecycle_error(std::string("memfd_create: ") + strerror(errno));
      if (ftruncate(image.fd, static_cast<off_t>(mem->size)) != 0)
        return lifecycle_error(std::string("ftruncate: ") + strerror(errno));
      // Write runs of non-zero pages; zero pages stay holes and cost no memory.
      uint64_t p = 0;
      while (p < pages) {
        if (internal::page_is_zero(mem->base + (p << kTrackPageShift))) {
          ++p;
          continue;
        }
        uint64_t q = p;
        while (q < pages && !internal::page_is_zero(mem->base + (q << kTrackPageShift))) {
          image.zero[q] = 0;
          ++q;
        }
        uint64_t off = p << kTrackPageShift, len = (q - p) << kTrackPageShift;
        while (len > 0) {
          ssize_t n = pwrite(image.fd, mem->base + off, len, static_cast<off_t>(off));
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) return lifecycle_error(std::string("writing the image: ") + strerror(errno));
          off += static_cast<uint64_t>(n);
          len -= static_cast<uint64_t>(n);
        }
        p = q;
      }
      if (fcntl(image.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
          0)
        return lifecycle_error(std::string("sealing the image: ") + strerror(errno));
      void* view = mmap(nullptr, mem->size, PROT_READ, MAP_SHARED, image.fd, 0);
      if (view == MAP_FAILED)
        return lifecycle_error(std::string("mapping the image: ") + strerror(errno));
      image.view = static_cast<const uint8_t*>(view);
    }
    snap->memories.push_back(std::move(m));
  }

  for (const internal::GlobalInst* g : inst->globals) {
    SnapshotImpl::Global sg;
    sg.type = g->type;
    if (is_reference(g->type.type))
      sg.ref = snap->capture_ref(g->type.type, reinterpret_cast<void*>(g->value), func_indices);
    else
      sg.value = g->value;
    snap->globals.push_back(sg);
  }
  for (const internal::TableInst* t : inst->tables) {
    SnapshotImpl::Table st;
    st.type = t->type;
    st.elems.reserve(t->elems.size());
    for (void* e : t->elems)
      st.elems.push_back(snap->capture_ref(t->type.element, e, func_indices));
    snap->tables.push_back(std::move(st));
  }
  snap->data_dropped = inst->data_dropped;
  for (size_t i = 0; i < inst->elem_segments.size(); ++i) {
    std::vector<internal::SnapRef> items;
    ValType type = inst->ir->elems[i].type;
    for (void* e : inst->elem_segments[i])
      items.push_back(snap->capture_ref(type, e, func_indices));
    snap->elem_segments.push_back(std::move(items));
  }
  return std::shared_ptr<const Snapshot>(std::make_shared<Snapshot>(std::move(snap)));
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

Lifecycle::Lifecycle(std::unique_ptr<internal::LifecycleImpl> impl) : impl_(std::move(impl)) {}
Lifecycle::~Lifecycle() = default;

Result<std::unique_ptr<Lifecycle>> Lifecycle::attach(Instance& instance,
                                                     std::shared_ptr<const Snapshot> snapshot,
                                                     LifecycleOptions options) {
  using internal::lifecycle_error;
  if (!snapshot) return lifecycle_error("no snapshot");
  const SnapshotImpl& snap = snapshot->impl();
  internal::InstanceImpl* inst = instance.impl();
  internal::StoreImpl* store = inst->store;
  if (&instance.module() != snap.module.get())
    return lifecycle_error("the instance is not of the snapshot's module");
  if (!store->frames.empty() || store->host_nesting != 0)
    return lifecycle_error("cannot attach while a call is running");
  const bool same_instance = inst == snap.source_instance && store == snap.source_store;
  if (!same_instance && !snap.spawnable)
    return lifecycle_error(
        "the snapshot holds references into its own store and can only be attached to the "
        "instance it was captured from");
  if (inst->memories.size() != snap.memories.size() ||
      inst->globals.size() != snap.globals.size() || inst->tables.size() != snap.tables.size() ||
      inst->data_dropped.size() != snap.data_dropped.size() ||
      inst->elem_segments.size() != snap.elem_segments.size())
    return lifecycle_error("the instance does not match the snapshot");
  for (size_t i = 0; i < inst->memories.size(); ++i) {
    const internal::MemoryInst* mem = inst->memories[i];
    if (mem->tracker) return lifecycle_error("a lifecycle is already attached to this memory");
    if (snap.memories[i].image->size > uint64_t{mem->max_pages} * kPageSize)
      return lifecycle_error("the snapshot's memory exceeds this store's memory limit");
  }
  for (size_t i = 0; i < inst->tables.size(); ++i)
    if (snap.tables[i].elems.size() > inst->tables[i]->max_elems)
      return lifecycle_error("the snapshot's table exceeds this store's table limit");

  auto resolve = [&](const internal::SnapRef& r) -> void* {
    if (r.func_index != internal::kNoFunc) return inst->funcs[r.func_index];
    return r.raw;  // null, an externref, or (same instance only) a store-local reference
  };

  auto impl = std::make_unique<LifecycleImpl>();
  impl->instance = &instance;
  impl->inst = inst;
  impl->snapshot = snapshot;
  impl->options = options;
  if (impl->options.drop_run_pages == 0) impl->options.drop_run_pages = 1;

  // Memories: map the image copy-on-write over the start of the reservation.
  for (size_t i = 0; i < inst->memories.size(); ++i) {
    internal::MemoryInst* mem = inst->memories[i];
    const internal::MemoryImage& image = *snap.memories[i].image;
    auto tracker = std::make_unique<MemoryTracker>();
    tracker->mem = mem;
    tracker->image = &image;
    tracker->checkpoint_active = &impl->checkpoint_active;
    const uint64_t track_pages = std::max<uint64_t>(mem->reserved >> kTrackPageShift, 1);
    tracker->stamps_bytes = (track_pages * sizeof(uint32_t) + 4095) & ~uint64_t{4095};
    void* stamps = mmap(nullptr, tracker->stamps_bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (stamps == MAP_FAILED) return lifecycle_error("cannot reserve the dirty-page map");
    tracker->stamps = static_cast<uint32_t*>(stamps);
    tracker->dirty.reserve(64);
    if (image.size > 0) {
      void* p =
          mmap(mem->base, image.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, image.fd, 0);
      if (p == MAP_FAILED)
        return lifecycle_error(std::string("mapping the image: ") + strerror(errno));
    }
    if (mem->size > image.size) tracker->discard_grown(image.size, mem->size);
    tracker->set_size(image.size);
    impl->memories.push_back(std::move(tracker));
  }

  for (size_t i = 0; i < inst->globals.size(); ++i) {
    internal::GlobalInst* g = inst->globals[i];
    const SnapshotImpl::Global& sg = snap.globals[i];
    uint64_t value =
        is_reference(sg.type.type) ? reinterpret_cast<uint64_t>(resolve(sg.ref)) : sg.value;
    g->value = value;
    if (g->type.type == ValType::ExnRef) store->exnref_escaped = true;
    if (!g->type.is_mutable) continue;
    impl->globals.push_back(g);
    impl->global_snapshot.push_back(value);
  }
  impl->global_checkpoint.resize(impl->globals.size());

  for (size_t i = 0; i < inst->tables.size(); ++i) {
    LifecycleImpl::TableState ts;
    ts.table = inst->tables[i];
    if (ts.table->type.element == ValType::ExnRef) store->exnref_escaped = true;
    ts.snapshot_elems.reserve(snap.tables[i].elems.size());
    for (const internal::SnapRef& r : snap.tables[i].elems) ts.snapshot_elems.push_back(resolve(r));
    ts.table->elems = ts.snapshot_elems;
    ts.table->type.limits.min = static_cast<uint32_t>(ts.snapshot_elems.size());
    ++ts.table->writes;
    ts.writes_at_reset = ts.table->writes;
    impl->tables.push_back(std::move(ts));
  }

  inst->data_dropped = snap.data_dropped;
  for (uint32_t i = 0; i < snap.data_dropped.size(); ++i)
    if (!snap.data_dropped[i]) impl->passive_datas.push_back(i);
  impl->data_checkpoint.resize(impl->passive_datas.size());
  for (uint32_t i = 0; i < snap.elem_segments.size(); ++i) {
    std::vector<void*> items;
    items.reserve(snap.elem_segments[i].size());
    for (const internal::SnapRef& r : snap.elem_segments[i]) items.push_back(resolve(r));
    inst->elem_segments[i] = items;
    if (!items.empty()) impl->passive_elems.push_back({i, std::move(items)});
  }
  impl->elem_checkpoint.resize(impl->passive_elems.size());
  impl->has_passive_segments = !impl->passive_datas.empty() || !impl->passive_elems.empty();
  impl->memory0 = impl->memories.empty() ? nullptr : impl->memories[0].get();

  // Tracking on: every page matches the image (stamp 0), epoch 1.
  for (auto& t : impl->memories) {
    t->mem->track_epoch = 1;
    t->mem->tracker = t.get();
    t->mem->track_first_write = &MemoryTracker::first_write;
    t->mem->track_stamps = t->stamps;
  }
  return std::make_unique<Lifecycle>(std::move(impl));
}

// The per-call price of rollback mode: keep it to a handful of loads and stores (the common module
// has one memory, a few mutable globals, tables that do not change, no passive segments).
void Lifecycle::checkpoint() {
  LifecycleImpl& L = *impl_;
  if (L.memory0) {
    L.memory0->checkpoint();
    for (size_t i = 1; i < L.memories.size(); ++i) L.memories[i]->checkpoint();
  }
  GlobalInst* const* globals = L.globals.data();
  uint64_t* saved = L.global_checkpoint.data();
  for (size_t i = 0, n = L.globals.size(); i < n; ++i) saved[i] = globals[i]->value;
  for (auto& ts : L.tables) {
    if (ts.checkpoint_valid && ts.writes_at_checkpoint == ts.table->writes) continue;
    ts.checkpoint_elems = ts.table->elems;
    ts.writes_at_checkpoint = ts.table->writes;
    ts.checkpoint_valid = true;
  }
  if (L.has_passive_segments) {
    for (size_t i = 0; i < L.passive_datas.size(); ++i)
      L.data_checkpoint[i] = L.inst->data_dropped[L.passive_datas[i]];
    for (size_t i = 0; i < L.passive_elems.size(); ++i)
      L.elem_checkpoint[i] = !L.inst->elem_segments[L.passive_elems[i].index].empty();
  }
  L.checkpoint_active = true;
  ++L.checkpoints;
}

void Lifecycle::commit() {
  LifecycleImpl& L = *impl_;
  L.checkpoint_active = false;  // trackers read this flag: nothing else to do
}

namespace {
// Restoring under running guest frames would pull memory out from under the executor.
bool call_running(const internal::LifecycleImpl& L) {
  return !L.inst->store->frames.empty() || L.inst->store->host_nesting != 0;
}
}  // namespace

bool Lifecycle::rollback() {
  LifecycleImpl& L = *impl_;
  if (!L.checkpoint_active || call_running(L)) return false;
  for (auto& t : L.memories) t->rollback();
  for (size_t i = 0; i < L.globals.size(); ++i) L.globals[i]->value = L.global_checkpoint[i];
  for (auto& ts : L.tables) {
    if (ts.writes_at_checkpoint == ts.table->writes) continue;
    ts.table->elems = ts.checkpoint_elems;
    ts.table->type.limits.min = static_cast<uint32_t>(ts.checkpoint_elems.size());
    ts.writes_at_checkpoint = ++ts.table->writes;
  }
  for (size_t i = 0; i < L.passive_datas.size(); ++i)
    L.inst->data_dropped[L.passive_datas[i]] = L.data_checkpoint[i];
  for (size_t i = 0; i < L.passive_elems.size(); ++i) {
    auto& seg = L.inst->elem_segments[L.passive_elems[i].index];
    if (L.elem_checkpoint[i] && seg.empty()) seg = L.passive_elems[i].items;
  }
  L.checkpoint_active = false;
  ++L.stats.rollbacks;
  L.instance->store().clear_terminated();
  return true;
}

bool Lifecycle::reset() {
  LifecycleImpl& L = *impl_;
  if (call_running(L)) return false;
  for (auto& t : L.memories) t->reset(L.options.drop_run_pages);
  for (size_t i = 0; i < L.globals.size(); ++i) L.globals[i]->value = L.global_snapshot[i];
  for (auto& ts : L.tables) {
    if (ts.writes_at_reset != ts.table->writes) {
      ts.table->elems = ts.snapshot_elems;
      ts.table->type.limits.min = static_cast<uint32_t>(ts.snapshot_elems.size());
      ts.writes_at_reset = ++ts.table->writes;
    }
    ts.checkpoint_valid = false;
  }
  L.restore_segments_to_snapshot();
  L.checkpoint_active = false;
  ++L.stats.resets;
  L.instance->store().clear_terminated();
  return true;
}

bool Lifecycle::in_checkpoint() const { return impl_->checkpoint_active; }

LifecycleStats Lifecycle::stats() const {
  LifecycleStats s = impl_->stats;
  s.checkpoints = impl_->checkpoints;
  for (const auto& t : impl_->memories) {
    s.dirty_pages += t->dirty.size();
    s.checkpoint_pages += impl_->checkpoint_active ? t->undo_pages.size() : 0;
  }
  return s;
}

Instance& Lifecycle::instance() const { return *impl_->instance; }
const std::shared_ptr<const Snapshot>& Lifecycle::snapshot() const { return impl_->snapshot; }

void note_memory_write(Memory memory, uint64_t address, uint64_t size) {
  internal::MemoryInst* mem = memory.impl();
  if (!mem || size == 0 || address > mem->size || size > mem->size - address) return;
  internal::note_write(mem, address, size);
}

// ---------------------------------------------------------------------------------------------
// Spawn

Result<SpawnedInstance> spawn(std::shared_ptr<const Snapshot> snapshot,
                              const ImportsBuilder& imports, StoreOptions options,
                              LifecycleOptions lifecycle_options) {
  if (!snapshot) return internal::lifecycle_error("no snapshot");
  if (!snapshot->spawnable())
    return internal::lifecycle_error(
        "the snapshot holds references into its own store and cannot be spawned");
  SpawnedInstance out;
  out.store = std::make_unique<Store>(std::move(options));
  Imports resolved;
  if (imports) {
    Result<Imports> built = imports(*out.store);
    if (!built.ok()) return built.error();
    resolved = std::move(built).value();
  }
  Result<Instance*> inst =
      internal::instantiate_uninitialized(*out.store, snapshot->module(), resolved);
  if (!inst.ok()) return inst.error();
  out.instance = inst.value();
  Result<std::unique_ptr<Lifecycle>> life =
      Lifecycle::attach(*out.instance, std::move(snapshot), lifecycle_options);
  if (!life.ok()) return life.error();
  out.lifecycle = std::move(life).value();
  return out;
}

}  // namespace rw
