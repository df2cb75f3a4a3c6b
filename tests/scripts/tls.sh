#!/usr/bin/env bash
# TLS on the lock port and on HTTP (docs/TLS.md), with certificates made here by the openssl
# CLI, and `openssl s_client -quiet` as the netcat of TLS:
#   plain and TLS listeners side by side with one lock space (a TLS holder excludes a plain
#   one), HTTPS, the server's certificate refused by a verifying client when it has expired,
#   comes from another CA or names another host, mutual TLS (no client certificate or one
#   from another CA refused, the server serving on; the certificate's CN in `.locks`), a
#   silent TLS client cut at the first-line timeout, garbage on the TLS port.
#
# Loopback only; servers on ephemeral ports, killed on exit. About 10 s.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
for tool in openssl curl timeout; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIPPED: $tool is not installed"
    exit 77
  fi
done

source "$(dirname "${BASH_SOURCE[0]}")/lib/http_server.bash"
source "$(dirname "${BASH_SOURCE[0]}")/lib/tls_certs.bash"

certs=$work/certs
make_test_certs "$certs" || fail "making the test certificates"

# start_tls_server CERT [ARG...]: the server with a TLS lock port ($TLS_PORT) and HTTPS.
start_tls_server() {
  local cert=$1
  shift
  start_http_server --tls-cert "$certs/$cert.pem" --tls-key "$certs/$cert.key" --tls-port 0 \
    --tls-port-file "$work/tls-port" --http-tls --info "$@"
  TLS_PORT=$(cat "$work/tls-port")
}

# tls_ask LINE [S_CLIENT ARG...]: sends LINE over TLS to $TLS_PORT as a verifying client
# (the test CA, host name localhost) and prints what came back; the server closes after
# answering a one-shot request. Fails (status) when the client refuses the server.
tls_ask() {
  local line=$1
  shift
  printf '%s\n' "$line" | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$TLS_PORT" -CAfile "$certs/ca.pem" \
    -verify_return_error -verify_hostname localhost "$@" 2>>"$work/s_client.log"
}

# Plain request on the plain port.
plain_ask() {
  exec 5<>"/dev/tcp/127.0.0.1/$PORT"
  printf '%s\n' "$1" >&5
  local answer
  read -r -t 10 answer <&5 || answer="(none)"
  exec 5>&-
  printf '%s\n' "$answer"
}

step "server with a TLS lock port and HTTPS"
start_tls_server server
echo "   plain $PORT, TLS $TLS_PORT, HTTPS $HTTP_PORT"

step "s_client: .ping over TLS"
answer=$(tls_ask .ping) || fail "s_client failed: $(tail -5 "$work/s_client.log")"
[[ $answer == pong ]] || fail ".ping over TLS answered '$answer'"

step "a TLS holder excludes a plain one (one lock space)"
coproc holder { exec timeout 30 openssl s_client -quiet -connect "127.0.0.1:$TLS_PORT" -CAfile "$certs/ca.pem" \
  -verify_return_error -verify_hostname localhost 2>>"$work/s_client.log"; }
holder_pid=$holder_PID  # bash unsets holder_PID once the coprocess has ended
printf 'lock,name:shared,client-id:tls-holder\n' >&"${holder[1]}"
read -r -t 10 answer <&"${holder[0]}" || fail "no answer to the TLS lock"
[[ $answer == ok ]] || fail "TLS lock answered '$answer'"
answer=$(plain_ask "lock,name:shared")
[[ $answer == not-granted ]] || fail "plain lock of a name held over TLS answered '$answer'"
answer=$(plain_ask ".locks,name:shared")
[[ $answer == *'"client_id":"tls-holder"'* ]] || fail ".locks does not show the TLS holder: $answer"
echo "   plain client: not-granted; .locks shows the TLS holder"
"$TNL_BIN_DIR/tcpnetlock_do" --host localhost --port "$TLS_PORT" --tls-ca "$certs/ca.pem" --lock-name shared \
  -- true 2>"$work/do.err" && fail "tcpnetlock_do over TLS got a lock held over TLS"
echo "   tcpnetlock_do over TLS: not granted either"
kill "$holder_pid" 2>/dev/null || true
wait "$holder_pid" 2>/dev/null || true
deadline=$((SECONDS + 10))
until [[ $(plain_ask "lock,name:shared") == ok ]]; do
  [[ $SECONDS -lt $deadline ]] || fail "the lock was not free after the TLS holder went"
