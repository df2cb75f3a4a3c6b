# shellcheck shell=bash
# Background steps for scripts/test.sh (sourced; bash, under set -euo pipefail): a chain of
# commands runs in the background at a lower priority, each leaving its log and exit
# status in $bg_dir, and wait_step waits for one (and adds its line to the script's
# `timings`). Whatever is still running when the sourcing script exits is stopped, and the
# script's exit status is kept.
# tests/scripts/background_steps.sh tests this file.

bg_dir=$(mktemp -d)

# kill_tree PID: SIGTERM to PID and every process below it (compilers, buildah's steps).
# Never fails: a process may end at any moment, and a caller runs under set -e.
kill_tree() {
  local child
  # Gone already (it ended, or an earlier kill_tree stopped it): nothing below it either.
  kill -STOP "$1" 2>/dev/null || return 0  # no new children meanwhile
  for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill -TERM "$1" 2>/dev/null || true
  kill -CONT "$1" 2>/dev/null || true
}
# running_chains: the pids of this shell's background jobs (the chains; the sourcing script
# starts no other) still running or stopped. Not the pids once started: a job that ended
# is listed by neither, and in an hour of compiles and tests pids wrap around, so its
# number may by then be an unrelated process's.
running_chains() {
  jobs -rp
  jobs -sp
}
# chain_running PID: PID is one of them.
chain_running() {
  local pid
  for pid in $(running_chains); do [[ $pid == "$1" ]] && return 0; done
  return 1
}
# on_exit: the EXIT trap. Stops what still runs in the background (if the script stops
# early) and removes $bg_dir, keeping the script's exit status. Under set -e a trap's
# failing command would end the shell with its own status (a run where everything passed
# once exited 1 because a background chain had already ended), hence set +e and exit "$rc".
on_exit() {
  local rc=$? pid
  set +e
  for pid in $(running_chains); do kill_tree "$pid"; done
  rm -rf "$bg_dir"
  exit "$rc"
}
trap on_exit EXIT

# bg_steps NICE NAME COMMAND [-- NAME COMMAND]...: runs the steps one after the other in
# the background at niceness NICE; step NAME leaves $bg_dir/NAME.log, .rc and .seconds.
bg_steps() {
  local niceness=$1
  shift
  # The step names: the first word, and each word after a --.
  local word names=("$1") after_separator=0
  for word in "${@:2}"; do
    ((after_separator)) && names+=("$word")
    after_separator=0
    [[ $word == -- ]] && after_separator=1
  done
  (
    # Not set -e here: a step that fails must still leave its exit status.
    set +e
    # The whole chain (and so every compiler it starts) at that priority.
    renice -n "$niceness" -p "$BASHPID" >/dev/null
    while (($#)); do
      local name=$1 cmd=() started=$SECONDS
      shift
      while (($#)) && [[ $1 != -- ]]; do cmd+=("$1"); shift; done
      (($#)) && shift
      "${cmd[@]}" >"$bg_dir/$name.log" 2>&1
      echo $? >"$bg_dir/$name.rc.tmp"
      echo $((SECONDS - started)) >"$bg_dir/$name.seconds"
      mv "$bg_dir/$name.rc.tmp" "$bg_dir/$name.rc"
    done
  ) &
  # Each step's chain, for wait_step.
  for word in "${names[@]}"; do bg_chain[$word]=$!; done
}
declare -A bg_chain=()

# wait_step NAME [UNTIL]: waits for a background step (each build is bounded by the
# compiler; a chain that died without an exit status ends the wait), prints its log's tail
# on failure, and returns its exit status. UNTIL: when this script has run that many
# seconds, the step is stopped and its status is 124.
wait_step() {
  local name=$1 until=${2:-} waited_from=$SECONDS rc
  while [[ ! -e $bg_dir/$name.rc ]]; do
    if [[ -n $until ]] && ((SECONDS >= until)); then
      if chain_running "${bg_chain[$name]}"; then kill_tree "${bg_chain[$name]}"; fi
      sleep 10  # its cleanup (the image build unmounts and removes its storage)
      echo "stopped: this run reached ${until} s" >>"$bg_dir/$name.log"
      echo 124 >"$bg_dir/$name.rc"
      echo $((SECONDS - waited_from)) >"$bg_dir/$name.seconds"
      break
    fi
    if ! chain_running "${bg_chain[$name]}" && [[ ! -e $bg_dir/$name.rc ]]; then
      echo "the background chain of $name ended without its exit status" >>"$bg_dir/$name.log"
      echo 125 >"$bg_dir/$name.rc"
      echo 0 >"$bg_dir/$name.seconds"
      break
    fi
    sleep 2
  done
  rc=$(cat "$bg_dir/$name.rc")
  timings+=("$name (background): $(cat "$bg_dir/$name.seconds") s, waited for $((SECONDS - waited_from)) s")
  if ((rc != 0)); then
    echo "=== $name failed (exit $rc); the end of its log: ==="
    tail -n 60 "$bg_dir/$name.log"
  fi
  return "$rc"
}

