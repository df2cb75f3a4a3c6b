#!/usr/bin/env bash
# Randomized kill test (bounded: 30 s of kills): tcpnetlock_do holders whose commands
# ignore SIGTERM and raw line clients contend on three names of a server with
# --state-dir and --lock-delay, while random SIGKILLs and SIGSTOPs hit the raw clients,
# tcpnetlock_do, its guardians and the server (SIGKILL, SIGTERM or SIGSTOP; restarted on
# the same state dir, where its start grace keeps every name from new holders while the
# old ones stop). No two critical sections of one name may overlap, and fencing tokens
# seen by the clients only rise (tests/scripts/lib/random_kills.py).
#
# By hand, longer or with another seed:
#   python3 tests/scripts/lib/random_kills.py build/release/bin 300 --server-kills --seed 7
set -euo pipefail
: "${TNL_BIN_DIR:?set by ctest}"
command -v python3 >/dev/null || { echo "SKIPPED: no python3"; exit 77; }
exec python3 "$(dirname "${BASH_SOURCE[0]}")/lib/random_kills.py" "$TNL_BIN_DIR" "${TNL_RANDOM_KILLS_SECONDS:-30}" --server-kills
