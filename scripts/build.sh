#!/usr/bin/env bash
# Configures (once) and builds rewind. Usage: scripts/build.sh [build-dir] [extra cmake args...]
# Uses clang-22, the same compiler that builds the guests and the fuzzers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "$@"
fi
cmake --build "$build" -j "${JOBS:-$(nproc)}"
