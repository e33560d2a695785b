#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <span>

#include "rewind/durable.h"
#include "runtime/durable/sqlite_util.h"

namespace rw::durable {

namespace detail {

// A connection used only for reads (one call at a time), with its statements prepared once.
struct ReadConnection {
  Connection db;
  Statement get;
  Statement list_bounded;  // lower <= key < upper
  Statement list_open;     // lower <= key
};

// One call's writes waiting to be committed. `writes` points into the waiting Transaction, which
// is blocked until `done`, so the leader of its batch may read it without copying.
struct PendingCommit {
  const Bytes* object_id = nullptr;
  const std::map<Bytes, std::optional<Bytes>, std::less<>>* writes = nullptr;
  bool erase_object = false;
  bool done = false;
  std::string error;  // empty on success
  // Signalled (under StorageImpl::queue_mutex) when the call is done or should lead the next
  // batch. One per call, so a finished batch wakes only its own calls.
  std::condition_variable wake;
};

struct StorageImpl {
  StorageOptions options;
  Connection writer;
  Statement put, del, erase;

  std::mutex readers_mutex;
  std::vector<std::unique_ptr<ReadConnection>> idle_readers;

  // Serialises use of the writer connection.
  std::mutex writer_mutex;

  // Group commit: calls waiting for a batch, and whether some call is committing one.
  std::mutex queue_mutex;
  std::deque<PendingCommit*> queue;
  bool leader_active = false;
  size_t batch_being_committed = 0;  // size of the leader's batch while leader_active

  std::atomic<uint64_t> commits{0}, empty_commits{0}, rollbacks{0}, batches{0}, failed{0};

  std::unique_ptr<ReadConnection> acquire_reader() {
    {
      std::lock_guard lock(readers_mutex);
      if (!idle_readers.empty()) {
        auto r = std::move(idle_readers.back());
        idle_readers.pop_back();
        return r;
      }
    }
    auto r = std::make_unique<ReadConnection>();
    r->db = Connection::open(options.path, /*read_only=*/true, options.busy_timeout);
    r->get = r->db.prepare("SELECT value FROM kv WHERE object = ?1 AND key = ?2");
    r->list_bounded = r->db.prepare(
        "SELECT key, value FROM kv WHERE object = ?1 AND key >= ?2 AND key < ?3 ORDER BY key");
    r->list_open =
        r->db.prepare("SELECT key, value FROM kv WHERE object = ?1 AND key >= ?2 ORDER BY key");
    return r;
  }

  void release_reader(std::unique_ptr<ReadConnection> r) {
    std::lock_guard lock(readers_mutex);
    idle_readers.push_back(std::move(r));
  }

  // Applies one call's writes inside the open SQLite transaction, in a savepoint of its own so
  // that a failing call leaves the others of the batch intact. On failure sets the call's error
  // and returns whether the transaction survived: after some errors (SQLITE_FULL, I/O errors)
  // SQLite rolls back the whole transaction, not just the statement.
  bool apply(PendingCommit& p) {
    writer.exec("SAVEPOINT call");
    try {
      if (p.erase_object) {
        erase.bind_blob(1, *p.object_id);
        erase.step_done();
      } else {
        for (const auto& [key, value] : *p.writes) {
          Statement& s = value ? put : del;
          s.bind_blob(1, *p.object_id);
          s.bind_blob(2, key);
          if (value) s.bind_blob(3, *value);
          s.step_done();
        }
      }
      writer.exec("RELEASE call");
      return true;
    } catch (const StorageError& e) {
      p.error = e.what();
      if (!writer.in_transaction()) return false;
      writer.exec_noexcept("ROLLBACK TO call");
      writer.exec_noexcept("RELEASE call");
      return true;
    }
  }

  // One SQLite transaction (one fsync with Sync::Full) for every call in the batch. Sets each
  // call's error; never throws.
  void commit_batch(std::span<PendingCommit*> batch) {
    std::lock_guard lock(writer_mutex);
    auto fail_remaining = [&](const char* why) {
      writer.exec_noexcept("ROLLBACK");
      for (PendingCommit* p : batch)
        if (p->error.empty()) p->error = why;
    };
    // When a failing call took the whole transaction down with it, the batch starts over
    // without that call; each retry drops at least one call, so this ends.
    for (bool retry = true; retry;) {
      retry = false;
      try {
        writer.exec("BEGIN IMMEDIATE");
        for (PendingCommit* p : batch) {
          if (!p->error.empty()) continue;
          if (!apply(*p)) {
            retry = true;
            break;
          }
        }
        if (retry) {
          writer.exec_noexcept("ROLLBACK");
          retry = std::any_of(batch.begin(), batch.end(),
                              [](PendingCommit* p) { return p->error.empty(); });
        } else
          writer.exec("COMMIT");
      } catch (const std::exception& e) {
        // BEGIN or COMMIT failed, or something other than a statement did (out of memory):
        // nothing of the batch is stored. Never let an exception escape: a leader that unwound
        // would leave its batch waiting forever.
        fail_remaining(e.what());
      }
    }
    ++batches;
    for (PendingCommit* p : batch) (p->error.empty() ? commits : failed) += 1;
  }

