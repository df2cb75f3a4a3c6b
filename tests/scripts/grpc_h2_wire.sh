#!/usr/bin/env bash
# The gRPC port's HTTP/2 (server/grpc/grpc_h2_*.cpp, on libnghttp2) against hand-made
# frames that no gRPC library sends (tests/scripts/lib/grpc_h2_raw.py, built on the
# hyperframe and hpack modules of Debian's python3-h2): garbage instead of the preface,
# unknown methods, non-gRPC requests, oversized, compressed and malformed messages, header
# blocks past the limit, grants whose answer is never read, more streams than allowed,
# floods of PINGs, a peer that never answers PINGs, a waiter past its deadline. Each case
# asserts the exact answer (grpc-status, :status, RST_STREAM, GOAWAY, close), and after
# each the server still answers a normal call and the line protocol still grants a lock.
#
# Loopback only; the server is on ephemeral ports and killed on exit. Every wait is bounded.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib/python.bash"
python=$(python_with "h2, hpack, hyperframe")
if [[ -z $python ]]; then
  echo "SKIPPED: needs python3-h2"
  exit 77
fi
source "$here/lib/http_server.bash"
silent_pid=
trap 'if [[ -n $silent_pid ]]; then kill "$silent_pid" 2>/dev/null || true; fi; cleanup' EXIT

