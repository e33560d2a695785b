#include "wasm/wast/runner.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "rewind/engine.h"
#include "wasm/text/wast.h"
#include "wasm/text/wat.h"

namespace rw::wasm {
namespace {

using Kind = WastCommand::Kind;

const char* command_name(Kind kind) {
  switch (kind) {
    case Kind::Module: return "module";
    case Kind::Register: return "register";
    case Kind::Action: return "action";
    case Kind::AssertReturn: return "assert_return";
    case Kind::AssertTrap: return "assert_trap";
    case Kind::AssertExhaustion: return "assert_exhaustion";
    case Kind::AssertException: return "assert_exception";
    case Kind::AssertInvalid: return "assert_invalid";
    case Kind::AssertMalformed: return "assert_malformed";
    case Kind::AssertUnlinkable: return "assert_unlinkable";
    case Kind::AssertUninstantiable: return "assert_uninstantiable";
  }
  return "?";
}

// Host pointer standing for `ref.extern N`: N + 1, so that ref.extern 0 is not null.
RefPtr extern_ptr(uint64_t bits) { return reinterpret_cast<RefPtr>(static_cast<uintptr_t>(bits)); }

std::string format_bits(ValType type, uint64_t bits) {
  char buf[96];
  switch (type) {
    case ValType::I32:
      std::snprintf(buf, sizeof buf, "i32:%" PRId32, static_cast<int32_t>(bits));
      break;
    case ValType::I64:
      std::snprintf(buf, sizeof buf, "i64:%" PRId64, static_cast<int64_t>(bits));
      break;
    case ValType::F32: {
      float f;
      uint32_t b = static_cast<uint32_t>(bits);
      std::memcpy(&f, &b, 4);
      std::snprintf(buf, sizeof buf, "f32:%.9g (0x%08" PRIx32 ")", f, b);
      break;
    }
    case ValType::F64: {
      double d;
      std::memcpy(&d, &bits, 8);
      std::snprintf(buf, sizeof buf, "f64:%.17g (0x%016" PRIx64 ")", d, bits);
      break;
    }
    default: std::snprintf(buf, sizeof buf, "%s", to_string(type)); break;
  }
  return buf;
}

std::string format_expected(const WastValue& v) {
  switch (v.kind) {
    case WastValue::Kind::NanCanonical: return std::string(to_string(v.type)) + ":nan:canonical";
    case WastValue::Kind::NanArithmetic: return std::string(to_string(v.type)) + ":nan:arithmetic";
    case WastValue::Kind::AnyRef: return std::string(to_string(v.type)) + ":non-null";
    case WastValue::Kind::Exact: break;
  }
  if (is_reference(v.type)) {
    if (v.is_null) return std::string(to_string(v.type)) + ":null";
    return std::string(to_string(v.type)) + ":" + std::to_string(v.bits - 1);
  }
  return format_bits(v.type, v.bits);
}

std::string format_value(const Value& v) {
  if (is_reference(v.type)) {
    if (v.is_null()) return std::string(to_string(v.type)) + ":null";
    if (v.type == ValType::ExternRef) {
      return "externref:" + std::to_string(reinterpret_cast<uintptr_t>(v.ref) - 1);
    }
    return std::string(to_string(v.type)) + ":non-null";
  }
  uint64_t bits = v.type == ValType::I32 || v.type == ValType::F32 ? v.i32 : v.i64;
  return format_bits(v.type, bits);
}

std::string format_values(const std::vector<Value>& values) {
  std::string s = "(";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) s += ", ";
    s += format_value(values[i]);
  }
  return s + ")";
}

