#!/usr/bin/env bash
# A silent partition (iptables DROP at both ends of a veth pair, no FIN, no RST) between a
# tcpnetlock_do holder with its defaults (--keep-alive-secs 15, --keep-alive-timeout 5,
# --kill-grace 10) and a live server with the documented recommendation --lock-delay 15.
# The command ignores SIGTERM, so it runs for the whole kill-grace once tcpnetlock_do has
# noticed. The server gives up on the holder (keepalive: 21 s at the earliest after it
# last heard from it), waits the lock-delay and grants the next waiter; tcpnetlock_do
# notices at most 15 + 5 s after the last keepalive the server answered and stops its
# command 10 s later: 30 s < 21 + 15 s. The same bound makes the default start grace
# (lock-delay + 21 s) safe when the server's machine vanished and a new one came up.
# Before --keep-alive-timeout (tcpnetlock_do noticed only by TCP_USER_TIMEOUT, 25 s after
# its next keepalive): grant at 36.3 s, the old command's last write at 49.5 s.
#
#   TNL_BIN_DIR=build/release/bin tests/scripts/partitioned_holder_overlap.sh   (root, ~40 s)
#   (LOCK_DELAY=40 and DO_ARGS='--kill-grace 5' to try other settings)
# Exit 1 when the next holder was granted while the old command still ran.
set -u
: "${TNL_BIN_DIR:?}"
[[ $(id -u) == 0 ]] || { echo "SKIPPED: needs root"; exit 77; }
W=$(mktemp -d); s="tnp$$s"; h="tnp$$h"
cleanup() { kill -9 "${spid:-}" "${dpid:-}" 2>/dev/null; ip netns del "$s" 2>/dev/null; ip netns del "$h" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
ip netns add "$s" && ip netns add "$h" || { echo "SKIPPED: no network namespaces"; exit 77; }
ip link add "${s}a" netns "$s" type veth peer name "${h}b" netns "$h"
ip -n "$s" addr add 169.254.79.1/30 dev "${s}a"; ip -n "$h" addr add 169.254.79.2/30 dev "${h}b"
for n in "$s" "$h"; do ip -n "$n" link set lo up; done
ip -n "$s" link set "${s}a" up; ip -n "$h" link set "${h}b" up
ip netns exec "$s" "$TNL_BIN_DIR/tcpnetlock_server" --listen 0.0.0.0 --port 7654 --port-file "$W/port" --http off \
  --info --lock-delay "${LOCK_DELAY:-15}" --start-grace 0 2>"$W/server.log" &
spid=$!
for _ in $(seq 200); do [[ -s $W/port ]] && break; sleep 0.05; done
# shellcheck disable=SC2086
ip netns exec "$h" "$TNL_BIN_DIR/tcpnetlock_do" --host 169.254.79.1 --port 7654 --lock-name x ${DO_ARGS:-} -- \
  sh -c "trap '' TERM; while :; do date +%s.%N >> '$W/ticks'; sleep 0.1; done" 2>"$W/do.log" &
dpid=$!
for _ in $(seq 200); do [[ -s $W/ticks ]] && break; sleep 0.05; done
ip netns exec "$s" python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', 7654)); s.sendall(b'lock,name:x,wait:300\n')
answer = s.makefile().readline().strip(); open('$W/grant', 'w').write('%s %.3f\n' % (answer, time.time()))" &
wpid=$!
for _ in $(seq 200); do grep -q "waits for lock 'x'" "$W/server.log" && break; sleep 0.05; done
grep -q "waits for lock 'x'" "$W/server.log" || { echo "FAIL: the waiter did not queue"; exit 1; }
t0=$(date +%s.%N)
ip netns exec "$s" iptables -A INPUT -i "${s}a" -j DROP; ip netns exec "$h" iptables -A INPUT -i "${h}b" -j DROP
wait "$dpid"; dpid=
wait "$wpid"
python3 - "$t0" "$(cut -d' ' -f2 "$W/grant")" "$(tail -1 "$W/ticks")" <<'PY'
import sys
t0, grant, last = map(float, sys.argv[1:])
print("partition at 0: next holder granted at %.1f s, old command last wrote at %.1f s: overlap %.1f s"
      % (grant - t0, last - t0, max(0, last - grant)))
sys.exit(1 if last > grant else 0)
PY
