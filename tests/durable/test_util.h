#pragma once
// Shared helpers for the durable storage tests: a scratch directory per test.

#include "../common/scratch_dir.h"

namespace rw::durable::testing {

using rw::testing::ScratchDir;

}  // namespace rw::durable::testing
