#!/usr/bin/env bash
# Mutual exclusion over 3 replicas on a 3-member etcd (bounded: 40 s of faults, under a
# minute in all): tcpnetlock_do holders and raw line clients on random replicas contend on
# three names while random kill -9s hit holders, tcpnetlock_do's guardians, the replicas
# (restarted on their ports) and one etcd member at a time, and SIGSTOPs hit replicas (some
# past the lease TTL). Every write to the protected resource carries the holder's fencing
# token; no accepted write may overlap another holder's, tokens only rise, and without the
# fence no holder writes after the next one began (tests/scripts/lib/random_kills_etcd.py).
# Needs /usr/bin/etcd (a dependency: it fails, it does not skip, when missing).
#
# By hand, longer or with another seed:
#   python3 tests/scripts/lib/random_kills_etcd.py build/release/bin 300 --etcd-kills --seed 7
set -euo pipefail
: "${TNL_BIN_DIR:?set by ctest}"
command -v python3 >/dev/null || { echo "SKIPPED: no python3"; exit 77; }
exec python3 "$(dirname "${BASH_SOURCE[0]}")/lib/random_kills_etcd.py" "$TNL_BIN_DIR" \
  "${TNL_RANDOM_KILLS_SECONDS:-40}" --etcd-kills