bool matches(const WastValue& want, const Value& got) {
  if (want.type != got.type) return false;
  switch (want.kind) {
    case WastValue::Kind::NanCanonical:
      if (got.type == ValType::F32) return (got.f32_bits & 0x7FFFFFFFu) == 0x7FC00000u;
      return (got.f64_bits & 0x7FFFFFFFFFFFFFFFull) == 0x7FF8000000000000ull;
    case WastValue::Kind::NanArithmetic:
      if (got.type == ValType::F32) return (got.f32_bits & 0x7FC00000u) == 0x7FC00000u;
      return (got.f64_bits & 0x7FF8000000000000ull) == 0x7FF8000000000000ull;
    case WastValue::Kind::AnyRef: return !got.is_null();
    case WastValue::Kind::Exact: break;
  }
  switch (got.type) {
    case ValType::I32:
    case ValType::F32: return got.i32 == static_cast<uint32_t>(want.bits);
    case ValType::I64:
    case ValType::F64: return got.i64 == want.bits;
    default:
      if (want.is_null) return got.is_null();
      if (got.type == ValType::ExternRef) return got.ref == extern_ptr(want.bits);
      return !got.is_null();
  }
}

Value to_value(const WastValue& v) {
  switch (v.type) {
    case ValType::I32: return Value::make_i32(static_cast<int32_t>(v.bits));
    case ValType::I64: return Value::make_i64(static_cast<int64_t>(v.bits));
    case ValType::F32: return Value::make_f32_bits(static_cast<uint32_t>(v.bits));
    case ValType::F64: return Value::make_f64_bits(v.bits);
    default:
      if (v.is_null) return Value::make_null(v.type);
      return Value::make_ref(v.type, extern_ptr(v.bits));
  }
}

// Spec trap texts each trap kind may be reported with, for engines whose message differs.
bool trap_kind_matches(TrapKind kind, const std::string& expected) {
  auto has = [&expected](const char* s) { return expected.find(s) != std::string::npos; };
  switch (kind) {
    case TrapKind::Unreachable: return has("unreachable");
    case TrapKind::MemoryOutOfBounds: return has("out of bounds memory access");
    case TrapKind::TableOutOfBounds:
      return has("out of bounds table access") || has("undefined element");
    case TrapKind::IndirectCallNull: return has("uninitialized element");
    case TrapKind::IndirectCallSignature: return has("indirect call type mismatch");
    case TrapKind::IntegerDivideByZero: return has("integer divide by zero");
    case TrapKind::IntegerOverflow: return has("integer overflow");
    case TrapKind::InvalidConversion: return has("invalid conversion to integer");
    case TrapKind::StackOverflow: return has("call stack exhausted") || has("exhausted");
    case TrapKind::NullReference: return has("null");
    default: return false;
  }
}

const char* error_kind_name(Error::Kind kind) {
  switch (kind) {
    case Error::Kind::Malformed: return "malformed";
    case Error::Kind::Invalid: return "invalid";
    case Error::Kind::Unsupported: return "unsupported";
    case Error::Kind::Unlinkable: return "unlinkable";
    case Error::Kind::Uninstantiable: return "uninstantiable";
    case Error::Kind::Other: return "error";
  }
  return "error";
}

class ScriptRunner {
 public:
  ScriptRunner(const std::string& path, std::ostream& out, const WastOptions& options)
      : path_(path), out_(out), options_(options), store_(make_options()) {
    define_spectest();
  }

  void run(const std::vector<WastCommand>& commands) {
    for (const WastCommand& cmd : commands) {
      try {
        run_command(cmd);
      } catch (const std::exception& e) {
        fail(cmd, std::string("exception: ") + e.what());
      } catch (...) {
        fail(cmd, "unknown exception");
      }
    }
  }

  WastSummary summary;

 private:
  static StoreOptions make_options() {
    StoreOptions o;
    o.terminate_on_abort = false;
    return o;
  }

  // ---- reporting -----------------------------------------------------------------------------
  std::string where(const WastCommand& cmd) const {
    return path_ + ":" + std::to_string(cmd.line) + ": " + describe(cmd);
  }

  std::string describe(const WastCommand& cmd) const {
    std::string s = command_name(cmd.kind);
    if (cmd.action) {
      s += cmd.action->kind == WastAction::Kind::Invoke ? " (invoke " : " (get ";
      if (cmd.action->module) s += "$" + *cmd.action->module + " ";
      s += "\"" + cmd.action->name + "\"";
      for (const WastValue& v : cmd.action->args) s += " " + format_expected(v);
      s += ")";
    } else if (cmd.kind == Kind::Register) {
      s += " \"" + cmd.register_as + "\"";
    }
    return s;
  }

