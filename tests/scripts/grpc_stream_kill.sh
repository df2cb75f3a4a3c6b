#!/usr/bin/env bash
# A lock held by a gRPC stream (tcpnetlock.v1.LockExtensions/Acquire) is freed at once when
# its holder is killed with kill -9: the kernel closes its connection, gRPC cancels the
# stream, and the next `lock,name:` gets `ok` within a second. The holder is another
# process (Python, reflection only: tests/scripts/lib/grpc_reflection_client.py hold).
#
# Loopback only; the server is on ephemeral ports and killed on exit.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib/python.bash"
reflection_proto=/usr/share/gocode/src/google.golang.org/grpc/reflection/grpc_reflection_v1alpha/reflection.proto
python=$(python_with "grpc, google.protobuf")
if [[ -z $python ]] || ! command -v protoc >/dev/null || [[ ! -f $reflection_proto ]]; then
  echo "SKIPPED: needs python3-grpcio, python3-protobuf, protobuf-compiler and golang-google-grpc-dev"
  exit 77
fi
source "$here/lib/http_server.bash"
holder_pid=
trap 'if [[ -n $holder_pid ]]; then kill -9 "$holder_pid" 2>/dev/null || true; fi; cleanup' EXIT

mkdir -p "$work/reflection"
protoc -I"$(dirname "$reflection_proto")" --python_out="$work/reflection" "$reflection_proto"
start_grpc_server

step "a gRPC stream takes the lock"
"$python" "$here/lib/grpc_reflection_client.py" "$work/reflection" "$GRPC_TARGET" hold \
  tcpnetlock.v1.LockExtensions/Acquire '{"service":"killed-holder","who":"python-holder"}' >"$work/events" 2>&1 &
holder_pid=$!
deadline=$((SECONDS + 15))
until grep -q '"granted"' "$work/events"; do
  kill -0 "$holder_pid" 2>/dev/null || fail "the holder ended: $(cat "$work/events")"
  [[ $SECONDS -lt $deadline ]] || fail "no grant within 15 s: $(cat "$work/events")"
  sleep 0.05
done
echo "   $(head -1 "$work/events")"
answer=$(line "lock,name:killed-holder")
[[ $answer == not-granted ]] || fail "held by the stream, yet lock answered '$answer'"
echo "   ok: lock,name:killed-holder = not-granted while the stream holds it"

step "kill -9 of the holder frees the lock at once"
kill -9 "$holder_pid"
wait "$holder_pid" 2>/dev/null || true
holder_pid=
started=$(date +%s%N)
exec 6<>"/dev/tcp/127.0.0.1/$PORT"  # the next holder keeps its connection (and the lock)
granted=
for _ in $(seq 100); do  # bounded: 100 tries, 10 ms apart
  printf 'lock,name:killed-holder\n' >&6
  read -r -t 5 answer <&6 || answer=
  if [[ $answer == ok ]]; then granted=1; break; fi
  exec 6>&-
  sleep 0.01
  exec 6<>"/dev/tcp/127.0.0.1/$PORT"
done
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
[[ -n $granted ]] || fail "the lock was not freed within a second of kill -9"
echo "   ok: granted to the next holder ${elapsed_ms} ms after kill -9"
(( elapsed_ms < 1000 )) || fail "freed after ${elapsed_ms} ms, not at once"
exec 6>&-
echo "PASS"
