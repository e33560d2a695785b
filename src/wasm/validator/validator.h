#pragma once
// Validation of a decoded module against the WebAssembly 2.0 typing rules plus exception
// handling (legacy and exnref) and tail calls. Errors are Error::Kind::Invalid (or Malformed when
// an instruction's encoding is bad, Unsupported for SIMD) with the byte offset of the offending
// instruction (or of the constant expression / section entry for module-level checks).
//
// What a module that passed validate_module guarantees to later passes (the compiler may rely on
// these and need not re-check them):
//  - Index spaces: every function, table, memory, global, type, tag, element segment, data
//    segment, local and label index used anywhere (instructions, exports, start, segments,
//    constant expressions, imports) is in range. There is at most one memory, and every memory
//    instruction uses memory 0.
//  - Types: `types` contains no v128. Every tag's type has no results. Block types by index refer
//    to existing types. The start function, if any, has type [] -> [].
//  - Function bodies: each body in `codes` decodes with InstrReader without error from code_begin
//    and its final `end` is exactly the byte before code_end. Blocks are properly nested: `else`
//    only closes the then-branch of an `if`; `catch`/`catch_all` only follow a `try` (or a
//    previous `catch`; nothing follows `catch_all` but `end`); `delegate` only closes a `try`
//    that has no catch clauses. The operand stack types check for every instruction in reachable
//    code, so at every reachable instruction the stack height is fixed and known statically; after
//    an unconditional branch (br, br_table, return, return_call*, throw, throw_ref, rethrow,
//    unreachable) the rest of the block is stack-polymorphic and may contain ill-typed code in
//    the spec's sense (e.g. `i32.add` with "unknown" operands), but still satisfies every index
//    and nesting rule above.
//  - Branches: br/br_if/br_table label depths are within the enclosing blocks; all br_table
//    targets have the same arity. try_table catch labels are in range and their label types
//    match the clause (catch: tag params; catch_ref: tag params + exnref; catch_all: [];
//    catch_all_ref: [exnref]). rethrow's label refers to a legacy catch/catch_all block.
//    delegate's label is in range after the try is closed (depth == number of enclosing labels
//    means the function frame, i.e. rethrow to the caller).
//  - Calls: call_indirect/return_call_indirect use a funcref table; return_call* callees have the
//    caller's result types.
//  - Memory: alignment immediates are at most the natural alignment; memory.init/data.drop only
//    appear when the module has a data count section.
//  - ref.func only names functions declared in an element segment, export or global initializer.
//  - Constant expressions contain only constant instructions (i32/i64/f32/f64.const, ref.null,
//    ref.func, global.get of an immutable imported global, i32/i64 add/sub/mul) and produce
//    exactly one value of the expected type.
//  - Exports have unique names. Table/memory limits have min <= max; memories have at most
//    65536 pages.

#include "rewind/error.h"
#include "wasm/common/module.h"

namespace rw::wasm {

Result<void> validate_module(const Module& module);

// Adds to module.features the features that only show in instructions: sign extension,
// saturating truncation, bulk memory and table instructions, reference type instructions,
// exception handling (legacy: try/catch/catch_all/delegate/rethrow; exnref: try_table and
// throw_ref; `throw` alone counts as legacy since both encodings share it), tail calls, and
// multi-value block types. Call it after validate_module succeeded (it stops silently at the
// first encoding error of a body). The engine calls this; validate_module stays const.
void detect_instruction_features(Module& module);
// The same without modifying the module: its section-level features plus the instruction-level
// ones (what `rewind inspect` reports).
FeatureSet features_with_instructions(const Module& module);

}  // namespace rw::wasm
