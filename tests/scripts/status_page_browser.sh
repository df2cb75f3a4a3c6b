#!/usr/bin/env bash
# The status page (GET /) in real headless Chromium: tests/browser/status_page.test.mjs,
# driven by playwright-core, against a real tcpnetlock_server. Runs twice: without an
# admin token (a TCP lock shows up, a forced release from the page hands it to the
# waiter, a screenshot is written) and with --admin-token-file (releasing needs the token).
#
# Needs /usr/bin/chromium, node and tests/browser/node_modules (scripts/install-deps.sh
# installs all three). Skipped (77) only when chromium or node is not installed at all;
# a missing node_modules is a failure, since CI installs it.
# Screenshots go to $TNL_SCREENSHOT_DIR, else the build directory, else /tmp.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
: "${TNL_SOURCE_DIR:?set by ctest}"
server_bin="$TNL_BIN_DIR/tcpnetlock_server"
browser_dir="$TNL_SOURCE_DIR/tests/browser"
chromium=${TNL_CHROMIUM:-/usr/bin/chromium}

if [[ ! -x $chromium ]] || ! command -v node >/dev/null 2>&1; then
  echo "SKIPPED: needs $chromium and node (scripts/install-deps.sh installs them)"
  exit 77
fi
if [[ ! -f $browser_dir/node_modules/playwright-core/package.json ]]; then
  echo "FAIL: $browser_dir/node_modules/playwright-core is missing;" \
       "run scripts/install-deps.sh (or: cd tests/browser && npm ci)" >&2
  exit 1
fi

shot_dir=${TNL_SCREENSHOT_DIR:-}
if [[ -z $shot_dir ]]; then
  shot_dir=$(dirname "$TNL_BIN_DIR")
  [[ -w $shot_dir ]] || shot_dir=/tmp
fi
mkdir -p "$shot_dir"

work=$(mktemp -d)
server_pid=
stop_server() {
  if [[ -n $server_pid ]]; then
    { kill "$server_pid" && wait "$server_pid"; } 2>/dev/null || true
    server_pid=
  fi
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  [[ -f $work/server.log ]] && sed 's/^/  server: /' "$work/server.log" >&2
  exit 1
}

# start_server ARGS...: a server on free ports; sets tcp_port and http_port.
start_server() {
  rm -f "$work/port" "$work/http-port"
  "$server_bin" --listen 127.0.0.1 --port 0 --port-file "$work/port" \
    --http 127.0.0.1:0 --http-port-file "$work/http-port" --info "$@" >"$work/server.log" 2>&1 &
  server_pid=$!
  local deadline=$((SECONDS + 10))
  until [[ -s $work/port && -s $work/http-port ]]; do
    kill -0 "$server_pid" 2>/dev/null || fail "server exited before writing its port files"
    ((SECONDS < deadline)) || fail "server wrote no port files within 10 s"
    sleep 0.05
  done
  tcp_port=$(<"$work/port")
  http_port=$(<"$work/http-port")
  echo "server pid $server_pid: lock port $tcp_port, HTTP port $http_port"
}

run_test() {
  timeout 120 node "$browser_dir/status_page.test.mjs" --tcp "$tcp_port" --http "$http_port" \
    --screenshot-dir "$shot_dir" --chromium "$chromium" "$@" || fail "browser test failed (exit $?)"
}

echo "== status page, no admin token"
start_server
run_test
stop_server

echo "== status page, with --admin-token-file"
token="tnl-browser-$RANDOM$RANDOM"
printf '%s\n' "$token" >"$work/admin-token"
start_server --admin-token-file "$work/admin-token"
run_test --admin-token "$token"
stop_server

echo "PASS: status page in Chromium (screenshots in $shot_dir)"
