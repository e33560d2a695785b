// The WASI host, run through the public API with C guests built by tests/wasi/guests.

#include "runtime/wasi/wasi.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "rewind/engine.h"

namespace rw::wasi {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string guest_path(const std::string& name) {
  return std::string(REWIND_BINARY_DIR) + "/tests/wasi/guests/" + name + ".wasm";
}

struct GuestRun {
  std::string out, err;
  CallResult result;
  std::optional<uint32_t> exit_code;  // from the call result
  std::shared_ptr<WasiContext> context;
};

// Loads, instantiates and runs a command module's _start with `config` (its sinks are replaced
// by capturing ones).
GuestRun run_guest(const std::string& name, WasiConfig config) {
  GuestRun run;
  auto module = Module::from_file(guest_path(name));
  EXPECT_TRUE(module.ok()) << module.error().to_string();
  if (!module.ok()) return run;
  config.stdout_sink = [&run](std::string_view s) { run.out += s; };
  config.stderr_sink = [&run](std::string_view s) { run.err += s; };
  if (config.args.empty()) config.args = {name};
  auto context = WasiContext::create(std::move(config));
  EXPECT_TRUE(context.ok());
  if (!context.ok()) return run;
  run.context = context.value();
  Store store;
  Imports imports;
  define_imports(store, imports, run.context);
  auto instance = store.instantiate(module.value(), imports);
  EXPECT_TRUE(instance.ok()) << instance.error().to_string();
  if (!instance.ok()) return run;
  auto start = instance.value()->get_function("_start");
  EXPECT_TRUE(start.has_value());
  if (!start) return run;
  run.result = store.call(*start, {});
  run.exit_code = exit_code_of(run.result);
  return run;
}

class WasiGuestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(guest_path("hello")))
      GTEST_SKIP() << "WASI guests not built (needs clang-22 and wasi-libc)";
  }
};

TEST_F(WasiGuestTest, HelloWritesStdoutAndStderr) {
  GuestRun run = run_guest("hello", {});
  EXPECT_EQ(run.result.outcome, Outcome::Ok) << run.result.message;
  EXPECT_EQ(run.out, "hello from wasi\n");
  EXPECT_EQ(run.err, "to stderr\n");
  EXPECT_FALSE(run.exit_code.has_value());
  EXPECT_FALSE(run.context->exit_code().has_value());
}

TEST_F(WasiGuestTest, OutputIsDiscardedWithoutSinks) {
  auto module = Module::from_file(guest_path("hello"));
  ASSERT_TRUE(module.ok());
  auto context = WasiContext::create({});
  ASSERT_TRUE(context.ok());
  Store store;
  Imports imports;
  define_imports(store, imports, context.value());
  auto instance = store.instantiate(module.value(), imports);
  ASSERT_TRUE(instance.ok()) << instance.error().to_string();
  CallResult result = store.call(*instance.value()->get_function("_start"), {});
  EXPECT_EQ(result.outcome, Outcome::Ok);
}

TEST_F(WasiGuestTest, ArgsAndEnvironmentReachTheGuest) {
  WasiConfig config;
  config.args = {"prog", "first arg", "", "ünïcode"};
  config.env = {"GREETING=hi there", "EMPTY="};
  GuestRun run = run_guest("args_env", config);
  EXPECT_EQ(run.result.outcome, Outcome::Ok) << run.result.message;
  EXPECT_THAT(run.out, HasSubstr("argc=4\n"));
  EXPECT_THAT(run.out, HasSubstr("argv[0]=prog\n"));
  EXPECT_THAT(run.out, HasSubstr("argv[1]=first arg\n"));
  EXPECT_THAT(run.out, HasSubstr("argv[2]=\n"));
  EXPECT_THAT(run.out, HasSubstr("argv[3]=ünïcode\n"));
  EXPECT_THAT(run.out, HasSubstr("GREETING=hi there\n"));
  EXPECT_THAT(run.out, HasSubstr("env:EMPTY=\n"));
}

TEST_F(WasiGuestTest, NoArgsNoEnv) {
  WasiConfig config;
  config.args = {"only"};
  GuestRun run = run_guest("args_env", config);
  EXPECT_EQ(run.result.outcome, Outcome::Ok) << run.result.message;
  EXPECT_THAT(run.out, HasSubstr("argc=1\n"));
  EXPECT_THAT(run.out, HasSubstr("GREETING=(unset)\n"));
  EXPECT_THAT(run.out, Not(HasSubstr("env:")));
}

