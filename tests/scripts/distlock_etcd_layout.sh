#!/usr/bin/env bash
# distlock's own layout on etcd (--etcd-layout, auto for --etcd-prefix /distlock/): a real
# distlock and tcpnetlock_distlock exclude each other on one etcd (issue 14).
#
# There is no real distlock in Debian: `emu_*` below emulate it with etcdctl (etcd-client
# 3.4), following its algorithm exactly: take the etcd mutex /distlock/__internal_lock
# (`etcdctl lock`, keys /distlock/__internal_lock/<lease hex>, earliest owns), GET
# /distlock/NAME and, when absent, PUT it UNCONDITIONALLY (no lease, value
# "<unix s>;<host>;<reason>"), with a pause between the GET and the PUT that widens the
# window a put of ours could fall into; wait for a busy lock by watching for its DELETE;
# unlock = delete the key.
#
# Checks: the key layout and value of our --lock (no lease) and of a -- COMMAND hold (on the
# replica lease); each side's --lock and -- COMMAND blocks the other; --unlock from either
# side frees the other's; --list shows both; kill -9 of the replica frees its connection
# hold for an emulated distlock waiting on it; a bounded random interleaving of emulated
# distlocks and tcpnetlock_distlock -- COMMAND on one name never overlaps; other names keep
# etcd's recipe layout; limit:2 on a distlock name is refused.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/http_server.bash"
[[ -x /usr/bin/etcd && -x /usr/bin/etcdctl ]] || { echo "etcd or etcdctl missing" >&2; exit 1; }

fixture=$(dirname "${BASH_SOURCE[0]}")/../support/etcd_fixture.sh
stop_etcd() { bash "$fixture" stop "$work/etcd" >/dev/null 2>&1 || true; }
trap 'stop_etcd; cleanup' EXIT
bash "$fixture" start "$work/etcd" >/dev/null
EP=$(cat "$work/etcd/endpoints")
export ETCDCTL_API=3 EP
ctl() { etcdctl --endpoints="$EP" --command-timeout=5s "$@"; }

expect() {
  if [[ $2 != "$3" ]]; then fail "$1: expected '$3', got '$2'"; fi
  echo "   ok: $1 = $2"
}
status() {
  local code=0
  "$@" >"$work/last.out" 2>"$work/last.err" || code=$?
  sed 's/^/   | /' "$work/last.out" "$work/last.err" >&2
  echo "$code"
}
# wait_until DESCRIPTION SECONDS COMMAND...: until COMMAND succeeds, at most SECONDS.
wait_until() {
  local what=$1 limit=$2 deadline
  shift 2
  deadline=$((SECONDS + limit))
  until "$@"; do
    [[ $SECONDS -lt $deadline ]] || fail "not within $limit s: $what"
    sleep 0.05
  done
}

# --- the emulated real distlock ---

# emu_try NAME REASON: one attempt under distlock's internal mutex; prints ok or busy.
emu_try() {
  NAME=$1 REASON=$2 ctl lock /distlock/__internal_lock -- sh -c '
    if [ -n "$(etcdctl --endpoints="$EP" get --keys-only "/distlock/$NAME")" ]; then echo busy; exit 0; fi
    sleep 0.05  # distlock works between its GET and its PUT: a put of ours here would be lost
    etcdctl --endpoints="$EP" put "/distlock/$NAME" "$(date +%s);emuhost;$REASON" >/dev/null && echo ok'
}
# emu_lock NAME REASON [SECONDS]: waits (watching for the DELETE) until it holds; 1 when
# SECONDS (default 20) pass first.
emu_lock() {
  local deadline=$((SECONDS + ${3:-20})) answer
  while :; do
    answer=$(emu_try "$1" "$2") || fail "etcdctl lock failed"
    [[ $answer == ok ]] && return 0
    [[ $answer == busy ]] || fail "emu_try said '$answer'"
    [[ $SECONDS -lt $deadline ]] || return 1
    # distlock waits for the key's DELETE: here a short random pause, then it looks again
    # (`etcdctl watch` does not end at the first event; looking more often is never less safe).
    sleep "0.0$(( $(od -An -N1 -tu1 /dev/urandom) % 9 + 1 ))"
  done
}
# emu_unlock NAME: distlock --unlock: deletes the key whoever made it.
emu_unlock() {
  local deleted
  deleted=$(ctl del "/distlock/$1")
  [[ $deleted == 1 ]] || { echo "lock not found" >&2; return 1; }
}

# --- ours ---

