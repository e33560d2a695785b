#!/usr/bin/env bash
# Sets everything up, builds, and serves the demo worker with no configuration:
# build/examples/hello-worker.wasm on http://127.0.0.1:8080 (metrics on 127.0.0.1:9090).
# Extra arguments go to `rewind serve` (e.g. --listen 127.0.0.1:8081). Ctrl-C stops it cleanly.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
JOBS=${JOBS:-$(nproc)} "$root/scripts/build.sh" "$root/build" >/dev/null
echo "try: curl http://127.0.0.1:8080/hello    (metrics: curl http://127.0.0.1:9090/metrics)"
exec "$root/build/tools/rewind/rewind" serve "$root/build/examples/hello-worker.wasm" "$@"
