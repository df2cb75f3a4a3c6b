#!/usr/bin/env python3
"""The lock cycle over TLS next to the same cycle in plain TCP, from one client process.

One cycle: connect (and, for TLS, the full handshake with certificate verification), send
`lock,name:N`, read `ok`, send `release`, read `released`, close. The same Python client
does both, in turn, against one server with a plain and a TLS port, so the ratio is the
cost of TLS (mostly the handshake's public-key operations on both sides). Certificates
are made with the openssl CLI (tests/scripts/lib/tls_certs.bash). Used by scripts/bench.sh.

  bench/tls_cycle.py --server build/release/bin/tcpnetlock_server [--cycles 2000] [--repetitions 5]
"""
import argparse
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time


def cycle(connect, name):
    with connect() as conn:
        conn.sendall(b"lock,name:" + name + b"\n")
        reply = conn.recv(64)
        if reply != b"ok\n":
            raise RuntimeError(f"lock answered {reply!r}")
        conn.sendall(b"release\n")
        reply = conn.recv(64)
        if reply != b"released\n":
            raise RuntimeError(f"release answered {reply!r}")


def wait_for_file(path, process, limit=10.0):
    deadline = time.monotonic() + limit
    while not (os.path.exists(path) and os.path.getsize(path) > 0):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    with open(path) as f:
        return int(f.read())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with tempfile.TemporaryDirectory() as work:
        certs = os.path.join(work, "certs")
        subprocess.run(["bash", "-c", 'source "$0"; make_test_certs "$1"',
                        os.path.join(source, "tests/scripts/lib/tls_certs.bash"), certs], check=True)
        server = subprocess.Popen(
            [args.server, "--listen", "127.0.0.1", "--port", "0", "--port-file", f"{work}/port",
             "--http", "off", "--tls-cert", f"{certs}/server.pem", "--tls-key", f"{certs}/server.key",
             "--tls-port", "0", "--tls-port-file", f"{work}/tls-port"])
        try:
            plain_port = wait_for_file(f"{work}/port", server)
            tls_port = wait_for_file(f"{work}/tls-port", server)
            context = ssl.create_default_context(cafile=f"{certs}/ca.pem")
            context.minimum_version = ssl.TLSVersion.TLSv1_2

            def open_tcp(port):
                conn = socket.create_connection(("127.0.0.1", port))
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as tcpnetlock's clients
                return conn

            def plain():
                return open_tcp(plain_port)

            def tls():
                raw = open_tcp(tls_port)
                return context.wrap_socket(raw, server_hostname="localhost")

            results = {"plain": [], "tls": []}
            for repetition in range(args.repetitions):
                for label, connect in (("plain", plain), ("tls", tls)):
                    start = time.perf_counter()
                    for i in range(args.cycles):
                        cycle(connect, b"bench-%d" % (i % 16))
                    results[label].append(args.cycles / (time.perf_counter() - start))
            plain_rate = statistics.median(results["plain"])
            tls_rate = statistics.median(results["tls"])
            print(f"tls cycle (connect+handshake+lock+release, one Python client, {args.cycles} cycles, "
                  f"median of {args.repetitions}):")
            print(f"  plain: {plain_rate:8.0f} cycles/s ({1e6 / plain_rate:6.0f} us/cycle)")
            print(f"  TLS:   {tls_rate:8.0f} cycles/s ({1e6 / tls_rate:6.0f} us/cycle)   "
                  f"TLS/plain time: {plain_rate / tls_rate:.1f}x")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
