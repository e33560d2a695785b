#pragma once
// Parser for WebAssembly spec test scripts (.wast): a sequence of commands, each with the line
// it starts on. Text modules are converted to binary while parsing; `module quote` keeps its text
// so a malformed one is an assertion outcome rather than a script error.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rewind/error.h"
#include "rewind/types.h"

namespace rw::wasm {

// An argument or an expected result.
struct WastValue {
  enum class Kind : uint8_t {
    Exact,          // type + bits: numbers, and ref.null (bits 0) / ref.extern N (bits N+1)
    NanCanonical,   // f32/f64 canonical NaN of either sign
    NanArithmetic,  // f32/f64 NaN with the quiet bit set
    AnyRef,         // `(ref.extern)` / `(ref.func)` without an index: any non-null reference
  };
  Kind kind = Kind::Exact;
  ValType type = ValType::I32;
  uint64_t bits = 0;
  bool is_null = false;  // for references: ref.null
};

struct WastModule {
  enum class Form : uint8_t { Text, Binary, Quote };
  Form form = Form::Text;
  std::optional<std::string> name;  // $name, without '$'
  std::vector<uint8_t> binary;      // Text (when it converted) and Binary
  std::optional<Error> text_error;  // Text: the conversion failed
  std::string quote;                // Quote: the module text, to convert at run time
};

struct WastAction {
  enum class Kind : uint8_t { Invoke, Get };
  Kind kind = Kind::Invoke;
  std::optional<std::string> module;  // $name of the module, or the latest one
  std::string name;                   // export name
  std::vector<WastValue> args;
};

struct WastCommand {
  enum class Kind : uint8_t {
    Module,
    Register,
    Action,  // bare invoke/get
    AssertReturn,
    AssertTrap,  // an action, or a module (then: instantiation must trap)
    AssertExhaustion,
    AssertException,
    AssertInvalid,
    AssertMalformed,
    AssertUnlinkable,
    AssertUninstantiable,
  };
  Kind kind = Kind::Module;
  uint32_t line = 0;
  std::optional<WastModule> module;  // Module and module assertions
  std::optional<WastAction> action;
  std::string register_as;  // Register: the import name
  std::optional<std::string> register_module;
  // AssertReturn: one entry per result, each a list of acceptable values (`either`).
  std::vector<std::vector<WastValue>> expected;
  std::string text;  // the expected failure message, or a short command description
};

// Parses a whole script. Errors (Malformed) name the line and column.
Result<std::vector<WastCommand>> parse_wast(std::string_view source);

// Converts a `module quote` text (or any module text) to binary; same as wat_to_binary.
Result<std::vector<uint8_t>> quote_module_to_binary(std::string_view text);

}  // namespace rw::wasm
