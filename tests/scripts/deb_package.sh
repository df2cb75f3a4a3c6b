#!/usr/bin/env bash
# The .deb, end to end on a fresh machine (slow: about a minute, most of it apt): CPack
# builds it from this (Release) build; its control data has the Depends dpkg-shlibdeps
# found, a section, a maintainer and no conffiles; it is installed with `dpkg -i` and
# `apt-get -f install` into a fresh Debian 12 root (scripts/debian-root.sh; needs the
# Debian mirror); the server runs there with the unit's ExecStart command line (not under
# systemd), in a network namespace of its own so that its fixed port 7654 clashes with
# nothing; `tcpnetlock_do --lock-name x -- true` takes a lock from it; the man pages are
# installed; `apt-get purge` then leaves nothing of the package behind.
#
# Needs root (chroot, mount, unshare); exit 77 otherwise, and in the sanitizer build
# (the package is made from the Release build).
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
: "${TNL_SOURCE_DIR:?set by ctest}"
build_dir=$(dirname "$TNL_BIN_DIR")
if [[ $(id -u) != 0 ]]; then echo "SKIPPED: needs root (chroot, mount, unshare)"; exit 77; fi
if grep -qx 'TNL_SANITIZE:BOOL=ON' "$build_dir/CMakeCache.txt"; then
  echo "SKIPPED: the .deb is built and tested from the Release build, not the sanitizer build"
  exit 77
fi
for tool in cpack dpkg-deb unshare chroot ip; do
  command -v "$tool" >/dev/null || { echo "SKIPPED: $tool is not installed"; exit 77; }
done

source "$(dirname "${BASH_SOURCE[0]}")/lib/chroot.bash"
work=$(mktemp -d /var/tmp/tnl-deb.XXXXXX)
root=$work/root
cleanup() {
  if chroot_umount "$root"; then
    rm -rf "$work"
  else
    echo "deb_package: $root still has mounts; left in place" >&2
  fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $* ($SECONDS s)"; }
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

step "cpack (DEB) from $build_dir"
cpack --config "$build_dir/CPackConfig.cmake" -B "$work/cpack" >"$work/cpack.log" 2>&1 ||
  { tail -n 30 "$work/cpack.log"; fail "cpack failed"; }
deb=$(find "$work/cpack" -maxdepth 1 -name 'tcpnetlock_*.deb' | head -n 1)
[[ -n $deb ]] || fail "cpack made no tcpnetlock_*.deb"
echo "   $(basename "$deb"), $(stat -c %s "$deb") bytes"

step "control data"
control=$(dpkg-deb -f "$deb")
echo "$control" | sed 's/^/   /'
depends=$(dpkg-deb -f "$deb" Depends)
# Package names as Debian 12 has them (spdlog's: libspdlog1.10-fmt9).
for library in libfmt9 libspdlog1.10-fmt9 libsqlite3-0 libcurl4 libhttp-parser2.9 libsystemd0 libc6; do
  [[ ", $depends," =~ ,\ $library[\ ,] ]] || fail "Depends lacks $library: $depends"
done
[[ $(dpkg-deb -f "$deb" Section) == net ]] || fail "Section is not net"
[[ -n $(dpkg-deb -f "$deb" Maintainer) ]] || fail "no Maintainer"
dpkg-deb -e "$deb" "$work/control"
[[ ! -s $work/control/conffiles ]] || fail "the package has conffiles: $(cat "$work/control/conffiles")"
for script in postinst prerm postrm; do [[ -x $work/control/$script ]] || fail "no $script"; done
# The maintainer scripts start nothing: no start, restart or enable anywhere in them.
if grep -hv '^ *#' "$work/control/postinst" "$work/control/postrm" | grep -E 'systemctl.*(start|restart|enable)|deb-systemd-invoke|invoke-rc.d'; then
  fail "a maintainer script starts or enables the service"
fi

step "a fresh Debian 12 root"
"$TNL_SOURCE_DIR/scripts/debian-root.sh" "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# debootstrap writes no /etc/hosts; every installed Debian has one (localhost, for the unit).
[[ -s $root/etc/hosts ]] || printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
chroot_mount "$root"
cp "$deb" "$root/tmp/tcpnetlock.deb"

step "dpkg -i, then apt-get -f install for the dependencies"
in_root apt-get update -q >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log"; fail "apt-get update failed"; }
in_root dpkg -i /tmp/tcpnetlock.deb >"$work/dpkg.log" 2>&1 || true  # dependencies missing: apt-get -f
in_root apt-get -f install -y -q --no-install-recommends >>"$work/apt.log" 2>&1 ||
  { tail -n 20 "$work/apt.log"; fail "apt-get -f install failed"; }
[[ $(in_root dpkg-query -W -f='${db:Status-Status}' tcpnetlock) == installed ]] || fail "tcpnetlock is not installed"
in_root dpkg -L tcpnetlock >"$work/files"
echo "   $(wc -l <"$work/files") paths installed"

step "installed files"
for path in /usr/bin/tcpnetlock_server /usr/bin/tcpnetlock_client /usr/bin/tcpnetlock_do /usr/bin/tcpnetlock_admin \
            /usr/bin/tnl_server /usr/bin/tnl_do /usr/share/man/man1/tcpnetlock_server.1.gz \
            /usr/share/man/man1/tcpnetlock_do.1.gz /usr/share/man/man1/tcpnetlock_client.1.gz \
            /usr/share/man/man1/tcpnetlock_admin.1.gz /usr/share/bash-completion/completions/tcpnetlock_do \
            /usr/share/doc/tcpnetlock/copyright /usr/lib/systemd/system/tcpnetlock-server.service; do
  [[ -e $root$path ]] || fail "$path is not installed"
  grep -qx "$path" "$work/files" || fail "$path is not listed by dpkg -L"
done
unit=$root/usr/lib/systemd/system/tcpnetlock-server.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ $exec_start == /usr/bin/tcpnetlock_server\ * ]] || fail "ExecStart is not /usr/bin/tcpnetlock_server ...: $exec_start"
[[ ! -e $root/etc/systemd/system/multi-user.target.wants/tcpnetlock-server.service ]] ||
  fail "installing the package enabled the service"

