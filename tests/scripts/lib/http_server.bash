# Sourced by the shell tests that talk to a real server over HTTP (not a test itself: only
# tests/scripts/*.sh are). Gives a private work directory, cleanup on exit, `fail` and
# `step`, start_http_server, which sets server_pid, PORT (the lock port), HTTP_PORT and URL,
# and stop_http_server.

work=$(mktemp -d)
server_pid=
# stop_http_server: stops the server started last, if it runs (a test may start another).
stop_http_server() {
  if [[ -n $server_pid ]]; then { kill "$server_pid" && wait "$server_pid"; } 2>/dev/null || true; fi
  server_pid=
}
cleanup() {
  exec 3>&- 4>&- 2>/dev/null || true  # lock connections a test may hold on fds 3 and 4
  stop_http_server
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [[ -f $work/server.log ]] && sed 's/^/  server: /' "$work/server.log" >&2
  exit 1
}
step() { echo "== $*"; }

# line REQUEST: one line-protocol request on a fresh connection to $PORT; prints the answer.
line() {
  exec 5<>"/dev/tcp/127.0.0.1/$PORT"
  printf '%s\n' "$1" >&5
  local answer=
  read -r -t 5 answer <&5 || true
  exec 5>&-
  echo "$answer"
}

# start_http_server [ARG...]: the server on ephemeral loopback ports, with ARGs too; waits
# (at most 10 s) until it serves HTTP.
start_http_server() {
  rm -f "$work/port" "$work/http-port"
  "$TNL_BIN_DIR/tcpnetlock_server" --listen 127.0.0.1 --port 0 --port-file "$work/port" \
    --http 127.0.0.1:0 --http-port-file "$work/http-port" "$@" 2>"$work/server.log" &
  server_pid=$!
  local deadline=$((SECONDS + 10))
  until [[ -s $work/http-port ]]; do  # written after the lock port, whole, through a rename
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited at start"
    [[ $SECONDS -lt $deadline ]] || fail "the server did not serve HTTP within 10 s"
    sleep 0.05
  done
  PORT=$(cat "$work/port")
  HTTP_PORT=$(cat "$work/http-port")
  URL="http://127.0.0.1:$HTTP_PORT"
}

# start_grpc_server [ARGS...]: start_http_server with gRPC on a free loopback port too; waits
# for its port file (10 s) and sets GRPC_TARGET (127.0.0.1:PORT).
start_grpc_server() {
  start_http_server --grpc 127.0.0.1:0 --grpc-port-file "$work/grpc-port" "$@"
  local deadline=$((SECONDS + 10))
  until [[ -s $work/grpc-port ]]; do
    [[ $SECONDS -lt $deadline ]] || fail "no gRPC port file"
    sleep 0.05
  done
  GRPC_TARGET=127.0.0.1:$(cat "$work/grpc-port")
}
