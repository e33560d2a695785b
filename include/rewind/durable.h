#pragma once
// Storage for durable objects (docs/durable-objects.md): one SQLite database per namespace, in
// WAL mode, holding every object's key-value pairs; per-call transactions with read-your-writes;
// commits that are durable (fsync'd) before they return, batched across objects (group
// commit); and the `rewind.storage_*` host functions a guest uses.
//
// Thread-safety: a Storage may be used from any number of threads. A Transaction belongs to one
// call and is used by one thread at a time.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rewind/engine.h"
#include "rewind/error.h"

namespace rw::durable {

// Keys, values and object ids are arbitrary bytes, held in std::string. Keys are ordered
// lexicographically by unsigned byte (memcmp order, shorter first on a common prefix).
using Bytes = std::string;

// Storage::open refuses limits the i32 guest interface cannot express (key + value + 8 bytes
// above 2^31 - 1) and zero key or list limits.
struct StorageLimits {
  size_t max_key_bytes = 2048;
  size_t max_value_bytes = 1 << 20;
  size_t max_object_id_bytes = 1024;
  // What one call may buffer (keys plus values of its writes) before commit.
  size_t max_transaction_bytes = 64ull << 20;
  // How many entries one list may return.
  uint32_t max_list_limit = 10000;
};

enum class Sync : uint8_t {
  Full,    // fsync the WAL on every commit: survives power loss (the default, "durability on")
  Normal,  // fsync only at checkpoints: survives a process crash, not an OS crash or power loss
};

struct StorageOptions {
  std::string path;  // the namespace's database file; created if missing
  StorageLimits limits;
  Sync sync = Sync::Full;
  // Group commit: the commits of concurrent calls (different objects) share one SQLite
  // transaction and one fsync; the call that finds no batch in progress commits the waiting
  // ones on its own thread. Off: every commit is its own transaction and fsync.
  bool group_commit = true;
  // Bound on the database file's size (rounded down to whole pages); 0: unbounded. A commit that
  // would grow it further fails ("database or disk is full") and stores nothing of its call;
  // deletes still work.
  uint64_t max_database_bytes = 0;
  // Most calls one batch may hold.
  size_t max_batch = 1024;
  std::chrono::milliseconds busy_timeout{5000};
};

// Every error of this API. Limit errors are the caller's (or guest's) doing; Io errors come from
// SQLite or the file system.
class StorageError : public std::runtime_error {
 public:
  enum class Kind : uint8_t {
    KeyTooLarge,
    ValueTooLarge,
    ObjectIdTooLarge,
    TransactionTooLarge,
    BadArgument,  // e.g. a list limit of 0 or above the maximum
    Closed,       // the transaction was already committed or rolled back
    Io,
  };
  StorageError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

struct Entry {
  Bytes key;
  Bytes value;
  bool operator==(const Entry&) const = default;
};

struct ListOptions {
  Bytes prefix;                      // only keys starting with these bytes
  std::optional<Bytes> start_after;  // only keys strictly greater (for paging)
  uint32_t limit = 1000;             // 1..max_list_limit
  // Stop early once the entries gathered reach this many bytes (key + value + 8 each); the
  // entry that crosses the budget is still returned, so at least one entry comes back.
  size_t max_bytes = SIZE_MAX;
};

struct StorageStats {
  uint64_t commits = 0;        // calls committed with at least one write
  uint64_t empty_commits = 0;  // calls committed with no write (no transaction, no fsync)
  uint64_t rollbacks = 0;
  uint64_t batches = 0;  // SQLite transactions the writes were committed in
  uint64_t failed_commits = 0;
  uint64_t queued = 0;      // calls waiting for a batch right now (a gauge)
  uint64_t committing = 0;  // calls in the batch being written right now (a gauge)
};

class Storage;
namespace detail {
struct StorageImpl;
}  // namespace detail

// One call's view of one object's storage. Reads see the committed state plus this call's own
// writes; writes stay in memory until commit. Destroying an open transaction rolls it back.
class Transaction {
 public:
  Transaction(Transaction&&) noexcept;
  Transaction& operator=(Transaction&&) noexcept;
  ~Transaction();

  const Bytes& object_id() const { return object_id_; }
  bool open() const { return open_; }

  // get, put, remove and list throw StorageError: a limit kind (the transaction is unchanged),
  // Closed, or Io when SQLite cannot read.
  std::optional<Bytes> get(std::string_view key);
  void put(std::string_view key, std::string_view value);
  // Returns whether the key existed (in the committed state or this call's writes).
  bool remove(std::string_view key);
  std::vector<Entry> list(const ListOptions& options);

  // Makes this call's writes durable: returns only after the SQLite transaction holding them has
  // committed with the configured sync (fsync'd for Sync::Full). The caller releases the call's
  // response only after this returns ok (the output gate). On error nothing of the call is
  // stored. Either way the transaction is closed afterwards.
  Result<void> commit();
  // Discards every write of the call. A closed transaction ignores it.
  void rollback();

  // Buffered writes (key and value bytes) so far.
  size_t pending_bytes() const { return pending_bytes_; }
  size_t pending_writes() const { return writes_.size(); }

 private:
  friend class Storage;
  Transaction(std::shared_ptr<detail::StorageImpl> storage, Bytes object_id);
  void check_open() const;
  void release();

  std::shared_ptr<detail::StorageImpl> storage_;
  Bytes object_id_;
  bool open_ = true;
  // key -> new value, or nullopt for a delete. std::string compares as unsigned bytes, which is
  // SQLite's BLOB order, so merging with the committed rows is a plain ordered merge.
  std::map<Bytes, std::optional<Bytes>, std::less<>> writes_;
  size_t pending_bytes_ = 0;
};

// The storage of one namespace.
class Storage {
 public:
  static Result<std::shared_ptr<Storage>> open(StorageOptions options);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // Starts a call's transaction on `object_id`. Throws StorageError (ObjectIdTooLarge).
  Transaction begin(std::string_view object_id);

  const StorageOptions& options() const;
  StorageStats stats() const;

  // Removes every key of an object, durably. For the runtime to call while no call of the object
  // is in progress: a transaction open on the object meanwhile would write its keys back.
  Result<void> erase_object(std::string_view object_id);

  explicit Storage(std::shared_ptr<detail::StorageImpl> impl);

 private:
  std::shared_ptr<detail::StorageImpl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Guest interface: the `rewind.storage_*` host functions (docs/durable-objects.md, "Guest ABI").

// What the storage functions of one instance work on: the runtime points `transaction` at the
// current call's transaction before entering the guest and clears it afterwards. With no
// transaction set, a storage function aborts the call (the worker is not a durable object, or
// the guest called outside a call).
struct StorageContext {
  Transaction* transaction = nullptr;
};

// Return codes of the storage functions (negative i32 results).
inline constexpr int32_t kStorageNotFound = -1;
inline constexpr int32_t kStorageKeyTooLarge = -2;
inline constexpr int32_t kStorageValueTooLarge = -3;
inline constexpr int32_t kStorageTransactionTooLarge = -4;
inline constexpr int32_t kStorageBadLimit = -5;

// Defines rewind.storage_get, storage_put, storage_delete and storage_list in `imports` as host
// functions of `store` bound to `context`.
void define_storage_imports(Store& store, Imports& imports,
                            std::shared_ptr<StorageContext> context);

// Names and types of those functions, for module checks.
struct StorageFunction {
  std::string_view name;
  FuncType type;
};
std::vector<StorageFunction> storage_functions();

}  // namespace rw::durable