TEST_F(WasiGuestTest, ExitCodeComesBackAsHostErrorWithExitRequest) {
  GuestRun run = run_guest("exit_code", {});
  EXPECT_EQ(run.result.outcome, Outcome::HostError);
  ASSERT_TRUE(run.exit_code.has_value());
  EXPECT_EQ(*run.exit_code, 3u);
  EXPECT_EQ(run.context->exit_code(), std::optional<uint32_t>(3));
  // exit() flushes stdio and runs atexit handlers before proc_exit.
  EXPECT_EQ(run.out, "about to exit\natexit ran\n");
  ASSERT_TRUE(run.result.host_error);
  EXPECT_THROW(std::rethrow_exception(run.result.host_error), ExitRequest);
}

TEST_F(WasiGuestTest, ExitZeroIsStillAnExit) {
  WasiConfig config;
  config.args = {"exit_code", "0"};
  GuestRun run = run_guest("exit_code", config);
  ASSERT_TRUE(run.exit_code.has_value());
  EXPECT_EQ(*run.exit_code, 0u);
}

TEST_F(WasiGuestTest, ClocksAndSleep) {
  GuestRun run = run_guest("clock", {});
  EXPECT_EQ(run.result.outcome, Outcome::Ok) << run.result.message;
  EXPECT_THAT(run.out, HasSubstr("realtime_after_2020=1"));
  EXPECT_THAT(run.out, HasSubstr("resolution_ok=1"));
  EXPECT_THAT(run.out, HasSubstr("slept=1"));
  EXPECT_THAT(run.out, HasSubstr("monotonic_advanced_2ms=1"));
  EXPECT_THAT(run.out, HasSubstr("cpu_clock=1"));
}

TEST_F(WasiGuestTest, StdinFromSource) {
  WasiConfig config;
  std::string input = "hello, stdin\nsecond line";
  size_t position = 0;
  config.stdin_source = [&](std::span<uint8_t> buffer) -> int64_t {
    size_t n = std::min(buffer.size(), input.size() - position);
    std::memcpy(buffer.data(), input.data() + position, n);
    position += n;
    return static_cast<int64_t>(n);
  };
  GuestRun run = run_guest("stdin_upper", config);
  EXPECT_EQ(run.result.outcome, Outcome::Ok) << run.result.message;
  EXPECT_EQ(run.out, "HELLO, STDIN\nSECOND LINE");
  EXPECT_EQ(run.err, "bytes=24\n");
}

TEST_F(WasiGuestTest, StdinWithoutSourceIsEmpty) {
  GuestRun run = run_guest("stdin_upper", {});
  EXPECT_EQ(run.result.outcome, Outcome::Ok) << run.result.message;
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "bytes=0\n");
}

TEST_F(WasiGuestTest, StdinErrorEndsInput) {
  WasiConfig config;
  config.stdin_source = [](std::span<uint8_t>) -> int64_t { return -1; };
  GuestRun run = run_guest("stdin_upper", config);
  EXPECT_EQ(run.result.outcome, Outcome::Ok) << run.result.message;
  EXPECT_EQ(run.err, "bytes=0\n");
}

TEST_F(WasiGuestTest, BadPointersGiveEfaultNotACrash) {
  GuestRun run = run_guest("bad_pointers", {});
  EXPECT_EQ(run.result.outcome, Outcome::Ok) << run.result.message;
  for (const char* line :
       {"fd_write_bad_iovs=21", "fd_write_bad_buffer=21", "fd_write_bad_result=21",
        "fd_write_huge_count=21", "fd_read_bad_buffer=21", "args_get_bad=21",
        "args_sizes_get_bad=21", "environ_sizes_get_bad=21", "clock_time_get_bad=21",
        "random_get_bad=21", "fd_fdstat_get_bad=21", "poll_oneoff_bad=21"}) {
    EXPECT_THAT(run.out, HasSubstr(std::string(line) + "\n"));
  }
  EXPECT_THAT(run.out, HasSubstr("fd_seek_stdout=70\n"));            // ESPIPE
  EXPECT_THAT(run.out, HasSubstr("fd_write_bad_fd=8\n"));            // EBADF
  EXPECT_THAT(run.out, HasSubstr("fd_prestat_get_stdout=8\n"));      // EBADF: not a preopen
  EXPECT_THAT(run.out, HasSubstr("clock_time_get_bad_clock=28\n"));  // EINVAL
}

