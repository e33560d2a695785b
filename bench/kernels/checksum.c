// Integer checksum over 1 MiB of memory: FNV-1a over bytes plus Adler-32 over the same buffer.
// run(n) refills the buffer with a seeded xorshift stream and hashes it n times.
#include <stdint.h>

#define BUFFER_SIZE (1u << 20)
static uint8_t buffer[BUFFER_SIZE];

static void fill(uint32_t seed) {
  uint32_t x = seed | 1u;
  for (uint32_t i = 0; i < BUFFER_SIZE; i += 4) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    buffer[i] = (uint8_t)x;
    buffer[i + 1] = (uint8_t)(x >> 8);
    buffer[i + 2] = (uint8_t)(x >> 16);
    buffer[i + 3] = (uint8_t)(x >> 24);
  }
}

__attribute__((export_name("run"))) uint32_t run(uint32_t n) {
  fill(0x12345678u);
  uint32_t result = 0;
  for (uint32_t pass = 0; pass < n; ++pass) {
    uint32_t fnv = 2166136261u;
    uint32_t a = 1, b = 0;
    for (uint32_t i = 0; i < BUFFER_SIZE; ++i) {
      fnv = (fnv ^ buffer[i]) * 16777619u;
      a += buffer[i];
      if (a >= 65521u) a -= 65521u;
      b += a;
      if (b >= 65521u) b -= 65521u;
    }
    result = result * 31u + (fnv ^ ((b << 16) | a));
  }
  return result;
}
