#!/usr/bin/env bash
# Clients that ask for large gRPC answers and never read them (a zero HTTP/2 window) cannot
# make the server hold answers without end: past a budget, new calls get RESOURCE_EXHAUSTED,
# and once those clients are gone, calls are served again (tests/scripts/lib/grpc_slow_readers.py).
#
# Loopback only; the server is on ephemeral ports and killed on exit.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/lib/python.bash"
python=$(python_with "grpc, google.protobuf")
if [[ -z $python ]] || ! command -v protoc >/dev/null || ! command -v grpc_python_plugin >/dev/null; then
  echo "SKIPPED: needs python3-grpcio, python3-protobuf, protobuf-compiler and protobuf-compiler-grpc"
  exit 77
fi
source "$here/lib/http_server.bash"

proto=$here/../../proto
mkdir -p "$work/stubs"
protoc -I"$proto" --python_out="$work/stubs" --grpc_out="$work/stubs" \
  --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" "$proto/tracker/lock/v1alpha1/lock.proto"

start_grpc_server

step "slow clients that never read their answers"
"$python" "$here/lib/grpc_slow_readers.py" "$work/stubs" "$GRPC_TARGET" || fail "see above"
kill -0 "$server_pid" || fail "the server died"
echo "PASSED"
