// The rewind.storage_* host functions (docs/durable-objects.md, "Guest ABI").
#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>

#include "rewind/durable.h"
#include "rewind/lifecycle.h"
#include "runtime/guest/guest_memory.h"

namespace rw::durable {

namespace {

using guest::AbiViolation;
using guest::GuestMemory;

int32_t code_of(const StorageError& e) {
  switch (e.kind()) {
    case StorageError::Kind::KeyTooLarge: return kStorageKeyTooLarge;
    case StorageError::Kind::ValueTooLarge: return kStorageValueTooLarge;
    case StorageError::Kind::TransactionTooLarge: return kStorageTransactionTooLarge;
    case StorageError::Kind::BadArgument: return kStorageBadLimit;
    default: return 0;  // not a guest-visible code: the caller rethrows
  }
}

uint32_t u32(const Value& v) { return v.i32; }

int32_t clamp_i32(uint64_t v) { return static_cast<int32_t>(std::min<uint64_t>(v, INT32_MAX)); }

void put_u32le(uint8_t* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

using Impl = int32_t (*)(Transaction& tx, const GuestMemory& mem, std::span<const Value> args);

// storage_get(key_ptr, key_len, buf, cap) -> value length | -1 not found | -2
int32_t storage_get(Transaction& tx, const GuestMemory& m, std::span<const Value> a) {
  std::string_view key = m.string(u32(a[0]), u32(a[1]));
  auto out = m.writable(u32(a[2]), u32(a[3]));
  std::optional<Bytes> value = tx.get(key);
  if (!value) return kStorageNotFound;
  size_t n = std::min(value->size(), out.size());
  if (n) std::memcpy(out.data(), value->data(), n);
  return clamp_i32(value->size());
}

// storage_put(key_ptr, key_len, value_ptr, value_len) -> 0 | -2 | -3 | -4
int32_t storage_put(Transaction& tx, const GuestMemory& m, std::span<const Value> a) {
  std::string_view key = m.string(u32(a[0]), u32(a[1]));
  std::string_view value = m.string(u32(a[2]), u32(a[3]));
  tx.put(key, value);
  return 0;
}

// storage_delete(key_ptr, key_len) -> 1 existed | 0 did not | -2 | -4
int32_t storage_delete(Transaction& tx, const GuestMemory& m, std::span<const Value> a) {
  return tx.remove(m.string(u32(a[0]), u32(a[1]))) ? 1 : 0;
}

// The "no start key" value of storage_list's start_len.
constexpr uint32_t kListFromStart = UINT32_MAX;

// storage_list(prefix_ptr, prefix_len, start_ptr, start_len, limit, buf, cap)
//   -> bytes written (whole entries, 0 = no more) | -(bytes the next entry needs) | -2 | -5
int32_t storage_list(Transaction& tx, const GuestMemory& m, std::span<const Value> a) {
  ListOptions options;
  options.prefix = Bytes(m.string(u32(a[0]), u32(a[1])));
  if (u32(a[3]) != kListFromStart) options.start_after = Bytes(m.string(u32(a[2]), u32(a[3])));
  options.limit = u32(a[4]);
  auto out = m.writable(u32(a[5]), u32(a[6]));
  // Gather no more than the buffer can take (plus the one entry that crosses it, to report its
  // size when nothing fits).
  options.max_bytes = out.size();
  std::vector<Entry> entries = tx.list(options);
  size_t used = 0;
  for (const Entry& e : entries) {
    size_t need = 8 + e.key.size() + e.value.size();
    if (used + need > out.size()) {
      if (used == 0) return -clamp_i32(need);
      break;
    }
    uint8_t* p = out.data() + used;
    put_u32le(p, static_cast<uint32_t>(e.key.size()));
    std::memcpy(p + 4, e.key.data(), e.key.size());
    put_u32le(p + 4 + e.key.size(), static_cast<uint32_t>(e.value.size()));
    std::memcpy(p + 8 + e.key.size(), e.value.data(), e.value.size());
    used += need;
  }
  return clamp_i32(used);
}

struct FunctionSpec {
  std::string_view name;
  size_t params;  // all i32; every function returns one i32
  Impl impl;
};

constexpr FunctionSpec kFunctions[] = {
    {"storage_get", 4, storage_get},
    {"storage_put", 4, storage_put},
    {"storage_delete", 2, storage_delete},
    {"storage_list", 7, storage_list},
};

FuncType type_of(const FunctionSpec& spec) {
  FuncType t;
  t.params.assign(spec.params, ValType::I32);
  t.results = {ValType::I32};
  return t;
}

}  // namespace

std::vector<StorageFunction> storage_functions() {
  std::vector<StorageFunction> out;
  for (const FunctionSpec& spec : kFunctions) out.push_back({spec.name, type_of(spec)});
  return out;
}

void define_storage_imports(Store& store, Imports& imports,
                            std::shared_ptr<StorageContext> context) {
  for (const FunctionSpec& spec : kFunctions) {
    auto callback = [context, name = spec.name, impl = spec.impl](
                        HostContext& ctx, std::span<const Value> args,
                        std::span<Value> results) -> HostResult {
      GuestMemory mem(ctx.memory(), name);
      try {
        if (!context->transaction || !context->transaction->open())
          mem.fail("storage is only available during a durable object's call");
        results[0] = Value::make_i32(impl(*context->transaction, mem, args));
        return HostResult::ok();
      } catch (const AbiViolation& v) {
        return HostResult::abort(v.message);
      } catch (const StorageError& e) {
        if (int32_t code = code_of(e)) {
          results[0] = Value::make_i32(code);
          return HostResult::ok();
        }
        // A storage failure is the host's, not the guest's: it travels through the guest as a
        // host error, which the runtime reports (and rolls the call back).
        return HostResult::fail(std::current_exception(),
                                "rewind." + std::string(name) + ": " + e.what());
      } catch (const std::bad_alloc&) {
        return HostResult::fail(std::current_exception(),
                                "rewind." + std::string(name) + ": out of host memory");
      }
    };
    Function f = store.create_host_function(type_of(spec), std::move(callback),
                                            "rewind." + std::string(spec.name));
    imports.define("rewind", std::string(spec.name), Extern::of(f));
  }
}

}  // namespace rw::durable
