/* rewind guest SDK: durable object storage (docs/durable-objects.md, "Guest ABI").
 *
 * Every call to a durable object runs in one storage transaction: reads see the object's
 * committed data plus the call's own writes; the writes become durable together when the call
 * returns normally, before its response is sent, and are discarded if it panics or aborts.
 * Keys and values are arbitrary bytes (zero bytes included); keys sort as unsigned bytes.
 *
 * Limits (host defaults): key <= 2 KiB, value <= 1 MiB, 64 MiB of writes per call. Calling these
 * functions outside a durable object's call, or with a pointer range outside linear memory,
 * aborts the call (host_abort). */
#ifndef REWIND_STORAGE_H
#define REWIND_STORAGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Negative results. */
#define REWIND_STORAGE_NOT_FOUND (-1)
#define REWIND_STORAGE_KEY_TOO_LARGE (-2)
#define REWIND_STORAGE_VALUE_TOO_LARGE (-3)
#define REWIND_STORAGE_TRANSACTION_TOO_LARGE (-4)
#define REWIND_STORAGE_BAD_LIMIT (-5)

/* start_len value for rewind_storage_list: list from the first key (the empty key included). */
#define REWIND_STORAGE_LIST_FROM_START 0xFFFFFFFFu

#define REWIND_STORAGE_IMPORT(name) __attribute__((import_module("rewind"), import_name(name)))

/* Copies min(length, cap) bytes of the value of `key` to buf and returns its full length, or
 * REWIND_STORAGE_NOT_FOUND, or REWIND_STORAGE_KEY_TOO_LARGE. cap may be 0 to ask for the length. */
REWIND_STORAGE_IMPORT("storage_get")
int32_t rewind_storage_get(const void* key, uint32_t key_len, void* buf, uint32_t cap);

/* Sets `key` to `value` in this call's transaction. Returns 0, REWIND_STORAGE_KEY_TOO_LARGE,
 * REWIND_STORAGE_VALUE_TOO_LARGE or REWIND_STORAGE_TRANSACTION_TOO_LARGE (nothing changed). */
REWIND_STORAGE_IMPORT("storage_put")
int32_t rewind_storage_put(const void* key, uint32_t key_len, const void* value,
                           uint32_t value_len);

/* Deletes `key`. Returns 1 if it existed, 0 if not, or a negative error as for put. */
REWIND_STORAGE_IMPORT("storage_delete")
int32_t rewind_storage_delete(const void* key, uint32_t key_len);

/* Lists, in key order, up to `limit` entries whose key starts with `prefix` and, unless
 * start_len is REWIND_STORAGE_LIST_FROM_START, is strictly greater than `start`. Writes as many
 * whole entries as fit in buf, each encoded as
 *     u32 key_len (little-endian) | key bytes | u32 value_len (little-endian) | value bytes
 * and returns the number of bytes written: 0 means there are no more entries. If not even the
 * next entry fits, returns minus the number of bytes it needs (at most -8). Other negative
 * results: REWIND_STORAGE_KEY_TOO_LARGE (prefix or start), REWIND_STORAGE_BAD_LIMIT (limit 0 or
 * above the host's maximum, 10000 by default). To page, call again with start = the last key
 * returned. */
REWIND_STORAGE_IMPORT("storage_list")
int32_t rewind_storage_list(const void* prefix, uint32_t prefix_len, const void* start,
                            uint32_t start_len, uint32_t limit, void* buf, uint32_t cap);

/* Walks a buffer filled by rewind_storage_list. Returns 1 and points key/value into the buffer
 * for the next entry, or 0 at the end (or on a malformed buffer). */
static inline int rewind_storage_next_entry(const uint8_t** cursor, const uint8_t* end,
                                            const uint8_t** key, uint32_t* key_len,
                                            const uint8_t** value, uint32_t* value_len) {
  const uint8_t* p = *cursor;
  if (end - p < 4) return 0;
  *key_len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  p += 4;
  if ((uint32_t)(end - p) < *key_len) return 0;
  *key = p;
  p += *key_len;
  if (end - p < 4) return 0;
  *value_len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  p += 4;
  if ((uint32_t)(end - p) < *value_len) return 0;
  *value = p;
  *cursor = p + *value_len;
  return 1;
}

#undef REWIND_STORAGE_IMPORT

#ifdef __cplusplus
}
#endif

#endif /* REWIND_STORAGE_H */
