# For tests that take a link away under a holder: two network namespaces of the test's own,
# joined by a veth pair (veth_pair), cleaned up at exit with every pid in `pids`. Needs root:
# sourcing it elsewhere exits 77 (skipped). Defines work (a temporary directory), pids,
# fail MESSAGE (with the server's log, $work/server.log, if any) and wait_for FILE TEXT SECONDS.
if [[ $(id -u) != 0 ]]; then
  echo "SKIPPED: network namespaces need root (CI runs as root)"
  exit 77  # ctest reports it as skipped, not passed
fi
work=$(mktemp -d)
pids=()

cleanup() {
  for pid in "${pids[@]}"; do { kill -9 "$pid" && wait "$pid"; } 2>/dev/null || true; done
  [[ -n ${server_ns:-} ]] && { ip netns del "$server_ns" 2>/dev/null || true; }
  [[ -n ${holder_ns:-} ]] && { ip netns del "$holder_ns" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [ -f "$work/server.log" ] && sed 's/^/  server: /' "$work/server.log" >&2; exit 1; }

# wait_for FILE TEXT SECONDS: until FILE contains TEXT.
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}

# veth_pair TAG PREFIX: namespaces $server_ns (PREFIX.1/30 on ${id}a) and $holder_ns
# (PREFIX.2/30 on ${id}b), id = TAG and this shell's pid, every link up.
veth_pair() {
  id="$1$$"
  server_ns="${id}s"
  holder_ns="${id}h"
  ip netns add "$server_ns"
  ip netns add "$holder_ns"
  ip link add "${id}a" netns "$server_ns" type veth peer name "${id}b" netns "$holder_ns"
  ip -n "$server_ns" addr add "$2.1/30" dev "${id}a"
  ip -n "$holder_ns" addr add "$2.2/30" dev "${id}b"
  local ns
  for ns in "$server_ns" "$holder_ns"; do ip -n "$ns" link set lo up; done
  ip -n "$server_ns" link set "${id}a" up
  ip -n "$holder_ns" link set "${id}b" up
}