TEST_F(WasiGuestTest, RandomBytes) {
  GuestRun run = run_guest("random", {});
  EXPECT_EQ(run.result.outcome, Outcome::Ok) << run.result.message;
  EXPECT_EQ(run.out, "getentropy=1 differ=1 nonzero=1\n");
}

// A reactor: _initialize, then several calls into exports on the same instance, as a worker.
TEST_F(WasiGuestTest, ReactorExportsAfterInitialize) {
  auto module = Module::from_file(guest_path("reactor"));
  ASSERT_TRUE(module.ok()) << module.error().to_string();
  std::string out;
  WasiConfig config;
  config.stdout_sink = [&out](std::string_view s) { out += s; };
  auto context = WasiContext::create(config);
  ASSERT_TRUE(context.ok());
  Store store;
  Imports imports;
  define_imports(store, imports, context.value());
  auto instance = store.instantiate(module.value(), imports);
  ASSERT_TRUE(instance.ok()) << instance.error().to_string();
  Instance* inst = instance.value();
  ASSERT_FALSE(inst->get_function("_start").has_value());
  auto initialize = inst->get_function("_initialize");
  ASSERT_TRUE(initialize.has_value());
  ASSERT_EQ(store.call(*initialize, {}).outcome, Outcome::Ok);
  for (int x : {1, 2}) {
    Value arg = Value::make_i32(x);
    CallResult result = store.call(*inst->get_function("add_base"), {&arg, 1});
    ASSERT_EQ(result.outcome, Outcome::Ok) << result.message;
    EXPECT_EQ(result.values.at(0).as_i32(), 1000 + x);
  }
  EXPECT_EQ(out, "add_base(1)\nadd_base(2)\n");
  Value code = Value::make_i32(5);
  CallResult result = store.call(*inst->get_function("fail"), {&code, 1});
  EXPECT_EQ(exit_code_of(result), std::optional<uint32_t>(5));
  // A proc_exit is not an abort: the store is not terminated.
  EXPECT_FALSE(store.terminated());
}

class WasiFilesTest : public WasiGuestTest {
 protected:
  void SetUp() override {
    WasiGuestTest::SetUp();
    if (IsSkipped()) return;
    root_ =
        std::filesystem::temp_directory_path() / ("rewind-wasi-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ / "sandbox");
    std::ofstream(root_ / "outside.txt") << "secret";
    std::ofstream(root_ / "sandbox" / "inside.txt") << "inside";
    std::filesystem::create_symlink("../outside.txt", root_ / "sandbox" / "link-out");
    std::filesystem::create_symlink("inside.txt", root_ / "sandbox" / "link-in");
  }
  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }
  std::filesystem::path root_;
};

TEST_F(WasiFilesTest, PreopenedDirectory) {
  WasiConfig config;
  config.preopens = {{(root_ / "sandbox").string(), "/sandbox"}};
  GuestRun run = run_guest("files", config);
  EXPECT_EQ(run.result.outcome, Outcome::Ok) << run.result.message;
  EXPECT_THAT(run.out, HasSubstr("read_back=18:line one\nline two\n"));
  EXPECT_THAT(run.out, HasSubstr("stat_size=18\n"));
  EXPECT_THAT(run.out, HasSubstr("is_regular=1\n"));
  EXPECT_THAT(run.out, HasSubstr("seek_end=18 seek_set=5 read=3:one\n"));
  EXPECT_THAT(run.out, HasSubstr("mkdir=0\n"));
  EXPECT_THAT(run.out, HasSubstr("rename=0\n"));
  EXPECT_THAT(run.out, HasSubstr("listed_moved=1\n"));
  EXPECT_THAT(run.out, HasSubstr("escape_dotdot=1\n"));
  EXPECT_THAT(run.out, HasSubstr("missing=1 errno_noent=1\n"));
  EXPECT_THAT(run.out, HasSubstr("absolute_outside=1\n"));
  EXPECT_THAT(run.out, HasSubstr("symlink_escape=1\n"));
  EXPECT_THAT(run.out, HasSubstr("symlink_inside=inside\n"));
  EXPECT_THAT(run.out, HasSubstr("unlink=0\n"));
  EXPECT_THAT(run.out, HasSubstr("rmdir=0\n"));
  EXPECT_FALSE(std::filesystem::exists(root_ / "sandbox" / "sub"));
}

