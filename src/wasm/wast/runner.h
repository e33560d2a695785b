#pragma once
// Runs WebAssembly spec test scripts (.wast) against the engine, with the `spectest` host module.

#include <cstdint>
#include <iosfwd>
#include <string>

namespace rw::wasm {

struct WastSummary {
  uint64_t passed = 0;
  uint64_t failed = 0;
  uint64_t skipped = 0;
  WastSummary& operator+=(const WastSummary& o) {
    passed += o.passed;
    failed += o.failed;
    skipped += o.skipped;
    return *this;
  }
};

struct WastOptions {
  bool verbose = false;  // print every assertion, not just failures
};

// Runs one script, printing each failure (file:line, the command, expected vs got) to `out`.
// A script that cannot be parsed counts as one failure.
WastSummary run_wast_file(const std::string& path, std::ostream& out, const WastOptions& options = {});

}  // namespace rw::wasm
