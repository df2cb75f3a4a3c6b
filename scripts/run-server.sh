#!/usr/bin/env bash
# Installs what building and running need (not the test toolchain: scripts/test.sh does
# that), builds the Release binaries and everything `cmake --install build/release`
# installs (the four programs, their man pages), and runs the server in the foreground,
# on localhost:7654 unless told otherwise. Stop it with Ctrl-C (SIGINT).
#
#   scripts/run-server.sh                               localhost:7654
#   scripts/run-server.sh --listen 0.0.0.0 --info       any other server options
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh --build
# tnl_installed (packaging/CMakeLists.txt): tcpnetlock_server, _client, _do, _admin, man pages.
scripts/build.sh --target tnl_installed

# The server's own defaults are --listen localhost --port 7654.
echo "run-server: starting build/release/bin/tcpnetlock_server $*" >&2
exec build/release/bin/tcpnetlock_server "$@"
