#!/usr/bin/env bash
# tcpnetlock_do over TLS must not start its command when `lost,...` came right behind the
# `ok` (docs/PROTOCOL.md: a holder is sent nothing unasked but `lost,` or `shutting-down`).
# A fake TLS server sends both records in one TCP segment and keeps the connection open:
# the TLS stream reads both from the socket at once, so the `lost,` record waits in its
# buffers, where poll() on the descriptor cannot see it (the command ran, unlocked, until
# the watch read the line). The same for `shutting-down`.
#
# Loopback only; the fake server runs on an ephemeral port. About 2 s.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/python.bash"
source "$(dirname "${BASH_SOURCE[0]}")/lib/tls_certs.bash"
python=$(python_with ssl)
if [[ -z $python ]] || ! command -v openssl >/dev/null 2>&1; then
  echo "SKIPPED: needs python3 with ssl and openssl"
  exit 77
fi

work=$(mktemp -d)
fake_pid=
cleanup() {
  [[ -n $fake_pid ]] && kill "$fake_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
make_test_certs "$work/certs" || fail "making the test certificates"

# The fake server: answers one lock request with `ok` and AFTER in one segment, then waits.
cat >"$work/fake.py" <<'PY'
import socket, ssl, sys, time
certs, after, port_file = sys.argv[1], sys.argv[2], sys.argv[3]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(certs + "/server.pem", certs + "/server.key")
listener = socket.create_server(("127.0.0.1", 0))
with open(port_file + ".tmp", "w") as f:
    f.write(str(listener.getsockname()[1]))
import os
os.rename(port_file + ".tmp", port_file)
raw, _ = listener.accept()
conn = context.wrap_socket(raw, server_side=True)
request = b""
while not request.endswith(b"\n"):
    request += conn.recv(100)
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)  # both records in one segment
conn.sendall(b"ok\n")
conn.sendall(after.encode() + b"\n")
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
time.sleep(20)  # the connection stays open: only the line says the lock is gone
PY

for after in "lost,holder timeout" "shutting-down"; do
  echo "== '$after' right behind 'ok' over TLS"
  rm -f "$work/port" "$work/ran"
  "$python" "$work/fake.py" "$work/certs" "$after" "$work/port" &
  fake_pid=$!
  for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.05; done
  [[ -s $work/port ]] || fail "the fake server did not start"
  status=0
  timeout 15 "$TNL_BIN_DIR/tcpnetlock_do" --host localhost --port "$(cat "$work/port")" --tls-ca "$work/certs/ca.pem" \
    --lock-name x -- touch "$work/ran" 2>"$work/do.err" || status=$?
  kill "$fake_pid" 2>/dev/null || true
  wait "$fake_pid" 2>/dev/null || true
  fake_pid=
  [[ ! -e $work/ran ]] || fail "the command ran although the lock was gone ('$after'); tcpnetlock_do said: $(cat "$work/do.err")"
  [[ $status == 122 ]] || fail "tcpnetlock_do exited $status, not 122: $(cat "$work/do.err")"
  grep -q "before the command started" "$work/do.err" || fail "tcpnetlock_do said: $(cat "$work/do.err")"
  echo "   not started, exit 122: $(tail -n1 "$work/do.err")"
done
