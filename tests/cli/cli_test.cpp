// The rewind tool end to end (as a subprocess), plus its failure formatting in-process.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/commands.h"

namespace rw::cli {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace fs = std::filesystem;

const std::string kRewind = std::string(REWIND_BINARY_DIR) + "/tools/rewind/rewind";

std::string guest(const std::string& name) {
  return std::string(REWIND_BINARY_DIR) + "/tests/wasi/guests/" + name + ".wasm";
}

struct Process {
  int code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("rewind-cli-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `rewind ARGS` through the shell (ARGS is shell text) with `input` as its stdin.
  Process rewind(const std::string& args, const std::string& input = "") {
    Process p;
    fs::path in = dir_ / "stdin", out = dir_ / "stdout", err = dir_ / "stderr";
    std::ofstream(in, std::ios::binary) << input;
    std::string command =
        kRewind + " " + args + " <" + in.string() + " >" + out.string() + " 2>" + err.string();
    int status = std::system(command.c_str());
    p.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    p.out = slurp(out);
    p.err = slurp(err);
    return p;
  }

  std::string write(const std::string& name, const std::string& contents) {
    fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << contents;
    return path.string();
  }

  static void require_guests() {
    if (!fs::exists(guest("hello")))
      GTEST_SKIP() << "WASI guests not built (needs clang-22 and wasi-libc)";
  }

  fs::path dir_;
};

// ---- usage

TEST_F(CliTest, NoCommandIsAUsageError) {
  Process p = rewind("");
  EXPECT_EQ(p.code, kExitUsage);
  EXPECT_THAT(p.err + p.out, HasSubstr("subcommand"));
}

TEST_F(CliTest, UnknownCommandIsAUsageError) {
  Process p = rewind("frobnicate x");
  EXPECT_EQ(p.code, kExitUsage);
}

TEST_F(CliTest, HelpExitsZero) {
  Process p = rewind("--help");
  EXPECT_EQ(p.code, 0);
  EXPECT_THAT(p.out, HasSubstr("inspect"));
  EXPECT_THAT(p.out, HasSubstr("Exit codes"));
}

TEST_F(CliTest, MissingOperandIsAUsageError) {
  EXPECT_EQ(rewind("inspect").code, kExitUsage);
  EXPECT_EQ(rewind("run").code, kExitUsage);
  EXPECT_EQ(rewind("wast").code, kExitUsage);
}

// ---- inspect

TEST_F(CliTest, InspectMissingFile) {
  Process p = rewind("inspect " + (dir_ / "nope.wasm").string());
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.err, HasSubstr("nope.wasm: cannot read: No such file"));
}

TEST_F(CliTest, InspectDirectory) {
  Process p = rewind("inspect " + dir_.string());
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.err, HasSubstr("not a regular file"));
}

TEST_F(CliTest, InspectMalformedNamesOffsetAndReason) {
  // A type section that claims 5 bytes but has none.
  std::string path = write("bad.wasm", std::string("\0asm\x01\0\0\0\x01\x05", 10));
  Process p = rewind("inspect " + path);
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.err, HasSubstr("bad.wasm: "));
  EXPECT_THAT(p.err, HasSubstr("malformed"));
  EXPECT_THAT(p.err, HasSubstr("0x"));
  EXPECT_EQ(p.out, "");
}

TEST_F(CliTest, InspectBadMagic) {
  std::string path = write("text.wasm", std::string("\0asn\x01\0\0\0", 8));
  Process p = rewind("inspect " + path);
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.err, HasSubstr("text.wasm: "));
}

TEST_F(CliTest, InspectInvalidModule) {
  // (func (result i32)) with an empty body: type mismatch.
  std::string path = write("invalid.wat", "(module (func (result i32)))");
  Process p = rewind("inspect " + path);
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.err, HasSubstr("invalid"));
}

TEST_F(CliTest, InspectTextModule) {
  std::string path = write("m.wat", R"((module $demo
    (import "env" "log" (func $log (param i32)))
    (memory (export "mem") 1 2)
    (global (export "g") (mut i64) (i64.const 0))
    (func $add (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "sx") (param i32) (result i32) local.get 0 i32.extend8_s)
    (func (param i32) (memory.fill (local.get 0) (i32.const 0) (i32.const 8)))
    (func (result i32) (return_call $add (i32.const 1) (i32.const 2)))))");
  Process p = rewind("inspect " + path);
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_THAT(p.out, HasSubstr("env.log: (i32) -> ()"));
  EXPECT_THAT(p.out, HasSubstr("add: (i32, i32) -> (i32)"));
  EXPECT_THAT(p.out, HasSubstr("mem: pages min 1 max 2"));
  EXPECT_THAT(p.out, HasSubstr("g: mut i64"));
  EXPECT_THAT(p.out, HasSubstr("sign_extension"));
  EXPECT_THAT(p.out, HasSubstr("bulk_memory"));
  EXPECT_THAT(p.out, HasSubstr("tail_calls"));
  EXPECT_THAT(p.out, HasSubstr("functions: 4 defined, 1 imported"));
  EXPECT_THAT(p.out, HasSubstr("sections:"));
  EXPECT_THAT(p.out, HasSubstr("code"));
}

