#!/usr/bin/env bash
# The status page (GET /) in real headless Chromium: tests/browser/status_page.test.mjs,
# driven by playwright-core, against a real tcpnetlock_server. Runs twice: without an
# admin token (a TCP lock shows up, a forced release from the page hands it to the
# waiter, a screenshot is written; pages of other sites and a DNS-rebound name try to
# create locks and cannot), with --admin-token-file (ids and releasing need the token), and
# with --lock-delay for the layout run (counters agree with .stats and /metrics, tokens on
# fenced rows only, filter, sort, no sideways scroll and no name broken mid-word at 1280 px
# and 420 px; screenshots status-page-1280.png and status-page-420.png).
#
# Needs /usr/bin/chromium, node and tests/browser/node_modules (scripts/install-deps.sh
# installs all three). Skipped (77) only when chromium or node is not installed at all;
# a missing node_modules is a failure, since CI installs it.
# Screenshots go to $TNL_SCREENSHOT_DIR, else the build directory, else /tmp.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
: "${TNL_SOURCE_DIR:?set by ctest}"
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

source "$(dirname "${BASH_SOURCE[0]}")/lib/http_server.bash"

run_test() {
  timeout 120 node "$browser_dir/status_page.test.mjs" --tcp "$PORT" --http "$HTTP_PORT" \
    --screenshot-dir "$shot_dir" --chromium "$chromium" "$@" || fail "browser test failed (exit $?)"
}

step "status page, no admin token"
start_http_server --info
run_test
# The other sites' requests reached the server and were refused there (not by the browser).
grep -q 'refused, sent by a page of another site' "$work/server.log" ||
  fail "the server never saw the cross-site POSTs"
grep -q "refused, Host 'rebound.attacker.test:" "$work/server.log" ||
  fail "the server never saw the DNS-rebound requests"
stop_http_server

step "status page, with --admin-token-file"
token="tnl-browser-$RANDOM$RANDOM"
printf '%s\n' "$token" >"$work/admin-token"
start_http_server --info --admin-token-file "$work/admin-token"
run_test --admin-token "$token"
stop_http_server

step "status page layout: counters, tokens, filter, sort, 1280 px and 420 px"
start_http_server --info --lock-delay 60 --start-grace 0
run_test --layout
stop_http_server

echo "PASS: status page in Chromium (screenshots in $shot_dir)"
