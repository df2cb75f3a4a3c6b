"""Adversarial raw HTTP/2 cases against the gRPC port (tests/scripts/grpc_h2_adversarial.sh),
built on grpc_h2_raw.py's Connection: what a hostile or odd client can do to the promise that
a lock granted over gRPC is held by its caller exactly when the caller got OK.

Usage: grpc_h2_adversarial.py GRPC_PORT CASE [ARG...]
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc_h2_raw as raw  # noqa: E402
from grpc_h2_raw import (LOCKS, Fail, check, grpc_message, ok, tracker_create_request)  # noqa: E402
from hyperframe.frame import RstStreamFrame, SettingsFrame, WindowUpdateFrame  # noqa: E402

NO_ERROR = 0
LISTS = int(os.environ.get("ADV_LISTS", "40"))


def lock_free_within(lock_port, name, seconds):
    """Whether `lock,name:NAME` gets ok within `seconds` (released again at once)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", lock_port), timeout=5) as sock:
            f = sock.makefile("rwb", buffering=0)
            f.write(("lock,name:%s\n" % name).encode())
            answer = f.readline().decode().strip()
            if answer.startswith("ok"):
                f.write(b"release\n")
                f.readline()
                return True
        time.sleep(0.05)
    return False


def case_rst_no_error(lock_port, service):
    """CreateLock, then at once (one segment) RST_STREAM(NO_ERROR): the client read nothing,
    so the lock granted must be given back."""
    lock_port = int(lock_port)
    conn = raw.Connection()
    conn.start()
    sid = conn.open_stream()
    frames = conn.request_frames(sid, LOCKS + "CreateLock", grpc_message(tracker_create_request(service, "h2-adv")))
    conn.send(*frames, RstStreamFrame(sid, error_code=NO_ERROR))
    raw.normal_call(conn, "ListLocks on the same connection after the reset")
    stream = conn.streams[sid]
    check(not stream.blocks and not stream.data,
          "the reset stream was answered after all: " + stream.describe())
    ok("CreateLock %s then RST_STREAM(NO_ERROR) at once: no answer reached the client" % service)
    check(lock_free_within(lock_port, service, 3),
          "the lock granted to a caller that never got the answer (RST_STREAM NO_ERROR) is still held after 3 s")
    ok("  and the lock was given back")
    conn.close()


def list_request(per_page):
    # ListLocksRequest: per_page = 1 (UInt32Value: value = 1).
    return raw.pb_bytes(1, raw.pb_varint(1, per_page))


def slow_trial(lock_port, service, read_before_fin):
    """ListLocks answers (LISTS of them: $ADV_LISTS, 40 by default) that the client does not
    read fill the server's socket buffer; then a CreateLock; then the client reads `read_before_fin` bytes, slowly, so
    that the write holding the CreateLock's answer gets under way, half-closes (FIN), and
    reads the rest. Returns (got OK, lock still held)."""
    conn = raw.Connection(receive_buffer=4096)
    conn.start(settings={SettingsFrame.INITIAL_WINDOW_SIZE: 1 << 24})
    conn.send(WindowUpdateFrame(0, window_increment=(1 << 30)))
    frames = []
    for _ in range(LISTS):
        frames += conn.request_frames(conn.open_stream(), LOCKS + "ListLocks", grpc_message(list_request(1000)))
    conn.send(*frames)
    time.sleep(0.3)
    sid = conn.request(LOCKS + "CreateLock", grpc_message(tracker_create_request(service, "h2-adv")))
    time.sleep(0.1)
    taken = 0
    while taken < read_before_fin:
        chunk = conn.sock.recv(min(2048, read_before_fin - taken))
        if not chunk:
            break
        conn.buffer += chunk
        taken += len(chunk)
        time.sleep(0.001)
    conn.sock.shutdown(socket.SHUT_WR)
    time.sleep(0.3)
    conn.read_to_end(10)
    conn.close()
    stream = conn.streams[sid]
    got_ok = stream.ended and stream.grpc_status() == 0
    held = not lock_free_within(lock_port, service, 0.3)
    return got_ok, held


def case_slow_half_close(lock_port, prefix, fillers, low_kb, high_kb, step_kb):
    """slow_trial for every amount read before the FIN from `low_kb` to `high_kb`: the lock
    must be held exactly when the client read OK."""
    lock_port, fillers = int(lock_port), int(fillers)
    filler = raw.Connection()
    filler.start()
    for i in range(fillers):
        stream = filler.call(LOCKS + "CreateLock",
                             grpc_message(tracker_create_request("%s-fill-%d-%s" % (prefix, i, "x" * 60), "filler")))
        check(stream.grpc_status() == 0, "filler lock %d: %s" % (i, stream.describe()))
    filler.close()
    seen = {}
    bad = []
    for kb in range(int(low_kb), int(high_kb) + 1, int(step_kb)):
        service = "%s-%d" % (prefix, kb)
        got_ok, held = slow_trial(lock_port, service, kb * 1024)
        seen[(got_ok, held)] = seen.get((got_ok, held), 0) + 1
        if os.environ.get("ADV_VERBOSE"):
            print("   %d KB: got OK %s, held %s" % (kb, got_ok, held), flush=True)
        if got_ok and not held:
            bad.append("%d KB read before the FIN: the client read OK, the lock was given back (two holders)" % kb)
        if held and not got_ok:
            bad.append("%d KB read before the FIN: no OK read, the lock still held (held for nobody)" % kb)
    ok("trials (got OK, held): %s" % seen)
    check(not bad, "; ".join(bad))
    ok("every trial: the lock held exactly when the client read OK")