TEST_F(WasiFilesTest, WithoutPreopensFilesAreUnavailable) {
  GuestRun run = run_guest("files", {});
  EXPECT_EQ(run.result.outcome, Outcome::HostError);  // main returns 1 -> exit(1)
  ASSERT_TRUE(run.exit_code.has_value());
  EXPECT_EQ(*run.exit_code, 1u);
  EXPECT_THAT(run.out, HasSubstr("open_for_write=FAIL"));
}

TEST(WasiContextTest, MissingPreopenDirectoryIsACleanError) {
  WasiConfig config;
  config.preopens = {{"/definitely/not/here", "/x"}};
  auto context = WasiContext::create(config);
  ASSERT_FALSE(context.ok());
  EXPECT_THAT(context.error().message, HasSubstr("/definitely/not/here"));
}

TEST(WasiContextTest, FunctionNamesCoverPreview1) {
  auto names = function_names();
  for (const char* name :
       {"args_get", "fd_write", "proc_exit", "poll_oneoff", "path_open", "sock_send"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  EXPECT_EQ(names.size(), 45u);
}

TEST(WasiContextTest, ExitCodeOfIgnoresOtherOutcomes) {
  CallResult ok;
  EXPECT_FALSE(exit_code_of(ok).has_value());
  CallResult other_error;
  other_error.outcome = Outcome::HostError;
  other_error.host_error = std::make_exception_ptr(std::runtime_error("nope"));
  EXPECT_FALSE(exit_code_of(other_error).has_value());
  CallResult exit;
  exit.outcome = Outcome::HostError;
  exit.host_error = std::make_exception_ptr(ExitRequest(42));
  EXPECT_EQ(exit_code_of(exit), std::optional<uint32_t>(42));
}

// Host functions called from the host (no calling instance, so no memory): every pointer is bad.
TEST(WasiHostCallTest, CalledWithoutMemoryGivesEfault) {
  auto context = WasiContext::create({});
  ASSERT_TRUE(context.ok());
  Store store;
  Imports imports;
  define_imports(store, imports, context.value());
  const Extern* fd_write = imports.find(kModuleName, "fd_write");
  ASSERT_NE(fd_write, nullptr);
  Value args[4] = {Value::make_i32(1), Value::make_i32(0), Value::make_i32(1), Value::make_i32(16)};
  CallResult result = store.call(fd_write->func, args);
  ASSERT_EQ(result.outcome, Outcome::Ok) << result.message;
  ASSERT_EQ(result.values.size(), 1u);
  EXPECT_EQ(result.values[0].as_i32(), static_cast<int32_t>(Errno::Fault));

  const Extern* sched_yield = imports.find(kModuleName, "sched_yield");
  ASSERT_NE(sched_yield, nullptr);
  result = store.call(sched_yield->func, {});
  ASSERT_EQ(result.outcome, Outcome::Ok);
  EXPECT_EQ(result.values[0].as_i32(), 0);

  const Extern* sock_send = imports.find(kModuleName, "sock_send");
  Value five[5] = {Value::make_i32(0), Value::make_i32(0), Value::make_i32(0), Value::make_i32(0),
                   Value::make_i32(0)};
  result = store.call(sock_send->func, five);
  ASSERT_EQ(result.outcome, Outcome::Ok);
  EXPECT_EQ(result.values[0].as_i32(), static_cast<int32_t>(Errno::NoSys));
}

TEST(WasiHostCallTest, ProcExitFromHostAndStickiness) {
  auto context = WasiContext::create({});
  ASSERT_TRUE(context.ok());
  Store store;
  Imports imports;
  define_imports(store, imports, context.value());
  Value code = Value::make_i32(7);
  CallResult result = store.call(imports.find(kModuleName, "proc_exit")->func, {&code, 1});
  EXPECT_EQ(result.outcome, Outcome::HostError);
  EXPECT_EQ(exit_code_of(result), std::optional<uint32_t>(7));
  EXPECT_EQ(context.value()->exit_code(), std::optional<uint32_t>(7));
  // After proc_exit every WASI call raises the exit again.
  result = store.call(imports.find(kModuleName, "sched_yield")->func, {});
  EXPECT_EQ(exit_code_of(result), std::optional<uint32_t>(7));
  // A second proc_exit does not change the code.
  code = Value::make_i32(9);
  result = store.call(imports.find(kModuleName, "proc_exit")->func, {&code, 1});
  EXPECT_EQ(exit_code_of(result), std::optional<uint32_t>(7));
}

}  // namespace
}  // namespace rw::wasi
