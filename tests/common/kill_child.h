#pragma once
// Crash tests: a forked child reports what it did through a pipe and is killed with SIGKILL at a
// moment the test picks; the records it managed to write are what it acknowledged.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <type_traits>
#include <vector>

namespace rw::testing {

// Forks, runs `child(write_fd)` in the child (it must not return: it ends with _exit), kills it
// with SIGKILL after `delay`, and returns every record of type T it wrote before it died. Adds a
// test failure when the child ended on its own or a record was torn.
template <class T, class Child>
std::vector<T> records_until_killed(Child child, std::chrono::milliseconds delay) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= PIPE_BUF,
                "records must reach the pipe in one write");
  std::vector<T> records;
  int fds[2];
  if (pipe(fds) != 0) {
    ADD_FAILURE() << "pipe failed";
    return records;
  }
  pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return records;
  }
  if (pid == 0) {
    close(fds[0]);
    child(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::this_thread::sleep_for(delay);
  EXPECT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child ended on its own with status " << status;
  T record;
  ssize_t n;
  while ((n = read(fds[0], &record, sizeof record)) == sizeof record) records.push_back(record);
  EXPECT_EQ(n, 0) << "torn record";
  close(fds[0]);
  return records;
}

}  // namespace rw::testing