TEST_F(CliTest, InspectWasiCommand) {
  require_guests();
  if (IsSkipped()) return;
  Process p = rewind("inspect " + guest("hello"));
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_THAT(p.out, HasSubstr("wasi_snapshot_preview1.fd_write: (i32, i32, i32, i32) -> (i32)"));
  EXPECT_THAT(p.out, HasSubstr("_start: () -> ()"));
  EXPECT_THAT(p.out, HasSubstr("memory"));
  EXPECT_THAT(p.out, HasSubstr("features: "));
  EXPECT_THAT(p.out, HasSubstr("bytes of instructions"));
}

// ---- run (WASI commands)

TEST_F(CliTest, RunHello) {
  require_guests();
  if (IsSkipped()) return;
  Process p = rewind("run " + guest("hello"));
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out, "hello from wasi\n");
  EXPECT_EQ(p.err, "to stderr\n");
}

TEST_F(CliTest, RunPassesArgsAndEnv) {
  require_guests();
  if (IsSkipped()) return;
  Process p =
      rewind("run --env GREETING=hey --env X=1 " + guest("args_env") + " -- one -two 'three four'");
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_THAT(p.out, HasSubstr("argc=4\n"));
  EXPECT_THAT(p.out, HasSubstr("argv[0]=" + guest("args_env") + "\n"));
  EXPECT_THAT(p.out, HasSubstr("argv[2]=-two\n"));
  EXPECT_THAT(p.out, HasSubstr("argv[3]=three four\n"));
  EXPECT_THAT(p.out, HasSubstr("GREETING=hey\n"));
  EXPECT_THAT(p.out, HasSubstr("env:X=1\n"));
}

TEST_F(CliTest, RunExitCode) {
  require_guests();
  if (IsSkipped()) return;
  Process p = rewind("run " + guest("exit_code"));
  EXPECT_EQ(p.code, 3);
  EXPECT_EQ(p.out, "about to exit\natexit ran\n");
  EXPECT_EQ(p.err, "");  // a clean exit is not an error
  EXPECT_EQ(rewind("run " + guest("exit_code") + " 0").code, 0);
  EXPECT_EQ(rewind("run " + guest("exit_code") + " 42").code, 42);
}

TEST_F(CliTest, RunPassesStdinThrough) {
  require_guests();
  if (IsSkipped()) return;
  Process p = rewind("run " + guest("stdin_upper"), "piped input\n");
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out, "PIPED INPUT\n");
  EXPECT_EQ(p.err, "bytes=12\n");
}

TEST_F(CliTest, InvokeWasiReactor) {
  require_guests();
  if (IsSkipped()) return;
  Process p = rewind("run " + guest("reactor") + " --invoke add_base 5");
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out, "add_base(5)\n1005\n");
  p = rewind("run " + guest("reactor") + " --invoke fail 9");
  EXPECT_EQ(p.code, 9);
  EXPECT_EQ(p.err, "");
  p = rewind("run " + guest("reactor"));
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.err, HasSubstr("reactor"));
}

TEST_F(CliTest, RunWithPreopenedDir) {
  require_guests();
  if (IsSkipped()) return;
  fs::create_directories(dir_ / "box");
  Process p = rewind("run --dir " + (dir_ / "box").string() + "::/sandbox " + guest("files"));
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_THAT(p.out, HasSubstr("read_back=18:line one\nline two\n"));
  EXPECT_THAT(p.out, HasSubstr("escape_dotdot=1\n"));
}

TEST_F(CliTest, RunBadEnvAndDir) {
  require_guests();
  if (IsSkipped()) return;
  Process p = rewind("run --env NOEQUALS " + guest("hello"));
  EXPECT_EQ(p.code, kExitUsage);
  EXPECT_THAT(p.err, HasSubstr("KEY=VALUE"));
  p = rewind("run --dir /no/such/dir " + guest("hello"));
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.err, HasSubstr("/no/such/dir"));
}

