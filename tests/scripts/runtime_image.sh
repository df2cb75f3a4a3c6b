#!/usr/bin/env bash
# Proves that the server binary runs with only what the Dockerfile's runtime stage
# provides, without a Docker engine:
#   1. reads the runtime stage (the last FROM) of the Dockerfile: its apt package list,
#      USER (must not be root), EXPOSE 7654, ENTRYPOINT and CMD;
#   2. assembles an empty root holding only the shared libraries (and the dynamic loader)
#      of those packages plus libc6, libstdc++6 and libgcc-s1, which debian:bookworm-slim
#      ships, taken from `dpkg -L` (not from ldd: a package missing from the Dockerfile
#      must make this test fail), and the server binary from TNL_BIN_DIR;
#   3. runs the server there with chroot as uid:gid 10001, on 127.0.0.1 with --port 0 and
#      --port-file, checks `.ping` -> `pong`, a lock/release and `.stats` over TCP, runs
#      tcpnetlock_do and tcpnetlock_client there too, sends SIGTERM and expects exit 0.
# Needs root (chroot). Run by ctest with TNL_BIN_DIR and TNL_SOURCE_DIR set.
set -euo pipefail

: "${TNL_BIN_DIR:?TNL_BIN_DIR must point at the bin directory of the build}"
: "${TNL_SOURCE_DIR:?TNL_SOURCE_DIR must point at the source tree}"
dockerfile=$TNL_SOURCE_DIR/Dockerfile
server=$TNL_BIN_DIR/tcpnetlock_server
base_packages=(libc6 libstdc++6 libgcc-s1)   # in debian:bookworm-slim already
run_uid=10001

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "runtime_image: $*"; }

[[ -f $dockerfile ]] || fail "no Dockerfile at $dockerfile"
[[ -x $server ]] || fail "no server binary at $server"

# ---- 1. the runtime stage of the Dockerfile --------------------------------------------
# Lines after the last FROM, with backslash continuations joined and comments dropped.
runtime_stage=$(awk '
  /^[[:space:]]*#/ { next }
  /^[[:space:]]*FROM[[:space:]]/ { stage = "" }
  { stage = stage $0 "\n" }
  END { printf "%s", stage }' "$dockerfile" | sed -e ':a' -e '/\\$/{N;s/\\\n/ /;ba' -e '}')

instruction() {  # the last value of Dockerfile instruction $1 in the runtime stage
  grep -iE "^[[:space:]]*$1[[:space:]]" <<<"$runtime_stage" | tail -n 1 |
    sed -E "s/^[[:space:]]*$1[[:space:]]+//I"
}

user=$(instruction USER)
[[ -n $user ]] || fail "the Dockerfile's runtime stage has no USER (it would run as root)"
case ${user%%:*} in
  root|0) fail "the Dockerfile's runtime stage runs as root (USER $user)" ;;
esac
grep -iqE '^[[:space:]]*EXPOSE[[:space:]].*\b7654\b' <<<"$runtime_stage" ||
  fail "the Dockerfile's runtime stage does not EXPOSE 7654"
grep -q tcpnetlock_server <<<"$(instruction ENTRYPOINT)" ||
  fail "the Dockerfile's ENTRYPOINT does not start tcpnetlock_server"
grep -q '0\.0\.0\.0' <<<"$(instruction ENTRYPOINT) $(instruction CMD)" ||
  fail "the Dockerfile's runtime stage does not listen on 0.0.0.0"
note "runtime stage: USER $user, EXPOSE 7654, ENTRYPOINT $(instruction ENTRYPOINT) CMD $(instruction CMD)"

# Packages named by `apt-get install` in the runtime stage (up to the next && or ;).
mapfile -t runtime_packages < <(
  grep -oE 'apt-get[[:space:]]+install[^&;]*' <<<"$runtime_stage" |
    tr -s ' \t' '\n' | grep -vE '^(apt-get|install|-.*|)$' | sort -u)
((${#runtime_packages[@]})) || fail "no 'apt-get install' in the Dockerfile's runtime stage"
note "runtime packages: ${runtime_packages[*]}"

# scripts/install-deps.sh --runtime must name the same packages.
if [[ -x $TNL_SOURCE_DIR/scripts/install-deps.sh ]]; then
  script_packages=$("$TNL_SOURCE_DIR/scripts/install-deps.sh" --runtime --print | sort -u | xargs)
  [[ $script_packages == "${runtime_packages[*]}" ]] ||
    fail "Dockerfile runtime packages (${runtime_packages[*]}) differ from scripts/install-deps.sh --runtime ($script_packages)"
fi

if [[ $(id -u) != 0 ]]; then
  echo "SKIPPED: the chroot part of this test needs root (CI runs as root)"
  exit 77  # ctest reports it as skipped, not passed
fi

# ---- 2. an empty root with only those packages' shared libraries -----------------------
workdir=$(mktemp -d /tmp/tnl-runtime-image.XXXXXX)
root=$workdir/root
server_pid=
proc_mounted=0
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if ((proc_mounted)); then umount -l "$root/proc" 2>/dev/null || true; fi
  rm -rf --one-file-system "$workdir"
}
trap cleanup EXIT

mkdir -p "$root"
# The same merged-/usr layout as the host (and bookworm-slim): /lib -> usr/lib, ...
for top in bin sbin lib lib32 lib64 libx32; do
  if [[ -L /$top ]]; then
    ln -s "$(readlink "/$top")" "$root/$top"
    mkdir -p "$root/$(readlink -f "/$top")"
  fi
done

packages=("${base_packages[@]}" "${runtime_packages[@]}")

# A sanitizer build (build/asan) also needs the sanitizer runtimes and /proc; they are not
# part of the image, but the rest of the check stays the same.
sanitizer_libs=$(readelf -d "$server" 2>/dev/null | grep -oE 'lib(asan|ubsan|lsan|tsan)\.so[.0-9]*' || true)
if [[ -n $sanitizer_libs ]]; then
  for lib in $sanitizer_libs; do
    pkg=$(dpkg -S "/$lib" 2>/dev/null | head -n 1 | cut -d: -f1) ||
      true
    [[ -n $pkg ]] || pkg=$(dpkg -S "$lib" | head -n 1 | cut -d: -f1)
    packages+=("$pkg")
  done
  note "sanitizer build: adding ${sanitizer_libs//$'\n'/ } from its packages and /proc"
fi

copied=0
for pkg in "${packages[@]}"; do
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true) == installed ]] ||
    fail "package $pkg (runtime stage) is not installed on this machine; run scripts/install-deps.sh"
  while IFS= read -r path; do
    [[ $(basename "$path") == *.so* ]] || continue
    [[ -f $path || -L $path ]] || continue
    [[ -d $path ]] && continue
    dest=$root$path
    mkdir -p "$(dirname "$dest")"
    cp -P "$path" "$dest"
    copied=$((copied + 1))
  done < <(dpkg -L "$pkg")
