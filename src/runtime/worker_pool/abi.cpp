#include "runtime/worker_pool/abi.h"

#include <sys/random.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "rewind/guest_support.h"
#include "rewind/lifecycle.h"
#include "runtime/guest/guest_memory.h"

namespace rw::runtime::detail {

void CallState::begin(const Request* r) {
  request = r;
  body_offset = 0;
  response = Response{};
  response_body_bytes = 0;
  panic_message.reset();
  guest_abort_message.reset();
}

namespace {

using guest::AbiViolation;
using guest::GuestMemory;

const Request& current_request(const CallState& state, const GuestMemory& mem) {
  if (!state.request) mem.fail("called outside a request");
  return *state.request;
}

bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x |= 0x20;
    if (y >= 'A' && y <= 'Z') y |= 0x20;
    if (x != y) return false;
  }
  return true;
}

int64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

const char* level_name(int32_t level) {
  switch (level) {
    case 0: return "debug";
    case 1: return "info";
    case 2: return "warn";
    default: return "error";
  }
}

uint32_t u32(const Value& v) { return v.i32; }

using Impl = void (*)(CallState& state, GuestMemory& mem, std::span<const Value> args,
                      std::span<Value> results);

struct FunctionSpec {
  std::string_view name;
  std::string_view params;  // 'i' = i32, 'I' = i64
  std::string_view results;
  Impl impl;
};

void request_method(CallState& s, GuestMemory& m, std::span<const Value> a, std::span<Value> r) {
  r[0] = Value::make_i32(m.copy_out(current_request(s, m).method, u32(a[0]), u32(a[1])));
}

void request_target(CallState& s, GuestMemory& m, std::span<const Value> a, std::span<Value> r) {
  r[0] = Value::make_i32(m.copy_out(current_request(s, m).target, u32(a[0]), u32(a[1])));
}

void request_header_count(CallState& s, GuestMemory& m, std::span<const Value>,
                          std::span<Value> r) {
  r[0] = Value::make_i32(static_cast<int32_t>(current_request(s, m).headers.size()));
}

template <bool kName>
void request_header_part(CallState& s, GuestMemory& m, std::span<const Value> a,
                         std::span<Value> r) {
  const auto& headers = current_request(s, m).headers;
  uint32_t index = u32(a[0]);
  if (index >= headers.size()) {
    m.range(u32(a[1]), u32(a[2]));  // still a bad pointer, whatever the index
    r[0] = Value::make_i32(-1);
    return;
  }
  const auto& [name, value] = headers[index];
  r[0] = Value::make_i32(m.copy_out(kName ? name : value, u32(a[1]), u32(a[2])));
}

void request_header_get(CallState& s, GuestMemory& m, std::span<const Value> a,
                        std::span<Value> r) {
  std::string_view name = m.string(u32(a[0]), u32(a[1]));
  m.range(u32(a[2]), u32(a[3]));
  for (const auto& [n, v] : current_request(s, m).headers) {
    if (iequals(n, name)) {
      r[0] = Value::make_i32(m.copy_out(v, u32(a[2]), u32(a[3])));
      return;
    }
  }
  r[0] = Value::make_i32(-1);
}

void request_body_length(CallState& s, GuestMemory& m, std::span<const Value>, std::span<Value> r) {
  r[0] = Value::make_i64(static_cast<int64_t>(current_request(s, m).body.size()));
}

void request_body_read(CallState& s, GuestMemory& m, std::span<const Value> a, std::span<Value> r) {
  const std::string& body = current_request(s, m).body;
  m.range(u32(a[0]), u32(a[1]));
  uint64_t offset = std::min<uint64_t>(s.body_offset, body.size());
  // At most INT32_MAX per read, so the i32 result is never negative.
  size_t n = std::min<uint64_t>({body.size() - offset, u32(a[1]), INT32_MAX});
  auto out = m.writable(u32(a[0]), static_cast<uint32_t>(n));
  if (n) std::memcpy(out.data(), body.data() + offset, n);
  s.body_offset = offset + n;
  r[0] = Value::make_i32(static_cast<int32_t>(n));
}

void response_status(CallState& s, GuestMemory& m, std::span<const Value> a, std::span<Value>) {
  current_request(s, m);
  int32_t code = a[0].as_i32();
  if (code < 100 || code > 999) m.fail("status " + std::to_string(code) + " is not in 100..999");
  s.response.status = code;
}

void response_header(CallState& s, GuestMemory& m, std::span<const Value> a, std::span<Value>) {
  current_request(s, m);
  std::string_view name = m.string(u32(a[0]), u32(a[1]));
  std::string_view value = m.string(u32(a[2]), u32(a[3]));
  if (name.empty() || name.size() > kMaxHeaderNameBytes)
    m.fail("header name must be 1.." + std::to_string(kMaxHeaderNameBytes) + " bytes");
  for (char c : name)
    if (!is_token_char(static_cast<unsigned char>(c)))
      m.fail("header name contains a character that is not allowed in a token");
  if (value.size() > kMaxHeaderValueBytes)
    m.fail("header value longer than " + std::to_string(kMaxHeaderValueBytes) + " bytes");
  for (char c : value)
    if (c == '\r' || c == '\n' || c == '\0') m.fail("header value contains CR, LF or NUL");
  if (s.response.headers.size() >= kMaxResponseHeaders)
    m.fail("more than " + std::to_string(kMaxResponseHeaders) + " response headers");
  s.response.headers.emplace_back(name, value);
}

