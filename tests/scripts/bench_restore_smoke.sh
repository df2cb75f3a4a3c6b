#!/usr/bin/env bash
# Smoke test of bench_restore (issue 10, finding 10): a restart with 1,000 saved detached
# locks, once; it must restore every one of them and print its figure and target line.
# No timing is checked here: scripts/bench.sh runs it with 100,000.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
for binary in bench_restore tcpnetlock_server; do
  [[ -x $TNL_BIN_DIR/$binary ]] || { echo "FAIL: $TNL_BIN_DIR/$binary is not built" >&2; exit 1; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
timeout 120 "$TNL_BIN_DIR/bench_restore" --server "$TNL_BIN_DIR/tcpnetlock_server" --rows 1000 --repetitions 1 \
  >"$out" 2>&1 || status=$?
fail() { echo "FAIL: $*" >&2; sed 's/^/  /' "$out" >&2; exit 1; }
((status == 0)) || fail "bench_restore exited with status $status"
grep -Eq '^restore n=1000: start to first answer, median [0-9]+\.[0-9]+ s of 1 runs' "$out" || fail "no figure"
grep -Eq '^target: restore 1000 < 2 s: (met|NOT met)$' "$out" || fail "no target line"
echo "bench_restore: restored 1,000 saved locks and reported the time"
