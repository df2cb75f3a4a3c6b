#!/usr/bin/env bash
# The benchmark of issue 13, in one command (run from any directory). Builds the Release
# binaries (scripts/build.sh: build/release), then bench_etcd starts one local etcd
# (Debian's /usr/bin/etcd, data in a temporary directory on the normal disk) and runs,
# side by side at the same client concurrency: etcd's own Lock/Unlock RPCs with a lease per
# lock (the anchor: LeaseGrant, Lock, Unlock, LeaseRevoke, as `etcdctl lock` and distlock
# do) against one replica in etcd mode (lock + release cycles at 1, 4 and 16 clients); the
# handoff to a waiter on another replica (p50/p99); 10,000 connection locks held through
# one replica (RSS per lock). Then the same again with etcd's data on /dev/shm. Results
# and method: docs/BENCHMARKS.md ("Issue 13").
#
#   scripts/bench-etcd.sh                                   everything (about 4 minutes)
#   scripts/bench-etcd.sh --data-dirs /dev/shm --scenarios cycle --clients 16
#   scripts/bench-etcd.sh --smoke                           every scenario tiny and once
#   scripts/bench-etcd.sh --pin-etcd --data-dirs /dev/shm --scenarios cycle --clients 16
#                         a separate configuration: etcd on a CPU of its own, the rest on another
#
# Every argument goes to bench_etcd (bench_etcd --help lists them). Run it on a quiet
# machine: the load average is printed before and after.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "${1:-}" in
  -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

build_dir=${TNL_BUILD_DIR:-build/release}
scripts/build.sh --target tcpnetlock_server --target bench_etcd >&2
bin="$build_dir/bin"

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: $(nproc) cores, ${cpu_model:-unknown CPU}, Linux $(uname -r); $(etcd --version 2>/dev/null | head -n 1)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- server common 2>/dev/null || echo ' (server/common modified)')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$bin/bench_etcd" --server "$bin/tcpnetlock_server" "$@" || status=$?
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