void response_body_write(CallState& s, GuestMemory& m, std::span<const Value> a, std::span<Value>) {
  current_request(s, m);
  std::string_view bytes = m.string(u32(a[0]), u32(a[1]));
  if (s.response_body_bytes + bytes.size() > kMaxResponseBodyBytes)
    m.fail("response body exceeds " + std::to_string(kMaxResponseBodyBytes) + " bytes");
  s.response.body.append(bytes);
  s.response_body_bytes += bytes.size();
}

void log(CallState& s, GuestMemory& m, std::span<const Value> a, std::span<Value>) {
  std::string_view text = m.string(u32(a[1]), u32(a[2]));
  if (text.size() > kMaxLogMessageBytes) text = text.substr(0, kMaxLogMessageBytes);
  if (s.log) s.log(level_name(a[0].as_i32()), "log", text);
}

void now_ns(CallState&, GuestMemory&, std::span<const Value>, std::span<Value> r) {
  r[0] = Value::make_i64(clock_ns(CLOCK_REALTIME));
}

void monotonic_ns(CallState&, GuestMemory&, std::span<const Value>, std::span<Value> r) {
  r[0] = Value::make_i64(clock_ns(CLOCK_MONOTONIC));
}

void random(CallState&, GuestMemory& m, std::span<const Value> a, std::span<Value>) {
  if (u32(a[1]) > kMaxRandomBytes)
    m.fail("more than " + std::to_string(kMaxRandomBytes) + " bytes requested");
  auto out = m.writable(u32(a[0]), u32(a[1]));
  size_t filled = 0;
  while (filled < out.size()) {
    ssize_t n = getrandom(out.data() + filled, out.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      m.fail(std::string("getrandom failed: ") + std::strerror(errno));
    }
    filled += static_cast<size_t>(n);
  }
}

void panic_message(CallState& s, GuestMemory& m, std::span<const Value> a, std::span<Value>) {
  std::string_view text = m.string(u32(a[0]), u32(a[1]));
  if (text.size() > kMaxLogMessageBytes) text = text.substr(0, kMaxLogMessageBytes);
  s.panic_message = std::string(text);
}

void failure_record(CallState& s, GuestMemory& m, std::span<const Value> a, std::span<Value> r) {
  if (!s.failure_json) {
    m.range(u32(a[0]), u32(a[1]));
    r[0] = Value::make_i32(-1);
    return;
  }
  r[0] = Value::make_i32(m.copy_out(*s.failure_json, u32(a[0]), u32(a[1])));
}

// abort and debug_host_error do not return normally; they are handled in the wrapper.
void no_op(CallState&, GuestMemory&, std::span<const Value>, std::span<Value>) {}

constexpr FunctionSpec kFunctions[] = {
    {"request_method", "ii", "i", request_method},
    {"request_target", "ii", "i", request_target},
    {"request_header_count", "", "i", request_header_count},
    {"request_header_name", "iii", "i", request_header_part<true>},
    {"request_header_value", "iii", "i", request_header_part<false>},
    {"request_header_get", "iiii", "i", request_header_get},
    {"request_body_length", "", "I", request_body_length},
    {"request_body_read", "ii", "i", request_body_read},
    {"response_status", "i", "", response_status},
    {"response_header", "iiii", "", response_header},
    {"response_body_write", "ii", "", response_body_write},
    {"log", "iii", "", log},
    {"now_ns", "", "I", now_ns},
    {"monotonic_ns", "", "I", monotonic_ns},
    {"random", "ii", "", random},
    {"panic_message", "ii", "", panic_message},
    {"abort", "ii", "", no_op},
    {"failure_record", "ii", "i", failure_record},
    {"debug_host_error", "ii", "", no_op},
};

FuncType type_of(const FunctionSpec& spec) {
  FuncType t;
  for (char c : spec.params) t.params.push_back(c == 'I' ? ValType::I64 : ValType::I32);
  for (char c : spec.results) t.results.push_back(c == 'I' ? ValType::I64 : ValType::I32);
  return t;
}

const FunctionSpec* find_function(std::string_view name) {
  for (const FunctionSpec& spec : kFunctions)
    if (spec.name == name) return &spec;
  return nullptr;
}

constexpr std::string_view kSeeDocs = " (see docs/guest-abi.md)";

}  // namespace

