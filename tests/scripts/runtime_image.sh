#!/usr/bin/env bash
# Proves that the programs run with only what the Dockerfile's runtime stage provides,
# without a Docker engine:
#   1. reads the Dockerfile: the build stage must build and install every program
#      (tcpnetlock_server, _client, _do, _admin); the runtime stage (the last FROM) must
#      install exactly `scripts/install-deps.sh --runtime --print`, run as a non-root
#      USER, create /var/lib/tcpnetlock owned by 10001 as a VOLUME, EXPOSE 7654 and 7655,
#      and start tcpnetlock_server on 0.0.0.0 with --state-dir /var/lib/tcpnetlock;
#   2. assembles an empty root holding only the shared libraries (and the dynamic loader)
#      of those packages and of the packages they depend on (what apt-get installs with
#      --no-install-recommends), plus libc6, libstdc++6 and libgcc-s1, which
#      debian:bookworm-slim ships, taken from `dpkg -L` (not from ldd: a package missing
#      from the Dockerfile must make this test fail), and the binaries from TNL_BIN_DIR;
#   3. runs the server there with chroot as uid:gid 10001, on 127.0.0.1 with --port 0,
#      --port-file and --state-dir /var/lib/tcpnetlock (and --http on a free loopback port
#      when the server has --http); checks `.ping` -> `pong`, a lock/release, `.stats`, a
#      detached lock (when the server has them: SQLite in the state dir), /healthz and
#      /readyz over HTTP (when it has --http); runs tcpnetlock_do, tcpnetlock_client and
#      tcpnetlock_admin (--help, and `stats` over HTTP) there too, when built; sends
#      SIGTERM and expects exit 0.
# Needs root (chroot). Run by ctest with TNL_BIN_DIR and TNL_SOURCE_DIR set.
set -euo pipefail

: "${TNL_BIN_DIR:?TNL_BIN_DIR must point at the bin directory of the build}"
: "${TNL_SOURCE_DIR:?TNL_SOURCE_DIR must point at the source tree}"
dockerfile=$TNL_SOURCE_DIR/Dockerfile
install_deps=$TNL_SOURCE_DIR/scripts/install-deps.sh
server=$TNL_BIN_DIR/tcpnetlock_server
base_packages=(libc6 libstdc++6 libgcc-s1)   # in debian:bookworm-slim already
programs=(tcpnetlock_server tcpnetlock_client tcpnetlock_do tcpnetlock_admin tcpnetlock_distlock)
state_dir=/var/lib/tcpnetlock
run_uid=10001

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "runtime_image: $*"; }

[[ -f $dockerfile ]] || fail "no Dockerfile at $dockerfile"
[[ -x $install_deps ]] || fail "no executable scripts/install-deps.sh at $install_deps"
[[ -x $server ]] || fail "no server binary at $server"

# ---- 1. the Dockerfile --------------------------------------------------------------------
# Every line with backslash continuations joined and comments dropped; then each stage.
dockerfile_lines=$(grep -vE '^[[:space:]]*#' "$dockerfile" | sed -e ':a' -e '/\\$/{N;s/\\\n/ /;ba' -e '}')
runtime_stage=$(awk '/^[[:space:]]*FROM[[:space:]]/ { stage = "" } { stage = stage $0 "\n" }
  END { printf "%s", stage }' <<<"$dockerfile_lines")
build_stages=${dockerfile_lines%"$runtime_stage"}

instruction() {  # the last value of Dockerfile instruction $1 in the runtime stage
  grep -iE "^[[:space:]]*$1[[:space:]]" <<<"$runtime_stage" | tail -n 1 |
    sed -E "s/^[[:space:]]*$1[[:space:]]+//I" || true
}

for program in "${programs[@]}"; do
  grep -qE -- "--target[[:space:]]+$program([[:space:]]|$)" <<<"$build_stages" ||
    fail "the Dockerfile's build stage does not build $program (--target $program)"
done
grep -qE 'cmake[[:space:]]+--install[[:space:]].*--prefix[[:space:]]+/opt/tcpnetlock' <<<"$build_stages" ||
  fail "the Dockerfile's build stage does not install into /opt/tcpnetlock"
note "build stage builds and installs ${programs[*]}"

user=$(instruction USER)
[[ -n $user ]] || fail "the Dockerfile's runtime stage has no USER (it would run as root)"
case ${user%%:*} in
  root|0) fail "the Dockerfile's runtime stage runs as root (USER $user)" ;;
