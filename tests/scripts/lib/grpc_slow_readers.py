"""Clients that ask for large gRPC answers and never read them (grpc_slow_readers.sh).

Usage: grpc_slow_readers.py STUBS_DIR TARGET

Each slow client is a raw HTTP/2 connection that announces a zero flow-control window and
sends 100 ListLocks calls (per_page 1000) at once: the server answers, and gRPC keeps every
answer until the client reads it, which it never does. The server must stop taking new
calls (RESOURCE_EXHAUSTED) before those answers pass its budget, and serve again once the
slow clients are gone. Exits 1 with a message on failure.
"""
import socket
import struct
import sys
import time

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from google.protobuf import wrappers_pb2  # noqa: E402
from tracker.lock.v1alpha1 import lock_pb2, lock_pb2_grpc  # noqa: E402

target = sys.argv[2]
host, port = target.rsplit(":", 1)
stub = lock_pb2_grpc.LockServiceStub(grpc.insecure_channel(target))


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    """An HPACK literal header field without indexing, no Huffman coding (both under 127 bytes)."""
    name, value = name.encode(), value.encode()
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


# 1000 locks with long fields: one ListLocks answer is some 450 KB.
for i in range(1000):
    stub.CreateLock(lock_pb2.CreateLockRequest(service="slow-%04d" % i, who="w" * 120, event_id="e" * 120), timeout=10)
print("   1000 locks created")

request = lock_pb2.ListLocksRequest(per_page=wrappers_pb2.UInt32Value(value=1000)).SerializeToString()
body = b"\x00" + struct.pack(">I", len(request)) + request
headers = (literal(":method", "POST") + literal(":scheme", "http") +
           literal(":path", "/tracker.lock.v1alpha1.LockService/ListLocks") + literal(":authority", target) +
           literal("content-type", "application/grpc") + literal("te", "trailers"))


def slow_client():
    sock = socket.create_connection((host, int(port)))
    # The preface, then SETTINGS: SETTINGS_INITIAL_WINDOW_SIZE (4) = 0, so no answer can flow.
    out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, struct.pack(">HI", 4, 0))
    for i in range(100):
        out += frame(1, 4, 1 + 2 * i, headers) + frame(0, 1, 1 + 2 * i, body)  # END_HEADERS; END_STREAM
    sock.sendall(out)
    return sock


def small_call():
    """A ListLocks of one lock: its status code name."""
    try:
        stub.ListLocks(lock_pb2.ListLocksRequest(per_page=wrappers_pb2.UInt32Value(value=1)), timeout=10)
        return "OK"
    except grpc.RpcError as error:
        return error.code().name


# The budget is 32 MiB, some 75 answers: 4 clients (400 answers, 180 MB) go well past it.
slow = []
refused = False
for _ in range(4):
    slow.append(slow_client())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        code = small_call()
        if code == "RESOURCE_EXHAUSTED":
            refused = True
            break
        if code != "OK":
            fail("a call answered %s while slow clients hold answers" % code)
        time.sleep(0.05)
    if refused:
        break
if not refused:
    fail("%d slow clients held 100 unread answers each, and new calls were still taken" % len(slow))
print("   ok: with %d slow client(s), a new call gets RESOURCE_EXHAUSTED" % len(slow))

for sock in slow:
    sock.close()
deadline = time.monotonic() + 10
while small_call() != "OK":
    if time.monotonic() > deadline:
        fail("the slow clients are gone, yet calls are still refused")
    time.sleep(0.05)
print("   ok: once they are gone, calls are served again")
