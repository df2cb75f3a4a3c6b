#!/usr/bin/env bash
# Randomized kill test with gRPC holders (bounded: 30 s of kills): LockExtensions.Acquire
# streams, LockExtensions.CreateLock detached locks with a lease, and raw line clients
# contend on three names while random SIGKILLs and short SIGSTOPs hit them; gRPC deadlines
# race the grants. No two critical sections of one name may overlap, and fencing tokens
# only rise (tests/scripts/lib/random_kills_grpc.py).
#
# By hand, longer or with another seed:
#   python3 tests/scripts/lib/random_kills_grpc.py build/release/bin 300 --seed 7
set -euo pipefail
: "${TNL_BIN_DIR:?set by ctest}"
command -v python3 >/dev/null || { echo "SKIPPED: no python3"; exit 77; }
if ! /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null || ! command -v protoc >/dev/null; then
  echo "SKIPPED: needs python3-grpcio, python3-protobuf and protobuf-compiler"
  exit 77
fi
exec python3 "$(dirname "${BASH_SOURCE[0]}")/lib/random_kills_grpc.py" "$TNL_BIN_DIR" "${TNL_RANDOM_KILLS_SECONDS:-30}"
