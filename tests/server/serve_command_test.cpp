// `rewind serve` as a subprocess: start-up line, serving, configuration errors, SIGTERM.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "http_client.h"

extern char** environ;

namespace rw::server {
namespace {

const std::string kRewind = std::string(REWIND_BINARY_DIR) + "/tools/rewind/rewind";

struct Child {
  pid_t pid = -1;
  int out = -1, err = -1;

  // Reads from `fd` until `pattern` matches or the pipe closes or 10 s pass.
  static std::string read_until(int fd, const std::regex& pattern, std::smatch* m = nullptr) {
    std::string text;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      char buf[512];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        text.append(buf, static_cast<size_t>(n));
        std::smatch local;
        if (std::regex_search(text, m ? *m : local, pattern)) return text;
      } else if (n == 0) {
        return text;
      } else if (errno != EINTR) {
        return text;
      }
    }
    return text;
  }
  int wait() {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

Child spawn(std::vector<std::string> args) {
  int out[2], err[2];
  EXPECT_EQ(pipe(out), 0);
  EXPECT_EQ(pipe(err), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addclose(&actions, err[0]);
  args.insert(args.begin(), kRewind);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child c;
  EXPECT_EQ(posix_spawn(&c.pid, kRewind.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  close(err[1]);
  c.out = out[0];
  c.err = err[0];
  return c;
}

std::string example(const std::string& name) {
  return std::string(REWIND_BINARY_DIR) + "/examples/" + name;
}

TEST(ServeCommand, ServesAModuleWithoutConfigurationAndStopsOnSigterm) {
  if (!std::filesystem::exists(kRewind) || !std::filesystem::exists(example("hello-worker.wasm")))
    GTEST_SKIP() << "rewind or the hello worker not built";
  Child c = spawn({"serve", example("hello-worker.wasm"), "--listen", "127.0.0.1:0",
                   "--admin-listen", "127.0.0.1:0", "--threads", "2"});
  std::smatch m;
  std::string line = Child::read_until(
      c.out,
      std::regex(
          R"(listening on http://127\.0\.0\.1:(\d+), admin on http://127\.0\.0\.1:(\d+) \(hello-worker on /\))"),
      &m);
  ASSERT_FALSE(m.empty()) << line;
  auto port = static_cast<uint16_t>(std::stoi(m[1]));
  auto admin = static_cast<uint16_t>(std::stoi(m[2]));
  auto r = testing::http_get(port, "/greet?x=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("GET /greet?x=1"), std::string::npos) << r.body;
  EXPECT_EQ(testing::http_get(admin, "/healthz").status, 200);
  kill(c.pid, SIGTERM);
  EXPECT_EQ(c.wait(), 0);
  std::string err = Child::read_until(c.err, std::regex("stopped"));
  EXPECT_NE(err.find("SIGTERM"), std::string::npos) << err;
}

TEST(ServeCommand, ConfigurationErrorsExitWith2AndNameTheKey) {
  if (!std::filesystem::exists(kRewind)) GTEST_SKIP() << "rewind not built";
  std::string path =
      ::testing::TempDir() + "/rewind_serve_bad_" + std::to_string(getpid()) + ".toml";
  std::ofstream(path) << "[[worker]]\nname = \"w\"\nmodule = \"w.wasm\"\non_panic = \"explode\"\n";
  Child c = spawn({"serve", "--config", path});
  std::string err = Child::read_until(c.err, std::regex("on_panic.*\n"));
  EXPECT_EQ(c.wait(), 2);
  EXPECT_NE(err.find("key 'on_panic'"), std::string::npos) << err;

  Child both = spawn({"serve", "x.wasm", "--config", path});
  EXPECT_EQ(both.wait(), 2);
  Child neither = spawn({"serve"});
  EXPECT_EQ(neither.wait(), 2);
  Child listen = spawn({"serve", "x.wasm", "--listen", "nonsense"});
  EXPECT_EQ(listen.wait(), 2);
}

TEST(ServeCommand, AMissingModuleExitsWith1) {
  if (!std::filesystem::exists(kRewind)) GTEST_SKIP() << "rewind not built";
  Child c = spawn(
      {"serve", "/nonexistent/worker.wasm", "--listen", "127.0.0.1:0", "--admin-listen", "off"});
  std::string err = Child::read_until(c.err, std::regex("worker\\.wasm.*\n"));
  EXPECT_EQ(c.wait(), 1);
  EXPECT_NE(err.find("/nonexistent/worker.wasm"), std::string::npos) << err;
}

}  // namespace
}  // namespace rw::server
