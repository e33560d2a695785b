/* A C guest using the SDK's storage header (sdk/include/rewind/storage.h), built without libc.
 * Each export returns 0 on success or a number saying which check failed. */
#include "rewind/storage.h"

static uint8_t buf[4096];

/* Writes, reads back, lists and deletes within one call. */
__attribute__((export_name("roundtrip"))) int roundtrip(void) {
  int32_t r = rewind_storage_put("k", 1, "hello", 5);
  if (r != 0) return 100 - r;
  r = rewind_storage_get("k", 1, buf, sizeof buf);
  if (r != 5 || buf[0] != 'h' || buf[4] != 'o') return 200;
  if (rewind_storage_put("k\0z", 3, "", 0) != 0) return 300;
  r = rewind_storage_list("k", 1, 0, REWIND_STORAGE_LIST_FROM_START, 10, buf, sizeof buf);
  if (r <= 0) return 400;
  const uint8_t *cursor = buf, *key, *value;
  uint32_t key_len, value_len;
  int n = 0;
  while (rewind_storage_next_entry(&cursor, buf + r, &key, &key_len, &value, &value_len)) {
    if (n == 0 && (key_len != 1 || value_len != 5)) return 500;
    if (n == 1 && (key_len != 3 || key[1] != 0 || value_len != 0)) return 600;
    ++n;
  }
  if (n != 2 || cursor != buf + r) return 700 + n;
  if (rewind_storage_delete("k", 1) != 1) return 800;
  if (rewind_storage_get("k", 1, buf, sizeof buf) != REWIND_STORAGE_NOT_FOUND) return 900;
  return 0;
}

/* Increments a counter stored under "count" and returns the new value. */
__attribute__((export_name("increment"))) int increment(void) {
  uint32_t count = 0;
  int32_t r = rewind_storage_get("count", 5, &count, sizeof count);
  if (r != REWIND_STORAGE_NOT_FOUND && r != (int32_t)sizeof count) return -1;
  ++count;
  if (rewind_storage_put("count", 5, &count, sizeof count) != 0) return -2;
  return (int)count;
}

/* Writes a key, then traps: the call's writes must not survive. */
__attribute__((export_name("write_then_trap"))) void write_then_trap(void) {
  rewind_storage_put("doomed", 6, "x", 1);
  __builtin_trap();
}
