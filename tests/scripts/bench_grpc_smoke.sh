#!/usr/bin/env bash
# Smoke test of bench_grpc (issue 14's benchmark): one tiny run (--smoke: 1 and 4 clients,
# 0.1 s, once) against one server must give a row with figures for every transport (gRPC,
# HTTP, the line protocol's detached lock and its connection cycle) and the gRPC/HTTP
# server-CPU line per client count. No timing is checked: real runs are by hand
# (docs/BENCHMARKS.md, "gRPC next to HTTP and the line protocol").
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
for binary in bench_grpc tcpnetlock_server; do
  [[ -x $TNL_BIN_DIR/$binary ]] || { echo "FAIL: $TNL_BIN_DIR/$binary is not built" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  sed 's/^/  stdout: /' "$work/out" >&2
  sed 's/^/  stderr: /' "$work/err" >&2
  exit 1
}

status=0
timeout 120 "$TNL_BIN_DIR/bench_grpc" --server "$TNL_BIN_DIR/tcpnetlock_server" --smoke \
  >"$work/out" 2>"$work/err" || status=$?
((status == 0)) || fail "bench_grpc exited with status $status"
! grep -q FAILED "$work/out" || fail "a measurement failed"

# "grpc           1       4516     136.6    3754.4         140.4         63           76.7          35        30.9"
number='[0-9]+(\.[0-9]+)?'
for transport in grpc http line-ttl line-cycle; do
  for clients in 1 4; do
    grep -Eq "^$transport +$clients( +$number){8}\$" "$work/out" || fail "no row for $transport at $clients clients"
    # Some pairs were made, and the server's CPU was read.
    grep -Eq "^$transport +$clients +[1-9][0-9]* " "$work/out" || fail "no pair completed over $transport at $clients clients"
  done
done
for clients in 1 4; do
  grep -Eq "^c=$clients: server CPU per pair gRPC $number us, HTTP $number us" "$work/out" ||
    fail "no gRPC/HTTP comparison at $clients clients"
done
echo "bench_grpc --smoke: every transport ran at 1 and 4 clients against one server"
