#!/usr/bin/env bash
# A TLS client with Nagle's algorithm on (no TCP_NODELAY: Python's ssl, Java, openssl
# s_client) gets its first answer without a delayed-ACK stall. TLS 1.3 without session
# tickets leaves the server nothing to send after the client's Finished; its ACK then
# waited the delayed-ACK time (at least 40 ms on Linux), and Nagle held the client's first
# request back until it came: every TLS lock took 40 ms more than a plain one. The median
# of 7 first round trips must stay under 30 ms (sub-millisecond on loopback; the stall
# cannot be shorter than 40 ms).
#
# Loopback only; the server on ephemeral ports. About 2 s.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/python.bash"
python=$(python_with ssl)
if [[ -z $python ]] || ! command -v openssl >/dev/null 2>&1; then
  echo "SKIPPED: needs python3 with ssl and openssl"
  exit 77
fi
source "$(dirname "${BASH_SOURCE[0]}")/lib/http_server.bash"
source "$(dirname "${BASH_SOURCE[0]}")/lib/tls_certs.bash"
make_test_certs "$work/certs" || fail "making the test certificates"
start_http_server --tls-cert "$work/certs/server.pem" --tls-key "$work/certs/server.key" --tls-port 0 \
  --tls-port-file "$work/tls-port"

median_ms=$("$python" - "$work/certs/ca.pem" "$(cat "$work/tls-port")" <<'PY'
import socket, ssl, statistics, sys, time
context = ssl.create_default_context(cafile=sys.argv[1])
times = []
for _ in range(7):
    raw = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)  # Nagle on, as many clients have it
    with context.wrap_socket(raw, server_hostname="localhost") as conn:
        start = time.monotonic()
        conn.sendall(b".ping\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = conn.recv(100)
            if not chunk:
                sys.exit("connection closed before the answer")
            answer += chunk
        times.append(time.monotonic() - start)
        if answer != b"pong\n":
            sys.exit("answered %r" % answer)
print(round(statistics.median(times) * 1000, 2))
PY
) || fail "the TLS client failed"
echo "== first request over TLS, client with Nagle on: median ${median_ms} ms"
awk -v ms="$median_ms" 'BEGIN { exit !(ms < 30) }' || fail "median ${median_ms} ms: a delayed-ACK stall"
