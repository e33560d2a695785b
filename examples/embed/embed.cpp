// Embedding rewind in a C++ program: load a module, give it a host function, call an export and
// act on the call's outcome. Built by the project; `tests/CMakeLists.txt` runs it as a test.
//
//   embed [MODULE]   (defaults to a small built-in module in the text format)
#include <rewind/engine.h>

#include <cstdio>
#include <span>
#include <string>

namespace {

// A guest that logs through the host, and fails on request: `run(0)` returns normally,
// `run(1)` traps, `run(2)` throws a guest exception.
constexpr const char* kDefaultModule = R"wat(
(module
  (import "env" "log" (func $log (param i32)))
  (tag $oops (param i32))
  (func (export "run") (param $mode i32) (result i32)
    (call $log (local.get $mode))
    (if (i32.eq (local.get $mode) (i32.const 1)) (then unreachable))
    (if (i32.eq (local.get $mode) (i32.const 2)) (then (throw $oops (i32.const 42))))
    (i32.const 7)))
)wat";

void report(const char* what, const rw::CallResult& r) {
  std::printf("%s: %s", what, rw::to_string(r.outcome));
  switch (r.outcome) {
    case rw::Outcome::Ok:
      std::printf(" -> %s", rw::to_string(r.values.at(0)).c_str());
      break;
    case rw::Outcome::Abort:
      std::printf(" (%s: %s)", rw::to_string(r.trap), r.message.c_str());
      break;
    case rw::Outcome::Panic:
      std::printf(" (payload %s)", r.exception_payload.empty()
                                       ? "none"
                                       : rw::to_string(r.exception_payload[0]).c_str());
      break;
    default:
      break;
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  auto module = argc > 1 ? rw::Module::from_file(argv[1]) : rw::Module::from_text(kDefaultModule);
  if (!module) {
    std::fprintf(stderr, "%s\n", module.error().to_string().c_str());
    return 1;
  }

  rw::Store store;
  rw::Imports imports;
  imports.define("env", "log",
                 rw::Extern::of(store.create_host_function(
                     rw::FuncType{{rw::ValType::I32}, {}},
                     [](rw::HostContext&, std::span<const rw::Value> args, std::span<rw::Value>) {
                       std::printf("guest says %d\n", args[0].as_i32());
                       return rw::HostResult::ok();
                     })));
  auto instance = store.instantiate(module.value(), imports);
  if (!instance) {
    std::fprintf(stderr, "%s\n", instance.error().to_string().c_str());
    return 1;
  }
  auto run = (*instance)->get_function("run");
  if (!run) {
    std::fprintf(stderr, "the module has no export \"run\"\n");
    return 1;
  }

  rw::Value arg = rw::Value::make_i32(0);
  rw::CallResult ok = store.call(*run, {&arg, 1});
  report("run(0)", ok);

  arg = rw::Value::make_i32(2);
  rw::CallResult panic = store.call(*run, {&arg, 1});
  report("run(2)", panic);  // a panic costs one call: the instance stays live

  arg = rw::Value::make_i32(1);
  rw::CallResult abort = store.call(*run, {&arg, 1});
  report("run(1)", abort);  // an abort terminates the store...

  arg = rw::Value::make_i32(0);
  rw::CallResult refused = store.call(*run, {&arg, 1});
  report("run(0) again", refused);  // ...so later entries are refused until it is recovered

  bool as_expected = ok.outcome == rw::Outcome::Ok && panic.outcome == rw::Outcome::Panic &&
                     abort.outcome == rw::Outcome::Abort &&
                     refused.outcome == rw::Outcome::Terminated;
  return as_expected ? 0 : 1;
}
