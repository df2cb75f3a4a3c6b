#!/usr/bin/env bash
# Installs the dependencies, builds the Release binaries and runs the server in the
# foreground, on localhost:7654 unless told otherwise. Stop it with Ctrl-C (SIGINT).
#
#   scripts/run-server.sh                               localhost:7654
#   scripts/run-server.sh --listen 0.0.0.0 --info       any other server options
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
scripts/build.sh --target tcpnetlock_server --target tcpnetlock_client --target tcpnetlock_do

# The server's own defaults are --listen localhost --port 7654.
echo "run-server: starting build/release/bin/tcpnetlock_server $*" >&2
exec build/release/bin/tcpnetlock_server "$@"
