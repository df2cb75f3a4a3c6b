#!/usr/bin/env bash
# A holder whose machine vanishes on the same link is given up on by keepalive, and the
# kernel reports the end as "No route to host" (EHOSTUNREACH: the neighbour's address no
# longer resolves, so the probes come back as ICMP host unreachable), not as a timeout.
# That is still a release without the holder's consent: --lock-delay must follow it.
#
# Two network namespaces made here and removed on exit, joined by a veth pair with
# link-local addresses: no packet leaves them. The server runs in one, the holder in the
# other; the holder's side of the link is taken down and the server's neighbour entry for
# it flushed, so the next probe needs an ARP answer that never comes.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
server_bin="$TNL_BIN_DIR/tcpnetlock_server"
source "$(dirname "${BASH_SOURCE[0]}")/lib/veth_pair.bash"
veth_pair tnu 169.254.78

name=vanished
delay=4
# Keepalive: first probe after 1 s idle, then every 1 s, 8 probes: about 9 s; ARP gives up
# after 3 probes of 1 s, well before.
ip netns exec "$server_ns" "$server_bin" --listen 0.0.0.0 --port 0 --port-file "$work/port" --info \
  --tcp-keepalive 1,1,8 --lock-delay "$delay" --start-grace 0 2>"$work/server.log" &
pids+=("$!")
wait_for "$work/port" . 10 || fail "server did not start"
port=$(cat "$work/port")

ip netns exec "$holder_ns" bash -c "exec 3<>/dev/tcp/169.254.78.1/$port; echo 'lock,name:$name' >&3;
  read -r answer <&3; echo \"\$answer\"; until [ -e '$work/go' ]; do sleep 0.05; done;
  echo .keepalive >&3; echo .keepalive >&3; ip link set '${id}b' down; echo vanished; sleep 600" >"$work/holder.out" 2>&1 &
pids+=("$!")
wait_for "$work/holder.out" ok 10 || fail "holder was not granted"

ip netns exec "$server_ns" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; echo 'lock,name:$name,wait:120' >&3;
  read -r answer <&3; echo \"\$answer\"; date +%s.%N" >"$work/waiter.out" &
pids+=("$!")
wait_for "$work/server.log" "waits for lock '$name'" 10 || fail "waiter did not queue"

# The holder's machine vanishes just after asking for two keepalives: the server's link
# lets about 100 bytes a second through, so the second answer is still on its way when
# the holder's link goes down; it is never acknowledged, and its retransmissions find no
# neighbour (an ICMP host unreachable for data in flight, which Linux then reports).
tc -n "$server_ns" qdisc add dev "${id}a" root tbf rate 800bit burst 100 latency 30s
touch "$work/go"
wait_for "$work/holder.out" vanished 10 || fail "holder did not vanish"
wait_for "$work/server.log" "lock '$name'.*\(lost\|freed\)" 40 || fail "the holder was never given up on"
given_up=$(date +%s.%N)
wait_for "$work/waiter.out" ok 40 || fail "waiter never granted"
granted=$(sed -n 2p "$work/waiter.out")
grep "lock '$name'.*\(lost\|freed\)" "$work/server.log" | sed 's/^/  server: /'
waited=$(awk -v a="$given_up" -v b="$granted" 'BEGIN { printf "%.2f", b - a }')
echo "the waiter was granted ${waited}s after the holder was given up on (lock-delay ${delay}s)"
grep -q "lock '$name' lost by .*peer unreachable" "$work/server.log" ||
  fail "the vanished holder's end was taken for a close it consented to"
grep -q "lock '$name' granted to nobody for" "$work/server.log" || fail "no lock-delay after the holder vanished"
awk -v w="$waited" -v d="$delay" 'BEGIN { exit !(w >= d - 0.5) }' ||
  fail "the waiter got the lock ${waited}s after the holder vanished, before the ${delay}s lock-delay"
