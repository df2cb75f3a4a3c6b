#!/usr/bin/env bash
# Smoke test of issue 13's benchmark: bench_etcd --smoke starts its own etcd (on
# /dev/shm), runs every scenario tiny and once against etcd's own Lock RPCs (the anchor)
# and replicas in etcd mode, and the table must have each scenario's row with figures for
# both (the hold only for ours). No timing is checked: real runs are scripts/bench-etcd.sh's
# (docs/BENCHMARKS.md). etcd is a dependency: without /usr/bin/etcd this fails.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
for binary in bench_etcd tcpnetlock_server; do
  [[ -x $TNL_BIN_DIR/$binary ]] || { echo "FAIL: $TNL_BIN_DIR/$binary is not built" >&2; exit 1; }
done
[[ -x /usr/bin/etcd ]] || { echo "FAIL: no /usr/bin/etcd (etcd-server; scripts/install-deps.sh)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  sed 's/^/  stdout: /' "$work/out" >&2
  sed 's/^/  stderr: /' "$work/err" >&2
  exit 1
}

status=0
timeout 180 "$TNL_BIN_DIR/bench_etcd" --server "$TNL_BIN_DIR/tcpnetlock_server" --smoke --raw "$work/raw.tsv" \
  >"$work/out" 2>"$work/err" || status=$?
((status == 0)) || fail "bench_etcd exited with status $status"
! grep -q FAILED "$work/out" || fail "a measurement failed"

number='[0-9]+(\.[0-9]+)?'
for row in "cycle c=1 +cycles/s" "cycle c=4 +cycles/s" "cycle c=4 +p99 us" "handoff w=3 +p99 us"; do
  grep -Eq "^$row +$number +$number +" "$work/out" || fail "no row '$row' with figures for the anchor and ours"
done
grep -Eq "^hold n=50 +held +- +50 " "$work/out" || fail "hold did not hold 50 locks through the replica"
grep -Eq "^hold n=50 +RSS B/lock +- +-?$number " "$work/out" || fail "no RSS per lock"
grep -q "^targets: not checked in --smoke mode" "$work/out" || fail "no targets line"
[[ $(wc -l <"$work/raw.tsv.shm") -gt 10 ]] || fail "no raw figures written"
echo "bench_etcd --smoke: every scenario ran against etcd's Lock RPCs and replicas in etcd mode"
