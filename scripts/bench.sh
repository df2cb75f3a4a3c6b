#!/usr/bin/env bash
# The benchmark of issue 5, in one command (run from any directory). Builds the Release
# binaries (scripts/build.sh: build/release), then bench_load runs every scenario
# (cycle, contended, hold, handoff, inspect) against our server and against bench_floor
# (the same protocol with no lock table: the kernel and the event loop alone), in turn,
# for several repetitions, and prints a table of medians with ours/floor ratios and one
# line per target saying met or NOT met. Then bench_restore times a restart with 100,000
# saved detached locks (target: under 2 s), and bench/tls_cycle.py measures the lock cycle
# over TLS next to the plain one. Results and method: docs/BENCHMARKS.md.
#
#   scripts/bench.sh                          everything, 5 repetitions (about 3 minutes)
#   scripts/bench.sh --repetitions 3 --scenarios cycle,handoff    (no restart timing)
#   scripts/bench.sh --smoke                  every scenario, tiny and once (seconds)
#
# Every argument goes to bench_load (bench_load --help lists them); with --scenarios, only
# those run and bench_restore does not. The build directory is build/release, or
# $TNL_BUILD_DIR as for scripts/build.sh. Run it on a quiet machine: the load average is
# printed before and after.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "${1:-}" in
  -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

build_dir=${TNL_BUILD_DIR:-build/release}
scripts/build.sh --target tcpnetlock_server --target bench_load --target bench_floor --target bench_restore >&2
bin="$build_dir/bin"

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: $(nproc) cores, ${cpu_model:-unknown CPU}, Linux $(uname -r)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- server common 2>/dev/null || echo ' (server/common modified)')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$bin/bench_load" --server "$bin/tcpnetlock_server" --floor "$bin/bench_floor" "$@" || status=$?
# The restart with saved detached locks: all of them, or a thousand once with --smoke.
restore_args=(--rows 100000 --repetitions 3)
for arg in "$@"; do
  case "$arg" in
    --smoke) restore_args=(--rows 1000 --repetitions 1) ;;
    --scenarios|--scenarios=*) restore_args=() ;;
  esac
done
if ((${#restore_args[@]})); then
  echo
  "$bin/bench_restore" --server "$bin/tcpnetlock_server" "${restore_args[@]}" || status=$?
  # The TLS cycle next to the plain one (connect+handshake+lock+release), when there is openssl.
  tls_args=(--cycles 2000 --repetitions 5)
  [[ " $* " == *" --smoke "* ]] && tls_args=(--cycles 20 --repetitions 1)
  if command -v openssl >/dev/null && command -v python3 >/dev/null; then
    echo
    python3 bench/tls_cycle.py --server "$bin/tcpnetlock_server" "${tls_args[@]}" || status=$?
  fi
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