step "the server with the unit's command line: $exec_start"
# What systemd's StateDirectory= would make; the server runs as root here (no DynamicUser).
mkdir -p "$root/var/lib/tcpnetlock"
export root exec_start
# A private network namespace: the unit's fixed ports (7654, HTTP 7655) clash with nothing.
unshare --net bash -euo pipefail -c '
  ip link set lo up
  in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin "$@"; }
  # chroot and env exec: $! is the server itself.
  chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin $exec_start 2>"$root/tmp/server.log" &
  server=$!
  trap "kill $server 2>/dev/null || true" EXIT
  port=$(sed -E "s/.*--port ([0-9]+).*/\1/" <<<"$exec_start")
  for ((i = 0; i < 200; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 $server 2>/dev/null || { cat "$root/tmp/server.log"; echo "FAIL: the server exited"; exit 1; }
    sleep 0.05
  done
  set +e
  in_root tcpnetlock_do --lock-name x -- true
  status=$?
  set -e
  echo "   tcpnetlock_do --lock-name x -- true: exit $status"
  if ((status == 123)); then
    # The unit has --lock-delay 15, and so a start grace of 15 s: nothing is granted yet.
    echo "   (start grace: not granted yet; waiting in the queue for it to end)"
    in_root tcpnetlock_do --wait 60 --lock-name x -- true || { echo "FAIL: not granted after the start grace"; exit 1; }
    in_root tcpnetlock_do --lock-name x -- true || { echo "FAIL: tcpnetlock_do --lock-name x -- true failed after the grace"; exit 1; }
    echo "   tcpnetlock_do --lock-name x -- true: exit 0"
  elif ((status != 0)); then
    cat "$root/tmp/server.log"; echo "FAIL: tcpnetlock_do exited $status"; exit 1
  fi
  kill -TERM $server
  wait $server || { cat "$root/tmp/server.log"; echo "FAIL: the server did not exit 0 on SIGTERM"; exit 1; }
  trap - EXIT
'
[[ -n $(ls -A "$root/var/lib/tcpnetlock") ]] || fail "the server wrote nothing to its --state-dir"

step "apt-get purge"
in_root apt-get purge -y -q tcpnetlock >>"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log"; fail "apt-get purge failed"; }
[[ -z $(in_root dpkg-query -W -f='${db:Status-Status}' tcpnetlock 2>/dev/null) ]] || fail "tcpnetlock is still known to dpkg"
while IFS= read -r path; do
  [[ -d $root$path && ! -L $root$path ]] && continue  # shared directories (/usr/bin...) stay
  [[ ! -e $root$path && ! -L $root$path ]] || fail "$path is left after purge"
done <"$work/files"
left=$(cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \) -prune -o \
       \( -iname '*tcpnetlock*' -o -name 'tnl_*' \) -print)
[[ -z $left ]] || fail "left after purge: $left"
echo PASS "($SECONDS s)"
