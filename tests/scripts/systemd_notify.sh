#!/usr/bin/env bash
# The server tells systemd (Type=notify) through sd_notify: READY=1 arrives only once the
# lock port accepts connections, and STOPPING=1 on SIGTERM, before the server exits 0.
# The test owns the unix datagram socket NOTIFY_SOCKET points to, as systemd would.
#
# Loopback only; the server is on an ephemeral port and killed on exit.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
server=$TNL_BIN_DIR/tcpnetlock_server
source "$(dirname "${BASH_SOURCE[0]}")/lib/python.bash"
python=$(python_with socket)
if [[ -z $python ]]; then
  echo "SKIPPED: no python3"
  exit 77
fi
if [[ $(ldd "$server" 2>/dev/null) != *libsystemd.so* ]]; then
  # Built without libsystemd-dev, sd_notify is compiled out (server/CMakeLists.txt): that is
  # a defect only where libsystemd-dev is installed (install-deps.sh's build packages).
  if pkg-config --exists libsystemd 2>/dev/null; then
    echo "FAIL: tcpnetlock_server does not link libsystemd although libsystemd-dev is installed"
    exit 1
  fi
  echo "SKIPPED: no libsystemd-dev here, so tcpnetlock_server cannot notify systemd"
  exit 77
fi

exec "$python" - "$server" <<'PY'
import os, signal, socket, subprocess, sys, tempfile, time

server = sys.argv[1]
work = tempfile.mkdtemp(prefix="tnl-notify.")
notify_path = os.path.join(work, "notify")
port_file = os.path.join(work, "port")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(notify_path)

def fail(message):
    print("FAIL:", message)
    sys.exit(1)

def port_listening():
    """The bound port if the lock port accepts a connection now, else None."""
    try:
        port = int(open(port_file).read())
    except (OSError, ValueError):
        return None
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return port
    except OSError:
        return None

def receive(deadline_seconds):
    """The next notification's assignments as a dict, or fail at the deadline."""
    sock.settimeout(deadline_seconds)
    try:
        data = sock.recv(4096).decode()
    except socket.timeout:
        fail(f"no notification within {deadline_seconds} s")
    print("   notified:", data.replace("\n", " | "))
    return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)

env = dict(os.environ, NOTIFY_SOCKET=notify_path)
proc = subprocess.Popen([server, "--listen", "127.0.0.1", "--port", "0", "--port-file", port_file,
                         "--http", "off"], env=env)
try:
    print("== READY=1 once the lock port accepts connections")
    state = receive(20)
    if state.get("READY") != "1":
        fail(f"first notification is not READY=1: {state}")
    port = port_listening()
    if port is None:
        fail("READY=1 arrived before the lock port accepted connections")
    if f"lock port {port}" not in state.get("STATUS", ""):
        fail(f"STATUS does not name the lock port {port}: {state.get('STATUS')!r}")

    print("== STOPPING=1 on SIGTERM, then exit 0")
    proc.send_signal(signal.SIGTERM)
    state = receive(20)
    if state.get("STOPPING") != "1":
        fail(f"notification after SIGTERM is not STOPPING=1: {state}")
    try:
        status = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        fail("server still running 20 s after SIGTERM")
    if status != 0:
        fail(f"server exited with {status} after SIGTERM")

    print("== without NOTIFY_SOCKET: starts, serves, stops as before")
    os.remove(port_file)
    plain = subprocess.Popen([server, "--listen", "127.0.0.1", "--port", "0", "--port-file", port_file,
                              "--http", "off"], env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"})
    deadline = time.monotonic() + 20
    while port_listening() is None:
        if time.monotonic() > deadline or plain.poll() is not None:
            plain.kill()
            fail("server without NOTIFY_SOCKET did not come up")
        time.sleep(0.05)
    plain.send_signal(signal.SIGTERM)
    if plain.wait(timeout=20) != 0:
        fail("server without NOTIFY_SOCKET did not exit 0 on SIGTERM")
    print("PASS")
finally:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    sock.close()
    for name in ("notify", "port", "port.tmp"):
        try:
            os.remove(os.path.join(work, name))
        except OSError:
            pass
    os.rmdir(work)
PY
