// Sieve of Eratosthenes: run(n) counts the primes below n (n at most 8 Mi).
#include <stdint.h>

#define MAX_N (1u << 23)
static uint8_t composite[MAX_N];

__attribute__((export_name("run"))) uint32_t run(uint32_t n) {
  if (n > MAX_N) n = MAX_N;
  for (uint32_t i = 0; i < n; ++i) composite[i] = 0;
  uint32_t count = 0;
  for (uint32_t i = 2; i < n; ++i) {
    if (composite[i]) continue;
    ++count;
    for (uint64_t j = (uint64_t)i * i; j < n; j += i) composite[j] = 1;
  }
  return count;
}
