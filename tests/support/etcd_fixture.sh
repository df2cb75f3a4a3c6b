#!/usr/bin/env bash
# One real etcd for the etcd/server/ and etcd/cli/ reruns of the integration suites (a ctest
# fixture: tests/CMakeLists.txt), so that every server they start runs with --backend etcd,
# each in a realm (--etcd-prefix) of its own.
#
#   etcd_fixture.sh start STATE_DIR   start etcd on free loopback ports, data in /dev/shm;
#                                     write its endpoint (http://127.0.0.1:PORT) to STATE_DIR/endpoints
#   etcd_fixture.sh stop STATE_DIR    stop it and remove its data
#
# etcd is a dependency (etcd-server): without it `start` fails, it does not skip. A fixture
# that is never stopped (ctest interrupted) ends by itself after an hour at most.
set -euo pipefail

usage() { echo "usage: $0 start|stop STATE_DIR" >&2; exit 2; }
(($# == 2)) || usage
action=$1
state=$2
etcd=${TNL_ETCD:-/usr/bin/etcd}
# The longest a fixture etcd may live: the whole suite takes well under this.
lifetime_s=3600

stop() {
  local pid data
  if [[ -f $state/pid ]]; then
    pid=$(<"$state/pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$state/pid"
  fi
  if [[ -f $state/data-dir ]]; then
    data=$(<"$state/data-dir")
    # Only what this script made.
    [[ $data == */tnl-etcd-fixture.* ]] && rm -rf -- "$data"
    rm -f "$state/data-dir"
  fi
  rm -f "$state/endpoints"
}

# Two free loopback ports (bound and released: etcd takes them a moment later; a clash
# is retried).
free_ports() {
  python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks: s.close()'
}

healthy() {
  python3 -c '
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/health", timeout=1) as r:
        sys.exit(0 if json.load(r).get("health") == "true" else 1)
except Exception:
    sys.exit(1)' "$1"
}

start() {
  if [[ ! -x $etcd ]]; then
    echo "etcd_fixture: $etcd not found: etcd is a dependency (Debian: etcd-server; scripts/install-deps.sh)" >&2
    exit 1
  fi
  mkdir -p "$state"
  stop  # a leftover of an interrupted run
  local base=/dev/shm
  [[ -d $base && -w $base ]] || base=${TMPDIR:-/tmp}
  local data client peer pid url
  data=$(mktemp -d "$base/tnl-etcd-fixture.XXXXXX")
  echo "$data" >"$state/data-dir"
  for attempt in 1 2 3 4 5; do
    read -r client peer < <(free_ports)
    url=http://127.0.0.1:$client
    rm -rf -- "${data:?}"/*
    # Its own session, output to a file, no stdin: ctest waits for nobody once this
    # script exits. `timeout` bounds its life and passes SIGTERM on.
    setsid timeout --signal=TERM "$lifetime_s" "$etcd" --name fixture --data-dir "$data/member" \
      --listen-client-urls "$url" --advertise-client-urls "$url" \
      --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
      --initial-cluster "fixture=http://127.0.0.1:$peer" --initial-cluster-state new \
      --logger zap --log-outputs stderr --log-level warn \
      </dev/null >"$state/etcd.log" 2>&1 &
    pid=$!
    echo "$pid" >"$state/pid"
    for _ in $(seq 100); do
      if healthy "$url"; then
        echo "$url" >"$state/endpoints"
        echo "etcd_fixture: etcd $url (pid $pid, data $data)"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    echo "etcd_fixture: attempt $attempt: etcd on $url did not become healthy:" >&2
    tail -n 5 "$state/etcd.log" >&2 || true
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  stop
  echo "etcd_fixture: could not start etcd" >&2
  exit 1
}

case $action in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
