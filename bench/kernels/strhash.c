// String hashing into a hash table: run(n) formats n short keys ("key-<number>", with repeats),
// counts them in an open-addressing table keyed by FNV-1a, and returns a checksum of the table.
#include <stdint.h>

#define TABLE_BITS 17
#define TABLE_SIZE (1u << TABLE_BITS)
#define KEY_MAX 24

struct Entry {
  uint32_t hash;
  uint32_t count;
  uint8_t length;
  char key[KEY_MAX];
};
static struct Entry table[TABLE_SIZE];

static uint32_t format_key(uint32_t number, char* out) {
  const char prefix[] = "key-";
  uint32_t length = 0;
  for (; prefix[length]; ++length) out[length] = prefix[length];
  char digits[10];
  uint32_t count = 0;
  do {
    digits[count++] = (char)('0' + number % 10);
    number /= 10;
  } while (number);
  while (count) out[length++] = digits[--count];
  return length;
}

static uint32_t hash_key(const char* key, uint32_t length) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < length; ++i) h = (h ^ (uint8_t)key[i]) * 16777619u;
  return h;
}

static int same_key(const struct Entry* e, const char* key, uint32_t length) {
  if (e->length != length) return 0;
  for (uint32_t i = 0; i < length; ++i)
    if (e->key[i] != key[i]) return 0;
  return 1;
}

__attribute__((export_name("run"))) uint32_t run(uint32_t n) {
  for (uint32_t i = 0; i < TABLE_SIZE; ++i) table[i].count = 0;
  uint32_t distinct = 0;
  char key[KEY_MAX];
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t length = format_key((i * 7919u) % 50021u, key);
    uint32_t h = hash_key(key, length);
    uint32_t slot = h & (TABLE_SIZE - 1);
    for (;;) {
      struct Entry* e = &table[slot];
      if (e->count == 0) {
        e->hash = h;
        e->count = 1;
        e->length = (uint8_t)length;
        for (uint32_t k = 0; k < length; ++k) e->key[k] = key[k];
        ++distinct;
        break;
      }
      if (e->hash == h && same_key(e, key, length)) {
        ++e->count;
        break;
      }
      slot = (slot + 1) & (TABLE_SIZE - 1);
    }
  }
  uint32_t checksum = distinct;
  for (uint32_t i = 0; i < TABLE_SIZE; ++i)
    if (table[i].count) checksum = checksum * 31u + table[i].hash * table[i].count;
  return checksum;
}
