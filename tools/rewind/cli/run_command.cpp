#include <fmt/format.h>

#include <ostream>

#include "cli/commands.h"
#include "cli/values.h"
#include "runtime/wasi/wasi.h"

namespace rw::cli {
namespace {

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        else
          out += c;
    }
  }
  return out + "\"";
}

bool imports_wasi(const Module& module) {
  for (const ImportDesc& imp : module.imports())
    if (imp.module == wasi::kModuleName) return true;
  return false;
}

// --dir HOST[::GUEST]
wasi::Preopen parse_dir(const std::string& spec) {
  size_t sep = spec.find("::");
  if (sep == std::string::npos) return {spec, spec};
  return {spec.substr(0, sep), spec.substr(sep + 2)};
}

}  // namespace

std::string describe_failure(const CallResult& result, const std::string& export_name) {
  std::string line = fmt::format("outcome={}", to_string(result.outcome));
  if (result.outcome == Outcome::Abort) line += fmt::format(" trap={}", to_string(result.trap));
  line += fmt::format(" export={}", export_name);
  if (!result.message.empty()) line += " message=" + quoted(result.message);
  if (result.outcome == Outcome::Panic && !result.exception_payload.empty()) {
    std::string payload;
    for (const Value& v : result.exception_payload)
      payload += (payload.empty() ? "" : " ") + to_string(v);
    line += " payload=" + quoted(payload);
  }
  if (result.outcome == Outcome::HostError && result.host_error) {
    try {
      std::rethrow_exception(result.host_error);
    } catch (const std::exception& e) {
      line += " host_error=" + quoted(e.what());
    } catch (...) {
      line += " host_error=\"(not a std::exception)\"";
    }
  }
  if (!result.backtrace.empty()) {
    std::string frames;
    for (const BacktraceFrame& frame : result.backtrace) {
      if (!frames.empty()) frames += " <- ";
      frames += frame.name.empty() ? fmt::format("func[{}]", frame.func_index) : frame.name;
      frames += fmt::format("@0x{:x}", frame.offset);
    }
    line += " backtrace=" + quoted(frames);
  }
  return line;
}

int exit_code_for(const CallResult& result) {
  if (auto code = wasi::exit_code_of(result)) return static_cast<int>(*code);
  switch (result.outcome) {
    case Outcome::Ok: return kExitOk;
    case Outcome::Panic:
    case Outcome::HostError: return kExitPanic;
    case Outcome::Abort:
    case Outcome::Terminated: return kExitAbort;
  }
  return kExitAbort;
}

int run_command(const RunOptions& options, std::ostream& out, std::ostream& err) {
  auto module = load_module(options.module_path, err);
  if (!module) return kExitFailure;

  wasi::WasiConfig config;
  config.args.push_back(options.module_path);
  if (options.invoke.empty())
    config.args.insert(config.args.end(), options.args.begin(), options.args.end());
  for (const std::string& kv : options.env) {
    if (kv.find('=') == std::string::npos || kv.front() == '=') {
      err << "rewind: --env expects KEY=VALUE, got '" << kv << "'\n";
      return kExitUsage;
    }
    config.env.push_back(kv);
  }
  for (const std::string& dir : options.dirs) config.preopens.push_back(parse_dir(dir));
  config.inherit_stdio();
  auto context = wasi::WasiContext::create(std::move(config));
  if (!context.ok()) {
    err << "rewind: " << context.error().message << "\n";
    return kExitFailure;
  }

  Store store;
  Imports imports;
  if (imports_wasi(*module)) wasi::define_imports(store, imports, context.value());
  auto instance = store.instantiate(module, imports);
  if (!instance.ok()) {
    err << "rewind: " << options.module_path << ": " << instance.error().to_string() << "\n";
    return kExitFailure;
  }
  Instance* inst = instance.value();

  // Everything the guest wrote through WASI went straight to fd 1/2; keep our own output after it.
  auto call = [&](Function f, std::span<const Value> args, const std::string& name,
                  CallResult& result) {
    out.flush();
    result = store.call(f, args);
    if (result.ok() || wasi::exit_code_of(result)) return true;
    err << "rewind: " << describe_failure(result, name) << "\n";
    return false;
  };

  auto initialize = inst->get_function("_initialize");
  if (options.invoke.empty()) {
    auto start = inst->get_function("_start");
    if (!start) {
      err << "rewind: " << options.module_path << ": no _start export"
          << (initialize ? " (it is a reactor module)" : "")
          << "; use --invoke NAME to call an export\n";
      return kExitFailure;
    }
    CallResult result;
    call(*start, {}, "_start", result);
    // A guest that caught the proc_exit unwinding still exits with the code it asked for.
    if (auto code = context.value()->exit_code()) return static_cast<int>(*code);
    return exit_code_for(result);
  }

  auto function = inst->get_function(options.invoke);
  if (!function) {
    std::string available;
    for (const ExportDesc& e : module->exports())
      if (e.kind == ExternKind::Func) available += (available.empty() ? "" : ", ") + e.name;
    err << "rewind: " << options.module_path << ": no exported function '" << options.invoke << "'"
        << (available.empty() ? std::string(" (it exports no functions)")
                              : "; exported functions: " + available)
        << "\n";
    return kExitFailure;
  }
  const FuncType& type = function->type();
  if (options.args.size() != type.params.size()) {
    err << fmt::format("rewind: '{}' takes {} argument{} {}, got {}\n", options.invoke,
                       type.params.size(), type.params.size() == 1 ? "" : "s", to_string(type),
                       options.args.size());
    return kExitUsage;
  }
  std::vector<Value> args;
  for (size_t i = 0; i < type.params.size(); ++i) {
    auto value = parse_value(type.params[i], options.args[i]);
    if (!value.ok()) {
      err << "rewind: argument " << i + 1 << ": " << value.error().message << "\n";
      return kExitUsage;
    }
    args.push_back(value.value());
  }

  if (initialize) {
    CallResult result;
    if (!call(*initialize, {}, "_initialize", result) || !result.ok()) return exit_code_for(result);
  }
  CallResult result;
  if (!call(*function, args, options.invoke, result)) return exit_code_for(result);
  if (!result.ok()) return exit_code_for(result);  // proc_exit during the call
  for (const Value& v : result.values) out << format_value(v) << "\n";
  out.flush();
  return kExitOk;
}

}  // namespace rw::cli
