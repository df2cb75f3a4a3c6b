#!/usr/bin/env bash
# A gRPC client with no .proto of ours (tests/scripts/lib/grpc_reflection_client.py, built
# on Python's grpcio and protobuf) finds Tracker's LockService through server reflection,
# checks its messages' field names and numbers, and runs Tracker's documented grpcurl lines
# (shared/OTHER-SYSTEMS.md) translated field for field: CreateLock, a second CreateLock on
# the same service, GetLock, ListLocks, UnLock.
#
# Loopback only; the server is on ephemeral ports and killed on exit.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib/python.bash"
reflection_proto=/usr/share/gocode/src/google.golang.org/grpc/reflection/grpc_reflection_v1alpha/reflection.proto
python=$(python_with "grpc, google.protobuf")
if [[ -z $python ]] || ! command -v protoc >/dev/null || ! command -v jq >/dev/null || [[ ! -f $reflection_proto ]]; then
  echo "SKIPPED: needs python3-grpcio, python3-protobuf, protobuf-compiler, jq and golang-google-grpc-dev"
  exit 77
fi
source "$here/lib/http_server.bash"
expect() {
  if [[ $2 != "$3" ]]; then fail "$1: expected '$3', got '$2'"; fi
  echo "   ok: $1 = $2"
}
uuid_re='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
rfc3339_re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$'

# Only the reflection service's own messages are generated, here, now.
mkdir -p "$work/reflection"
protoc -I"$(dirname "$reflection_proto")" --python_out="$work/reflection" "$reflection_proto"

start_grpc_server
echo "gRPC at $GRPC_TARGET"
client() { "$python" "$here/lib/grpc_reflection_client.py" "$work/reflection" "$GRPC_TARGET" "$@"; }
# grpcurl --plaintext -d JSON HOST tracker.lock.v1alpha1.LockService/METHOD
grpcurl() { client call "tracker.lock.v1alpha1.LockService/$2" "$1"; }

step "the service is listed"
services=$(client list)
echo "   $services"
expect "LockService listed" "$(jq 'index("tracker.lock.v1alpha1.LockService") != null' <<<"$services")" true
expect "LockExtensions listed" "$(jq 'index("tcpnetlock.v1.LockExtensions") != null' <<<"$services")" true
expect "reflection listed" "$(jq 'index("grpc.reflection.v1alpha.ServerReflection") != null' <<<"$services")" true

step "its methods and messages, as Tracker's .proto has them"
methods=$(client describe tracker.lock.v1alpha1.LockService)
expect "methods" "$(jq -c 'keys' <<<"$methods")" '["CreateLock","GetLock","ListLocks","UnLock","UpdateLock"]'
expect "CreateLockRequest" "$(jq -c '.CreateLock.input_fields' <<<"$methods")" \
  '{"service":2,"who":3,"environment":4,"resource":5,"event_id":6}'
expect "GetLockRequest" "$(jq -c '.GetLock.input_fields' <<<"$methods")" '{"id":1}'
expect "UnLockRequest" "$(jq -c '.UnLock.input_fields' <<<"$methods")" '{"id":1}'
expect "UnLockResponse" "$(jq -c '.UnLock.output_fields' <<<"$methods")" '{"message":1,"id":2,"count":10}'
expect "ListLocksRequest" "$(jq -c '.ListLocks.input_fields' <<<"$methods")" '{"per_page":1,"page":2}'
expect "ListLocksResponse" "$(jq -c '.ListLocks.output_fields' <<<"$methods")" '{"locks":1,"total_count":2}'
expect "Lock" "$(client fields tracker.lock.v1alpha1.Lock tracker.lock.v1alpha1.LockService | jq -c .)" \
  '{"id":1,"service":2,"who":3,"created_at":4,"environment":5,"resource":6,"event_id":7}'