# --info: the server logs why it closed each gRPC connection (checked in case 10).
start_grpc_server --info
grpc_port=${GRPC_TARGET##*:}
echo "gRPC at $GRPC_TARGET, lock port $PORT, server pid $server_pid"

# raw CASE [ARG...]: one case of the raw HTTP/2 client; fails the test when it does.
raw() {
  "$python" "$here/lib/grpc_h2_raw.py" "$grpc_port" "$@" || fail "case '$1' (server pid $server_pid)"
}

# alive: the server runs, answers a normal gRPC call on a new connection, and grants a lock
# on the line protocol (a new name each time; freed when the connection closes).
checks=0
alive() {
  kill -0 "$server_pid" 2>/dev/null || fail "the server is gone"
  raw normal
  checks=$((checks + 1))
  local answer
  answer=$(line "lock,name:h2-alive-$checks")
  [[ $answer == ok ]] || fail "line protocol: lock,name:h2-alive-$checks answered '$answer'"
  echo "   ok: line protocol: lock,name:h2-alive-$checks = ok"
}

# lock_free_within NAME SECONDS: whether `lock,name:NAME` gets ok within SECONDS (tried
# every 20 ms on a fresh connection, released when it closes).
lock_free_within() {
  local deadline=$((SECONDS + $2))
  while :; do
    [[ $(line "lock,name:$1") == ok ]] && return 0
    [[ $SECONDS -lt $deadline ]] || return 1
    sleep 0.02
  done
}

step "start: the server answers"
alive

# Case 11 takes 15 s: it runs next to the others, on its own connection.
step "11. a client that never answers PINGs (in the background, checked at the end)"
"$python" "$here/lib/grpc_h2_raw.py" "$grpc_port" silent >"$work/silent.out" 2>&1 &
silent_pid=$!

step "1. garbage instead of the HTTP/2 preface: closed by the server"
raw garbage
alive

step "2. an unknown method: Trailers-Only, grpc-status 12 (UNIMPLEMENTED)"
raw unknown-method
alive

step "3. :method GET: :status 405; content-type text/plain: :status 415"
raw http-errors
alive

step "4. a message announcing 4 GiB, and one of 8193 bytes: grpc-status 8 (RESOURCE_EXHAUSTED)"
raw too-large
alive

step "5. the compressed flag: grpc-status 12 (UNIMPLEMENTED)"
raw compressed
alive

step "6. two messages, none, a cut message, not a protobuf: grpc-status 13 (INTERNAL)"
raw framing
alive

step "7. a header block past 8 KiB: the stream reset, the connection goes on"
raw huge-headers
alive

# 8. A CreateLock granted while its client gives up before reading the answer.
# - RST_STREAM(CANCEL) right behind the request (one segment): the server reads the cancel
#   before it writes the answer, so the grant is given back: the lock must be free.
# - The socket closed (FIN) right behind the request: observed every time, the lock stays
#   held and ListLocks lists it (a detached lock, held until UnLock). The server reads the
#   request before the EOF, grants, answers, and the write of the answer into the kernel's
#   socket buffer succeeds before the read that sees the EOF runs: for the server the
#   answer was delivered (GrpcH2Connection::on_written -> deliver_written -> over(true)),
#   and TCP cannot tell it that the peer's application never read it.
# - The socket aborted (SO_LINGER 0: a TCP RST) right behind the request: a race; when the
#   RST is in before the server writes, the write fails ("Connection reset by peer") and
#   the grant is given back; otherwise as with FIN. Both seen.
# So for close and abort either outcome is accepted (released, or visible in ListLocks);
# held and not listed, a lock nobody can see, fails.
step "8. a granted CreateLock whose client cancels (RST_STREAM) or closes before reading"
for mode in rst close abort; do
  service=h2-cancelled-$mode
  raw cancel-grant "$mode" "$service"
  if lock_free_within "$service" 3; then
    echo "   ok: $mode: the grant was given back: lock,name:$service = ok"
  else
    [[ $mode != rst ]] || fail "$mode: the grant whose answer was cancelled is still held after 3 s"
    listed=$(raw list-has "$service")
    [[ $listed == yes ]] || fail "$mode: $service held after 3 s, and not listed by ListLocks"
    echo "   ok: $mode: the lock stays held (the answer reached the socket) and ListLocks lists it"
  fi
  alive
done

step "9. 101 streams on one connection (SETTINGS_MAX_CONCURRENT_STREAMS 100): the excess refused"
raw streams
alive

# 10. nghttp2 counts the PING ACKs it has queued and not sent (1000 at most): the server
# pulls them as fast as they come while the client's socket takes them, so a flood that
# the kernel's buffers absorb is simply answered (20,000 PINGs: all answered, the
# connection fine). Once the client's window and the server's socket buffer are full, the
# server stops reading (at 64 KiB of output waiting); when the client reads again the
# ACKs queued pass the limit and nghttp2 ends the session. 400,000 PINGs (6.8 MB) get there.
step "10. PING floods without reading the ACKs: bounded memory; the big one closed"
raw ping-flood "$server_pid" 20000 51200 any
raw ping-flood "$server_pid" 400000 51200 closed
grep -q "closed: Flooding was detected" "$work/server.log" || fail "the server did not log nghttp2's flood detection"
echo "   ok: the server logged: $(grep -m1 -o "closed: Flooding was detected.*" "$work/server.log")"
alive

# 12. LockExtensions.CreateLock waiting (`wait` 10 s) on a name held by a line-protocol
# connection.
step "12. a waiting CreateLock: grpc-timeout 500m gives grpc-status 4, and the waiter is gone"
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'lock,name:h2-waited\n' >&3
read -r -t 5 answer <&3 || answer=
[[ $answer == ok ]] || fail "the line-protocol holder got '$answer'"
echo "   ok: held on the line protocol"
raw wait-deadline h2-waited "$PORT"
raw wait-cancel h2-waited rst "$PORT"
raw wait-cancel h2-waited close "$PORT"
exec 3>&-  # the holder goes: no cancelled waiter may take the lock
lock_free_within h2-waited 2 || fail "after the holder left, h2-waited is not free: a waiter took it"
echo "   ok: the holder left: lock,name:h2-waited = ok (no cancelled waiter took it)"
alive

step "11. (result) the client that never answered the server's PING"
deadline=$((SECONDS + 35))
while kill -0 "$silent_pid" 2>/dev/null; do
  [[ $SECONDS -lt $deadline ]] || fail "case 11 still runs after 35 s: $(cat "$work/silent.out")"
  sleep 0.1
done
status=0
wait "$silent_pid" || status=$?
silent_pid=
cat "$work/silent.out"
[[ $status -eq 0 ]] || fail "case 11 (exit status $status)"
alive

echo "PASS"
