#!/usr/bin/env bash
# scripts/lib/background.sh, which scripts/test.sh (CI's test command) sources: a script
# that sources it keeps its own exit status whatever its background steps did, stops
# what still runs when it exits, and removes its scratch directory. A CI run once passed
# every test and still exited 1: the EXIT trap ran under set -e, and kill_tree failed on
# a background chain that had already ended.
set -euo pipefail

: "${TNL_SOURCE_DIR:?set by ctest}"
lib=$TNL_SOURCE_DIR/scripts/lib/background.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# run_script BODY: runs BODY in a new bash that sources the library under set -euo
# pipefail; prints its exit status. The script writes its $bg_dir to $work/bg_dir.
run_script() {
  local rc=0
  bash -c "set -euo pipefail; source '$lib'; echo \"\$bg_dir\" >'$work/bg_dir'; $1" \
    >"$work/out" 2>&1 || rc=$?
  echo "$rc"
}

# pid_gone PID: true once no process has that pid (bounded wait: a SIGTERM is quick).
pid_gone() {
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# 1. Every step ended before the script did (the CI run that exited 1): status 0. The
# first runs for 3 s, so wait_step polls a running chain a few times.
rc=$(run_script "bg_steps 0 ok sleep 3 -- bad bash -c 'exit 3'
  wait_step ok
  r=0; wait_step bad || r=\$?; [[ \$r == 3 ]] || exit 9")
[[ $rc == 0 ]] || { cat "$work/out"; fail "all steps done and waited for: exit $rc, want 0"; }
[[ ! -e $(cat "$work/bg_dir") ]] || fail "\$bg_dir left behind"
echo "ok: steps that ended (one failed, waited for) leave the script's status 0"

# 2. The script's own failure status is kept, whatever the trap does.
rc=$(run_script "bg_steps 0 ok true; wait_step ok; exit 5")
[[ $rc == 5 ]] || { cat "$work/out"; fail "exit 5 after the steps: exit $rc"; }
echo "ok: the script's own exit status (5) is kept"

# 3. A step still running when the script stops early is stopped, with what it started.
rc=$(run_script "bg_steps 0 slow bash -c 'sleep 300 & echo \$! >$work/sleep.pid; wait'
  for ((i = 0; i < 100; i++)); do [[ -s $work/sleep.pid ]] && break; sleep 0.1; done
  exit 1")
[[ $rc == 1 ]] || { cat "$work/out"; fail "a script that exits 1 with a step running: exit $rc"; }
[[ -s $work/sleep.pid ]] || fail "the step never started"
pid_gone "$(cat "$work/sleep.pid")" || fail "the running step's child was left running"
echo "ok: a step still running at exit is stopped, with its children"

# 4. wait_step's deadline: a step past it is stopped and its status is 124; the run goes on.
rm -f "$work/sleep.pid"
rc=$(run_script "bg_steps 0 slow bash -c 'sleep 300 & echo \$! >$work/sleep.pid; wait'
  for ((i = 0; i < 100; i++)); do [[ -s $work/sleep.pid ]] && break; sleep 0.1; done
  r=0; wait_step slow \$SECONDS || r=\$?
  [[ \$r == 124 ]] || exit 8
  grep -q 'stopped: this run reached' \"\$bg_dir/slow.log\" || exit 7")
[[ $rc == 0 ]] || { cat "$work/out"; fail "a step stopped at its deadline: exit $rc, want 0"; }
pid_gone "$(cat "$work/sleep.pid")" || fail "the step stopped at its deadline was left running"
echo "ok: a step past wait_step's deadline is stopped and reported as 124"

# 5. A chain that ended long ago: its pid, reused by an unrelated process, is left alone.
# (Pids wrap around in CI's hour; here a pid namespace of our own hands that pid on at
# once, through ns_last_pid. Needs root.)
if [[ $(id -u) != 0 ]] || ! unshare --pid --fork --mount-proc true 2>/dev/null; then
  echo "not checked: pid reuse needs root and a pid namespace (unshare)"
  exit 0
fi
cat >"$work/reuse.sh" <<SCRIPT
set -euo pipefail
source '$lib'
bg_steps 0 done_early true
wait_step done_early
echo "\${bg_chain[done_early]}" >'$work/chain.pid'
read -r _ <'$work/go'  # a builtin on a FIFO: no fork that could take the pid first
SCRIPT
mkfifo "$work/go"
rc=0
unshare --pid --fork --mount-proc bash -c "
  bash '$work/reuse.sh' >'$work/out' 2>&1 & script=\$!
  for ((i = 0; i < 300; i++)); do [[ -s '$work/chain.pid' ]] && break; sleep 0.1; done
  read -r chain <'$work/chain.pid' && [[ -n \$chain ]] || { echo 'the script never wrote its chain pid'; exit 6; }
  echo \$((chain - 1)) >/proc/sys/kernel/ns_last_pid || exit 5
  sleep 300 & other=\$!
  [[ \$other == \"\$chain\" ]] || { echo \"pid not reused (\$other, not \$chain)\"; exit 2; }
  echo go >'$work/go'
  rc=0; wait \$script || rc=\$?
  [[ \$rc == 0 ]] || { echo \"the script exited \$rc\"; exit 3; }
  kill -0 \$other || { echo 'the EXIT trap killed the process that reused the chain pid'; exit 4; }
  kill \$other
" || rc=$?
if [[ $rc == 5 ]]; then
  echo "not checked: /proc/sys/kernel/ns_last_pid cannot be written here"
  exit 0
fi
[[ $rc == 0 ]] || { cat "$work/out"; fail "pid reuse: exit $rc"; }
echo "ok: a process that reuses an ended chain's pid is left alone"