done
echo "   TLS holder gone: the plain client gets it"

step "tcpnetlock_do, tcpnetlock_client and tcpnetlock_admin over TLS"
# The command sees its own lock held, asked over the plain port.
"$TNL_BIN_DIR/tcpnetlock_do" --host localhost --port "$TLS_PORT" --tls-ca "$certs/ca.pem" --lock-name via-do \
  -- bash -c "exec 5<>/dev/tcp/127.0.0.1/$PORT; echo .locks,name:via-do >&5; read -r -t 10 line <&5; echo \"\$line\"" \
  >"$work/do.out" 2>"$work/do.err" || fail "tcpnetlock_do over TLS: $(cat "$work/do.err")"
grep -q '"holders":\[{' "$work/do.out" || fail "tcpnetlock_do's command did not see its lock held: $(cat "$work/do.out")"
"$TNL_BIN_DIR/tcpnetlock_do" --host 127.0.0.1 --port "$TLS_PORT" --tls-ca "$certs/ca.pem" --lock-name via-do-ip \
  -- true 2>"$work/do.err" || fail "tcpnetlock_do over TLS to 127.0.0.1 (IP SAN): $(cat "$work/do.err")"
id=$("$TNL_BIN_DIR/tcpnetlock_client" --host localhost --port "$TLS_PORT" --tls-ca "$certs/ca.pem" --ttl 60 via-client \
  2>"$work/client.err") || fail "tcpnetlock_client --ttl over TLS: $(cat "$work/client.err")"
[[ $(plain_ask "lock,name:via-client") == not-granted ]] || fail "the detached lock taken over TLS is not held"
"$TNL_BIN_DIR/tcpnetlock_client" --host localhost --port "$TLS_PORT" --tls-ca "$certs/ca.pem" --unlock "$id" \
  2>"$work/client.err" >/dev/null || fail "tcpnetlock_client --unlock over TLS: $(cat "$work/client.err")"
"$TNL_BIN_DIR/tcpnetlock_admin" --url "https://localhost:$HTTP_PORT" --tls-ca "$certs/ca.pem" stats >/dev/null \
  2>"$work/admin.err" || fail "tcpnetlock_admin over HTTPS: $(cat "$work/admin.err")"
"$TNL_BIN_DIR/tcpnetlock_admin" --url "http://localhost:$HTTP_PORT" --tls --tls-ca "$certs/ca.pem" stats >/dev/null \
  2>"$work/admin.err" || fail "tcpnetlock_admin --tls: $(cat "$work/admin.err")"
echo "   tcpnetlock_do (host name and IP), tcpnetlock_client --ttl/--unlock, tcpnetlock_admin stats"

step "HTTPS with the same certificate"
code=$(curl -s -o "$work/body" -w '%{http_code}' --cacert "$certs/ca.pem" "https://localhost:$HTTP_PORT/api/v1alpha1/stats")
[[ $code == 200 ]] || fail "HTTPS /stats answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/api/v1alpha1/stats" || true)
[[ $code != 200 ]] || fail "plain HTTP answered on the HTTPS port"

step "garbage on the TLS port: cut, the server serves on"
printf 'lock,name:shared\r\n\x16\x03\x01\x00\x05hello' | timeout 10 bash -c "exec 6<>/dev/tcp/127.0.0.1/$TLS_PORT; cat >&6; cat <&6 >/dev/null" \
  2>/dev/null || true
head -c 20000 /dev/urandom | timeout 10 bash -c "exec 6<>/dev/tcp/127.0.0.1/$TLS_PORT; cat >&6; cat <&6 >/dev/null" \
  2>/dev/null || true
