#!/usr/bin/env bash
# Installs the Debian 12 (bookworm) packages this project needs. Idempotent: when every
# package is already installed it does not touch apt at all, so repeated runs are fast.
#
#   scripts/install-deps.sh            build + test dependencies (the default; scripts/test.sh)
#   scripts/install-deps.sh --build    only what building and running need: no test toolchain
#                                      (scripts/run-server.sh, the Dockerfile's build stage)
#   scripts/install-deps.sh --runtime  only the shared libraries the binaries load
#   scripts/install-deps.sh --print    print the selected package list and exit
#
# Needs root only when something is missing (it runs apt-get).
set -euo pipefail

# Shared libraries the installed binaries link against (standalone Asio, CLI11 and
# nlohmann-json are header-only): fmt and spdlog everywhere, http-parser (the HTTP API's
# request parsing) and SQLite (detached locks) in the server, libcurl in tcpnetlock_admin. The Dockerfile's
# runtime stage installs exactly these; tests/scripts/runtime_image.sh checks that they suffice.
# The etcd backend's gRPC client: gRPC C++ and C core, protobuf, and what they load
# (abseil, c-ares, re2; found with ldd and dpkg -S on a binary linking tnl_etcd_proto).
# The gRPC front end (--grpc): HTTP/2 from libnghttp2, messages from protobuf.
RUNTIME_PACKAGES=(libfmt9 libspdlog1.10 libhttp-parser2.9 libsqlite3-0 libcurl4 libssl3 libsystemd0
  libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libc-ares2 libre2-9 libnghttp2-14)
# tcpnetlock_distlock's YAML config file (distlock's /etc/distlock/distlock.yaml).
RUNTIME_PACKAGES+=(libyaml-cpp0.7)

# Compiler, build system and the -dev packages found by CMake's find_package (Catch2's
# headers too: configuring needs them), libsystemd for the server's sd_notify, and
# help2man, which makes the man pages `cmake --install` installs.
BUILD_PACKAGES=(
  build-essential cmake pkg-config
  libasio-dev libcli11-dev libfmt-dev libspdlog-dev nlohmann-json3-dev catch2
  libhttp-parser-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev libsystemd-dev help2man
  # tcpnetlock_distlock's YAML config file.
  libyaml-cpp-dev
  # The etcd backend: gRPC C++ with protoc and its plugin, and the .proto files of etcd's
  # v3 API and of what they import (gogo, googleapis), from which the stubs are generated.
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  golang-etcd-server-dev golang-github-gogo-protobuf-dev golang-github-grpc-ecosystem-grpc-gateway-dev
  # The gRPC front end: HTTP/2 (libnghttp2), and the reflection service's .proto, which
  # Debian ships with gRPC-Go.
  libnghttp2-dev golang-google-grpc-dev
)

# What the test suite and the scripts use besides the build: ps/kill (procps), nc for the
# shell-level tests, ip (iproute2) for the network-namespace tests, chroot/timeout
# (coreutils, always present on Debian), curl and jq for the Tracker-compatibility script,
# Python's YAML and Prometheus parsers for the manifest and /metrics checks, Chromium
# with Node.js for the status page's browser test, the sqlite3 shell as "another process"
# holding the state database's lock, and clang with libFuzzer for the fuzz targets
# (scripts/fuzz.sh; scripts/test.sh runs their smoke). The packaging tests: man(1) reads
# the man pages, systemd-analyze verifies the unit, debootstrap makes the fresh root the
# .deb is installed in (scripts/debian-root.sh), file for CPack's dpkg-shlibdeps step.
TEST_PACKAGES=(procps netcat-openbsd iproute2 coreutils curl jq python3 python3-yaml python3-prometheus-client prometheus
  chromium nodejs sqlite3 clang libfuzzer-14-dev openssl man-db systemd debootstrap file)
# The image build test (buildah: the Dockerfile built from a local Debian 12 base).
TEST_PACKAGES+=(buildah)
# The etcd backend's tests: real etcd members (etcd-server), etcdctl for the interop tests
# (etcd-client), and Python's gRPC for scripted etcd clients.
TEST_PACKAGES+=(etcd-server etcd-client python3-grpcio)
# The gRPC front end's reflection-only client test (tests/scripts/grpc_reflection.sh):
# Python's protobuf (and the reflection .proto, a build package already).
# The HTTP/2 wire test (tests/scripts/grpc_h2_wire.sh) speaks raw HTTP/2 with python3-h2.
TEST_PACKAGES+=(python3-protobuf python3-h2)

mode=all
for arg in "$@"; do
  case "$arg" in
    --runtime) mode=runtime ;;
    --build) mode=build ;;
    --print) print_only=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps.sh: unknown option: $arg" >&2; exit 2 ;;
  esac
done

if [[ $mode == runtime ]]; then
  packages=("${RUNTIME_PACKAGES[@]}")
elif [[ $mode == build ]]; then
  packages=("${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}")
else
  packages=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}")
fi

if [[ ${print_only:-0} == 1 ]]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

# The browser test's npm packages (tests/browser: playwright-core, pinned in its
# package-lock.json), for the default mode only. Runs `npm ci` only when node_modules is
# missing or older than the lock file, so it is quick when everything is present. npm
# itself: Debian's nodejs ships without it (apt package npm); other nodejs builds bundle
# it, and apt's npm would conflict with them, so it is only installed when missing.
browser_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
install_browser_packages() {
  [[ $mode == all && -f $browser_dir/package-lock.json ]] || return 0
  if [[ -f $browser_dir/node_modules/playwright-core/package.json &&
        ! $browser_dir/package-lock.json -nt $browser_dir/node_modules/.package-lock.json ]]; then
    echo "install-deps: tests/browser npm packages up to date"
    return 0
  fi
  echo "install-deps: npm ci in tests/browser"
  local as_user=()
  # Under sudo, node_modules belongs to the user who ran the script, not to root.
  if [[ $(id -u) == 0 && -n ${SUDO_USER:-} && $SUDO_USER != root ]]; then as_user=(sudo -u "$SUDO_USER" -H); fi
  (cd "$browser_dir" && "${as_user[@]}" npm ci --no-audit --no-fund)
}

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$pkg")
done
if [[ $mode == all ]] && ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
  install_browser_packages
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
if [[ $(id -u) != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -n -- "$0" "$@"
  fi
  echo "install-deps: missing packages and not root; run as root: $0" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Use-Pty=0 --no-install-recommends)
apt-get update -q
apt-get install "${apt_opts[@]}" "${missing[@]}"
install_browser_packages
echo "install-deps: done"