  // Returns once `p` is durable (or failed).
  //
  // Group commit without a thread of its own: the first call to arrive while no batch is being
  // committed leads, committing everything queued (itself included) in one SQLite transaction
  // on its own thread. Calls arriving meanwhile queue up; when the leader's batch is durable it
  // wakes them, and the first still waiting leads the next batch with all of them. An
  // uncontended call thus commits with no thread hand-off, and under load the batch grows to
  // whatever queued during one fsync.
  void submit(PendingCommit& p) {
    if (!options.group_commit) {
      PendingCommit* one[] = {&p};
      commit_batch(one);
      return;
    }
    std::unique_lock lock(queue_mutex);
    queue.push_back(&p);
    std::vector<PendingCommit*> batch;
    while (!p.done) {
      if (leader_active) {
        p.wake.wait(lock);
        continue;
      }
      leader_active = true;
      size_t n = std::min(queue.size(), std::max<size_t>(options.max_batch, 1));
      batch.assign(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
      queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
      batch_being_committed = n;
      lock.unlock();
      commit_batch(batch);
      lock.lock();
      leader_active = false;
      batch_being_committed = 0;
      // Notified under the lock: a waiter returns (and destroys its PendingCommit) only after
      // re-acquiring it.
      for (PendingCommit* q : batch) {
        q->done = true;
        if (q != &p) q->wake.notify_one();
      }
      if (!queue.empty()) queue.front()->wake.notify_one();
    }
  }
};

// A read connection borrowed for one read. Reads are short and a call's guest code runs
// between them, so the pool holds about as many connections as reads run at once, not as many
// as calls are open.
class ReaderLease {
 public:
  explicit ReaderLease(StorageImpl& storage)
      : storage_(storage), reader_(storage.acquire_reader()) {}
  ~ReaderLease() { storage_.release_reader(std::move(reader_)); }
  ReaderLease(const ReaderLease&) = delete;
  ReaderLease& operator=(const ReaderLease&) = delete;
  ReadConnection* operator->() const { return reader_.get(); }

