#!/usr/bin/env bash
# Sets everything up, builds, and runs the demo worker with no configuration.
# The HTTP server (`rewind serve`) is not built yet (issue 4); until it is, the demo is the
# example WASI command run with `rewind run`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
JOBS=${JOBS:-$(nproc)} "$root/scripts/build.sh" "$root/build" >/dev/null
exec "$root/build/tools/rewind/rewind" run "$root/build/examples/hello.wasm" -- "$@"
