#!/usr/bin/env bash
# The server's machine vanishes (no FIN, no RST reaches the holder) and a new server comes
# up at the same address, which knows nothing of the old connection and grants the lock
# to the next client at once. A tcpnetlock_do that is stopped (SIGSTOP, a debugger), or
# runs with --no-keep-alive, sends nothing on its connection, so only the kernel's TCP
# keepalive can find out that the connection is dead: its probe gets an RST from the new
# server's machine, and the guardian then ends the command. Without keepalive on the
# client's socket the command would run on, unlocked, for as long as tcpnetlock_do stays
# stopped.
#
# Network namespaces joined by a veth pair with link-local addresses (no packet leaves
# them), made here and removed on exit: the holder's, the first server's, and the
# replacement's, to which the server's end of the link (and its address) moves, so the
# first server never gets to send anything more. Needs root; exit 77 (skipped) otherwise.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
if [[ $(id -u) != 0 ]]; then
  echo "SKIPPED: network namespaces need root (CI runs as root)"
  exit 77
fi
id="tnv$$"
server_ns="${id}s"
replacement_ns="${id}r"
holder_ns="${id}h"
work=$(mktemp -d)
pids=()
do_pid=

cleanup() {
  if [[ -n $do_pid ]]; then kill -CONT "$do_pid" 2>/dev/null || true; fi
  for pid in "${pids[@]}"; do { kill -9 "$pid" && wait "$pid"; } 2>/dev/null || true; done
  # The command, should it still run (it is a descendant of tcpnetlock_do, now init's).
  if [[ -s $work/command.pid ]]; then kill -9 "$(cat "$work/command.pid")" 2>/dev/null || true; fi
  ip netns del "$server_ns" 2>/dev/null || true
  ip netns del "$replacement_ns" 2>/dev/null || true
  ip netns del "$holder_ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/*.log; do [[ -f $log ]] && sed "s|^|  $(basename "$log"): |" "$log" >&2; done
  exit 1
}

# wait_for FILE TEXT SECONDS: until FILE contains TEXT.
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}

ip netns add "$server_ns" || { echo "SKIPPED: cannot make network namespaces here"; exit 77; }
ip netns add "$holder_ns"
ip netns add "$replacement_ns"
ip -n "$replacement_ns" link set lo up
ip link add "${id}a" netns "$server_ns" type veth peer name "${id}b" netns "$holder_ns"
ip -n "$server_ns" addr add 169.254.78.1/30 dev "${id}a"
ip -n "$holder_ns" addr add 169.254.78.2/30 dev "${id}b"
for ns in "$server_ns" "$holder_ns"; do ip -n "$ns" link set lo up; done
ip -n "$server_ns" link set "${id}a" up
ip -n "$holder_ns" link set "${id}b" up

# start_server N NAMESPACE: the N-th server, on the fixed port 7654 of NAMESPACE.
start_server() {
  rm -f "$work/port"
  ip netns exec "$2" "$TNL_BIN_DIR/tcpnetlock_server" --listen 0.0.0.0 --port 7654 --port-file "$work/port" \
    --http off --info 2>"$work/server$1.log" &
  server_pid=$!
  pids+=("$server_pid")
  wait_for "$work/port" 7654 10 || fail "server $1 did not start"
}

start_server 1 "$server_ns"
ticks=$work/ticks
ip netns exec "$holder_ns" "$TNL_BIN_DIR/tcpnetlock_do" --host 169.254.78.1 --port 7654 --lock-name vanished \
  --no-keep-alive --kill-grace 0.5 -- sh -c "echo \$\$ > '$work/command.pid'; while :; do echo tick >> '$ticks'; sleep 0.05; done" \
  2>"$work/do.log" &
do_pid=$!
pids+=("$do_pid")
wait_for "$ticks" tick 10 || fail "the command did not start"
kill -STOP "$do_pid"

# The server's machine vanishes (its end of the link, and its address, move to a fresh
# namespace: the first server can send nothing more, not even its FIN), and a new server
# comes up at the same address, knowing nothing of the old connection.
ip -n "$server_ns" link set "${id}a" netns "$replacement_ns"
ip -n "$replacement_ns" addr add 169.254.78.1/30 dev "${id}a"
ip -n "$replacement_ns" link set "${id}a" up
start_server 2 "$replacement_ns"
answer=$(ip netns exec "$replacement_ns" bash -c 'exec 3<>/dev/tcp/127.0.0.1/7654; echo "lock,name:vanished" >&3;
  read -r -t 5 answer <&3; echo "$answer"')
[[ $answer == ok ]] || fail "the new server did not grant the lock: '$answer'"
granted=$SECONDS

# Keepalive probes start 10 s after the last packet (the defaults the server uses too).
limit=40
ended=
while ((SECONDS - granted < limit)); do
  size=$(stat -c %s "$ticks")
  sleep 1
  if [[ $(stat -c %s "$ticks") == "$size" ]]; then
    ended=$((SECONDS - granted))
    break
  fi
done
[[ -n $ended ]] || fail "the command still runs ${limit} s after another client was granted the lock"
kill -CONT "$do_pid"
status=0
wait "$do_pid" || status=$?
do_pid=
[[ $status == 122 ]] || fail "tcpnetlock_do exited $status, not 122 (lock lost)"
echo "the command ended about ${ended} s after the new server granted the lock elsewhere"
