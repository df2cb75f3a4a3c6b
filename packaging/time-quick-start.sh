#!/usr/bin/env bash
# Times the README's first command, scripts/run-server.sh, on a fresh Debian 12 machine: a
# new minimal root (scripts/debian-root.sh) entered with chroot, holding a copy of this
# checkout's files (git ls-files, as they are in the work tree). Prints the seconds from
# the start until the server listens, then stops the server and deletes the root.
#
#   sudo packaging/time-quick-start.sh        needs root and the Debian mirror
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $(id -u) == 0 ]] || { echo "time-quick-start: needs root (chroot, mount)" >&2; exit 1; }

source "$src/tests/scripts/lib/chroot.bash"
root=$(mktemp -d /var/tmp/tnl-quick-start.XXXXXX)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  # Deleted only once nothing is mounted there any more.
  if chroot_umount "$root"; then rm -rf "$root"; else echo "time-quick-start: $root left (mounts)" >&2; fi
}
trap cleanup EXIT

"$src/scripts/debian-root.sh" "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# debootstrap writes no /etc/hosts; every installed Debian has one (the server's localhost).
[[ -s $root/etc/hosts ]] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
chroot_mount "$root"
mkdir -p "$root/src"
(cd "$src" && git ls-files -z | xargs -0 tar -cf - --no-recursion) | tar -C "$root/src" -xf -

start=$(date +%s.%N)
# Port 0 and an ephemeral HTTP port: any other server on this host is left alone. A clean
# environment, as a fresh login's (no compiler launcher or other settings of this host).
chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  /bin/bash -c 'cd /src && exec scripts/run-server.sh --port 0 --http 127.0.0.1:0 --port-file /tmp/port' \
  >"$root/quick-start.log" 2>&1 &
server_pid=$!
until [[ -s $root/tmp/port ]]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    tail -n 30 "$root/quick-start.log" >&2
    echo "time-quick-start: scripts/run-server.sh ended before the server listened" >&2
    exit 1
  fi
  sleep 0.2
done
end=$(date +%s.%N)
echo "time-quick-start: listening on port $(cat "$root/tmp/port") after $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }') s" \
     "(load average before the end: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs)"