def case_reflection_flood(pid, connections, most_growth_mb):
    """`connections` clients each open 100 reflection streams with a zero window
    (SETTINGS_INITIAL_WINDOW_SIZE 0: no answer can go out) and send 30,000 list_services
    requests on each: the answers the server holds for them must stay bounded overall (each
    stream alone may hold 4 MB: 400 MB a connection)."""
    from hyperframe.frame import DataFrame
    pid, connections, most_growth_mb = int(pid), int(connections), int(most_growth_mb)
    before = raw.vm_rss_kb(pid)
    path = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
    requests = grpc_message(raw.pb_bytes(7, b"")) * 1000  # list_services = 7
    conns = []
    peak = before
    # A client that reads nothing never answers the server's PING either: the server closes
    # it 15 s after its first PING (10 s in). On a slow (sanitizer, loaded) run a connection
    # may reach that before all its requests are sent: its answers are then freed, which is
    # the bound working; the peak up to then is what is measured.
    cut_short = 0
    for _ in range(connections):
        conn = raw.Connection()
        opened = time.monotonic()
        conn.start(settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0})
        conn.sock.settimeout(30)
        sids = [conn.open_stream() for _ in range(100)]
        for sid in sids:
            conn.send(*conn.headers_frames(sid, conn.request_fields(path), end_stream=False))
        for _ in range(30):
            try:
                conn.send_bytes(b"".join(DataFrame(sid, data=requests).serialize() for sid in sids))
            except (BrokenPipeError, ConnectionResetError):
                lived = time.monotonic() - opened
                check(lived >= 10, "the server closed a flooding connection after %.1f s, before any PING was due" % lived)
                cut_short += 1
                break
            finally:
                peak = max(peak, raw.vm_rss_kb(pid))
        conns.append(conn)
    time.sleep(1)
    peak = max(peak, raw.vm_rss_kb(pid))
    growth_mb = (peak - before) // 1024
    ok("%d connections x 100 reflection streams x 30,000 unread answers: server RSS %d MB before, %d MB at most"
       " (%d connection(s) closed by the server's keepalive before all was sent)" % (
           connections, before // 1024, peak // 1024, cut_short))
    check(growth_mb < most_growth_mb, "the server's RSS grew by %d MB (more than %d MB)" % (growth_mb, most_growth_mb))
    for conn in conns:
        conn.close()


def acquire_request(service, who, wait_seconds):
    # tcpnetlock.v1.AcquireRequest: service = 1, who = 2, wait = 6 (Duration: seconds = 1).
    return raw.pb_bytes(1, service) + raw.pb_bytes(2, who) + raw.pb_bytes(6, raw.pb_varint(1, wait_seconds))


def case_reset_hands_on(service):
    """Acquire stream A holds `service`, Acquire stream B (same connection) waits for it;
    then a WINDOW_UPDATE overflowing A's window: nghttp2 resets A (RST_STREAM
    FLOW_CONTROL_ERROR) while sending, its lock is released there and B granted at once.
    A must hear that its stream ended (the RST_STREAM) no later than B hears `granted`:
    else A still believes it holds the lock B was given."""
    conn = raw.Connection()
    conn.start()
    a = conn.request(raw.EXTENSIONS + "Acquire", grpc_message(acquire_request(service, "holder-a", 0)))
    conn.read_until(lambda: conn.streams[a].data, 5, "A's granted")
    b = conn.request(raw.EXTENSIONS + "Acquire", grpc_message(acquire_request(service, "waiter-b", 5)))
    conn.read_for(0.3)
    check(not conn.streams[b].data, "B granted while A holds: " + conn.streams[b].describe())
    conn.send(WindowUpdateFrame(a, window_increment=(1 << 31) - 1))
    conn.read_until(lambda: conn.streams[b].data or conn.closed, 5, "B's granted")
    conn.read_for(0.5)
    check(conn.streams[b].data, "B not granted after A's reset: " + conn.streams[b].describe())
    check(conn.streams[a].done or conn.closed,
          "B was granted, but A never heard its stream end (no RST_STREAM, no trailers): two holders: " +
          conn.streams[a].describe())
    ok("A reset by nghttp2 (%s), then B granted" % conn.streams[a].kinds[-1])
    raw.normal_call(conn, "a normal ListLocks on the same connection")
    conn.close()


CASES = {
    "reset-hands-on": case_reset_hands_on,
    "reflection-flood": case_reflection_flood,
    "rst-no-error": case_rst_no_error,
    "slow-half-close": case_slow_half_close,
}


def main():
    raw.PORT = int(sys.argv[1])
    try:
        CASES[sys.argv[2]](*sys.argv[3:])
    except Fail as failure:
        print("FAIL: %s" % failure, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