TEST_F(CliTest, RunReactorWithoutInvoke) {
  std::string path =
      write("reactor.wat", R"((module (func (export "_initialize")) (func (export "f"))))");
  Process p = rewind("run " + path);
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.err, HasSubstr("no _start export (it is a reactor module)"));
}

TEST_F(CliTest, RunUnlinkable) {
  std::string path =
      write("needs.wat", R"((module (import "env" "missing" (func)) (func (export "_start"))))");
  Process p = rewind("run " + path);
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.err, HasSubstr("needs.wat: "));
}

// ---- run --invoke

constexpr const char* kMath = R"((module
  (global $base (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $base (i32.const 100)))
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "plus_base") (param i32) (result i32) local.get 0 global.get $base i32.add)
  (func (export "wide") (param i64) (result i64) local.get 0 i64.const 1 i64.add)
  (func (export "half") (param f64) (result f64) local.get 0 f64.const 0.5 f64.mul)
  (func (export "neg") (param f32) (result f32) local.get 0 f32.neg)
  (func (export "pair") (result i32 f64) i32.const 7 f64.const 2.5)
  (func (export "nothing"))
  (func $inner (unreachable))
  (func $outer (call $inner))
  (func (export "boom") (call $outer))
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func $recurse (export "recurse") (call $recurse))))";

TEST_F(CliTest, InvokePrintsResults) {
  std::string path = write("math.wat", kMath);
  Process p = rewind("run " + path + " --invoke add 40 2");
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out, "42\n");
  EXPECT_EQ(rewind("run " + path + " --invoke add 0xffffffff 0").out, "-1\n");
  EXPECT_EQ(rewind("run " + path + " --invoke add -5 -6").out, "-11\n");
  EXPECT_EQ(rewind("run " + path + " --invoke wide 9223372036854775806").out,
            "9223372036854775807\n");
  EXPECT_EQ(rewind("run " + path + " --invoke half 3").out, "1.5\n");
  EXPECT_EQ(rewind("run " + path + " --invoke half inf").out, "inf\n");
  EXPECT_EQ(rewind("run " + path + " --invoke neg -- -inf").out, "inf\n");
  EXPECT_EQ(rewind("run " + path + " --invoke neg nan").out, "-nan\n");
  EXPECT_EQ(rewind("run " + path + " --invoke pair").out, "7\n2.5\n");
  EXPECT_EQ(rewind("run " + path + " --invoke nothing").out, "");
}

TEST_F(CliTest, InvokeCallsInitializeFirst) {
  std::string path = write("math.wat", kMath);
  Process p = rewind("run " + path + " --invoke plus_base 1");
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(p.out, "101\n");
}

TEST_F(CliTest, InvokeArgumentErrors) {
  std::string path = write("math.wat", kMath);
  Process p = rewind("run " + path + " --invoke add 1");
  EXPECT_EQ(p.code, kExitUsage);
  EXPECT_THAT(p.err, HasSubstr("'add' takes 2 arguments (i32, i32) -> (i32), got 1"));
  p = rewind("run " + path + " --invoke add 1 x");
  EXPECT_EQ(p.code, kExitUsage);
  EXPECT_THAT(p.err, HasSubstr("argument 2: invalid i32 argument 'x'"));
  p = rewind("run " + path + " --invoke add 1 99999999999");
  EXPECT_EQ(p.code, kExitUsage);
  EXPECT_THAT(p.err, HasSubstr("out of range"));
}

TEST_F(CliTest, InvokeMissingExportListsFunctions) {
  std::string path = write("math.wat", kMath);
  Process p = rewind("run " + path + " --invoke sub 1 2");
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.err, HasSubstr("no exported function 'sub'"));
  EXPECT_THAT(p.err, HasSubstr("add, plus_base"));
}

TEST_F(CliTest, InvokeTrapIsAStructuredAbort) {
  std::string path = write("math.wat", kMath);
  Process p = rewind("run " + path + " --invoke boom");
  EXPECT_EQ(p.code, kExitAbort);
  EXPECT_EQ(p.out, "");
  EXPECT_THAT(p.err, StartsWith("rewind: outcome=abort trap=unreachable export=boom"));
  EXPECT_THAT(p.err, HasSubstr("backtrace="));
  EXPECT_THAT(p.err, EndsWith("\n"));
  EXPECT_EQ(std::count(p.err.begin(), p.err.end(), '\n'), 1);

  p = rewind("run " + path + " --invoke div 1 0");
  EXPECT_EQ(p.code, kExitAbort);
  EXPECT_THAT(p.err, HasSubstr("trap=integer_divide_by_zero"));

  p = rewind("run " + path + " --invoke recurse");
  EXPECT_EQ(p.code, kExitAbort);
  EXPECT_THAT(p.err, HasSubstr("trap=stack_overflow"));
}

