#!/usr/bin/env bash
# packaging/bash-completion/tcpnetlock, sourced in bash, completes: options from each
# program's --help (partial options, subcommands and their options for tcpnetlock_admin,
# the values of an option with a fixed set), lock names for --lock-name from a running
# server's `.locks` (host and port as given on the command line), nothing (and quickly)
# when no server answers, and the command after `--`.
#
# Loopback only; the server is on ephemeral ports and killed on exit.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
: "${TNL_SOURCE_DIR:?set by ctest}"
source "$(dirname "${BASH_SOURCE[0]}")/lib/http_server.bash"

completion=$TNL_SOURCE_DIR/packaging/bash-completion/tcpnetlock
# complete WORD...: what bash offers for the last WORD (each reply on its own line, sorted).
complete_words() {
  PATH=$TNL_BIN_DIR:$PATH bash -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
    complete_function=$(complete -p "$1" | sed -E "s/.* -F ([^ ]+) .*/\1/")
    "$complete_function" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}" | sort -u' _ "$completion" "$@"
}
# expect "WORDS" EXPECTED: the completions of WORDS are exactly EXPECTED (space-separated).
expect() {
  local words=$1 expected=$2 got
  read -ra argv <<<"$words"
  [[ $words == *" " ]] && argv+=("")
  got=$(complete_words "${argv[@]}" | xargs)
  [[ $got == "$expected" ]] || fail "'$words' completes to '$got', expected '$expected'"
  echo "   '$words' -> $got"
}
# expect_some "WORDS" EXPECTED: EXPECTED is among the completions of WORDS.
expect_some() {
  local words=$1 expected=$2 got
  read -ra argv <<<"$words"
  [[ $words == *" " ]] && argv+=("")
  got=$(complete_words "${argv[@]}")
  grep -qx -- "$expected" <<<"$got" || fail "'$words' does not offer '$expected' (offers: $(xargs <<<"$got"))"
  echo "   '$words' -> ... $expected ..."
}

step "partial options"
expect "tcpnetlock_do --lock-n" "--lock-name"
expect "tcpnetlock_server --state-d" "--state-dir"
expect "tnl_client --ttl" "--ttl"
expect_some "tcpnetlock_admin --" "--token-file"
expect_some "tcpnetlock_do --" "--kill-grace"
step "subcommands and values"
expect "tcpnetlock_admin li" "list"
expect "tcpnetlock_admin list --na" "--name"
expect "tcpnetlock_do --on-lost " "kill warn"
expect_some "tcpnetlock_do --lock-name x -- tru" "true"

step "lock names from .locks"
start_http_server
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
echo "lock,name:deploy-prod" >&3
read -r -t 10 answer <&3 || fail "no answer to lock"
[[ $answer == ok ]] || fail "lock answered '$answer'"
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
echo "lock,name:deploy-staging" >&4
read -r -t 10 answer <&4 || fail "no answer to lock"
expect "tcpnetlock_do --host 127.0.0.1 --port $PORT --lock-name depl" "deploy-prod deploy-staging"
expect "tcpnetlock_do --port=$PORT --host=127.0.0.1 --lock-name deploy-p" "deploy-prod"
expect "tcpnetlock_client --host 127.0.0.1 --port $PORT deploy-s" "deploy-staging"
TCPNETLOCK_HOST=127.0.0.1 TCPNETLOCK_PORT=$PORT expect "tcpnetlock_do --lock-name deploy-s" "deploy-staging"

step "no server: no names, within the 1 s limit"
stop_http_server
start=$SECONDS
expect "tcpnetlock_do --host 127.0.0.1 --port $PORT --lock-name depl" ""
((SECONDS - start <= 3)) || fail "completing with no server took $((SECONDS - start)) s"
echo PASS
