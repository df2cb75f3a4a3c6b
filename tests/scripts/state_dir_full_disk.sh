#!/usr/bin/env bash
# Issue 10, finding 11: --state-dir on a full disk (a 200 KiB tmpfs). Nothing is
# acknowledged before it is durable: an unlock answered `released` never comes back after
# a restart (kill -9), one that could not be written is refused and the lock stays held; a
# restart on the full disk starts (connection locks need no disk) and leaves no
# fencing-token.tmp; once there is space again, everything works as before.
#
# Runs in a private mount namespace (unshare -m), so the tmpfs never shows on the host and
# goes away with the test. Needs root; exit 77 (skipped) otherwise.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
if [[ $(id -u) != 0 ]]; then
  echo "SKIPPED: mounting a tmpfs needs root (CI runs as root)"
  exit 77
fi
if [[ -z ${TNL_IN_MOUNT_NAMESPACE:-} ]]; then
  if ! unshare -m --propagation private true 2>/dev/null; then
    echo "SKIPPED: cannot make a private mount namespace here (unshare -m)"
    exit 77
  fi
  exec unshare -m --propagation private env TNL_IN_MOUNT_NAMESPACE=1 bash "$0" "$@"
fi

work=$(mktemp -d)
state=$work/state
mkdir "$state"
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then { kill -9 "$server_pid" && wait "$server_pid"; } 2>/dev/null || true; fi
  umount "$state" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/server*.log; do [[ -f $log ]] && sed "s|^|  $(basename "$log"): |" "$log" >&2; done
  exit 1
}
step() { echo "== $*"; }

mount -t tmpfs -o size=200k tnl-full-disk "$state" || { echo "SKIPPED: cannot mount a tmpfs here"; exit 77; }

starts=0
# start_server: on the tmpfs state directory; waits (at most 10 s) until it listens.
start_server() {
  starts=$((starts + 1))
  rm -f "$work/port"
  "$TNL_BIN_DIR/tcpnetlock_server" --listen 127.0.0.1 --port 0 --port-file "$work/port" --http off \
    --state-dir "$state" 2>"$work/server$starts.log" &
  server_pid=$!
  local deadline=$((SECONDS + 10))
  until [[ -s $work/port ]]; do
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited at start (start $starts)"
    [[ $SECONDS -lt $deadline ]] || fail "the server did not listen within 10 s (start $starts)"
    sleep 0.05
  done
  PORT=$(cat "$work/port")
}
kill_server() {
  kill -9 "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
# request LINE: one request on a fresh connection; prints the answer line.
request() {
  local fd answer=
  exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
  printf '%s\n' "$1" >&"$fd"
  IFS= read -r -t 10 answer <&"$fd" || answer="(no answer)"
  exec {fd}>&-
  printf '%s' "$answer"
}
# held_ids: the ids of the detached locks .locks shows, one a line.
held_ids() { request .locks | grep -o '"id":"[0-9a-f-]*","kind":"detached"' | cut -d'"' -f4 | sort; }
persist_error="err,server cannot persist the lock, try again later"

step "detached locks taken while there is space"
start_server
ids=()
for i in $(seq 0 5); do
  answer=$(request "lock,name:d$i,ttl:3600")
  [[ $answer == ok,id:* ]] || fail "lock d$i: $answer"
  ids+=("${answer#ok,id:}")
done

step "the disk fills up"
dd if=/dev/zero of="$state/filler" bs=1k 2>/dev/null || true
df -k "$state" | tail -n 1
answer=$(request "lock,name:new,ttl:60")
[[ $answer == "$persist_error" ]] || fail "a create on a full disk: '$answer', not the persist error"

step "unlocks on the full disk: refused, not acknowledged"
released=()
refused=()
for id in "${ids[@]}"; do
  answer=$(request "unlock,id:$id")
  case $answer in
    released) released+=("$id") ;;
    "$persist_error") refused+=("$id") ;;
    *) fail "unlock $id: $answer" ;;
  esac
done
echo "released: ${#released[@]}, refused: ${#refused[@]}"
((${#refused[@]} > 0)) || fail "every unlock on the full disk was answered released: either the erase was acknowledged without being written (see the log), or the disk was not full"
[[ ! -e $state/fencing-token.tmp ]] || fail "fencing-token.tmp left behind"
[[ $(request .ping) == pong ]] || fail "the server stopped answering"

step "kill -9, then a restart on the full disk"
kill_server
start_server
[[ ! -e $state/fencing-token.tmp ]] || fail "fencing-token.tmp left behind by the restart"
expected=$(printf '%s\n' "${refused[@]}" | sort)
[[ $(held_ids) == "$expected" ]] || fail "after the restart, held: $(held_ids | tr '\n' ' '); expected exactly the refused unlocks: $(tr '\n' ' ' <<<"$expected")"
for id in "${released[@]}"; do
  held_ids | grep -qx "$id" && fail "$id was answered released and came back"
done
# Connection locks need no disk.
exec {holder}<>"/dev/tcp/127.0.0.1/$PORT"
printf 'lock,name:conn,fencing:1\n' >&"$holder"
IFS= read -r -t 10 answer <&"$holder" || answer="(no answer)"
[[ $answer == ok,token:* ]] || fail "a connection lock on the full disk: $answer"
token_full=${answer#ok,token:}
exec {holder}>&-
answer=$(request "lock,name:new,ttl:60")
[[ $answer == "$persist_error" ]] || fail "a create on the full disk after the restart: '$answer'"

step "space again: unlocks and creates work, and a restart agrees"
rm -f "$state/filler"
for id in "${refused[@]}"; do
  answer=$(request "unlock,id:$id")
  [[ $answer == released ]] || fail "unlock $id with space again: $answer"
done
answer=$(request "lock,name:new,ttl:60,fencing:1")
[[ $answer == ok,id:*,token:* ]] || fail "a create with space again: $answer"
new_id=${answer#ok,id:}
new_id=${new_id%%,*}
((${answer##*token:} > token_full)) || fail "the token went backwards: ${answer##*token:} after $token_full"
kill_server
start_server
[[ $(held_ids) == "$new_id" ]] || fail "after the last restart, held: $(held_ids | tr '\n' ' '); expected only $new_id"
[[ ! -e $state/fencing-token.tmp ]] || fail "fencing-token.tmp left behind"
echo "a full disk refuses what it cannot write, and a restart keeps exactly what was acknowledged"
