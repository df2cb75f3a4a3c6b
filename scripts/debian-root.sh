#!/usr/bin/env bash
# Makes a fresh, minimal Debian 12 root filesystem in DIR (debootstrap --variant=minbase
# bookworm), for the tests that need a clean machine: installing the .deb, building the
# container image from a local base. The first run downloads it from the Debian mirror
# apt uses (about 25 s) and keeps a tarball; later runs unpack that (a few seconds).
#
#   scripts/debian-root.sh DIR            DIR must not exist or be empty
#   scripts/debian-root.sh --tarball      prints the cached tarball's path (made if needed)
#
# Needs root and debootstrap (scripts/install-deps.sh installs it with the test packages).
# The cache lives in ${TNL_DEBIAN_ROOT_CACHE:-/var/cache/tnl}; delete it to start afresh.
set -euo pipefail

cache_dir=${TNL_DEBIAN_ROOT_CACHE:-/var/cache/tnl}
tarball=$cache_dir/bookworm-minbase.tar
mirror=${TNL_DEBIAN_MIRROR:-http://deb.debian.org/debian}

make_tarball() {
  [[ -s $tarball ]] && return 0
  command -v debootstrap >/dev/null || { echo "debian-root: debootstrap is not installed" >&2; return 1; }
  mkdir -p "$cache_dir"
  local work
  work=$(mktemp -d "$cache_dir/root.XXXXXX")
  # Removed however this ends; the tarball appears only once complete (rename).
  trap 'rm -rf "$work"' RETURN
  debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2
    echo "debian-root: debootstrap failed (is $mirror reachable?)" >&2
    return 1
  }
  tar -C "$work/root" -cf "$work/root.tar" .
  mv "$work/root.tar" "$tarball"
}

case "${1:-}" in
  --tarball) make_tarball; echo "$tarball" ;;
  ""|-h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; [[ -n ${1:-} ]] ;;
  *)
    dir=$1
    if [[ -e $dir ]] && [[ -n $(ls -A "$dir") ]]; then echo "debian-root: $dir is not empty" >&2; exit 2; fi
    make_tarball
    mkdir -p "$dir"
    tar -C "$dir" -xf "$tarball"
    ;;
esac
