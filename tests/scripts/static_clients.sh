#!/usr/bin/env bash
# The static clients: tcpnetlock_do and tcpnetlock_client link no shared library (`ldd`:
# "not a dynamic executable", `file`: statically linked) and work in a root that holds
# nothing but them, as in a scratch or Alpine image that COPYs them in:
#   1. a chroot with only the two binaries (no /etc, no /proc, no libraries), the server
#      on the host's loopback (a chroot shares the network namespace):
#      tcpnetlock_do --host localhost runs /tcpnetlock_client (--host localhost.) as its
#      command, which takes a detached lock and prints its id; tcpnetlock_client --host
#      127.0.0.1 (an IP literal) releases it; tcpnetlock_do --host db.localhost holds a
#      lock whose second taker (its command, via localhost) is refused; a name that does
#      not exist (nonexistent.invalid) fails cleanly with exit 3 "cannot resolve";
#   2. without /proc the guardian works as docs/SECURITY.md says: a lost lock (the server
#      stops) makes it warn "cannot read /proc", signal the command's process group and
#      exit 122; with /proc mounted, no warning;
#   3. glibc's built-in name services (no libnss_*.so in the root): `files` (/etc/hosts
#      in the root) and `dns` (/etc/resolv.conf naming a one-answer DNS responder on
#      127.0.0.1:53 in a network namespace of this test's own, so no packet leaves it).
# Root needed (chroot, network namespace); the static checks run without it, then exit 77.
# Run by ctest with TNL_BIN_DIR set; about 3 s.
set -euo pipefail

: "${TNL_BIN_DIR:?TNL_BIN_DIR must point at the bin directory of the build}"
server=$TNL_BIN_DIR/tcpnetlock_server
clients=(tcpnetlock_do tcpnetlock_client)

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "static_clients: $*"; }

# ---- the binaries are static -------------------------------------------------------------
for program in "${clients[@]}"; do
  binary=$TNL_BIN_DIR/$program
  [[ -x $binary ]] || fail "no $binary"
  # A sanitizer build links the clients dynamically (the sanitizer runtimes are shared).
  if readelf -d "$binary" 2>/dev/null | grep -qE 'lib(asan|ubsan)\.so'; then
    echo "SKIPPED: a sanitizer build, whose clients are not static (TNL_STATIC_CLIENTS is off there)"
    exit 77
  fi
  ldd_output=$(ldd "$binary" 2>&1 || true)
  [[ $ldd_output == *"not a dynamic executable"* ]] || fail "ldd $program: '$ldd_output' (expected: not a dynamic executable)"
  file_output=$(file -b "$binary")
  [[ $file_output == *"statically linked"* ]] || fail "file $program: '$file_output' (expected: statically linked)"
  readelf -l "$binary" | grep -q INTERP && fail "$program has a program interpreter (a dynamic loader)"
  note "$program: ldd says '$ldd_output'; file says '${file_output%%,*}, ..., statically linked'"
done

if [[ $(id -u) != 0 ]]; then
  echo "SKIPPED: the chroot and network-namespace part of this test needs root (CI runs as root)"
  exit 77
fi