answer=$(tls_ask .ping) || fail "s_client failed after garbage: $(tail -5 "$work/s_client.log")"
[[ $answer == pong ]] || fail ".ping after garbage answered '$answer'"
grep -q "TLS handshake with .* failed" "$work/server.log" || fail "no log line for the failed handshakes"
echo "   $(grep -c 'TLS handshake with .* failed' "$work/server.log") failed handshakes logged"
failures=$(curl -s --cacert "$certs/ca.pem" "https://localhost:$HTTP_PORT/api/v1alpha1/stats" | jq '.tls_handshake_failure_count')
[[ $failures =~ ^[0-9]+$ ]] && ((failures >= 2)) || fail ".stats tls_handshake_failure_count is '$failures', not >= 2"
metrics=$(curl -s --cacert "$certs/ca.pem" "https://localhost:$HTTP_PORT/metrics")
grep -q '^tcpnetlock_tls_handshake_failures_total [1-9]' <<<"$metrics" ||
  fail "/metrics has no tcpnetlock_tls_handshake_failures_total above 0"

stop_http_server

step "a verifying client refuses an expired certificate, another CA's and another host's"
for cert in expired other-server wrongname; do
  start_tls_server "$cert"
  if answer=$(tls_ask .ping) && [[ $answer == pong ]]; then fail "s_client accepted the $cert certificate"; fi
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$certs/ca.pem" "https://localhost:$HTTP_PORT/api/v1alpha1/stats" || true)
  [[ $code == 000 ]] || fail "curl accepted the $cert certificate ($code)"
  rm -f "$work/ran"
  if "$TNL_BIN_DIR/tcpnetlock_do" --host localhost --port "$TLS_PORT" --tls-ca "$certs/ca.pem" --lock-name refused \
    -- touch "$work/ran" 2>"$work/do.err"; then
    fail "tcpnetlock_do accepted the $cert certificate"
  fi
  [[ ! -e $work/ran ]] || fail "tcpnetlock_do ran its command against the $cert certificate"
  grep -q "TLS handshake with localhost:$TLS_PORT failed" "$work/do.err" || fail "tcpnetlock_do said: $(cat "$work/do.err")"
  echo "   $cert: refused ($(grep -o 'verify error:[^)]*' "$work/s_client.log" | tail -1))"
  stop_http_server
done

step "mutual TLS: no client certificate, or another CA's, is refused; the server serves on"
start_tls_server server --tls-client-ca "$certs/ca.pem" --first-line-timeout 1
answer=$(tls_ask .ping) || true
[[ $answer != pong ]] || fail "a client without a certificate was served"
answer=$(tls_ask .ping -cert "$certs/other-client.pem" -key "$certs/other-client.key") || true
[[ $answer != pong ]] || fail "a client with another CA's certificate was served"
answer=$(tls_ask .ping -cert "$certs/client.pem" -key "$certs/client.key") || fail "mTLS client refused"
[[ $answer == pong ]] || fail ".ping with a client certificate answered '$answer'"
echo "   refused without and with another CA's certificate; served with the CA's"

step "mutual TLS: the certificate's CN names the holder in .locks"
coproc holder { exec timeout 30 openssl s_client -quiet -connect "127.0.0.1:$TLS_PORT" -CAfile "$certs/ca.pem" \
  -verify_return_error -verify_hostname localhost -cert "$certs/client.pem" -key "$certs/client.key" \
  2>>"$work/s_client.log"; }