  void pass(const WastCommand& cmd, const std::string& note = {}) {
    ++summary.passed;
    if (options_.verbose) {
      out_ << where(cmd) << ": ok";
      if (!note.empty()) out_ << " (note: " << note << ")";
      out_ << "\n";
    }
  }

  void fail(const WastCommand& cmd, const std::string& what) {
    ++summary.failed;
    out_ << where(cmd) << ": " << what << "\n";
  }

  // ---- spectest ------------------------------------------------------------------------------
  void define_spectest() {
    auto print = [this](const char* name, std::vector<ValType> params) {
      FuncType type;
      type.params = std::move(params);
      Function f = store_.create_host_function(
          type,
          [](HostContext&, std::span<const Value>, std::span<Value>) { return HostResult::ok(); },
          std::string("spectest.") + name);
      registry_[{"spectest", name}] = Extern::of(f);
    };
    print("print", {});
    print("print_i32", {ValType::I32});
    print("print_i64", {ValType::I64});
    print("print_f32", {ValType::F32});
    print("print_f64", {ValType::F64});
    print("print_i32_f32", {ValType::I32, ValType::F32});
    print("print_f64_f64", {ValType::F64, ValType::F64});
    auto global = [this](const char* name, Value v) {
      GlobalType type;
      type.type = v.type;
      type.is_mutable = false;
      registry_[{"spectest", name}] = Extern::of(store_.create_global(type, v));
    };
    global("global_i32", Value::make_i32(666));
    global("global_i64", Value::make_i64(666));
    global("global_f32", Value::make_f32(666.6f));
    global("global_f64", Value::make_f64(666.6));
    TableType table;
    table.element = ValType::FuncRef;
    table.limits.min = 10;
    table.limits.max = 20;
    auto t = store_.create_table(table, Value::make_null(ValType::FuncRef));
    if (t) registry_[{"spectest", "table"}] = Extern::of(*t);
    MemoryType memory;
    memory.limits.min = 1;
    memory.limits.max = 2;
    auto m = store_.create_memory(memory);
    if (m) registry_[{"spectest", "memory"}] = Extern::of(*m);
    rebuild_imports();
  }

  void rebuild_imports() {
    imports_ = Imports();
    for (const auto& [key, value] : registry_) imports_.define(key.first, key.second, value);
  }

  // ---- modules -------------------------------------------------------------------------------
  struct Loaded {
    std::shared_ptr<const rw::Module> module;
    std::optional<Error> error;
    bool text_stage = false;  // the error came from the text parser
  };

  Loaded load(const WastModule& m) {
    Loaded r;
    std::vector<uint8_t> converted;
    const std::vector<uint8_t>* bytes = &m.binary;
    if (m.form == WastModule::Form::Text && m.text_error) {
      r.error = *m.text_error;
      r.text_stage = true;
      return r;
    }
    if (m.form == WastModule::Form::Quote) {
      auto bin = quote_module_to_binary(m.quote);
      if (!bin) {
        r.error = bin.error();
        r.text_stage = true;
        return r;
      }
      converted = std::move(*bin);
      bytes = &converted;
    }
    auto mod = rw::Module::from_binary(*bytes);
    if (!mod) {
      r.error = mod.error();
      return r;
    }
    r.module = std::move(*mod);
    return r;
  }

  void name_instance(const WastModule& m, Instance* inst) {
    current_ = inst;
    if (m.name) named_[*m.name] = inst;
  }

  Instance* find_instance(const std::optional<std::string>& name) {
    if (!name) return current_;
    auto it = named_.find(*name);
    return it == named_.end() ? nullptr : it->second;
  }

