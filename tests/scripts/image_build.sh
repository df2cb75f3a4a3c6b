#!/usr/bin/env bash
# Builds the Dockerfile for real, with Debian's buildah and no registry: the base image is
# a Debian 12 root made by scripts/debian-root.sh (debootstrap), imported as a local image
# and given to the Dockerfile as --build-arg BASE; `buildah bud --isolation=chroot` runs
# its RUN steps (containers themselves cannot be run here). Then, in the built image's
# root filesystem (buildah mount), with chroot:
#   - the image: non-root USER 10001, HEALTHCHECK, ENTRYPOINT tcpnetlock_server; no
#     compiler and no -dev package in it; the four programs in /opt/tcpnetlock/bin, the
#     clients static;
#   - tcpnetlock_server runs as uid 10001 with only the image's libraries (--version when
#     it has it; then serving on 127.0.0.1 with its state in /var/lib/tcpnetlock); the
#     image's HEALTHCHECK command passes against it; tcpnetlock_do runs tcpnetlock_client
#     there (localhost); tcpnetlock_admin --help runs;
#   - the image's tcpnetlock_do, copied into a root holding nothing else (what the
#     Kubernetes init container and `COPY --from` do), takes a lock there.
# Slow: apt downloads the build packages inside the build, then the build compiles the
# four programs without a compiler cache (about 15 minutes on 2 busy cores). Needs root,
# buildah and debootstrap (scripts/install-deps.sh) and the Debian mirror; exit 77
# (skipped) without root or buildah. TNL_IMAGE_BUILD_KEEP=1 keeps the work directory.
set -euo pipefail

: "${TNL_SOURCE_DIR:?TNL_SOURCE_DIR must point at the source tree}"
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "image_build: $(date +%T) $*"; }

if [[ $(id -u) != 0 ]]; then
  echo "SKIPPED: building an image with buildah and chroot needs root (CI runs as root)"
  exit 77
fi
# Once per CI run: the image does not depend on the build under test, and the sanitizer
# suite runs every script test again.
if [[ -n ${TNL_BIN_DIR:-} && -x $TNL_BIN_DIR/tcpnetlock_server ]] &&
   readelf -d "$TNL_BIN_DIR/tcpnetlock_server" 2>/dev/null | grep -qE 'lib(asan|ubsan)\.so'; then
  echo "SKIPPED: the sanitizer suite; the release suite builds the image"
  exit 77
fi
command -v buildah >/dev/null || { echo "SKIPPED: buildah is not installed (scripts/install-deps.sh installs it)"; exit 77; }

work=$(mktemp -d /var/tmp/tnl-image-build.XXXXXX)
image=localhost/tcpnetlock:image-build-test
base=localhost/tnl-debian:12
driver=overlay
store() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver "$driver" "$@"; }
containers=()
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then { kill -KILL "$server_pid" && wait "$server_pid"; } 2>/dev/null || true; fi
  local c
  for c in "${containers[@]}"; do store umount "$c" >/dev/null 2>&1 || true; store rm "$c" >/dev/null 2>&1 || true; done
  if [[ ${TNL_IMAGE_BUILD_KEEP:-0} == 1 ]]; then echo "kept $work"; return; fi
  store rmi --all --force >/dev/null 2>&1 || true
  # The storage's own mounts (overlay layers) go before the directory does.
  # (|| true: with pipefail, grep finding no mount would fail the trap, and with it the test.)
  { grep -o " $work/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$work" 2>/dev/null || true
  # What --one-file-system skipped (a directory still a mount point while it ran), now
  # that nothing under $work is mounted any more.
  if [[ -e $work ]] && ! grep -q " $work/" /proc/mounts; then rm -rf "$work"; fi
}
trap cleanup EXIT

# Kernel overlayfs where it works (fast); vfs (a full copy per layer) otherwise.
if ! store info >/dev/null 2>&1; then
  note "the overlay storage driver does not work here: using vfs"
  driver=vfs
  store info >/dev/null || fail "buildah cannot set up its storage"
fi
note "storage: $driver in $work/storage"

# ---- the base: scripts/debian-root.sh's Debian 12, imported -------------------------------
tarball=$("$TNL_SOURCE_DIR/scripts/debian-root.sh" --tarball) || fail "scripts/debian-root.sh --tarball failed"
ctr=$(store from scratch)
containers+=("$ctr")
store add --quiet "$ctr" "$tarball" / >/dev/null  # a local tar archive is unpacked
store config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
store commit --quiet --format docker "$ctr" "$base" >/dev/null
store rm "$ctr" >/dev/null && containers=()
note "base image $base from $tarball"

# ---- the build ----------------------------------------------------------------------------
start=$SECONDS
if ! store bud --isolation=chroot --format docker --build-arg "BASE=$base" -t "$image" \
      -f "$TNL_SOURCE_DIR/Dockerfile" "$TNL_SOURCE_DIR" >"$work/build.log" 2>&1; then
  tail -n 60 "$work/build.log" >&2
  fail "buildah bud failed (log above)"
fi
note "built $image in $((SECONDS - start)) s"