work=$(mktemp -d /tmp/tnl-static-clients.XXXXXX)
pids=()
mounts=()
netns=
cleanup() {
  local pid mount
  for pid in "${pids[@]}"; do { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true; done
  for mount in "${mounts[@]}"; do umount -l "$mount" 2>/dev/null || true; done
  [[ -n $netns ]] && ip netns del "$netns" 2>/dev/null
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# new_root DIR: DIR holding the two binaries and nothing else.
new_root() {
  mkdir -p "$1"
  cp "$TNL_BIN_DIR/tcpnetlock_do" "$TNL_BIN_DIR/tcpnetlock_client" "$1/"
}

# start_server NAME [ip netns exec NS]: the server on 127.0.0.1, an ephemeral port; sets
# server_pid and port.
start_server() {
  local name=$1
  shift
  local port_file=$work/$name.port
  "$@" "$server" --listen 127.0.0.1 --port 0 --port-file "$port_file" --http off >"$work/$name.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 200); do
    [[ -s $port_file ]] && { port=$(<"$port_file"); return 0; }
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/$name.log" >&2; fail "the server ($name) exited"; }
    sleep 0.05
  done
  fail "the server ($name) wrote no port within 10 s"
}

# run_in ROOT EXPECTED_STATUS OUTPUT_FILE COMMAND...: chroot ROOT COMMAND, bounded by 20 s.
run_in() {
  local root=$1 expected=$2 output=$3 status=0
  shift 3
  timeout 20 chroot "$root" "$@" >"$output" 2>&1 || status=$?
  if [[ $status != "$expected" ]]; then
    cat "$output" >&2
    fail "chroot $root $*: exit $status, expected $expected"
  fi
  note "exit $status: $*: $(tr '\n' ' ' <"$output")"
}

# held NAME [PORT]: whether the server (on $port, or PORT) grants NAME to a new connection
# now ('not-granted': held).
held() {
  local answer
  exec 4<>"/dev/tcp/127.0.0.1/${2:-$port}"
  printf 'lock,name:%s\n' "$1" >&4
  IFS= read -r -t 5 answer <&4 || answer=
  exec 4<&- 4>&-
  [[ $answer == not-granted* ]]
}

# ---- 1. a root with nothing but the binaries ---------------------------------------------
bare=$work/bare
new_root "$bare"
note "bare root: $(cd "$bare" && find . -mindepth 1 | sort | xargs)"
start_server host

out=$work/out
# localhost (tcpnetlock_do), then localhost. (its command): the command takes a detached
# lock and prints its id, which only happens when tcpnetlock_do got its lock and ran it.
run_in "$bare" 0 "$out" /tcpnetlock_do --host localhost --port "$port" --lock-name static-outer -- \
  /tcpnetlock_client --host localhost. --port "$port" --ttl 60 static-detached
lock_id=$(grep -oE '^[0-9a-f-]{36}$' "$out" || true)
[[ -n $lock_id ]] || fail "no detached lock id in the command's output"
held static-detached || fail "the detached lock static-detached is not held after the command"
held static-outer && fail "static-outer is still held after tcpnetlock_do exited"

# An IP literal (never a name lookup): release the detached lock by its id.
run_in "$bare" 0 "$out" /tcpnetlock_client --host 127.0.0.1 --port "$port" --unlock "$lock_id"
held static-detached && fail "static-detached is still held after --unlock"

# *.localhost: tcpnetlock_do holds static-held; its command asks for the same name and is
# refused (exit 123, and the message names the command's lock, not tcpnetlock_do's).
run_in "$bare" 123 "$out" /tcpnetlock_do --host db.localhost --port "$port" --lock-name static-do -- \
  /tcpnetlock_client --host localhost --port "$port" static-do
grep -q "lock 'static-do' not granted" "$out" || fail "the refusal is not the command's"

# A name that does not exist fails cleanly: exit 3 (connection failed), a clear message.
run_in "$bare" 3 "$out" /tcpnetlock_client --host nonexistent.invalid --port "$port" static-x
grep -q "cannot resolve 'nonexistent.invalid'" "$out" || fail "no 'cannot resolve' message"
[[ -z $(ls -A "$bare" | grep -vxE 'tcpnetlock_do|tcpnetlock_client') ]] || fail "something appeared in the bare root"

# ---- 2. the guardian without /proc (and with it) -----------------------------------------
# tcpnetlock_do holds static-lost-N while its command (tcpnetlock_client) holds static-cmd-N
# on a second server, which stays up (on the same server the command would see the shutdown
# too, and could end by itself before the guardian had to end it: no warning to check);
# the first server stops, the lock is lost, the guardian ends the command: exit 122.
guardian_case() {  # guardian_case ROOT N EXPECT_WARNING(0|1)
  local root=$1 n=$2 warn=$3 status=0 cmd_port
  start_server "cmd-$n"
  cmd_port=$port
  start_server "lost-$n"
  # The command waits for its lock: held() takes the lock for a moment to see whether it is
  # busy, and a command that asked just then would be refused and never take it.
  timeout 20 chroot "$root" /tcpnetlock_do --host localhost --port "$port" --lock-name "static-lost-$n" -- \
    /tcpnetlock_client --host localhost --port "$cmd_port" --wait 15 "static-cmd-$n" >"$work/lost-$n.out" 2>&1 &
  local do_pid=$!
  pids+=("$do_pid")
  for _ in $(seq 1 200); do held "static-cmd-$n" "$cmd_port" && break; sleep 0.05; done
  held "static-cmd-$n" "$cmd_port" || fail "the command never took static-cmd-$n"
  kill -TERM "$server_pid"
  wait "$do_pid" || status=$?
  note "without /proc=$warn: tcpnetlock_do exit $status: $(tr '\n' ' ' <"$work/lost-$n.out")"
  [[ $status == 122 ]] || fail "tcpnetlock_do exited $status after losing its lock, expected 122"
  if ((warn)); then
    grep -q "cannot read /proc" "$work/lost-$n.out" || fail "no 'cannot read /proc' warning without /proc"
  else
    grep -q "cannot read /proc" "$work/lost-$n.out" && fail "a /proc warning with /proc mounted"
  fi
  grep -q "lost lock 'static-lost-$n'" "$work/lost-$n.out" || fail "tcpnetlock_do did not report the lost lock"
}
guardian_case "$bare" 1 1
with_proc=$work/with-proc
new_root "$with_proc"
mkdir "$with_proc/proc"
mount -t proc proc "$with_proc/proc"
mounts+=("$with_proc/proc")
guardian_case "$with_proc" 2 0
umount "$with_proc/proc" && mounts=()

# ---- 3. glibc's built-in files and dns name services -------------------------------------
ls "$bare" | grep -q nss && fail "a libnss file in the root"
files_root=$work/files
new_root "$files_root"
mkdir "$files_root/etc"
echo "127.0.0.1 lockhost.example" >"$files_root/etc/hosts"
echo "hosts: files" >"$files_root/etc/nsswitch.conf"
start_server files
run_in "$files_root" 0 "$out" /tcpnetlock_client --host lockhost.example --port "$port" --ttl 1 static-files

# dns: a network namespace with only its own loopback, a responder that answers A queries
# for lockhost.test with 127.0.0.1 (no AAAA: NODATA) and NXDOMAIN for anything else.
netns="tnlstatic$$"
ip netns add "$netns"
ip netns exec "$netns" ip link set lo up
cat >"$work/dns.py" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    query, peer = s.recvfrom(512)
    i, labels = 12, []
    while query[i]:
        labels.append(query[i + 1:i + 1 + query[i]].decode().lower())
        i += 1 + query[i]
    qtype = struct.unpack(">H", query[i + 1:i + 3])[0]
    question = query[12:i + 5]
    name = ".".join(labels)
    answers = b""
    if name == "lockhost.test" and qtype == 1:
        answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
    rcode = 0 if name == "lockhost.test" else 3
    header = query[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, 1 if answers else 0, 0, 0)
    s.sendto(header + question + answers, peer)
EOF
ip netns exec "$netns" python3 "$work/dns.py" >"$work/dns.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 200); do grep -q ready "$work/dns.log" 2>/dev/null && break; sleep 0.05; done
grep -q ready "$work/dns.log" || { cat "$work/dns.log" >&2; fail "the DNS responder did not start"; }
dns_root=$work/dns
new_root "$dns_root"
mkdir "$dns_root/etc"
echo "nameserver 127.0.0.1" >"$dns_root/etc/resolv.conf"
echo "hosts: dns" >"$dns_root/etc/nsswitch.conf"
start_server dns ip netns exec "$netns"
netns_run() { ip netns exec "$netns" "$@"; }
status=0
netns_run timeout 20 chroot "$dns_root" /tcpnetlock_client --host lockhost.test --port "$port" --ttl 1 static-dns \
  >"$out" 2>&1 || status=$?
[[ $status == 0 ]] || { cat "$out" >&2; fail "resolving lockhost.test through DNS: exit $status"; }
note "dns: lockhost.test resolved through 127.0.0.1:53: $(tr '\n' ' ' <"$out")"
status=0
netns_run timeout 20 chroot "$dns_root" /tcpnetlock_client --host nothing.test --port "$port" static-dns >"$out" 2>&1 ||
  status=$?
[[ $status == 3 ]] && grep -q "cannot resolve 'nothing.test'" "$out" ||
  { cat "$out" >&2; fail "an NXDOMAIN name: exit $status"; }
note "dns: nothing.test (NXDOMAIN): exit 3: $(tr '\n' ' ' <"$out")"

echo "static_clients: all checks passed"