esac
[[ ${user%%:*} == "$run_uid" ]] || fail "the runtime stage's USER is $user, expected $run_uid (the Kubernetes manifests run as $run_uid)"
exposed=" $(grep -iE '^[[:space:]]*EXPOSE[[:space:]]' <<<"$runtime_stage" | sed -E 's/^[[:space:]]*EXPOSE//I' | xargs) "
for port in 7654 7655; do
  [[ $exposed == *" $port "* || $exposed == *" $port/tcp "* ]] ||
    fail "the Dockerfile's runtime stage does not EXPOSE $port (it exposes:$exposed)"
done
grep -iqE "^[[:space:]]*VOLUME[[:space:]].*$state_dir" <<<"$runtime_stage" ||
  fail "the Dockerfile's runtime stage has no VOLUME $state_dir"
grep -qE "^[[:space:]]*RUN[[:space:]].*(install[[:space:]]+-d[[:space:]]+-o[[:space:]]+$run_uid[[:space:]].*|chown[[:space:]]+(-R[[:space:]]+)?$run_uid[:[:space:]].*)$state_dir" <<<"$runtime_stage" ||
  fail "the Dockerfile's runtime stage does not create $state_dir owned by $run_uid (install -d -o $run_uid ... or chown $run_uid)"
entrypoint=$(instruction ENTRYPOINT)
command_line="$entrypoint $(instruction CMD)"
grep -q tcpnetlock_server <<<"$entrypoint" ||
  fail "the Dockerfile's ENTRYPOINT does not start tcpnetlock_server"
grep -q '0\.0\.0\.0' <<<"$command_line" ||
  fail "the Dockerfile's runtime stage does not listen on 0.0.0.0"
grep -qE "\"--state-dir\",[[:space:]]*\"$state_dir\"" <<<"$command_line" ||
  fail "the Dockerfile's runtime stage does not start the server with --state-dir $state_dir"
note "runtime stage: USER $user, EXPOSE $(xargs <<<"$exposed"), VOLUME $state_dir, ENTRYPOINT $entrypoint CMD $(instruction CMD)"

# Packages named by `apt-get install` in the runtime stage (up to the next && or ;).
mapfile -t runtime_packages < <(
  grep -oE 'apt-get[[:space:]]+install[^&;]*' <<<"$runtime_stage" |
    tr -s ' \t' '\n' | grep -vE '^(apt-get|install|-.*|)$' | sort -u)