holder_pid=$holder_PID
printf 'lock,name:mtls\n' >&"${holder[1]}"
read -r -t 10 answer <&"${holder[0]}" || fail "no answer to the mTLS lock"
[[ $answer == ok ]] || fail "mTLS lock answered '$answer'"
answer=$(plain_ask ".locks,name:mtls")
[[ $answer == *'"peer":"ci-runner-7@127.0.0.1:'* ]] || fail ".locks does not name the certificate: $answer"
echo "   $(grep -o '"peer":"[^"]*"' <<<"$answer")"
code=$(curl -s -o "$work/body" -w '%{http_code}' --cacert "$certs/ca.pem" --cert "$certs/client.pem" \
  --key "$certs/client.key" -H 'Content-Type: application/json' -d '{"service":"via-https","who":"ops"}' \
  "https://localhost:$HTTP_PORT/api/v1alpha1/lock")
[[ $code == 201 ]] || fail "HTTPS create with a client certificate answered $code: $(cat "$work/body")"
grep -q "created for ops over HTTP from ci-runner-7@127.0.0.1:" "$work/server.log" ||
  fail "the log does not name the HTTPS client's certificate"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$certs/ca.pem" "https://localhost:$HTTP_PORT/api/v1alpha1/stats" || true)
[[ $code != 200 ]] || fail "HTTPS without a client certificate answered 200"
echo "   and the log names it for a detached lock created over HTTPS"
"$TNL_BIN_DIR/tcpnetlock_do" --host localhost --port "$TLS_PORT" --tls-ca "$certs/ca.pem" --lock-name do-mtls \
  -- true 2>"$work/do.err" && fail "tcpnetlock_do without a client certificate got a lock"
"$TNL_BIN_DIR/tcpnetlock_do" --host localhost --port "$TLS_PORT" --tls-ca "$certs/ca.pem" --tls-cert "$certs/client.pem" \
  --tls-key "$certs/client.key" --lock-name do-mtls \
  -- bash -c "exec 5<>/dev/tcp/127.0.0.1/$PORT; echo .locks,name:do-mtls >&5; read -r -t 10 line <&5; echo \"\$line\"" \
  >"$work/do.out" 2>"$work/do.err" || fail "tcpnetlock_do with a client certificate: $(cat "$work/do.err")"
grep -q '"peer":"ci-runner-7@' "$work/do.out" || fail "tcpnetlock_do's holder is not named by its certificate: $(cat "$work/do.out")"
echo "   tcpnetlock_do: refused without a certificate, named ci-runner-7 with it"
kill "$holder_pid" 2>/dev/null || true
wait "$holder_pid" 2>/dev/null || true

step "a TLS client that sends nothing is cut at the first-line timeout (1 s)"
exec 7<>"/dev/tcp/127.0.0.1/$TLS_PORT"
start=$SECONDS
timeout 10 cat <&7 >/dev/null 2>&1 || true  # ends when the server closes (EOF or reset)
exec 7>&-
elapsed=$((SECONDS - start))
[[ $elapsed -le 5 ]] || fail "the silent TLS connection was kept ${elapsed} s"
grep -q "TLS handshake with .* failed: not done in time" "$work/server.log" || fail "no log line for the handshake timeout"
answer=$(tls_ask .ping -cert "$certs/client.pem" -key "$certs/client.key") || fail "mTLS client refused after the timeout"
[[ $answer == pong ]] || fail ".ping after the timeout answered '$answer'"
echo "   cut after about ${elapsed} s"
stop_http_server

step "--tls-only: no plain listener (mutual TLS cannot be bypassed there); TLS clients are served"
"$TNL_BIN_DIR/tcpnetlock_server" --listen 127.0.0.1 --port 0 --tls-only 2>"$work/only.err" &&
  fail "--tls-only without --tls-port started"
rm -f "$work/tls-port" "$work/plain-port"
"$TNL_BIN_DIR/tcpnetlock_server" --listen 127.0.0.1 --port 0 --port-file "$work/plain-port" --http off \
  --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" --tls-client-ca "$certs/ca.pem" --tls-port 0 \
  --tls-port-file "$work/tls-port" --tls-only 2>"$work/only.log" &
only_pid=$!
# Stopped on a failure too: left running, it would hold ctest's pipe until the test's timeout.
trap 'kill "$only_pid" 2>/dev/null || true; cleanup' EXIT
deadline=$((SECONDS + 10))
until [[ -s $work/tls-port ]]; do
  kill -0 "$only_pid" 2>/dev/null || fail "the --tls-only server exited at start: $(cat "$work/only.log")"
  [[ $SECONDS -lt $deadline ]] || fail "the --tls-only server did not listen within 10 s"
  sleep 0.05
done
TLS_PORT=$(cat "$work/tls-port")
answer=$(tls_ask .ping -cert "$certs/client.pem" -key "$certs/client.key") || fail "mTLS client refused by --tls-only"
[[ $answer == pong ]] || fail ".ping on --tls-only answered '$answer'"
[[ ! -e $work/plain-port ]] || fail "--tls-only wrote a plain port file"
# One: no plain lock listener, no HTTP (off here), and no gRPC (served without TLS, so off
# by default with --tls-only).
listeners=$(ss -Hltnp | grep -c "pid=$only_pid," || true)
[[ $listeners == 1 ]] || fail "--tls-only has $listeners listening sockets, not 1: $(ss -Hltnp | grep "pid=$only_pid,")"
kill "$only_pid"; wait "$only_pid" 2>/dev/null || true
echo "   one listener (TLS), served with a client certificate"

echo "PASS"