store inspect --type image "$image" >"$work/inspect.json"
config() {  # config FIELD: the image's Docker config field, as JSON
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["Docker"]["config"].get(sys.argv[2])))' \
    "$work/inspect.json" "$1"
}
user=$(config User)
[[ $user == '"10001:10001"' ]] || fail "the image's USER is $user, expected 10001:10001"
healthcheck=$(config Healthcheck)
[[ $healthcheck == *'"Test"'* ]] || fail "the image has no HEALTHCHECK ($healthcheck)"
entrypoint=$(config Entrypoint)
[[ $entrypoint == '["tcpnetlock_server"]' ]] || fail "ENTRYPOINT is $entrypoint"
note "USER $user, ENTRYPOINT $entrypoint, HEALTHCHECK $healthcheck"

ctr=$(store from "$image")
containers+=("$ctr")
root=$(store mount "$ctr")
note "image root filesystem at $root"

# ---- what is (not) in it ------------------------------------------------------------------
for tool in gcc g++ cc c++ cmake make ld; do
  [[ -e $root/usr/bin/$tool ]] && fail "the runtime image has a build tool: /usr/bin/$tool"
done
for header in /usr/include/fmt /usr/include/spdlog /usr/include/asio.hpp; do
  [[ -e $root$header ]] && fail "the runtime image has build headers: $header"
done
bin=/opt/tcpnetlock/bin
for program in tcpnetlock_server tcpnetlock_client tcpnetlock_do tcpnetlock_admin; do
  [[ -x $root$bin/$program ]] || fail "no $bin/$program in the image"
done
for program in tcpnetlock_client tcpnetlock_do; do
  [[ $(file -b "$root$bin/$program") == *"statically linked"* ]] || fail "$program in the image is not static"
  [[ $(ldd "$root$bin/$program" 2>&1 || true) == *"not a dynamic executable"* ]] || fail "ldd: $program is dynamic"
done
grep -q '^tcpnetlock:x:10001:10001:' "$root/etc/passwd" ||
  fail "no user tcpnetlock 10001 with group 10001 in the image: $(grep tcpnetlock "$root/etc/passwd" || true)"
grep -q '^tcpnetlock:x:10001:' "$root/etc/group" || fail "no group tcpnetlock 10001 in the image"
[[ $(stat -c %u:%g "$root/var/lib/tcpnetlock") == 10001:10001 ]] || fail "/var/lib/tcpnetlock is not 10001's"
note "no compiler or headers; four programs; static clients; user 10001; image size $(du -sh "$root" | cut -f1)"

# ---- its programs, run in its root filesystem ----------------------------------------------
as_user=(chroot --userspec=10001:10001 "$root")
if "${as_user[@]}" $bin/tcpnetlock_server --help 2>&1 | grep -q -- '--version'; then
  version=$("${as_user[@]}" $bin/tcpnetlock_server --version) || fail "tcpnetlock_server --version failed"
  note "tcpnetlock_server --version: $version"
fi
"${as_user[@]}" $bin/tcpnetlock_admin --help >/dev/null || fail "tcpnetlock_admin --help failed in the image"

port_file=/tmp/tnl-image-build.port
mkdir -p "$root/tmp" && chmod 1777 "$root/tmp"
"${as_user[@]}" $bin/tcpnetlock_server --listen 127.0.0.1 --port 0 --port-file "$port_file" \
  --state-dir /var/lib/tcpnetlock --http off >"$work/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 200); do
  [[ -s $root$port_file ]] && { port=$(<"$root$port_file"); break; }
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the image's server exited (a missing library?)"; }
  sleep 0.05
done
[[ -n $port ]] || fail "the image's server wrote no port within 10 s"
note "the image's server (uid 10001) listens on 127.0.0.1:$port"

# The HEALTHCHECK's own command, pointed at this port (it probes 7654, which a server next
# to this test may hold).
mapfile -t health < <(python3 -c 'import json,sys; [print(w) for w in json.loads(sys.argv[1])["Test"][1:]]' "$healthcheck")
health=("${health[@]//7654/$port}")
"${as_user[@]}" "${health[@]}" || fail "the HEALTHCHECK command failed against a running server: ${health[*]}"
note "HEALTHCHECK passes: ${health[*]}"

out=$(timeout 20 "${as_user[@]}" $bin/tcpnetlock_do --host localhost --port "$port" --lock-name image-build -- \
  $bin/tcpnetlock_client --host localhost --port "$port" --ttl 5 image-build-inner 2>&1) ||
  fail "tcpnetlock_do in the image: $out"
note "tcpnetlock_do ran tcpnetlock_client in the image: $out"

# The init container's copy: the image's tcpnetlock_do alone in an empty root.
bare=$work/bare
mkdir -p "$bare/tnl"
cp "$root$bin/tcpnetlock_do" "$root$bin/tcpnetlock_client" "$bare/tnl/"
out=$(timeout 20 chroot "$bare" /tnl/tcpnetlock_do --host localhost --port "$port" --lock-name image-bare -- \
  /tnl/tcpnetlock_client --host 127.0.0.1 --port "$port" --ttl 5 image-bare-inner 2>&1) ||
  fail "the image's tcpnetlock_do in an empty root: $out"
note "the image's tcpnetlock_do, alone in an empty root: $out"

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
[[ $status == 0 ]] || { cat "$work/server.log" >&2; fail "the image's server exited $status on SIGTERM"; }
echo "image_build: all checks passed ($((SECONDS - start)) s since the build started)"
