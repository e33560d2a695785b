#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for the given number of seconds (default 30).
# Corpora live in build-fuzz/corpus/<target>; seeds come from fuzz/seeds/<target> when present.
# A longer campaign: scripts/fuzz.sh 1800 (docs/fuzzing.md). Four targets: the default CI run takes
# about two minutes after the build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
build="$root/build-fuzz"
BUILD_TYPE=RelWithDebInfo JOBS=${JOBS:-$(nproc)} "$root/scripts/build.sh" "$build" \
  -DREWIND_FUZZ=ON -DREWIND_TESTS=OFF -DREWIND_BENCH=OFF
status=0
cd "$build"  # targets may leave files (exec_fuzz writes a rejected module) in the working directory
for target in "$build"/fuzz/*_fuzz; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus="$build/corpus/$name"
  mkdir -p "$corpus"
  seeds=()
  [ -d "$root/fuzz/seeds/$name" ] && seeds+=("$root/fuzz/seeds/$name")
  echo "-- $name for ${seconds}s"
  if ! "$target" "$corpus" "${seeds[@]}" -max_total_time="$seconds" -rss_limit_mb=4096 \
       -timeout=10 -print_final_stats=1 -artifact_prefix="$build/crash-$name-" 2>"$build/$name.log"; then
    echo "$name: FINDING (see $build/$name.log and $build/crash-$name-*)"
    tail -50 "$build/$name.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$build/$name.log" | tail -2 || true
  fi
done
exit $status
