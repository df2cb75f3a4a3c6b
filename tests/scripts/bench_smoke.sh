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
  "hold n=50 +RSS B/lock" "handoff w=5 +p99 us" "inspect n=50 +\.stats p50 ms" "inspect n=50 +\.locks p50 ms"; do
  grep -Eq "^$row +$number +$number +" "$work/out" || fail "no row '$row' with figures for ours and the floor"
done
grep -Eq "^hold n=50 +held +50 +50 " "$work/out" || fail "hold did not hold 50 locks on each server"
grep -q "^targets: not checked in --smoke mode" "$work/out" || fail "no targets line"
[[ $(wc -l <"$work/raw.tsv") -gt 10 ]] || fail "no raw figures written"
echo "bench_load --smoke: every scenario ran against both servers"