TEST_F(CliTest, InvokePanicIsStructured) {
  std::string path = write(
      "panic.wat", R"((module (tag $t (param i32)) (func (export "p") (throw $t (i32.const 7)))))");
  Process p = rewind("run " + path + " --invoke p");
  EXPECT_EQ(p.code, kExitPanic);
  EXPECT_THAT(p.err, StartsWith("rewind: outcome=panic export=p"));
  EXPECT_THAT(p.err, HasSubstr("payload=\"i32:7\""));
}

TEST_F(CliTest, RandomBytesAreAMalformedModule) {
  std::string path = write("noise.bin", std::string("\x13\x37\xff\x00garbage", 11));
  Process p = rewind("run " + path);
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.err, HasSubstr("noise.bin: malformed"));
}

// ---- wast

TEST_F(CliTest, WastCountsAndExitCode) {
  std::string good = write("good.wast", R"((module (func (export "one") (result i32) i32.const 1))
(assert_return (invoke "one") (i32.const 1))
(assert_trap (module (func (export "t") unreachable) (start 0)) "unreachable")
)");
  std::string bad = write("bad.wast", R"((module (func (export "one") (result i32) i32.const 1))
(assert_return (invoke "one") (i32.const 2))
)");
  Process p = rewind("wast " + good);
  EXPECT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_THAT(p.out, EndsWith(" passed, 0 failed\n"));

  p = rewind("wast " + good + " " + bad);
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.out, EndsWith(" failed\n"));
  EXPECT_THAT(p.out, HasSubstr("1 failed"));

  p = rewind("wast -v " + good + " " + bad);
  EXPECT_THAT(p.out, HasSubstr(good + ": "));
  EXPECT_THAT(p.out, HasSubstr(bad + ": 0 passed, 1 failed\n"));
}

TEST_F(CliTest, WastMissingFileFails) {
  Process p = rewind("wast " + (dir_ / "missing.wast").string());
  EXPECT_EQ(p.code, kExitFailure);
  EXPECT_THAT(p.out, HasSubstr("1 failed"));
}

// ---- in-process formatting

TEST(DescribeFailure, AbortWithBacktrace) {
  CallResult r;
  r.outcome = Outcome::Abort;
  r.trap = TrapKind::MemoryOutOfBounds;
  r.message = "out of bounds \"memory\" access\n";
  r.backtrace = {{3, "inner", 0x40}, {1, "", 0x1f}};
  EXPECT_EQ(
      describe_failure(r, "run"),
      "outcome=abort trap=memory_out_of_bounds export=run message=\"out of bounds \\\"memory\\\" "
      "access\\n\" backtrace=\"inner@0x40 <- func[1]@0x1f\"");
  EXPECT_EQ(exit_code_for(r), kExitAbort);
}

TEST(DescribeFailure, HostErrorNamesTheHostException) {
  CallResult r;
  r.outcome = Outcome::HostError;
  r.message = "db failed";
  r.host_error = std::make_exception_ptr(std::runtime_error("disk full"));
  EXPECT_EQ(describe_failure(r, "go"),
            "outcome=host_error export=go message=\"db failed\" host_error=\"disk full\"");
  EXPECT_EQ(exit_code_for(r), kExitPanic);
}

TEST(DescribeFailure, PanicWithPayload) {
  CallResult r;
  r.outcome = Outcome::Panic;
  r.message = "uncaught exception";
  r.exception_payload = {Value::make_i32(7), Value::make_i64(-1)};
  EXPECT_EQ(describe_failure(r, "f"),
            "outcome=panic export=f message=\"uncaught exception\" payload=\"i32:7 i64:-1\"");
}

TEST(DescribeFailure, PanicAndTerminated) {
  CallResult r;
  r.outcome = Outcome::Panic;
  EXPECT_EQ(describe_failure(r, "f"), "outcome=panic export=f");
  EXPECT_EQ(exit_code_for(r), kExitPanic);
  r.outcome = Outcome::Terminated;
  EXPECT_EQ(exit_code_for(r), kExitAbort);
  r.outcome = Outcome::Ok;
  EXPECT_EQ(exit_code_for(r), kExitOk);
}

}  // namespace
}  // namespace rw::cli