 private:
  StorageImpl& storage_;
  std::unique_ptr<ReadConnection> reader_;
};

}  // namespace detail

namespace {

constexpr int kSchemaVersion = 1;

// The smallest byte string greater than every string that starts with `prefix`, or nullopt when
// there is none (empty prefix, or all bytes 0xff).
std::optional<Bytes> prefix_successor(std::string_view prefix) {
  Bytes s(prefix);
  while (!s.empty()) {
    unsigned char last = static_cast<unsigned char>(s.back());
    if (last != 0xff) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return std::nullopt;
}

[[noreturn]] void too_large(StorageError::Kind kind, const char* what, size_t size, size_t max) {
  throw StorageError(kind, std::string(what) + " of " + std::to_string(size) +
                               " bytes exceeds the limit of " + std::to_string(max) + " bytes");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Transaction

Transaction::Transaction(std::shared_ptr<detail::StorageImpl> storage, Bytes object_id)
    : storage_(std::move(storage)), object_id_(std::move(object_id)) {}

Transaction::Transaction(Transaction&& other) noexcept
    : storage_(std::move(other.storage_)),
      object_id_(std::move(other.object_id_)),
      open_(std::exchange(other.open_, false)),
      writes_(std::move(other.writes_)),
      pending_bytes_(std::exchange(other.pending_bytes_, 0)) {}

Transaction& Transaction::operator=(Transaction&& other) noexcept {
  if (this != &other) {
    rollback();
    storage_ = std::move(other.storage_);
    object_id_ = std::move(other.object_id_);
    open_ = std::exchange(other.open_, false);
    writes_ = std::move(other.writes_);
    pending_bytes_ = std::exchange(other.pending_bytes_, 0);
  }
  return *this;
}

Transaction::~Transaction() { rollback(); }

void Transaction::check_open() const {
  if (!open_)
    throw StorageError(StorageError::Kind::Closed,
                       "the transaction was already committed or rolled back");
}

void Transaction::release() {
  writes_.clear();
  pending_bytes_ = 0;
  open_ = false;
}

std::optional<Bytes> Transaction::get(std::string_view key) {
  check_open();
  const StorageLimits& limits = storage_->options.limits;
  if (key.size() > limits.max_key_bytes)
    too_large(StorageError::Kind::KeyTooLarge, "key", key.size(), limits.max_key_bytes);
  if (auto it = writes_.find(key); it != writes_.end()) return it->second;
  detail::ReaderLease reader(*storage_);
  detail::Statement& s = reader->get;
  detail::StatementReset reset(s);
  s.bind_blob(1, object_id_);
  s.bind_blob(2, key);
  if (!s.step()) return std::nullopt;
  return Bytes(s.column_blob(0));
}

void Transaction::put(std::string_view key, std::string_view value) {
  check_open();
  const StorageLimits& limits = storage_->options.limits;
  if (key.size() > limits.max_key_bytes)
    too_large(StorageError::Kind::KeyTooLarge, "key", key.size(), limits.max_key_bytes);
  if (value.size() > limits.max_value_bytes)
    too_large(StorageError::Kind::ValueTooLarge, "value", value.size(), limits.max_value_bytes);
  auto it = writes_.find(key);
  size_t old = it == writes_.end() ? 0 : key.size() + (it->second ? it->second->size() : 0);
  size_t next = pending_bytes_ - old + key.size() + value.size();
  if (next > limits.max_transaction_bytes)
    too_large(StorageError::Kind::TransactionTooLarge, "the call's writes", next,
              limits.max_transaction_bytes);
  if (it == writes_.end())
    writes_.emplace(Bytes(key), Bytes(value));
  else
    it->second = Bytes(value);
  pending_bytes_ = next;
}

bool Transaction::remove(std::string_view key) {
  bool existed = get(key).has_value();  // checks open and the key size
  const StorageLimits& limits = storage_->options.limits;
  auto it = writes_.find(key);
  size_t old = it == writes_.end() ? 0 : key.size() + (it->second ? it->second->size() : 0);
  size_t next = pending_bytes_ - old + key.size();
  if (next > limits.max_transaction_bytes)
    too_large(StorageError::Kind::TransactionTooLarge, "the call's writes", next,
              limits.max_transaction_bytes);
  // A tombstone even when nothing is committed under the key: cheaper than tracking where a
  // buffered value came from, and deleting a missing row is harmless.
  if (it == writes_.end())
    writes_.emplace(Bytes(key), std::nullopt);
  else
    it->second.reset();
  pending_bytes_ = next;
  return existed;
}

std::vector<Entry> Transaction::list(const ListOptions& options) {
  check_open();
  const StorageLimits& limits = storage_->options.limits;
  if (options.limit == 0 || options.limit > limits.max_list_limit)
    throw StorageError(StorageError::Kind::BadArgument,
                       "list limit " + std::to_string(options.limit) + " is not in 1.." +
                           std::to_string(limits.max_list_limit));
  if (options.prefix.size() > limits.max_key_bytes)
    too_large(StorageError::Kind::KeyTooLarge, "prefix", options.prefix.size(),
              limits.max_key_bytes);
  if (options.start_after && options.start_after->size() > limits.max_key_bytes)
    too_large(StorageError::Kind::KeyTooLarge, "start key", options.start_after->size(),
              limits.max_key_bytes);

  // Keys strictly after `start_after` are those >= start_after + "\0".
  Bytes lower = options.prefix;
  if (options.start_after) {
    Bytes after = *options.start_after + '\0';
    if (after > lower) lower = std::move(after);
  }
  std::optional<Bytes> upper = prefix_successor(options.prefix);
  std::vector<Entry> out;
  if (upper && lower >= *upper) return out;

  detail::ReaderLease reader(*storage_);
  detail::Statement& s = upper ? reader->list_bounded : reader->list_open;
  detail::StatementReset reset(s);
  s.bind_blob(1, object_id_);
  s.bind_blob(2, lower);
  if (upper) s.bind_blob(3, *upper);

  auto overlay = writes_.lower_bound(lower);
  auto overlay_end = upper ? writes_.lower_bound(*upper) : writes_.end();
  bool row = s.step();
  size_t bytes = 0;
  while (out.size() < options.limit && (out.empty() || bytes < options.max_bytes)) {
    bool have_overlay = overlay != overlay_end;
    if (!row && !have_overlay) break;
    std::string_view row_key = row ? s.column_blob(0) : std::string_view{};
    // This call's writes shadow the committed row with the same key.
    if (have_overlay && (!row || std::string_view(overlay->first) <= row_key)) {
      if (row && std::string_view(overlay->first) == row_key) row = s.step();
      const auto& [key, value] = *overlay;
      ++overlay;
      if (!value) continue;
      out.push_back({key, *value});
    } else {
      out.push_back({Bytes(row_key), Bytes(s.column_blob(1))});
      row = s.step();
    }
    bytes += out.back().key.size() + out.back().value.size() + 8;
  }
  return out;
}

Result<void> Transaction::commit() {
  if (!open_)
    return Error{Error::Kind::Other, "the transaction was already committed or rolled back"};
  if (writes_.empty()) {
    // Nothing to make durable. Everything this call read was committed, and with Sync::Full a
    // batch becomes visible only after its fsync, so a read-only call never depends on data
    // that could still be lost.
    ++storage_->empty_commits;
    release();
    return {};
  }
  detail::PendingCommit pending;
  pending.object_id = &object_id_;
  pending.writes = &writes_;
  storage_->submit(pending);
  release();
  if (!pending.error.empty())
    return Error{Error::Kind::Other, "storage commit failed: " + pending.error};
  return {};
}

void Transaction::rollback() {
  if (!open_) return;
  if (storage_) ++storage_->rollbacks;
  release();
}

// ---------------------------------------------------------------------------------------------
// Storage

Storage::Storage(std::shared_ptr<detail::StorageImpl> impl) : impl_(std::move(impl)) {}
Storage::~Storage() = default;

Result<std::shared_ptr<Storage>> Storage::open(StorageOptions options) {
  // Guest results are i32 lengths, so a key and value with their list framing must fit in one.
  const StorageLimits& limits = options.limits;
  constexpr uint64_t kMaxGuestLength = INT32_MAX;
  if (limits.max_key_bytes == 0 || limits.max_list_limit == 0 ||
      uint64_t{limits.max_key_bytes} + limits.max_value_bytes + 8 > kMaxGuestLength)
    return Error{Error::Kind::Other,
                 "storage " + options.path +
                     ": limits must allow keys of at least 1 byte and a list of at least 1 entry, "
                     "and key + value + 8 must not exceed 2^31 - 1 bytes"};
  auto impl = std::make_shared<detail::StorageImpl>();
  impl->options = std::move(options);
  try {
    detail::Connection& w = impl->writer;
    w = detail::Connection::open(impl->options.path, /*read_only=*/false,
                                 impl->options.busy_timeout);
    w.exec("PRAGMA journal_mode=WAL");
    if (w.query_text("PRAGMA journal_mode") != "wal")
      return Error{Error::Kind::Other,
                   "storage " + impl->options.path + ": the database cannot use WAL mode"};
    w.exec(impl->options.sync == Sync::Full ? "PRAGMA synchronous=FULL"
                                            : "PRAGMA synchronous=NORMAL");
    if (uint64_t max = impl->options.max_database_bytes) {
      uint64_t page = std::stoull(w.query_text("PRAGMA page_size"));
      w.exec("PRAGMA max_page_count=" + std::to_string(std::max<uint64_t>(max / page, 1)));
    }
    int version = std::stoi(w.query_text("PRAGMA user_version"));
    if (version > kSchemaVersion)
      return Error{Error::Kind::Other, "storage " + impl->options.path + ": schema version " +
                                           std::to_string(version) +
                                           " is newer than this rewind understands (" +
                                           std::to_string(kSchemaVersion) + ")"};
    w.exec(
        "CREATE TABLE IF NOT EXISTS kv (object BLOB NOT NULL, key BLOB NOT NULL, "
        "value BLOB NOT NULL, PRIMARY KEY (object, key)) WITHOUT ROWID");
    w.exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
    impl->put = w.prepare("INSERT OR REPLACE INTO kv (object, key, value) VALUES (?1, ?2, ?3)");
    impl->del = w.prepare("DELETE FROM kv WHERE object = ?1 AND key = ?2");
    impl->erase = w.prepare("DELETE FROM kv WHERE object = ?1");
    // A first reader now, so that an unreadable database fails here rather than in a call.
    impl->release_reader(impl->acquire_reader());
  } catch (const std::exception& e) {
    return Error{Error::Kind::Other, e.what()};
  }
  return std::make_shared<Storage>(std::move(impl));
}

Transaction Storage::begin(std::string_view object_id) {
  const StorageLimits& limits = impl_->options.limits;
  if (object_id.size() > limits.max_object_id_bytes)
    too_large(StorageError::Kind::ObjectIdTooLarge, "object id", object_id.size(),
              limits.max_object_id_bytes);
  return Transaction(impl_, Bytes(object_id));
}

const StorageOptions& Storage::options() const { return impl_->options; }

StorageStats Storage::stats() const {
  StorageStats s;
  s.commits = impl_->commits;
  s.empty_commits = impl_->empty_commits;
  s.rollbacks = impl_->rollbacks;
  s.batches = impl_->batches;
  s.failed_commits = impl_->failed;
  {
    std::lock_guard lock(impl_->queue_mutex);
    s.queued = impl_->queue.size();
    s.committing = impl_->batch_being_committed;
  }
  return s;
}

Result<void> Storage::erase_object(std::string_view object_id) {
  Bytes id(object_id);
  detail::PendingCommit pending;
  pending.object_id = &id;
  pending.erase_object = true;
  impl_->submit(pending);
  if (!pending.error.empty())
    return Error{Error::Kind::Other, "storage erase failed: " + pending.error};
  return {};
}

}  // namespace rw::durable
