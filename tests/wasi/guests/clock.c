// Reads the clocks, sleeps 2 ms (poll_oneoff) and checks time moved forward.
#include <stdio.h>
#include <time.h>

static long long ns(clockid_t clock) {
  struct timespec ts;
  if (clock_gettime(clock, &ts) != 0) return -1;
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void) {
  long long real = ns(CLOCK_REALTIME);
  long long before = ns(CLOCK_MONOTONIC);
  struct timespec res;
  int res_ok = clock_getres(CLOCK_MONOTONIC, &res) == 0 && (res.tv_sec > 0 || res.tv_nsec > 0);
  struct timespec nap = {0, 2000000};
  int slept = nanosleep(&nap, NULL) == 0;
  long long after = ns(CLOCK_MONOTONIC);
  printf("realtime_after_2020=%d\n", real > 1577836800LL * 1000000000LL);
  printf("resolution_ok=%d\n", res_ok);
  printf("slept=%d\n", slept);
  printf("monotonic_advanced_2ms=%d\n", after - before >= 2000000);
  printf("cpu_clock=%d\n", ns(CLOCK_PROCESS_CPUTIME_ID) >= 0);
  return 0;
}
