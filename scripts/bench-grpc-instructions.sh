#!/usr/bin/env bash
# Issue 14's "the gRPC path costs the server no more CPU per lock than HTTP", counted
# deterministically: the server's instructions (valgrind callgrind's Ir, all its threads)
# per pair, gRPC's CreateLock + UnLock against HTTP's POST + DELETE /api/v1alpha1/lock.
#
# One tcpnetlock_server (local backend) runs under callgrind; for each client count and
# transport, bench_grpc --attach makes N1 then N2 pairs per client (each run on fresh
# connections, after one warm-up pair), the server's counters zeroed before and dumped
# after each run. Per pair = (Ir(N2) - Ir(N1)) / ((N2 - N1) * clients): what connecting,
# the warm-up and closing cost cancels out. Builds nothing.
#
# Callgrind counts the server's own instructions, not the kernel's work for it (about half
# of its CPU time): with strace installed, a second server (not under valgrind) has its
# system calls counted the same way (strace -c, N1 then N2 pairs a client).
#
#   scripts/bench-grpc-instructions.sh [--build build/release] [--clients 1,4] [--pairs N1,N2] [--keep]
#
# Prints, per client count: "c=C instructions per pair: grpc X, http Y, ratio Z" and
# "c=C system calls per pair: grpc X, http Y" (--keep: the callgrind files are kept, for
# `callgrind_annotate --threshold=100 FILE`: the functions on the stack at each dump, the
# loop's, come first with the whole run's cost).
# With more than one client the server, slowed some 50 times by valgrind, always finds
# several requests waiting: it serves them per wake-up, as a busy server does.
set -euo pipefail

build=build/release
clients=1,4
pairs=200,1200
keep=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --keep) keep=1; shift ;;  # keep the callgrind files (for callgrind_annotate)
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
server=$build/bin/tcpnetlock_server
bench=$build/bin/bench_grpc
for binary in "$server" "$bench"; do
  [[ -x $binary ]] || { echo "no $binary: build it first (tcpnetlock_server, bench_grpc)" >&2; exit 2; }
done
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
  { echo "needs valgrind (callgrind_control)" >&2; exit 2; }
IFS=, read -r n1 n2 <<<"$pairs"
((n2 > n1)) || { echo "--pairs N1,N2 needs N2 > N1" >&2; exit 2; }

dir=$(mktemp -d /tmp/tnl-grpc-ir-XXXXXX)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [[ -n $keep ]]; then echo "callgrind files kept in $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT

valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" --compress-strings=no --compress-pos=no \
  "$server" --listen 127.0.0.1 --port 0 --port-file "$dir/port" \
  --http 127.0.0.1:0 --http-port-file "$dir/http-port" --grpc 127.0.0.1:0 --grpc-port-file "$dir/grpc-port" \
  2>"$dir/server.log" &
pid=$!
for _ in $(seq 600); do
  [[ -s $dir/port && -s $dir/http-port && -s $dir/grpc-port ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  sleep 0.2
done
[[ -s $dir/grpc-port ]] || { echo "the server wrote no ports within 120 s" >&2; exit 1; }
ports="$(cat "$dir/port"),$(cat "$dir/http-port"),$(cat "$dir/grpc-port")"

# Ir of the server while bench_grpc makes `n` pairs per client over `transport`.
count() {
  local transport=$1 c=$2 n=$3 label="$1-c$2-n$3"
  callgrind_control --zero "$pid" >/dev/null 2>&1
  "$bench" --attach "$ports" --transports "$transport" --clients "$c" --pairs "$n" --repetitions 1 \
    --no-equal-pace --no-pin >"$dir/$label.bench" 2>&1 || { cat "$dir/$label.bench" >&2; exit 1; }
  callgrind_control --dump="$label" "$pid" >/dev/null 2>&1
  local file=
  for _ in $(seq 100); do
    file=$(grep -l "^desc: Trigger: Client Request: $label\$\|^desc: Trigger: dump $label\$" "$dir"/callgrind.out* 2>/dev/null | head -1 || true)
    [[ -n $file ]] && break
    sleep 0.1
  done
  [[ -n $file ]] || { echo "no callgrind dump for $label" >&2; exit 1; }
  sleep 0.2  # written whole
  awk '/^totals:/ { print $2; exit }' "$file"
}

# System calls of the server at `spid` (ports `sports`) while bench_grpc makes `n` pairs per client.
syscalls() {
  local transport=$1 c=$2 n=$3 label="strace-$1-c$2-n$3"
  strace -f -c -o "$dir/$label.txt" -p "$spid" 2>"$dir/$label.log" &
  local tracer=$!
  for _ in $(seq 100); do grep -q attached "$dir/$label.log" && break; sleep 0.05; done
  sleep 0.2
  "$bench" --attach "$sports" --transports "$transport" --clients "$c" --pairs "$n" --repetitions 1 \
    --no-equal-pace --no-pin >"$dir/$label.bench" 2>&1 || { cat "$dir/$label.bench" >&2; exit 1; }
  sleep 0.2
  kill -INT "$tracer"
  wait "$tracer" || true
  awk '$NF == "total" { print $4; exit }' "$dir/$label.txt"
}
spid=
if command -v strace >/dev/null; then
  "$server" --listen 127.0.0.1 --port 0 --port-file "$dir/sport" --http 127.0.0.1:0 --http-port-file "$dir/shttp-port" \
    --grpc 127.0.0.1:0 --grpc-port-file "$dir/sgrpc-port" 2>"$dir/sserver.log" &
  spid=$!
  for _ in $(seq 100); do [[ -s $dir/sgrpc-port ]] && break; sleep 0.1; done
  sports="$(cat "$dir/sport"),$(cat "$dir/shttp-port"),$(cat "$dir/sgrpc-port")"
fi
stop_strace_server() { [[ -n $spid ]] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null; true; }
trap 'stop_strace_server; cleanup' EXIT

IFS=, read -ra client_counts <<<"$clients"
for c in "${client_counts[@]}"; do
  declare -A per_pair=()
  for transport in grpc http; do
    low=$(count "$transport" "$c" "$n1")
    high=$(count "$transport" "$c" "$n2")
    per_pair[$transport]=$(( (high - low) / ((n2 - n1) * c) ))
    echo "  $transport c=$c: Ir $low for $n1 pairs a client, $high for $n2" >&2
  done
  ratio=$(awk -v g="${per_pair[grpc]}" -v h="${per_pair[http]}" 'BEGIN { printf "%.2f", g / h }')
  echo "c=$c instructions per pair: grpc ${per_pair[grpc]}, http ${per_pair[http]}, ratio $ratio"
  if [[ -n $spid ]]; then
    declare -A calls=()
    for transport in grpc http; do
      low=$(syscalls "$transport" "$c" "$n1")
      high=$(syscalls "$transport" "$c" "$n2")
      calls[$transport]=$(awk -v l="$low" -v h="$high" -v n=$(( (n2 - n1) * c )) 'BEGIN { printf "%.1f", (h - l) / n }')
    done
    echo "c=$c system calls per pair: grpc ${calls[grpc]}, http ${calls[http]}"
  fi
done
