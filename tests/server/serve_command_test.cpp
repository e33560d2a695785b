// `rewind serve` as a subprocess: start-up line, serving, configuration errors, SIGTERM.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <atomic>
#include <thread>
#include <random>
#include <nlohmann/json.hpp>

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

// ---------------------------------------------------------------------------------------------
// Durable objects through `rewind serve --config` (the bank example).

// A config serving the bank namespace from `dir`, whose database lives there too.
std::string write_bank_config(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "rewind.toml") << "[server]\nadmin_listen = \"off\"\n\n"
                                     << "[[durable_object]]\nname = \"bank\"\nmodule = \""
                                     << example("bank.wasm") << "\"\ndatabase = \"bank.db\"\n";
  return (dir / "rewind.toml").string();
}

// Starts `rewind serve --config` and returns the child with its port (0 when it did not start).
std::pair<Child, uint16_t> serve_config(const std::string& config) {
  Child c = spawn({"serve", "--config", config, "--listen", "127.0.0.1:0", "--threads", "2"});
  std::smatch m;
  std::string line =
      Child::read_until(c.out, std::regex(R"(listening on http://127\.0\.0\.1:(\d+))"), &m);
  EXPECT_FALSE(m.empty()) << line;
  return {c, m.empty() ? uint16_t{0} : static_cast<uint16_t>(std::stoi(m[1]))};
}

// An account's balance read from the object's storage; nullopt when the account was never
// credited (the bank answers 404 no_such_account), -1 on any other answer (a test failure).
std::optional<int64_t> balance(uint16_t port, const std::string& object,
                               const std::string& account) {
  auto r = testing::http_get(
      port, "/obj/bank/" + object + "/balance?account=" + account + "&source=storage");
  if (r.status == 404 && r.body.find("no_such_account") != std::string::npos) return std::nullopt;
  EXPECT_EQ(r.status, 200) << r.body;
  return r.status == 200 ? nlohmann::json::parse(r.body)["balance"].get<int64_t>() : -1;
}

int post(uint16_t port, const std::string& target) {
  testing::HttpClient client(port);
  return client.request("POST", target).status;
}

TEST(ServeDurableObjects, HalfWayFailuresLeaveBalancesAndStorageSurvivesRestart) {
  if (!std::filesystem::exists(kRewind) || !std::filesystem::exists(example("bank.wasm")))
    GTEST_SKIP() << "rewind or the bank example not built";
  auto dir = std::filesystem::path(::testing::TempDir()) /
             ("rewind_serve_do_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::string config = write_bank_config(dir);
  {
    auto [c, port] = serve_config(config);
    ASSERT_NE(port, 0);
    EXPECT_EQ(post(port, "/obj/bank/acme/deposit?account=a&amount=100"), 200);
    for (const char* fail : {"panic", "abort", "exit"}) {
      EXPECT_EQ(post(port, std::string("/obj/bank/acme/transfer?from=a&to=b&amount=30&fail=") +
                               fail),
                500)
          << fail;
      EXPECT_EQ(balance(port, "acme", "a"), 100) << fail;
      EXPECT_EQ(balance(port, "acme", "b"), std::nullopt) << fail;  // the credit never happened
    }
    EXPECT_EQ(post(port, "/obj/bank/acme/transfer?from=a&to=b&amount=30"), 200);
    // Objects are independent: another id has its own accounts.
    EXPECT_EQ(balance(port, "other", "a"), std::nullopt);
    kill(c.pid, SIGTERM);
    EXPECT_EQ(c.wait(), 0);
  }
  auto [c, port] = serve_config(config);
  ASSERT_NE(port, 0);
  EXPECT_EQ(balance(port, "acme", "a"), 70);
  EXPECT_EQ(balance(port, "acme", "b"), 30);
  kill(c.pid, SIGTERM);
  EXPECT_EQ(c.wait(), 0);
  std::filesystem::remove_all(dir);
}

// The server is killed with SIGKILL at random instants under load. After each restart, every
// deposit answered 2xx is in storage, and no transfer is half-visible (the two balances of the
// transfer object always add up to what was put in). REWIND_SERVE_CRASH_ROUNDS makes it longer.
TEST(ServeDurableObjects, AcknowledgedWritesSurviveSigkill) {
  if (!std::filesystem::exists(kRewind) || !std::filesystem::exists(example("bank.wasm")))
    GTEST_SKIP() << "rewind or the bank example not built";
  int rounds = 4;
  if (const char* env = std::getenv("REWIND_SERVE_CRASH_ROUNDS")) rounds = std::atoi(env);
  auto dir = std::filesystem::path(::testing::TempDir()) /
             ("rewind_serve_crash_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::string config = write_bank_config(dir);
  constexpr int64_t kFunds = 1000;
  int64_t acknowledged = 0, attempted = 0;
  std::mt19937 rng(12345);
  for (int round = 0; round < rounds; ++round) {
    auto [c, port] = serve_config(config);
    ASSERT_NE(port, 0) << "round " << round;
    // What the previous rounds acknowledged is all there; nothing unacknowledged is invented.
    int64_t stored = balance(port, "deposits", "x").value_or(0);  // absent: nothing committed
    EXPECT_GE(stored, acknowledged) << "round " << round;
    EXPECT_LE(stored, attempted) << "round " << round;
    if (round == 0) {
      ASSERT_EQ(post(port, "/obj/bank/transfers/deposit?account=a&amount=" +
                               std::to_string(kFunds)),
                200);
    } else {
      EXPECT_EQ(balance(port, "transfers", "a").value_or(0) +
                    balance(port, "transfers", "b").value_or(0),
                kFunds)
          << "round " << round;
    }
    acknowledged = std::max(acknowledged, stored);

    std::atomic<int64_t> acked{0}, sent{0};
    std::atomic<bool> stop{false};
    std::thread depositor([&, port = port] {
      try {
        testing::HttpClient client(port);
        while (!stop) {
          sent.fetch_add(1);
          if (client.request("POST", "/obj/bank/deposits/deposit?account=x&amount=1").status ==
              200)
            acked.fetch_add(1);
        }
      } catch (const std::exception&) {
        // The server was killed: whatever was in flight is unacknowledged.
      }
    });
    std::thread mover([&, port = port] {
      try {
        testing::HttpClient client(port);
        for (int i = 0; !stop; ++i) {
          const char* target = i % 2 ? "/obj/bank/transfers/transfer?from=b&to=a&amount=1"
                                     : "/obj/bank/transfers/transfer?from=a&to=b&amount=1";
          client.request("POST", target);
        }
      } catch (const std::exception&) {
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
    kill(c.pid, SIGKILL);
    EXPECT_EQ(c.wait(), 128 + SIGKILL);
    stop = true;
    depositor.join();
    mover.join();
    acknowledged += acked.load();
    attempted = stored + sent.load();
  }
  auto [c, port] = serve_config(config);
  ASSERT_NE(port, 0);
  int64_t stored = balance(port, "deposits", "x").value_or(0);
  EXPECT_GE(stored, acknowledged);
  EXPECT_LE(stored, attempted);
  EXPECT_EQ(balance(port, "transfers", "a").value_or(0) +
                balance(port, "transfers", "b").value_or(0),
            kFunds);
  EXPECT_GT(acknowledged, 0);  // the load really ran
  RecordProperty("acknowledged_deposits", std::to_string(acknowledged));
  kill(c.pid, SIGTERM);
  EXPECT_EQ(c.wait(), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rw::server
