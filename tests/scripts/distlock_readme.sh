#!/usr/bin/env bash
# distlock's README examples, unchanged, against tcpnetlock_distlock installed as `distlock`
# (a symlink on PATH), talking to a real tcpnetlock_server on an ephemeral loopback port:
# running a command under a lock, --lock with a reason then --unlock from "another node"
# (another process with other variables), --nowait, --timeout, --list, the config file,
# realms (prefixes) and the exit statuses. The only change: DISTLOCK_ENDPOINTS names our
# server instead of etcd. `yum` is a harmless stand-in that checks it runs under the lock.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/http_server.bash"

# expect WHAT ACTUAL EXPECTED
expect() {
  if [[ $2 != "$3" ]]; then fail "$1: expected '$3', got '$2'"; fi
  echo "   ok: $1 = $2"
}
# status COMMAND...: its exit status, whatever it is (set -e stays on around it)
status() {
  local code=0
  "$@" >"$work/last.out" 2>"$work/last.err" || code=$?
  sed 's/^/   | /' "$work/last.out" "$work/last.err" >&2
  echo "$code"
}

# server_stats: the server's `.stats` answer
server_stats() {
  exec 5<>"/dev/tcp/127.0.0.1/$PORT"
  printf '.stats\n' >&5
  head -n 1 <&5
  exec 5>&-
}

mkdir -p "$work/bin"
ln -s "$TNL_BIN_DIR/tcpnetlock_distlock" "$work/bin/distlock"
# yum: prints what it was asked, after checking that percona_prod is held (by whoever runs it).
cat >"$work/bin/yum" <<'YUM'
#!/bin/sh
distlock --list | grep -q '^percona_prod ' || { echo "yum: percona_prod is not locked" >&2; exit 9; }
echo "yum $*: done"
YUM
chmod +x "$work/bin/yum"
export PATH="$work/bin:$PATH"
unset DISTLOCK_LOCKNAME DISTLOCK_REASON DISTLOCK_TIMEOUT DISTLOCK_PREFIX DISTLOCK_ADMIN_TOKEN_FILE
export DISTLOCK_CONFIG=/dev/null  # an empty config file: never this machine's /etc/distlock/distlock.yaml

start_http_server
export DISTLOCK_ENDPOINTS=127.0.0.1:$PORT
echo "server on port $PORT; distlock is $(command -v distlock)"

step "distlock --lock-name=percona_prod -- yum upgrade"
expect "exit status" "$(status distlock --lock-name=percona_prod -- yum upgrade)" 0
expect "yum's output" "$(cat "$work/last.out")" "yum upgrade: done"
expect "the lock after the command" "$(distlock --list | grep -c '^percona_prod ' || true)" 0

step "the command's exit status passes through; a failing command still releases the lock"
expect "distlock --lock-name=percona_prod -- sh -c 'exit 5'" "$(status distlock --lock-name=percona_prod -- sh -c 'exit 5')" 5
expect "distlock --lock-name=percona_prod -- false" "$(status distlock --lock-name=percona_prod -- false)" 1
expect "then --nowait gets it" "$(status distlock --lock-name=percona_prod --nowait -- true)" 0

step "node-3: distlock --lock-name=percona_prod --lock --reason=\"Upgrade RPMs on node-3\""
expect "exit status" "$(status distlock --lock-name=percona_prod --lock --reason="Upgrade RPMs on node-3")" 0

step "distlock --list shows name, host, age and reason"
distlock --list | tee "$work/list" | sed 's/^/   | /'
expect "header" "$(head -n 1 "$work/list" | tr -s ' ')" "NAME HOST AGE REASON"
row=$(grep '^percona_prod ' "$work/list") || fail "percona_prod is not listed"
[[ $row == *" $(hostname) "* ]] || fail "host $(hostname) is not in: $row"
[[ $row =~ \ [0-9]+s\  ]] || fail "no age in: $row"
[[ $row == *"Upgrade RPMs on node-3" ]] || fail "reason not in: $row"
echo "   ok: $row"