  void run_command(const WastCommand& cmd) {
    switch (cmd.kind) {
      case Kind::Module: return run_module(cmd);
      case Kind::Register: return run_register(cmd);
      case Kind::Action: {
        CallResult r;
        std::string error;
        if (!perform(*cmd.action, r, error)) return fail(cmd, error);
        if (r.outcome != Outcome::Ok) return fail(cmd, "got " + describe_outcome(r));
        return;
      }
      case Kind::AssertReturn: return run_assert_return(cmd);
      case Kind::AssertTrap:
        if (cmd.module) return run_assert_instantiate(cmd, Error::Kind::Uninstantiable);
        return run_assert_trap(cmd);
      case Kind::AssertExhaustion: return run_assert_trap(cmd);
      case Kind::AssertException: return run_assert_exception(cmd);
      case Kind::AssertInvalid:
      case Kind::AssertMalformed: return run_assert_rejected(cmd);
      case Kind::AssertUnlinkable: return run_assert_instantiate(cmd, Error::Kind::Unlinkable);
      case Kind::AssertUninstantiable:
        return run_assert_instantiate(cmd, Error::Kind::Uninstantiable);
    }
  }

  void run_module(const WastCommand& cmd) {
    Loaded l = load(*cmd.module);
    if (!l.module) {
      current_ = nullptr;
      return fail(cmd, "module failed to load: " + l.error->to_string());
    }
    auto inst = store_.instantiate(l.module, imports_);
    if (!inst) {
      current_ = nullptr;
      return fail(cmd, "module failed to instantiate: " + inst.error().to_string());
    }
    name_instance(*cmd.module, *inst);
  }

  void run_register(const WastCommand& cmd) {
    Instance* inst = find_instance(cmd.register_module);
    if (!inst) return fail(cmd, "no such module");
    for (const ExportDesc& e : inst->module().exports()) {
      auto ext = inst->get_export(e.name);
      if (ext) registry_[{cmd.register_as, e.name}] = *ext;
    }
    rebuild_imports();
  }

  // Runs an invoke/get. Returns false (with `error`) when it could not even be attempted.
  bool perform(const WastAction& a, CallResult& result, std::string& error) {
    Instance* inst = find_instance(a.module);
    if (!inst) {
      error = a.module ? "unknown module $" + *a.module : "no current module";
      return false;
    }
    if (a.kind == WastAction::Kind::Get) {
      auto g = inst->get_global(a.name);
      if (!g) {
        error = "no global export \"" + a.name + "\"";
        return false;
      }
      result = CallResult();
      result.values.push_back(g->get());
      return true;
    }
    auto f = inst->get_function(a.name);
    if (!f) {
      error = "no function export \"" + a.name + "\"";
      return false;
    }
    std::vector<Value> args;
    for (const WastValue& v : a.args) args.push_back(to_value(v));
    result = store_.call(*f, args);
    return true;
  }

  static std::string describe_outcome(const CallResult& r) {
    switch (r.outcome) {
      case Outcome::Ok: return "ok " + format_values(r.values);
      case Outcome::Abort:
        return std::string("trap (") + to_string(r.trap) + ": " + r.message + ")";
      case Outcome::Panic: return "uncaught exception (" + r.message + ")";
      case Outcome::HostError: return "host error (" + r.message + ")";
      case Outcome::Terminated: return "terminated";
    }
    return "?";
  }

  void run_assert_return(const WastCommand& cmd) {
    CallResult r;
    std::string error;
    if (!perform(*cmd.action, r, error)) return fail(cmd, error);
    std::string expected = "(";
    for (size_t i = 0; i < cmd.expected.size(); ++i) {
      if (i) expected += ", ";
      for (size_t j = 0; j < cmd.expected[i].size(); ++j) {
        if (j) expected += " | ";
        expected += format_expected(cmd.expected[i][j]);
      }
    }
    expected += ")";
    if (r.outcome != Outcome::Ok)
      return fail(cmd, "expected " + expected + ", got " + describe_outcome(r));
    bool ok = r.values.size() == cmd.expected.size();
    for (size_t i = 0; ok && i < r.values.size(); ++i) {
      bool any = false;
      for (const WastValue& alt : cmd.expected[i]) any = any || matches(alt, r.values[i]);
      ok = any;
    }
    if (!ok) return fail(cmd, "expected " + expected + ", got " + format_values(r.values));
    pass(cmd);
  }

