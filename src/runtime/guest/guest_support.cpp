// Host side of the guest SDK's failure conventions (include/rewind/guest_support.h).

#include "rewind/guest_support.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <utility>

#include "wasm/common/module.h"

namespace rw {
namespace {

constexpr std::string_view kCppExceptionTag = "__cpp_exception";
constexpr std::string_view kExceptionMessageExport = "rewind_exception_message";
constexpr std::string_view kExceptionReleaseExport = "rewind_exception_release";
constexpr std::string_view kAbortMessageGlobal = "rewind_abort_message";

const FuncType kI32ToI32{{ValType::I32}, {ValType::I32}};
const FuncType kI32ToNone{{ValType::I32}, {}};
const FuncType kPanicMessageType{{ValType::I32, ValType::I32}, {}};

// Cuts `text` to at most `max_bytes`, never inside a UTF-8 sequence, marking the cut.
void truncate_utf8(std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return;
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  text += "...";
}

std::optional<Memory> memory_of(const Instance& instance) {
  if (auto exported = instance.get_memory("memory")) return exported;
  if (instance.memory_count() > 0) return instance.memory(0);
  return std::nullopt;
}

std::optional<Function> export_with_type(const Instance& instance, std::string_view name,
                                         const FuncType& type) {
  auto f = instance.get_function(name);
  if (!f || f->type() != type) return std::nullopt;
  return f;
}

std::string tag_export_name(const Instance& instance, const Tag& tag) {
  for (const ExportDesc& e : instance.module().exports()) {
    if (e.kind != ExternKind::Tag) continue;
    auto exported = instance.get_tag(e.name);
    if (exported && *exported == tag) return e.name;
  }
  return {};
}

std::string host_error_text(const std::exception_ptr& error) {
  if (!error) return {};
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
  }
  return {};
}

std::string format_payload(const std::vector<Value>& payload) {
  std::string text;
  for (const Value& v : payload) {
    if (!text.empty()) text += ", ";
    text += rw::to_string(v);
  }
  return text;
}

void describe_panic(Instance& instance, const CallResult& result, const DescribeOptions& options,
                    FailureReport& report) {
  report.payload = result.exception_payload;
  report.tag_name = tag_export_name(instance, result.exception_tag);
  auto cpp_tag = instance.get_tag(kCppExceptionTag);
  report.cpp_exception = cpp_tag && result.exception_tag.valid() &&
                         *cpp_tag == result.exception_tag && result.exception_payload.size() == 1 &&
                         result.exception_payload[0].type == ValType::I32;
  if (!report.cpp_exception) {
    std::string tag = report.tag_name.empty() ? "an unexported tag" : report.tag_name;
    report.message = "uncaught exception with " + tag;
    if (!report.payload.empty()) report.message += " (" + format_payload(report.payload) + ")";
    return;
  }
  const uint32_t payload = result.exception_payload[0].i32;
  if (instance.store().terminated()) {
    report.message = "uncaught C++ exception (message unavailable: the store is terminated)";
    return;
  }
  if (auto message = cpp_exception_message(instance, payload)) {
    report.guest_message = std::move(*message);
    report.message = report.guest_message;
  } else {
    report.foreign_payload = true;
    report.message = "uncaught C++ exception with a foreign payload (" +
                     rw::to_string(result.exception_payload[0]) + ")";
  }
  // Foreign payloads are released too: the runtime ignores them, and it keeps the rule simple.
  if (options.release_exception)
    report.exception_released = release_cpp_exception(instance, payload);
}

void describe_abort(Instance& instance, const CallResult& result, const DescribeOptions& options,
                    FailureReport& report) {
  report.trap = result.trap;
  report.kind = result.trap;
  std::optional<std::string> guest;
  if (options.panic_messages) guest = options.panic_messages->take();
  if (!guest || guest->empty()) {
    guest = read_abort_message(instance);
    if (guest && !guest->empty() && options.clear_abort_message) {
      auto address = instance.get_global(kAbortMessageGlobal);
      auto memory = memory_of(instance);
      const uint8_t nul = 0;
      if (address && memory) memory->write(address->get().i32, std::span<const uint8_t>(&nul, 1));
    }
  }
  if (guest && !guest->empty()) report.guest_message = std::move(*guest);
  if (!report.guest_message.empty() && result.trap == TrapKind::Unreachable)
    report.kind = TrapKind::GuestAbort;
  report.message = report.guest_message.empty() ? result.message : report.guest_message;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PanicMessageSink

PanicMessageSink::PanicMessageSink() : state_(std::make_shared<State>()) {}

Function PanicMessageSink::host_function(Store& store) const {
  std::shared_ptr<State> state = state_;
  return store.create_host_function(
      kPanicMessageType,
      [state](HostContext& ctx, std::span<const Value> args, std::span<Value>) {
        const uint32_t address = args[0].i32;
        const uint32_t length = args[1].i32;
        std::optional<Memory> memory = ctx.memory();
        const size_t kept = std::min<size_t>(length, kMaxMessageBytes + 1);
        std::string text(kept, '\0');
        if (!memory || !memory->read(address, std::span<uint8_t>(
                                                  reinterpret_cast<uint8_t*>(text.data()), kept))) {
          state->message = "(panic message of " + std::to_string(length) + " bytes at " +
                           std::to_string(address) + " is outside the guest's memory)";
          return HostResult::ok();
        }
        truncate_utf8(text, kMaxMessageBytes);
        state->message = std::move(text);
        return HostResult::ok();
      },
      "panic_message");
}

void PanicMessageSink::define(Store& store, Imports& imports, std::string module,
                              std::string name) const {
  imports.define(std::move(module), std::move(name), Extern::of(host_function(store)));
}

std::optional<std::string> PanicMessageSink::take() { return std::exchange(state_->message, {}); }
const std::optional<std::string>& PanicMessageSink::last() const { return state_->message; }
void PanicMessageSink::clear() { state_->message.reset(); }

// ---------------------------------------------------------------------------------------------
// Pieces

std::optional<Global> find_stack_pointer(const Instance& instance) {
  for (const auto& [index, name] : instance.module().ir().names.globals) {
    if (name != "__stack_pointer" || index >= instance.global_count()) continue;
    Global g = instance.global(index);
    if (g.valid() && g.type().type == ValType::I32 && g.type().is_mutable) return g;
  }
  return std::nullopt;
}

std::optional<std::string> read_c_string(const Memory& memory, uint64_t address, size_t max_bytes) {
  if (!memory.valid() || address > memory.size_bytes()) return std::nullopt;
  const uint64_t available = std::min<uint64_t>(memory.size_bytes() - address, max_bytes);
  const char* begin = reinterpret_cast<const char*>(memory.data() + address);
  const void* nul = std::memchr(begin, 0, available);
  const size_t length = nul ? static_cast<const char*>(nul) - begin : available;
  return std::string(begin, length);
}

std::optional<std::string> read_abort_message(const Instance& instance) {
  auto address = instance.get_global(kAbortMessageGlobal);
  auto memory = memory_of(instance);
  if (!address || !memory || address->type().type != ValType::I32) return std::nullopt;
  return read_c_string(*memory, address->get().i32, 512);
}

std::optional<std::string> cpp_exception_message(Instance& instance, uint32_t payload) {
  if (instance.store().terminated()) return std::nullopt;
  auto message = export_with_type(instance, kExceptionMessageExport, kI32ToI32);
  auto memory = memory_of(instance);
  if (!message || !memory) return std::nullopt;
  const Value arg = Value::make_i32(static_cast<int32_t>(payload));
  CallResult r = instance.store().call(*message, std::span<const Value>(&arg, 1));
  if (!r.ok() || r.values.size() != 1 || r.values[0].i32 == 0) return std::nullopt;
  return read_c_string(*memory, r.values[0].i32);
}

bool release_cpp_exception(Instance& instance, uint32_t payload) {
  if (instance.store().terminated()) return false;
  auto release = export_with_type(instance, kExceptionReleaseExport, kI32ToNone);
  if (!release) return false;
  const Value arg = Value::make_i32(static_cast<int32_t>(payload));
  return instance.store().call(*release, std::span<const Value>(&arg, 1)).ok();
}

// ---------------------------------------------------------------------------------------------
// Reports

FailureReport describe_failure(Instance& instance, const CallResult& result,
                               const DescribeOptions& options) {
  FailureReport report;
  report.outcome = result.outcome;
  report.backtrace = result.backtrace;
  switch (result.outcome) {
    case Outcome::Ok: break;
    case Outcome::Panic: describe_panic(instance, result, options, report); break;
    case Outcome::HostError: {
      std::string what = host_error_text(result.host_error);
      report.message = result.message;
      if (!what.empty() && what != report.message) report.message += ": " + what;
      break;
    }
    case Outcome::Abort: describe_abort(instance, result, options, report); break;
    case Outcome::Terminated:
      report.message = result.message.empty() ? "store terminated" : result.message;
      break;
  }
  return report;
}

std::string FailureReport::to_string() const {
  std::string text = rw::to_string(outcome);
  if (outcome == Outcome::Abort) {
    text += ' ';
    text += rw::to_string(kind);
    if (kind != trap) text += std::string(" (trap ") + rw::to_string(trap) + ")";
  }
  if (!message.empty()) text += ": " + message;
  for (size_t i = 0; i < backtrace.size(); ++i) {
    text += i == 0 ? " at " : " <- ";
    const BacktraceFrame& f = backtrace[i];
    text += f.name.empty() ? "func[" + std::to_string(f.func_index) + "]" : f.name;
  }
  return text;
}

}  // namespace rw