mkdir -p "$work/bin"
ln -s "$TNL_BIN_DIR/tcpnetlock_distlock" "$work/bin/distlock"
export PATH="$work/bin:$PATH"
unset DISTLOCK_LOCKNAME DISTLOCK_REASON DISTLOCK_TIMEOUT DISTLOCK_PREFIX DISTLOCK_ADMIN_TOKEN_FILE
export DISTLOCK_CONFIG=/dev/null

start_replica() {
  start_http_server --backend etcd --etcd-endpoints "$EP" --etcd-prefix /distlock/ --etcd-lease-ttl 4
  export DISTLOCK_ENDPOINTS=127.0.0.1:$PORT
}
start_replica
echo "server on port $PORT, etcd $EP"

# key_lease KEY: the key's lease (0: none; empty: no key)
key_lease() { ctl get "$1" -w json | python3 -c '
import json, sys
kvs = json.load(sys.stdin).get("kvs") or []
print(kvs[0].get("lease", 0) if kvs else "")'; }
key_value() { ctl get --print-value-only "$1"; }
absent() { [[ -z $(ctl get --keys-only "$1") ]]; }
present() { [[ -n $(ctl get --keys-only "$1") ]]; }

step "our --lock is distlock's key /distlock/NAME, no lease, value <unix s>;<host>;<reason>"
expect "distlock --lock" "$(status distlock --lock-name=percona_prod --lock --reason="Upgrade RPMs on node-3")" 0
value=$(key_value /distlock/percona_prod)
[[ $value =~ ^[0-9]+\;$(hostname)\;Upgrade\ RPMs\ on\ node-3$ ]] || fail "value: '$value'"
expect "its lease" "$(key_lease /distlock/percona_prod)" 0
echo "   ok: value $value"

step "the emulated distlock finds it busy; its --unlock frees ours"
expect "emu_try" "$(emu_try percona_prod "other node")" busy
emu_unlock percona_prod || fail "emulated unlock"
expect "our --list after the emulated unlock" "$(distlock --list | grep -c '^percona_prod ' || true)" 0
expect "ours again with --nowait" "$(status distlock --lock-name=percona_prod --lock --nowait)" 0
expect "our --unlock" "$(status distlock --lock-name=percona_prod --unlock)" 0
absent /distlock/percona_prod || fail "our --unlock left the key"

step "the emulated distlock's lock blocks ours, is listed by ours, and our --unlock frees it"
expect "emu_try" "$(emu_try percona_prod "Emulated upgrade")" ok
expect "our --lock --nowait" "$(status distlock --lock-name=percona_prod --lock --nowait)" 1
expect "our -- COMMAND --timeout=1" "$(status distlock --lock-name=percona_prod --timeout=1 -- true)" 1
row=$(distlock --list | grep '^percona_prod ') || fail "the emulated lock is not listed"
[[ $row == *" emuhost "* && $row == *"Emulated upgrade" ]] || fail "listed as: $row"
echo "   ok: listed: $row"
expect "our --unlock" "$(status distlock --lock-name=percona_prod --unlock)" 0
absent /distlock/percona_prod || fail "our --unlock left the emulated key"
expect "our --unlock again" "$(status distlock --lock-name=percona_prod --unlock)" 1

step "a waiting tcpnetlock_distlock gets the lock when the emulated one deletes its key"
expect "emu_try" "$(emu_try percona_prod "held")" ok
distlock --lock-name=percona_prod --timeout=20 -- sh -c "echo got >'$work/waited'" &
waiter=$!
sleep 0.5
[[ ! -e $work/waited ]] || fail "ours ran while the emulated distlock held the lock"
emu_unlock percona_prod
wait "$waiter" || fail "the waiting tcpnetlock_distlock failed"
[[ -e $work/waited ]] || fail "the waiting tcpnetlock_distlock did not run"
echo "   ok: ran after the emulated unlock"

step "our -- COMMAND holds the key on the replica lease; the emulated distlock waits for it"
distlock --lock-name=percona_prod -- sh -c "touch '$work/holding'; sleep 1.5" &
holder=$!
wait_until "ours holds" 10 test -e "$work/holding"
lease=$(key_lease /distlock/percona_prod)
[[ -n $lease && $lease != 0 ]] || fail "a connection hold has no lease: '$lease'"
expect "emu_try while ours runs" "$(emu_try percona_prod x)" busy
start=$SECONDS
emu_lock percona_prod "after ours" 20 || fail "the emulated distlock never got it"
wait "$holder" || fail "our command failed"
echo "   ok: the emulated distlock got it after ours ended"
expect "our --unlock of the emulated lock" "$(status distlock --lock-name=percona_prod --unlock)" 0

step "our --unlock does not take a connection's hold"
distlock --lock-name=conn -- sh -c "touch '$work/conn'; sleep 3" &
holder=$!
wait_until "ours holds conn" 10 test -e "$work/conn"
expect "our --unlock" "$(status distlock --lock-name=conn --unlock)" 1
present /distlock/conn || fail "--unlock took a connection's hold"
wait "$holder"
absent /distlock/conn || fail "the ended command left its key"

step "other names keep etcd's recipe layout; limit:2 on a distlock name is refused"
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'lock,name:plain\n' >&3
read -r answer <&3
[[ $answer == ok* ]] || fail "lock plain: $answer"
[[ $(ctl get --prefix --keys-only /distlock/plain/) == /distlock/plain/* ]] || fail "no recipe key for plain"
absent /distlock/plain || fail "plain laid out as distlock's"
exec 3>&-
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'lock,name:__other__-x\n' >&3  # another realm's name: recipe
read -r answer <&3
[[ $answer == ok* ]] || fail "lock __other__-x: $answer"
[[ $(ctl get --prefix --keys-only /distlock/__other__-x/) == /distlock/__other__-x/* ]] || fail "no recipe key for __other__-x"
exec 3>&-
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'lock,name:__distlock__-sem,limit:2\n' >&3
read -r answer <&3
expect "limit:2 on a distlock name" "$answer" "err,limit mismatch"
exec 3>&-
absent /distlock/sem || fail "limit:2 left a key"

step "bounded random interleaving: 3 emulated distlocks and 3 tcpnetlock_distlock on one name"
# Each critical section: mkdir of a marker (fails if another is inside), a short random
# pause, rmdir; an overlap is counted, never hidden.
cat >"$work/bin/section" <<'SECTION'
#!/bin/sh
if mkdir "$1/inside" 2>/dev/null; then
  sleep "0.0$(( $(od -An -N1 -tu1 /dev/urandom) % 5 + 1 ))"
  rmdir "$1/inside"
else
  echo overlap >>"$1/overlaps"
fi
echo "$2" >>"$1/sections"
SECTION
chmod +x "$work/bin/section"
rounds=6
emu_runner() {
  for _ in $(seq "$rounds"); do
    emu_lock race emu 60 || { echo "emu gave up" >>"$work/errors"; return; }
    section "$work" emu
    ctl del /distlock/race >/dev/null
  done
}
our_runner() {
  for _ in $(seq "$rounds"); do
    distlock --lock-name=race --timeout=60 -- section "$work" ours || echo "ours failed" >>"$work/errors"
  done
}
pids=()
for _ in 1 2 3; do
  emu_runner &
  pids+=($!)
  our_runner &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
# A put of ours overwritten by distlock's unconditional PUT shows as an overlap, or as our
# hold told lost (our command then fails): both are two holders.
expect "overlaps" "$(cat "$work/overlaps" 2>/dev/null | wc -l)" 0
[[ ! -s $work/errors ]] || fail "runners failed: $(sort "$work/errors" | uniq -c)"
expect "sections run" "$(wc -l <"$work/sections")" $((6 * rounds))
expect "sections of the emulated distlocks" "$(grep -c '^emu$' "$work/sections")" $((3 * rounds))
expect "sections of ours" "$(grep -c '^ours$' "$work/sections")" $((3 * rounds))
# How the two sides alternated (a run of one side only would test nothing).
switches=$(uniq "$work/sections" | wc -l)
echo "   ok: the holder changed side $((switches - 1)) times"
(( switches > 5 )) || fail "the two sides hardly interleaved"

step "kill -9 of the replica frees its connection hold for an emulated distlock waiting on it"
distlock --lock-name=percona_prod -- sh -c "touch '$work/killed-holding'; sleep 60" &
holder=$!
wait_until "ours holds" 10 test -e "$work/killed-holding"
emu_lock percona_prod waiter 20 >"$work/emu-waiter" 2>&1 &
emu_waiter=$!
sleep 0.5
kill -0 "$emu_waiter" 2>/dev/null || fail "the emulated distlock did not wait"
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=
start=$SECONDS
wait "$emu_waiter" || fail "the emulated distlock did not get the lock after the replica died"
echo "   ok: the emulated distlock got it $((SECONDS - start)) s after kill -9 (lease TTL 4 s)"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
[[ $(key_value /distlock/percona_prod) == *";emuhost;waiter" ]] || fail "the key is not the emulated distlock's"

# Under the sanitizers (build/asan), a report in the server's log is a failure.
if grep -qE "runtime error|AddressSanitizer|LeakSanitizer" "$work/server.log"; then fail "sanitizer report"; fi
echo "PASS"