Result<void> check_module(const Module& module) {
  auto fail = [](std::string message) {
    return Error{Error::Kind::Unlinkable, std::move(message) + std::string(kSeeDocs)};
  };
  for (const ImportDesc& imp : module.imports()) {
    if (imp.module == kAbiModule) {
      const FunctionSpec* spec = find_function(imp.name);
      if (!spec && imp.name.starts_with("storage_"))
        return fail("worker imports rewind." + imp.name +
                    ": storage functions are available to durable objects only");
      if (!spec || imp.kind != ExternKind::Func)
        return fail("worker imports rewind." + imp.name + ", which guest ABI version " +
                    std::to_string(kAbiVersion) + " does not define");
      if (imp.func_type != type_of(*spec))
        return fail("worker imports rewind." + imp.name + " as " + to_string(imp.func_type) +
                    ", but guest ABI version " + std::to_string(kAbiVersion) + " defines it as " +
                    to_string(type_of(*spec)));
    } else if (imp.module != "wasi_snapshot_preview1") {
      return fail("worker imports " + imp.module + "." + imp.name +
                  "; workers may import only from \"rewind\" and \"wasi_snapshot_preview1\"");
    }
  }
  bool has_memory = false, has_handle = false, has_version = false;
  for (const ExportDesc& exp : module.exports()) {
    if (exp.kind == ExternKind::Memory && exp.name == "memory") has_memory = true;
    if (exp.name == kHandleExport) has_handle = true;
    if (exp.name == kVersionExport) has_version = true;
  }
  if (!has_version)
    return fail("module does not export rewind_abi_version: it was not built as a rewind worker");
  if (!has_handle) return fail("worker does not export the request handler rewind_handle");
  if (!has_memory) return fail("worker does not export its linear memory as \"memory\"");
  return {};
}

void define_imports(Store& store, Imports& imports, std::shared_ptr<CallState> state) {
  for (const FunctionSpec& spec : kFunctions) {
    std::string_view name = spec.name;
    Impl impl = spec.impl;
    auto callback = [state, name, impl](HostContext& host, std::span<const Value> args,
                                        std::span<Value> results) -> HostResult {
      try {
        GuestMemory memory(host.memory(), name);
        if (name == "abort") {
          std::string_view text = memory.string(u32(args[0]), u32(args[1]));
          if (text.size() > kMaxLogMessageBytes) text = text.substr(0, kMaxLogMessageBytes);
          state->guest_abort_message = std::string(text);
          return HostResult::abort(std::string(text));
        }
        if (name == "debug_host_error") {
          std::string text(memory.string(u32(args[0]), u32(args[1])));
          if (text.size() > kMaxLogMessageBytes) text.resize(kMaxLogMessageBytes);
          return HostResult::fail(std::make_exception_ptr(std::runtime_error(text)), text);
        }
        impl(*state, memory, args, results);
        return HostResult::ok();
      } catch (const AbiViolation& violation) {
        return HostResult::abort(violation.message);
      } catch (const std::exception& e) {
        // Host-side failures (out of host memory, ...) end the call, never the process.
        return HostResult::abort("rewind." + std::string(name) + ": " + e.what());
      }
    };
    Function f = store.create_host_function(type_of(spec), std::move(callback),
                                            "rewind." + std::string(name));
    imports.define(std::string(kAbiModule), std::string(name), Extern::of(f));
  }
}

std::vector<std::string_view> function_names() {
  std::vector<std::string_view> names;
  for (const FunctionSpec& spec : kFunctions) names.push_back(spec.name);
  return names;
}

std::string describe_outcome(const CallResult& r) {
  std::string s = to_string(r.outcome);
  if (r.outcome == Outcome::Abort) s += std::string(" ") + to_string(r.trap);
  if (!r.message.empty()) s += ": " + r.message;
  return s;
}

CallFailure classify_failure(Instance& instance, const CallResult& r, const CallState& state) {
  FailureReport report = describe_failure(instance, r);
  CallFailure f;
  f.outcome = r.outcome;
  f.message = report.message;
  switch (r.outcome) {
    case Outcome::Panic:
      if (state.panic_message && report.guest_message.empty()) f.message = *state.panic_message;
      break;
    case Outcome::Abort:
      f.trap = report.kind;
      if (r.trap == TrapKind::HostAbort && state.guest_abort_message) {
        f.trap = TrapKind::GuestAbort;
        f.message = *state.guest_abort_message;
      } else if (state.panic_message && report.guest_message.empty()) {
        // rewind.panic_message before a trap: the guest's panic=abort path (Rust).
        if (r.trap == TrapKind::Unreachable) f.trap = TrapKind::GuestAbort;
        f.message = *state.panic_message;
      }
      break;
    case Outcome::Terminated:
      f.outcome = Outcome::Abort;
      f.trap = TrapKind::HostAbort;
      f.message = "instance terminated";
      break;
    case Outcome::Ok:
    case Outcome::HostError: break;
  }
  if (f.message.empty()) f.message = describe_outcome(r);
  return f;
}

}  // namespace rw::runtime::detail
