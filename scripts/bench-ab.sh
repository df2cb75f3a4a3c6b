#!/usr/bin/env bash
# Compares two tcpnetlock_server binaries on the same machine, interleaved (A, B, A, B, ...),
# so that a change of load on a shared machine hits both alike: the way to tell whether a
# change regressed the server (docs/BENCHMARKS.md, "Before and after"). Prints the median of
# each metric for A and B and B/A. Needs build/release/bin/bench_load (scripts/build.sh).
#
#   scripts/bench-ab.sh OLD_SERVER NEW_SERVER [ROUNDS] [SCENARIOS]
#   scripts/bench-ab.sh /tmp/tnl-old build/release/bin/tcpnetlock_server 3 cycle,handoff
#
# To get OLD_SERVER: `git worktree add /tmp/old COMMIT && (cd /tmp/old && scripts/build.sh)`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "${1:-}" in
  -h|--help|"") sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
old=$1 new=$2 rounds=${3:-3} scenarios=${4:-cycle,handoff}
load=${TNL_BUILD_DIR:-build/release}/bin/bench_load
[[ -x $load ]] || { echo "no $load: run scripts/build.sh first" >&2; exit 2; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((round = 1; round <= rounds; round++)); do
  for side in A B; do
    server=$old
    [[ $side == B ]] && server=$new
    echo "### $side" >>"$out"
    "$load" --server "$server" --scenarios "$scenarios" --repetitions 1 2>&1 | grep -E '^[a-z]+ [a-z]=' >>"$out"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" <<'EOF'
import re, statistics, sys
side, values = None, {}
for line in open(sys.argv[1]):
    if line.startswith('### '):
        side = line.split()[1]
        continue
    m = re.match(r'(\S+ \S+)\s+(.+?)\s{2,}(-?[\d.]+)', line)
    if m:
        values.setdefault((m.group(1), m.group(2)), {}).setdefault(side, []).append(float(m.group(3)))
print(f"{'scenario':14} {'metric':22} {'A median':>10} {'B median':>10} {'B/A':>6}")
for (scenario, metric), sides in values.items():
    a, b = statistics.median(sides.get('A', [0])), statistics.median(sides.get('B', [0]))
    print(f"{scenario:14} {metric:22} {a:10.1f} {b:10.1f} {b / a if a else float('nan'):6.2f}")
EOF
