// Calls WASI functions directly with pointers outside linear memory and prints the errno each
// returns; the host must answer EFAULT (21), never crash.
#include <stdint.h>
#include <stdio.h>

#define WASI(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))

WASI(fd_write) int32_t raw_fd_write(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nwritten);
WASI(fd_read) int32_t raw_fd_read(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nread);
WASI(args_get) int32_t raw_args_get(int32_t argv, int32_t argv_buf);
WASI(args_sizes_get) int32_t raw_args_sizes_get(int32_t argc, int32_t size);
WASI(environ_sizes_get) int32_t raw_environ_sizes_get(int32_t count, int32_t size);
WASI(clock_time_get) int32_t raw_clock_time_get(int32_t clock, int64_t precision, int32_t time);
WASI(random_get) int32_t raw_random_get(int32_t buf, int32_t len);
WASI(fd_fdstat_get) int32_t raw_fd_fdstat_get(int32_t fd, int32_t stat);
WASI(fd_prestat_get) int32_t raw_fd_prestat_get(int32_t fd, int32_t prestat);
WASI(poll_oneoff) int32_t raw_poll_oneoff(int32_t in, int32_t out, int32_t n, int32_t nevents);
WASI(fd_seek) int32_t raw_fd_seek(int32_t fd, int64_t offset, int32_t whence, int32_t result);

static uint32_t scratch[16];

int main(void) {
  const int32_t far = (int32_t)0xFFFFFFF0u;
  uint32_t* iov = scratch;
  // A valid iovec array whose buffer points past the end of memory.
  iov[0] = 0xFFFFFF00u;
  iov[1] = 64;
  int32_t good = (int32_t)(uintptr_t)&scratch[8];
  printf("fd_write_bad_iovs=%d\n", raw_fd_write(1, far, 1, good));
  printf("fd_write_bad_buffer=%d\n", raw_fd_write(1, (int32_t)(uintptr_t)iov, 1, good));
  printf("fd_write_bad_result=%d\n", raw_fd_write(1, (int32_t)(uintptr_t)iov, 0, far));
  printf("fd_write_huge_count=%d\n", raw_fd_write(1, (int32_t)(uintptr_t)iov, 0x7FFFFFFF, good));
  printf("fd_read_bad_buffer=%d\n", raw_fd_read(0, (int32_t)(uintptr_t)iov, 1, good));
  printf("args_get_bad=%d\n", raw_args_get(far, far));
  printf("args_sizes_get_bad=%d\n", raw_args_sizes_get(far, good));
  printf("environ_sizes_get_bad=%d\n", raw_environ_sizes_get(good, far));
  printf("clock_time_get_bad=%d\n", raw_clock_time_get(0, 0, far));
  printf("random_get_bad=%d\n", raw_random_get(far, 64));
  printf("fd_fdstat_get_bad=%d\n", raw_fd_fdstat_get(1, far));
  printf("poll_oneoff_bad=%d\n", raw_poll_oneoff(far, good, 1, good));
  printf("fd_seek_stdout=%d\n", raw_fd_seek(1, 0, 0, good));
  printf("fd_write_bad_fd=%d\n", raw_fd_write(77, (int32_t)(uintptr_t)iov, 0, good));
  printf("fd_prestat_get_stdout=%d\n", raw_fd_prestat_get(1, good));
  printf("clock_time_get_bad_clock=%d\n", raw_clock_time_get(99, 0, good));
  return 0;
}