((${#runtime_packages[@]})) || fail "no 'apt-get install' in the Dockerfile's runtime stage"
note "runtime packages: ${runtime_packages[*]}"

# scripts/install-deps.sh --runtime must name the same packages: one list, two places.
script_packages=$("$install_deps" --runtime --print | sort -u | xargs)
[[ $script_packages == "${runtime_packages[*]}" ]] ||
  fail "the Dockerfile's runtime packages (${runtime_packages[*]}) differ from scripts/install-deps.sh --runtime --print ($script_packages)"
note "the same as scripts/install-deps.sh --runtime --print"

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

# Every installed package and what it Depends and Pre-Depends on, from one dpkg-query.
declare -A installed_depends=()
while IFS=$'\t' read -r pkg status depends; do
  [[ $status == installed ]] && installed_depends[$pkg]=$depends
done < <(dpkg-query -W -f='${Package}\t${db:Status-Status}\t${Depends},${Pre-Depends}\n')
installed() { [[ -n ${installed_depends[$1]+set} ]]; }

# What `apt-get install --no-install-recommends PACKAGES` puts into the image: the
# packages and, recursively, what they Depend and Pre-Depend on (of alternatives, the
# first one installed here). Virtual packages nothing here provides are skipped.
declare -A in_closure=()
closure=()
add_with_depends() {
  local pkg=$1 group alt name chosen
  local -a groups alternatives
  [[ -n ${in_closure[$pkg]:-} ]] && return 0
  installed "$pkg" || fail "package $pkg (runtime stage, or a dependency) is not installed on this machine; run scripts/install-deps.sh"
  in_closure[$pkg]=1
  closure+=("$pkg")
  IFS=',' read -ra groups <<<"${installed_depends[$pkg]}"
  for group in "${groups[@]}"; do
    chosen=
    IFS='|' read -ra alternatives <<<"$group"
    for alt in "${alternatives[@]}"; do
      name=${alt%%(*}            # drop a version constraint
      name=${name%%[*}           # and an architecture restriction
      name=${name%%:*}           # and an architecture qualifier (:any)
      name=${name//[[:space:]]/}
      [[ -n $name ]] || continue
      if installed "$name"; then chosen=$name; break; fi
    done
    if [[ -n $chosen ]]; then
      add_with_depends "$chosen"
    elif [[ -n ${group//[[:space:]]/} ]]; then
      note "dependency '${group# }' of $pkg: nothing installed provides it; skipped"
    fi
  done
}

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

for pkg in "${packages[@]}"; do add_with_depends "$pkg"; done

copied=0
for pkg in "${closure[@]}"; do
  while IFS= read -r path; do
    [[ ${path##*/} == *.so* ]] || continue
    [[ -f $path || -L $path ]] || continue
    [[ -d $path ]] && continue
    dest=$root$path
    mkdir -p "${dest%/*}"
    cp -P "$path" "$dest"
    copied=$((copied + 1))
  done < <(dpkg -L "$pkg")
done
note "root at $root: $copied shared-library files from ${#closure[@]} packages: ${closure[*]}"

mkdir -p "$root/opt/tcpnetlock/bin" "$root/run/tcpnetlock"
mkdir -m 1777 "$root/tmp"
# As the Dockerfile does: install -d -o 10001 -g 10001 -m 0750 /var/lib/tcpnetlock
install -d -o "$run_uid" -g "$run_uid" -m 0750 "$root$state_dir"
cp "$server" "$root/opt/tcpnetlock/bin/tcpnetlock_server"
# The other programs ship in the image too; each is checked below when this build has it.
built=()
for program in "${programs[@]:1}"; do
  if [[ -x $TNL_BIN_DIR/$program ]]; then
    cp "$TNL_BIN_DIR/$program" "$root/opt/tcpnetlock/bin/"
    built+=("$program")
  else
    note "$program is not built in $TNL_BIN_DIR: not checked"
  fi
done
has() { [[ " ${built[*]} " == *" $1 "* ]]; }
chown "$run_uid:$run_uid" "$root/run/tcpnetlock"
if [[ -n $sanitizer_libs ]]; then
  mkdir -p "$root/proc"
  mount -t proc proc "$root/proc"
  proc_mounted=1
fi

# ---- 3. run it there, as a non-root user -------------------------------------------------
log=$workdir/server.log
port_file=/run/tcpnetlock/port
show_log() { echo "--- server output ---" >&2; cat "$log" >&2 || true; echo "---" >&2; }

# The HTTP API (when this server has it) goes on a free loopback port, never the default
# 7655, which a server running next to this test may hold.
server_help=$("$server" --help 2>&1 || true)
http_port=
free_port() {
  local candidate
  for _ in $(seq 1 100); do
    candidate=$((20000 + RANDOM % 40000))
    if ! (exec 5<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

http_port_file=/run/tcpnetlock/http-port
has_http=0 has_http_port_file=0
grep -qE -- '--http([[:space:]]|,|=)' <<<"$server_help" && has_http=1
grep -qE -- '--http-port-file' <<<"$server_help" && has_http_port_file=1

# start_server: starts the server in the root; 0 once it listens, 1 if it exited first.
start_server() {
  local -a args=(--listen 127.0.0.1 --port 0 --port-file "$port_file" --state-dir "$state_dir" --info)
  if ((has_http_port_file)); then
    args+=(--http 127.0.0.1:0 --http-port-file "$http_port_file")
  elif ((has_http)); then
    http_port=$(free_port) || fail "found no free loopback port"
    args+=(--http "127.0.0.1:$http_port")
  fi
  rm -f "$root$port_file" "$root$http_port_file"
  # chroot itself, not a function or subshell, so that $! is the server (chroot execs it).
  chroot --userspec="$run_uid:$run_uid" "$root" \
    /opt/tcpnetlock/bin/tcpnetlock_server "${args[@]}" >"$log" 2>&1 &
  server_pid=$!
  port=
  for _ in $(seq 1 200); do
    if [[ -s $root$port_file ]] && { ((!has_http_port_file)) || [[ -s $root$http_port_file ]]; }; then
      port=$(tr -dc '0-9' <"$root$port_file")
      if ((has_http_port_file)); then http_port=$(tr -dc '0-9' <"$root$http_port_file"); fi
      [[ -n $port ]] && { ((!has_http_port_file)) || [[ -n $http_port ]]; } && return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid" && status=0 || status=$?
      server_pid=
      return 1
    fi
    sleep 0.05
  done
  show_log
  fail "the server wrote no port to $port_file (and $http_port_file, with --http-port-file) within 10 s"
}

started=0
for attempt in 1 2 3; do
  if start_server; then started=1; break; fi
  # Exit status 2 with --http on a port picked here: most likely someone else took it.
  [[ $has_http == 1 && $has_http_port_file == 0 && $status == 2 ]] || break
  note "attempt $attempt: the server exited with status 2 (HTTP port $http_port taken?); retrying"
done
if ((!started)); then
  show_log
  fail "the server exited with status $status before listening (a missing shared library?)"
fi
note "server (pid $server_pid, uid $run_uid) listening on 127.0.0.1:$port${http_port:+, HTTP on 127.0.0.1:$http_port}, state in $state_dir"

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

# The state dir is written by uid 10001 at start (the fencing-token high-water mark).
[[ -s $root$state_dir/fencing-token ]] ||
  { show_log; fail "the server (uid $run_uid) wrote no $state_dir/fencing-token"; }
note "$state_dir/fencing-token written by uid $(stat -c %u "$root$state_dir/fencing-token")"

# A detached lock, where this server has them: written to SQLite in the state dir.
got=$(ask "lock,name:runtime-image-detached,ttl:60")
if [[ $got == ok,id:* ]]; then
  lock_id=${got#ok,id:}
  lock_id=${lock_id%%,*}
  [[ -s $root$state_dir/locks.sqlite3 ]] ||
    { show_log; fail "a detached lock was granted ($got) but $state_dir/locks.sqlite3 is missing or empty"; }
  note "sent 'lock,...,ttl:60' -> '$got'; $state_dir/locks.sqlite3 written"
  expect "released" "unlock,id:$lock_id"
else
  note "sent 'lock,...,ttl:60' -> '$got': this server has no detached locks yet; not checked"
fi

# HTTP (http-parser): the probes Kubernetes uses.
http_status() {  # http_status PATH: the status code of GET PATH
  local status_line
  exec 4<>"/dev/tcp/127.0.0.1/$http_port"
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&4
  IFS= read -r -t 5 status_line <&4 || status_line="<no answer>"
  exec 4<&- 4>&-
  status_line=${status_line%$'\r'}
  read -r _ code _ <<<"$status_line"
  echo "${code:-$status_line}"
}
if [[ -n $http_port ]]; then
  for path in /healthz /readyz; do
    code=$(http_status "$path")
    [[ $code == 200 ]] || { show_log; fail "GET $path answered '$code', expected 200"; }
    note "GET $path -> $code"
  done
else
  note "this server has no --http yet: /healthz and /readyz not checked"
fi

if has tcpnetlock_do && has tcpnetlock_client; then
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

if has tcpnetlock_admin; then
  # libcurl and everything it loads must be in the image.
  admin_log=$workdir/admin.log
  if ! timeout 30 chroot --userspec="$run_uid:$run_uid" "$root" \
      /opt/tcpnetlock/bin/tcpnetlock_admin --help >"$admin_log" 2>&1; then
    cat "$admin_log" >&2
    fail "tcpnetlock_admin --help failed in the runtime root"
  fi
  note "tcpnetlock_admin --help: exit status 0"
  if [[ -n $http_port ]]; then
    # And it talks to the server over HTTP with libcurl.
    if ! timeout 30 chroot --userspec="$run_uid:$run_uid" "$root" \
        /opt/tcpnetlock/bin/tcpnetlock_admin --url "http://127.0.0.1:$http_port" stats >"$admin_log" 2>&1; then
      cat "$admin_log" >&2
      show_log
      fail "tcpnetlock_admin --url http://127.0.0.1:$http_port stats failed in the runtime root"
    fi
    note "tcpnetlock_admin stats: exit status 0 ($(head -c 80 "$admin_log" | tr '\n' ' ')...)"
  fi
fi

if has tcpnetlock_distlock; then
  # libyaml-cpp must be in the image; and it lists the server's locks (no /etc/distlock there).
  distlock_log=$workdir/distlock.log
  if ! timeout 30 chroot --userspec="$run_uid:$run_uid" "$root" \
      /opt/tcpnetlock/bin/tcpnetlock_distlock --endpoints "127.0.0.1:$port" --list >"$distlock_log" 2>&1; then
    cat "$distlock_log" >&2
    fail "tcpnetlock_distlock --list failed in the runtime root"
  fi
  note "tcpnetlock_distlock --list: exit status 0 ($(head -n 1 "$distlock_log"))"
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
echo "PASS: the server${built[*]:+ and ${built[*]}} run with only the runtime stage's packages (${runtime_packages[*]}) and their dependencies"
