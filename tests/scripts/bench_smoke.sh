#!/usr/bin/env bash
# Smoke test of the benchmark tools (issue 5): bench_load runs every scenario, tiny and
# once (--smoke), against our server and bench_floor, and the table must have each
# scenario's row with a figure for both servers. No timing is checked: real runs are
# scripts/bench.sh's (docs/BENCHMARKS.md). Takes a second or two, longer under ASan.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
for binary in bench_load bench_floor tcpnetlock_server; do
  [[ -x $TNL_BIN_DIR/$binary ]] || { echo "FAIL: $TNL_BIN_DIR/$binary is not built" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  sed 's/^/  stdout: /' "$work/out" >&2
  sed 's/^/  stderr: /' "$work/err" >&2
  exit 1
}

status=0
timeout 120 "$TNL_BIN_DIR/bench_load" --server "$TNL_BIN_DIR/tcpnetlock_server" \
  --floor "$TNL_BIN_DIR/bench_floor" --smoke --raw "$work/raw.tsv" >"$work/out" 2>"$work/err" || status=$?
((status == 0)) || fail "bench_load exited with status $status"
! grep -q FAILED "$work/out" || fail "a measurement failed"

# One row per scenario and setting --smoke runs, each with a figure for ours and the floor:
# "cycle c=1            cycles/s                   6019         6876        0.88  6019..6019"
number='[0-9]+(\.[0-9]+)?'
for row in "cycle c=1 +cycles/s" "cycle c=4 +cycles/s" "contended c=4 +grants/s" "hold n=50 +held" \
  "hold n=50 +RSS B/lock" "handoff w=5 +p99 us" "handoff w=5 +blocking p99 us" "inspect n=50 +\.stats p50 ms" "inspect n=50 +\.locks p50 ms"; do
  grep -Eq "^$row +$number +$number +" "$work/out" || fail "no row '$row' with figures for ours and the floor"
done
grep -Eq "^hold n=50 +held +50 +50 " "$work/out" || fail "hold did not hold 50 locks on each server"
grep -q "^targets: not checked in --smoke mode" "$work/out" || fail "no targets line"
[[ $(wc -l <"$work/raw.tsv") -gt 10 ]] || fail "no raw figures written"
echo "bench_load --smoke: every scenario ran against both servers"

# The floor with two event loops on one port (SO_REUSEPORT), as "One thread or two?" in
# docs/BENCHMARKS.md measures it: both loops must accept and answer.
"$TNL_BIN_DIR/bench_floor" --threads 2 --port-file "$work/floor-port" >"$work/floor-out" 2>&1 &
floor=$!
trap 'kill "$floor" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [[ -s $work/floor-port ]] && break; sleep 0.1; done
[[ -s $work/floor-port ]] || fail "bench_floor --threads 2 did not start: $(cat "$work/floor-out")"
status=0
timeout 120 "$TNL_BIN_DIR/bench_load" --attach-port "$(cat "$work/floor-port")" --attach-pid "$floor" --no-pin \
  --scenarios cycle --clients 4 --duration 0.2 --repetitions 1 >"$work/out" 2>"$work/err" || status=$?
((status == 0)) || fail "bench_load against bench_floor --threads 2 exited with status $status"
grep -Eq "^cycle c=4 +cycles/s +$number +" "$work/out" || fail "no cycle row against bench_floor --threads 2"
threads=$(ls "/proc/$floor/task" | wc -l)
((threads >= 2)) || fail "bench_floor --threads 2 runs $threads thread(s)"
kill "$floor"
wait "$floor" 2>/dev/null || true
echo "bench_floor --threads 2: served cycles on two event loops"
