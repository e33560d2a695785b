// f64 matrix multiply: run(n) multiplies two n x n matrices (n at most 128) of small integers,
// so the result is exact, and returns the sum of the product's entries mod 2^32.
#include <stdint.h>

#define MAX_DIM 128
static double a[MAX_DIM * MAX_DIM], b[MAX_DIM * MAX_DIM], c[MAX_DIM * MAX_DIM];

__attribute__((export_name("run"))) uint32_t run(uint32_t n) {
  if (n > MAX_DIM) n = MAX_DIM;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t j = 0; j < n; ++j) {
      a[i * n + j] = (double)((i * 3 + j) % 7) + 0.5;
      b[i * n + j] = (double)((i + j * 5) % 11) - 5.0;
    }
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (uint32_t k = 0; k < n; ++k) sum += a[i * n + k] * b[k * n + j];
      c[i * n + j] = sum;
    }
  double total = 0.0;
  for (uint32_t i = 0; i < n * n; ++i) total += c[i];
  return (uint32_t)(int64_t)total;
}
