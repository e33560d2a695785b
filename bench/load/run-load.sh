#!/usr/bin/env bash
# Load test of `rewind serve` against a bare Beast server, on loopback only, bounded in time.
#
#   bench/load/run-load.sh [build-dir]
#
# Environment: DURATION (wrk -d, default 10s), CONNECTIONS (default 16), WRK_THREADS (default 2),
# SERVER_THREADS (IO threads of both servers, default 2), INSTANCES (worker pool, default 2),
# REPEAT (rounds, default 3). Each round runs every scenario once, interleaved, so that load from
# other processes on the machine hits all of them alike; the ratios use each scenario's best
# round (the one least disturbed), and every round's non-2xx answers count.
# Needs wrk, and a build with bare_server and load_worker.wasm (ninja bare_server
# bench_load_worker rewind).
#
# Scenarios, all driven by the same wrk Lua script (mix.lua) so the client's own cost is equal:
#   bare        the baseline: bare_server, "/"
#   trivial     rewind, "/"
#   work        rewind, "/work" (about 100k loop iterations in the guest)
#   mix         rewind, "/" with 1% /panic and 0.1% /abort
# Prints throughput, p50/p99 latency, non-2xx answers on the non-failing path, and the ratios
# the issue asks for: trivial >= 80% of bare, mix >= 95% of trivial, 100% of non-failing
# requests 2xx, p99 < 5 ms at 16 connections.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
duration=${DURATION:-10s}
connections=${CONNECTIONS:-16}
wrk_threads=${WRK_THREADS:-2}
server_threads=${SERVER_THREADS:-2}
instances=${INSTANCES:-2}
repeat=${REPEAT:-3}

rewind=$build/tools/rewind/rewind
bare=$build/bench/load/bare_server
worker=$build/bench/load/load_worker.wasm
for f in "$rewind" "$bare" "$worker"; do
  [ -e "$f" ] || { echo "missing $f: ninja -C $build rewind bare_server bench_load_worker" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/rewind-load.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Waits for a "listening on ...PORT" line and prints PORT.
wait_port() {
  local file=$1
  for _ in $(seq 100); do
    if grep -q "listening on" "$file" 2>/dev/null; then
      grep -o 'listening on [^ ,]*' "$file" | head -1 | grep -o '[0-9]*$'
      return
    fi
    sleep 0.1
  done
  echo "server did not start; its output:" >&2
  cat "$file" "${file%.out}.err" >&2 2>/dev/null
  exit 1
}

"$bare" 0 "$server_threads" >"$tmp/bare.out" 2>&1 &
pids+=($!)
bare_port=$(wait_port "$tmp/bare.out")

cat >"$tmp/rewind.toml" <<EOF
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
threads = $server_threads
failure_log = "$tmp/failures.log"

[[worker]]
name = "load"
module = "$worker"
instances = $instances
cpu_ms = 1000
max_queue = 4096
EOF
"$rewind" serve --config "$tmp/rewind.toml" >"$tmp/rewind.out" 2>"$tmp/rewind.err" &
pids+=($!)
rewind_port=$(wait_port "$tmp/rewind.out")
admin_port=$(grep -o 'admin on http://[^ ]*' "$tmp/rewind.out" | grep -o '[0-9]*$')

run() {  # name port panic_rate abort_rate path
  local name=$1 port=$2
  wrk -t"$wrk_threads" -c"$connections" -d"$duration" --timeout 5s -s "$here/mix.lua" \
    "http://127.0.0.1:$port" -- "$3" "$4" "$5" >"$tmp/$name.$round.wrk" 2>&1
  local line
  line=$(grep '^RESULT' "$tmp/$name.$round.wrk" | sed 's/^RESULT //')
  echo "$name $line" >>"$tmp/results"
  printf '%-8s %s\n' "$name" "$line"
}

echo "load test: wrk -t$wrk_threads -c$connections -d$duration, servers with $server_threads IO threads," \
  "rewind worker pool of $instances; $(nproc) cores"
# A short warm-up so lazy compilation and connection setup are not measured.
for target in "$bare_port /" "$rewind_port /" "$rewind_port /work"; do
  set -- $target
  wrk -t1 -c2 -d1s -s "$here/mix.lua" "http://127.0.0.1:$1" -- 0 0 "$2" >/dev/null 2>&1 || true
done
for round in $(seq "$repeat"); do
  echo "-- round $round"
  run bare "$bare_port" 0 0 /
  run trivial "$rewind_port" 0 0 /
  run work "$rewind_port" 0 0 /work
  run mix "$rewind_port" 0.01 0.001 /
done

# The best round of a scenario (highest rps), as "key=value ..." fields.
best() { awk -v s="$1" '$1 == s { split($2, kv, "="); if (kv[2] + 0 > max) { max = kv[2] + 0; line = $0 } } END { print line }' "$tmp/results"; }
for s in bare trivial work mix; do best $s; done >"$tmp/best"
field() { awk -v s="$1" -v k="$2" '$1 == s { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$tmp/best"; }
# Summed over every round.
total() { awk -v s="$1" -v k="$2" '$1 == s { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) t += kv[2] } } END { print t + 0 }' "$tmp/results"; }
echo
echo "best rounds:"
sed 's/^/  /' "$tmp/best"
bare_rps=$(field bare rps)
trivial_rps=$(field trivial rps)
mix_rps=$(field mix rps)
status=0
check() {  # description ok?
  if [ "$2" = 1 ]; then echo "  ok    $1"; else echo "  FAIL  $1"; status=1; fi
}
ratio_trivial=$(awk -v a="$trivial_rps" -v b="$bare_rps" 'BEGIN { printf "%.1f", 100 * a / b }')
ratio_mix=$(awk -v a="$mix_rps" -v b="$trivial_rps" 'BEGIN { printf "%.1f", 100 * a / b }')
echo
echo "trivial / bare: $ratio_trivial%   mix / trivial: $ratio_mix%"
check "trivial throughput >= 80% of bare ($ratio_trivial%)" "$(awk -v r="$ratio_trivial" 'BEGIN { print (r >= 80) }')"
check "failure mix throughput >= 95% of trivial ($ratio_mix%)" "$(awk -v r="$ratio_mix" 'BEGIN { print (r >= 95) }')"
for s in trivial work mix; do
  bad=$(( $(total $s ok_non2xx) + $(total $s unknown) + $(total $s socket_errors) ))
  check "$s: every non-failing request answered 2xx, all rounds ($(total $s ok_2xx) ok, $bad not)" "$([ "$bad" = 0 ] && echo 1 || echo 0)"
done
check "mix: every failing request answered 500, all rounds ($(total mix failing_500) ok, $(total mix failing_other) not)" \
  "$([ "$(total mix failing_other)" = 0 ] && echo 1 || echo 0)"
for s in trivial mix; do
  p99=$(field $s p99_ms)
  check "$s: p99 latency < 5 ms at $connections connections, best round (${p99} ms; bare: $(field bare p99_ms) ms)" \
    "$(awk -v p="$p99" 'BEGIN { print (p < 5) }')"
done
echo
echo "failure log lines: $(wc -l <"$tmp/failures.log")"
curl -s "http://127.0.0.1:$admin_port/metrics" | grep -E '^rewind_(panics|aborts|recoveries)_total' || true
echo "(outputs in $tmp)"
exit $status
