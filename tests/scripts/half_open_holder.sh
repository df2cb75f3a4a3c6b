#!/usr/bin/env bash
# A holder whose link is cut (no FIN, no RST: a real half-open connection) loses its
# lock within the keepalive schedule, and the next waiter gets it.
#
# Two network namespaces made here and removed on exit, joined by a veth pair with
# link-local addresses: no packet leaves them. The server runs in one, the holder in the
# other; the holder's side of the link is then taken down, so the server's keepalive
# probes go unanswered. When the link comes back, the old holder's next request is reset:
# it cannot go on believing it holds the lock.
#
# Runs twice: with a fast schedule (1,1,2: about 3 s), and with the defaults, which the
# docs promise free a vanished holder's lock within 30 s.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
server_bin="$TNL_BIN_DIR/tcpnetlock_server"
source "$(dirname "${BASH_SOURCE[0]}")/lib/veth_pair.bash"
veth_pair tnl 169.254.77

run_case() {
  local keepalive=$1 limit=$2 name=$3
  rm -f "$work/port" "$work/holder.out" "$work/waiter.out"
  ip -n "$holder_ns" link set "${id}b" up
  ip netns exec "$server_ns" "$server_bin" --listen 0.0.0.0 --port 0 --port-file "$work/port" --info \
    ${keepalive:+--tcp-keepalive "$keepalive"} 2>"$work/server.log" &
  local server_pid=$!
  pids+=("$server_pid")
  wait_for "$work/port" . 10 || fail "server did not start"
  local port
  port=$(cat "$work/port")

  # The holder: a plain TCP client in the other namespace that takes the lock and idles
  # until told to prove it is alive (once its link is back, after it was given up on).
  rm -f "$work/wake"
  ip netns exec "$holder_ns" bash -c "exec 3<>/dev/tcp/169.254.77.1/$port; echo 'lock,name:$name' >&3;
    read -r answer <&3; echo \"\$answer\"; until [ -e '$work/wake' ]; do sleep 0.05; done;
    echo .keepalive >&3; if read -r -t 10 next <&3; then echo \"then: \$next\"; else echo 'then: no answer'; fi;
    sleep 600" >"$work/holder.out" 2>&1 &
  pids+=("$!")
  wait_for "$work/holder.out" ok 10 || fail "holder was not granted"

  # The waiter, next to the server, queues for the same lock.
  ip netns exec "$server_ns" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; echo 'lock,name:$name,wait:120' >&3;
    read -r answer <&3; echo \"\$answer\"" >"$work/waiter.out" &
  pids+=("$!")
  wait_for "$work/server.log" "waits for lock '$name'" 10 || fail "waiter did not queue"

  # Cut the holder's link: from now on its packets, and the server's to it, vanish.
  local cut=$SECONDS
  ip -n "$holder_ns" link set "${id}b" down
  wait_for "$work/waiter.out" ok "$limit" || fail "waiter not granted within ${limit}s of the cut ($keepalive)"
  local took=$((SECONDS - cut))
  grep -q "lock '$name' lost by .*peer unreachable" "$work/server.log" || fail "the log does not say the lock was lost"
  echo "keepalive '${keepalive:-default}': next waiter granted ${took}s after the link was cut (limit ${limit}s)"

  # The link comes back: the old holder must not go on believing it holds the lock. Its
  # next request meets a connection the server no longer has.
  ip -n "$holder_ns" link set "${id}b" up
  touch "$work/wake"
  wait_for "$work/holder.out" "then:" 15 || fail "the old holder's keepalive got no reaction"
  if grep -q "then: alive" "$work/holder.out"; then fail "the old holder was still answered as a holder"; fi
  echo "  the old holder's next keepalive: $(grep -o 'Connection reset by peer' "$work/holder.out" || grep 'then:' "$work/holder.out")"

  kill -TERM "$server_pid"
  wait "$server_pid" || fail "server did not exit 0"
}

run_case 1,1,2 10 fast
run_case "" 30 defaults
