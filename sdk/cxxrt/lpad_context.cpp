// The landing-pad context that clang's WebAssembly EH lowering writes before it calls
// _Unwind_CallPersonality: the landing pad's index into the function's call-site table and the
// function's LSDA. The personality writes back the selector (the matched type index, or 0).
// Field order is fixed by the compiler, which stores at offsets 0 and 4 and loads from 8.
#include "internal.h"

extern "C" {
rewind_cxxrt::LandingPadContext __wasm_lpad_context;
}

static_assert(offsetof(rewind_cxxrt::LandingPadContext, lpad_index) == 0);
static_assert(offsetof(rewind_cxxrt::LandingPadContext, lsda) == 4);
static_assert(offsetof(rewind_cxxrt::LandingPadContext, selector) == 8);