step "the lock stays after distlock exits: others are refused"
expect "--nowait" "$(status distlock --lock-name=percona_prod --nowait -- yum upgrade)" 1
grep -q "Upgrade RPMs on node-3" "$work/last.err" || fail "the refusal does not say who holds it"
start=$SECONDS
expect "--timeout=1" "$(status distlock --lock-name=percona_prod --timeout=1 -- yum upgrade)" 1
(( SECONDS - start >= 1 )) || fail "--timeout=1 gave up before a second"
expect "--lock --nowait" "$(status distlock --lock-name=percona_prod --lock --nowait)" 1

step "a waiter (the default --timeout, -1: for ever) gets it once node-3's lock is unlocked"
distlock --lock-name=percona_prod -- yum upgrade >"$work/waiter.out" 2>&1 &
waiter=$!
deadline=$((SECONDS + 10))
until [[ $(server_stats) == *'"waiter_count":1'* ]]; do
  (( SECONDS < deadline )) || fail "the waiter is not queued"
  sleep 0.05
done
kill -0 "$waiter" || fail "the waiter did not wait"

step "another node unlocks it by name: another process, its own variables"
expect "exit status" "$(status env -i PATH="$PATH" HOME=/nonexistent DISTLOCK_CONFIG=/dev/null \
  DISTLOCK_ENDPOINTS="127.0.0.1:$PORT" DISTLOCK_LOCKNAME=percona_prod distlock --unlock)" 0
wait "$waiter" || fail "the waiter failed: $(cat "$work/waiter.out")"
expect "the waiter ran yum" "$(cat "$work/waiter.out")" "yum upgrade: done"
expect "unlock again: lock not found" "$(status distlock --lock-name=percona_prod --unlock)" 1
grep -q "not found" "$work/last.err" || fail "no 'not found' message"

step "the config file: DISTLOCK_CONFIG=... distlock --lock"
cat >"$work/distlock.yaml" <<YAML
lockname: nightly_backup
reason: from the config file
endpoints:
  - 127.0.0.1:$PORT
timeout: 0
prefix: /backups/
YAML
(
  unset DISTLOCK_ENDPOINTS
  export DISTLOCK_CONFIG=$work/distlock.yaml
  expect "--lock" "$(status distlock --lock)" 0
  expect "--lock again (timeout: 0 in the file)" "$(status distlock --lock)" 1
  distlock --list | grep -q '^nightly_backup .*from the config file$' || fail "not listed in the file's realm"
  expect "a flag beats the file" "$(status distlock --lock --lock-name=other_job)" 0
  expect "a variable beats the file" "$(DISTLOCK_LOCKNAME=third_job status distlock --lock)" 0
  expect "its --list" "$(distlock --list | tail -n +2 | awk '{print $1}' | sort | tr '\n' ' ')" "nightly_backup other_job third_job "
)
expect "the default realm does not see /backups/" "$(distlock --list | grep -c nightly_backup || true)" 0

step "realms: one name under two prefixes is two locks"
expect "staging" "$(DISTLOCK_PREFIX=/staging/ status distlock --lock-name=db --lock --nowait)" 0
expect "testing" "$(DISTLOCK_PREFIX=/testing/ status distlock --lock-name=db --lock --nowait)" 0
expect "staging again" "$(DISTLOCK_PREFIX=/staging/ status distlock --lock-name=db --lock --nowait)" 1
expect "unlock staging" "$(status distlock --prefix=/staging/ --lock-name=db --unlock)" 0
expect "testing still held" "$(DISTLOCK_PREFIX=/testing/ distlock --list | grep -c '^db ' || true)" 1

step "every failure exits 1"
expect "no lock name" "$(status distlock --lock)" 1
expect "nothing to do" "$(status distlock --lock-name=x)" 1
expect "unknown option" "$(status distlock --lock-name=x --frobnicate)" 1
expect "bad timeout" "$(status distlock --lock-name=x --timeout=soon --lock)" 1
expect "command not found" "$(status distlock --lock-name=x -- /nonexistent/yum)" 1
expect "no server" "$(DISTLOCK_ENDPOINTS=127.0.0.1:1 status distlock --lock-name=x --lock)" 1
echo "PASS"