  void run_assert_trap(const WastCommand& cmd) {
    CallResult r;
    std::string error;
    if (!perform(*cmd.action, r, error)) return fail(cmd, error);
    if (r.outcome != Outcome::Abort)
      return fail(cmd, "expected trap \"" + cmd.text + "\", got " + describe_outcome(r));
    if (cmd.kind == Kind::AssertExhaustion) {
      if (r.trap != TrapKind::StackOverflow)
        return fail(cmd, "expected stack exhaustion, got " + describe_outcome(r));
      return pass(cmd);
    }
    if (r.message.find(cmd.text) != std::string::npos) return pass(cmd);
    if (trap_kind_matches(r.trap, cmd.text)) return pass(cmd, "trap message: " + r.message);
    fail(cmd, "expected trap \"" + cmd.text + "\", got " + describe_outcome(r));
  }

  void run_assert_exception(const WastCommand& cmd) {
    CallResult r;
    std::string error;
    if (!perform(*cmd.action, r, error)) return fail(cmd, error);
    if (r.outcome != Outcome::Panic)
      return fail(cmd, "expected uncaught exception, got " + describe_outcome(r));
    pass(cmd);
  }

  void run_assert_rejected(const WastCommand& cmd) {
    Loaded l = load(*cmd.module);
    bool want_malformed = cmd.kind == Kind::AssertMalformed;
    if (l.module) {
      return fail(cmd, std::string("expected ") + (want_malformed ? "malformed" : "invalid") +
                           " module (\"" + cmd.text + "\"), but it loaded");
    }
    bool right_stage = want_malformed ? (l.text_stage || l.error->kind == Error::Kind::Malformed)
                                      : l.error->kind == Error::Kind::Invalid;
    if (right_stage) {
      if (l.error->message.find(cmd.text) == std::string::npos)
        return pass(cmd, "message: " + l.error->message + ", expected \"" + cmd.text + "\"");
      return pass(cmd);
    }
    pass(cmd, std::string("rejected as ") + error_kind_name(l.error->kind) + " (" +
                  l.error->message + "), expected \"" + cmd.text + "\"");
  }

  void run_assert_instantiate(const WastCommand& cmd, Error::Kind want) {
    Loaded l = load(*cmd.module);
    if (!l.module) return fail(cmd, "module failed to load: " + l.error->to_string());
    auto inst = store_.instantiate(l.module, imports_);
    if (inst) {
      return fail(cmd, std::string("expected ") + error_kind_name(want) + " (\"" + cmd.text +
                           "\"), but it instantiated");
    }
    if (inst.error().kind != want) {
      return fail(cmd, std::string("expected ") + error_kind_name(want) + " (\"" + cmd.text +
                           "\"), got " + inst.error().to_string());
    }
    if (inst.error().message.find(cmd.text) == std::string::npos)
      return pass(cmd, "message: " + inst.error().message);
    pass(cmd);
  }

  std::string path_;
  std::ostream& out_;
  WastOptions options_;
  Store store_;
  std::map<std::pair<std::string, std::string>, Extern> registry_;
  Imports imports_;
  std::unordered_map<std::string, Instance*> named_;
  Instance* current_ = nullptr;
};

}  // namespace

WastSummary run_wast_file(const std::string& path, std::ostream& out, const WastOptions& options) {
  WastSummary summary;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out << path << ": cannot read file\n";
    summary.failed = 1;
    return summary;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string source = ss.str();
  auto commands = parse_wast(source);
  if (!commands) {
    out << path << ":" << commands.error().message << ": script parse error\n";
    summary.failed = 1;
    return summary;
  }
  try {
    ScriptRunner runner(path, out, options);
    runner.run(*commands);
    return runner.summary;
  } catch (const std::exception& e) {
    out << path << ": " << e.what() << "\n";
    summary.failed = 1;
    return summary;
  }
}

}  // namespace rw::wasm