step "CreateLock: grpcurl -d '{\"service\":\"production-deployment\",\"who\":\"ci-pipeline-123\"}'"
created=$(grpcurl '{"service":"production-deployment","who":"ci-pipeline-123"}' CreateLock)
echo "   $created"
expect "code" "$(jq -r .code <<<"$created")" OK
LOCK_ID=$(jq -r .answer.lock.id <<<"$created")
[[ $LOCK_ID =~ $uuid_re ]] || fail "lock.id is not a UUID: '$LOCK_ID'"
expect "lock.service" "$(jq -r .answer.lock.service <<<"$created")" production-deployment
expect "lock.who" "$(jq -r .answer.lock.who <<<"$created")" ci-pipeline-123
created_at=$(jq -r .answer.lock.createdAt <<<"$created")
[[ $created_at =~ $rfc3339_re ]] || fail "lock.createdAt is not RFC 3339: '$created_at'"
expect "fields of the record" "$(jq -c '.answer.lock | keys' <<<"$created")" '["createdAt","id","service","who"]'

step "the same service again: already exists, and who holds it"
again=$(grpcurl '{"service":"production-deployment","who":"ci-pipeline-124"}' CreateLock)
echo "   $again"
expect "code" "$(jq -r .code <<<"$again")" ALREADY_EXISTS
details=$(jq -r .details <<<"$again")
[[ $details == *"$LOCK_ID"* && $details == *ci-pipeline-123* ]] || fail "the holder is not in '$details'"

step "GetLock: grpcurl -d '{\"id\": \"$LOCK_ID\"}'"
got=$(grpcurl "{\"id\": \"$LOCK_ID\"}" GetLock)
echo "   $got"
expect "code" "$(jq -r .code <<<"$got")" OK
# createdAt to the millisecond, as HTTP's; a hold's wall time is derived at each read, so
# it may differ by one at a millisecond's edge.
expect "the same record" "$(jq -c '.answer.lock | del(.createdAt)' <<<"$got")" "$(jq -c '.answer.lock | del(.createdAt)' <<<"$created")"
[[ $(jq -r .answer.lock.createdAt <<<"$got") =~ $rfc3339_re ]] || fail "GetLock's createdAt is not RFC 3339"

step "ListLocks: grpcurl -d '{}' and with per_page/page"
listed=$(grpcurl '{}' ListLocks)
echo "   $listed"
expect "totalCount" "$(jq -r .answer.totalCount <<<"$listed")" 1
expect "locks[0]" "$(jq -c '.answer.locks[0] | del(.createdAt)' <<<"$listed")" "$(jq -c '.answer.lock | del(.createdAt)' <<<"$created")"
paged=$(grpcurl '{"per_page": 10, "page": 1}' ListLocks)
expect "paged totalCount" "$(jq -r .answer.totalCount <<<"$paged")" 1
expect "paged locks" "$(jq -r '.answer.locks | length' <<<"$paged")" 1
beyond=$(grpcurl '{"perPage": 10, "page": 2}' ListLocks)
expect "page 2 locks" "$(jq -r '.answer.locks // [] | length' <<<"$beyond")" 0

step "UnLock: grpcurl -d '{\"id\": \"$LOCK_ID\"}'"
released=$(grpcurl "{\"id\": \"$LOCK_ID\"}" UnLock)
echo "   $released"
expect "code" "$(jq -r .code <<<"$released")" OK
expect "message" "$(jq -r .answer.message <<<"$released")" "Lock released successfully"
expect "id" "$(jq -r .answer.id <<<"$released")" "$LOCK_ID"

step "gone: GetLock and UnLock say NOT_FOUND, and the next pipeline gets the lock"
expect "GetLock" "$(grpcurl "{\"id\": \"$LOCK_ID\"}" GetLock | jq -r .code)" NOT_FOUND
expect "UnLock" "$(grpcurl "{\"id\": \"$LOCK_ID\"}" UnLock | jq -r .code)" NOT_FOUND
expect "CreateLock" "$(grpcurl '{"service":"production-deployment","who":"ci-pipeline-124"}' CreateLock | jq -r .code)" OK
expect "bad input" "$(grpcurl '{"service":"production deployment","who":"x"}' CreateLock | jq -r .code)" INVALID_ARGUMENT

echo "PASS"