done
note "root at $root: $copied shared-library files from ${packages[*]}"

mkdir -p "$root/opt/tcpnetlock/bin" "$root/run/tcpnetlock"
mkdir -m 1777 "$root/tmp"
cp "$server" "$root/opt/tcpnetlock/bin/tcpnetlock_server"
# The clients ship in the image too; checked below when this build has them.
clients=0
if [[ -x $TNL_BIN_DIR/tcpnetlock_do && -x $TNL_BIN_DIR/tcpnetlock_client ]]; then
  cp "$TNL_BIN_DIR/tcpnetlock_do" "$TNL_BIN_DIR/tcpnetlock_client" "$root/opt/tcpnetlock/bin/"
  clients=1
fi
chown "$run_uid:$run_uid" "$root/run/tcpnetlock"
if [[ -n $sanitizer_libs ]]; then
  mkdir -p "$root/proc"
  mount -t proc proc "$root/proc"
  proc_mounted=1
fi

# ---- 3. run it there, as a non-root user -------------------------------------------------
log=$workdir/server.log
port_file=/run/tcpnetlock/port
chroot --userspec="$run_uid:$run_uid" "$root" \
  /opt/tcpnetlock/bin/tcpnetlock_server --listen 127.0.0.1 --port 0 --port-file "$port_file" --info \
  >"$log" 2>&1 &
server_pid=$!

show_log() { echo "--- server output ---" >&2; cat "$log" >&2 || true; echo "---" >&2; }

port=
for _ in $(seq 1 200); do
  if [[ -s $root$port_file ]]; then
    port=$(tr -dc '0-9' <"$root$port_file")
    [[ -n $port ]] && break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid" && status=0 || status=$?
    server_pid=
    show_log
    fail "the server exited with status $status before listening (a missing shared library?)"
  fi
  sleep 0.05
done
[[ -n $port ]] || { show_log; fail "the server wrote no port to $port_file within 10 s"; }
note "server (pid $server_pid, uid $run_uid) listening on 127.0.0.1:$port"

# ask LINE...: sends the lines on one connection, prints the answers (one per line sent).
ask() {
  local answer line
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  for line in "$@"; do
    printf '%s\n' "$line" >&3
    IFS= read -r -t 5 answer <&3 || answer="<no answer>"
    printf '%s\n' "$answer"
  done
  exec 3<&- 3>&-
}

expect() {  # expect EXPECTED LINE...: the answers to LINE... joined with spaces
  local expected=$1 got
  shift
  got=$(ask "$@" | xargs)
  [[ $got == "$expected" ]] || { show_log; fail "sent '$*': expected '$expected', got '$got'"; }
  note "sent '$*' -> '$got'"
}

expect "pong" ".ping"
expect "ok released" "lock,name:runtime-image" "release"
got=$(ask ".stats")
[[ $got == stats,\{*\"lock_count\"* ]] || { show_log; fail ".stats answered '$got'"; }
note "sent '.stats' -> '$got'"

if ((clients)); then
  # tcpnetlock_do takes a lock and runs tcpnetlock_client --help under it: both load.
  do_log=$workdir/do.log
  if ! timeout 30 chroot --userspec="$run_uid:$run_uid" "$root" \
      /opt/tcpnetlock/bin/tcpnetlock_do --host 127.0.0.1 --port "$port" --lock-name runtime-image \
      -- /opt/tcpnetlock/bin/tcpnetlock_client --help >"$do_log" 2>&1; then
    cat "$do_log" >&2
    show_log
    fail "tcpnetlock_do running tcpnetlock_client --help failed in the runtime root"
  fi
  note "tcpnetlock_do -- tcpnetlock_client --help: exit status 0"
fi

kill -TERM "$server_pid"
for _ in $(seq 1 200); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
if kill -0 "$server_pid" 2>/dev/null; then
  show_log
  fail "the server did not exit within 10 s of SIGTERM"
fi
wait "$server_pid" && status=0 || status=$?
server_pid=
[[ $status == 0 ]] || { show_log; fail "the server exited with status $status after SIGTERM (expected 0)"; }
note "SIGTERM: exit status 0"
echo "PASS: the server (and the clients, when built) run with only the runtime stage's packages (${runtime_packages[*]})"
