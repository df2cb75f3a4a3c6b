#!/usr/bin/python3
"""Hand-made HTTP/2 against the server's gRPC port (tests/scripts/grpc_h2_wire.sh).

Not a gRPC client: every frame is built here (hyperframe, hpack: what Debian's python3-h2
brings), so that the frames a real client never sends can be sent: garbage instead of the
preface, oversized and malformed messages, header blocks past the server's limit, more
streams than SETTINGS_MAX_CONCURRENT_STREAMS, floods of PINGs, PINGs never answered.

Usage: grpc_h2_raw.py PORT CASE [ARG...]; prints what it observed ("ok: ...") and exits
0, or prints "FAIL: ..." and exits 1. Every wait has a deadline; loopback only.
"""
import os
import select
import socket
import struct
import sys
import time

from hpack import Decoder, Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_FRAME = 16384  # the server's SETTINGS_MAX_FRAME_SIZE (nghttp2's default)

# HTTP/2 error codes (RFC 9113 7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 0, 1, 2, 7, 8, 11
# gRPC status codes.
OK, CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL = 0, 1, 4, 8, 12, 13

PORT = 0


class Fail(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Fail(message)


def ok(message):
    print("   ok: " + message, flush=True)


# --- protobuf, by hand -------------------------------------------------------------------

def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_bytes(field, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def pb_varint(field, value):
    return varint(field << 3) + varint(value)


def read_varint(data, i):
    """The varint at data[i:] and the index after it."""
    value = 0
    shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def pb_fields(data):
    """(field, wire type, value) of a message's top level."""
    i = 0
    out = []
    while i < len(data):
        key, i = read_varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(data, i)
        elif wire == 2:
            length, i = read_varint(data, i)
            value = bytes(data[i:i + length])
            i += length
        elif wire == 1:
            value = data[i:i + 8]
            i += 8
        elif wire == 5:
            value = data[i:i + 4]
            i += 4
        else:
            raise Fail("cannot decode wire type %d" % wire)
        out.append((field, wire, value))
    return out


def grpc_message(payload, compressed=False, declared=None):
    """gRPC's 5-byte prefix (flag, big-endian length) and the payload."""
    return struct.pack(">BI", 1 if compressed else 0, len(payload) if declared is None else declared) + payload


def grpc_messages(data):
    """The payloads of the length-prefixed messages in `data`."""
    out = []
    i = 0
    while i + 5 <= len(data):
        flag, length = struct.unpack(">BI", data[i:i + 5])
        out.append(data[i + 5:i + 5 + length])
        i += 5 + length
    return out


def tracker_create_request(service, who):
    # tracker.lock.v1alpha1.CreateLockRequest: service = 2, who = 3.
    return pb_bytes(2, service) + pb_bytes(3, who)


def ext_create_request(service, who, wait_seconds):
    # tcpnetlock.v1.CreateLockRequest: service = 1, who = 2, wait = 6 (Duration: seconds = 1).
    return pb_bytes(1, service) + pb_bytes(2, who) + pb_bytes(6, pb_varint(1, wait_seconds))


def listed_services(list_locks_response):
    """The `service` of every Lock in a ListLocksResponse (locks = 1; Lock.service = 2)."""
    services = []
    for field, wire, value in pb_fields(list_locks_response):
        if field == 1 and wire == 2:
            services += [v.decode() for f, w, v in pb_fields(value) if f == 2 and w == 2]
    return services


LOCKS = "/tracker.lock.v1alpha1.LockService/"
EXTENSIONS = "/tcpnetlock.v1.LockExtensions/"


# --- one HTTP/2 connection, frame by frame -------------------------------------------------

class Stream:
    def __init__(self, sid):
        self.sid = sid
        self.blocks = []   # each HEADERS block: a dict of its fields
        self.data = b""
        self.ended = False  # END_STREAM from the server
        self.rst = None     # RST_STREAM's error code
        self.kinds = []     # the frames' types, in order

    @property
    def done(self):
        return self.ended or self.rst is not None

    def field(self, name):
        for block in reversed(self.blocks):
            if name in block:
                return block[name]
        return None

    def grpc_status(self):
        value = self.field("grpc-status")
        return None if value is None else int(value)

    def describe(self):
        return "stream %d: frames %s, headers %s, %d data bytes, %s, rst %s" % (
            self.sid, self.kinds, self.blocks, len(self.data), "ended" if self.ended else "not ended", self.rst)


class Connection:
    def __init__(self, port=None, answer_pings=True, ack_settings=True, receive_buffer=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:  # before connecting: it sets the TCP window offered
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port or PORT))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.encoder = Encoder()
        self.decoder = Decoder()
        self.buffer = b""
        self.streams = {}
        self.next_id = 1
        self.closed = False        # EOF or reset from the server
        self.reset_by_peer = False
        self.goaway = None         # (last stream id, error code)
        self.server_settings = None
        self.settings_acked = False
        self.pings = []            # opaque data of the server's PINGs (not ACKs)
        self.ping_acks = 0
        self.frames = []           # (time, type name) of every frame received
        self.answer_pings = answer_pings
        self.ack_settings = ack_settings
        self.pending_block = None  # (stream id, bytes, end stream) until END_HEADERS

    # sending
    def send_bytes(self, data):
        self.sock.sendall(data)

    def send(self, *frames):
        self.sock.sendall(b"".join(f.serialize() for f in frames))

    def start(self, settings=None, wait=True):
        """The preface and our SETTINGS; `wait`: until the server's SETTINGS and its ACK of ours."""
        frame = SettingsFrame(0)
        frame.settings = settings or {}
        self.send_bytes(PREFACE + frame.serialize())
        if wait:
            self.read_until(lambda: self.server_settings is not None and self.settings_acked, 5, "the server's SETTINGS")

    def headers_frames(self, sid, fields, end_stream):
        block = self.encoder.encode(fields, huffman=False)
        frames = []
        first = HeadersFrame(sid, data=block[:MAX_FRAME])
        rest = block[MAX_FRAME:]
        flags = ["END_STREAM"] if end_stream else []
        if not rest:
            flags.append("END_HEADERS")
        for flag in flags:
            first.flags.add(flag)
        frames.append(first)
        while rest:
            chunk, rest = rest[:MAX_FRAME], rest[MAX_FRAME:]
            continuation = ContinuationFrame(sid, data=chunk)
            if not rest:
                continuation.flags.add("END_HEADERS")
            frames.append(continuation)
        return frames

    def request_fields(self, path, method="POST", content_type="application/grpc", extra=()):
        fields = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1:%d" % PORT)]
        if content_type is not None:
            fields.append(("content-type", content_type))
        fields.append(("te", "trailers"))
        return fields + list(extra)

    def open_stream(self):
        sid = self.next_id
        self.next_id += 2
        self.streams[sid] = Stream(sid)
        return sid

    def request_frames(self, sid, path, body=None, end=True, **kwargs):
        """HEADERS (END_STREAM when there is no body and `end`), then DATA `body`."""
        fields = self.request_fields(path, **kwargs)
        frames = self.headers_frames(sid, fields, end_stream=end and body is None)
        if body is not None:
            while True:
                chunk, body = body[:MAX_FRAME], body[MAX_FRAME:]
                frame = DataFrame(sid, data=chunk)
                if end and not body:
                    frame.flags.add("END_STREAM")
                frames.append(frame)
                if not body:
                    break
        return frames

    def request(self, path, body=None, end=True, **kwargs):
        sid = self.open_stream()
        self.send(*self.request_frames(sid, path, body, end, **kwargs))
        return sid

    def call(self, path, body=None, timeout=5, **kwargs):
        """A request; waits (`timeout`) for its stream to end; returns the Stream."""
        sid = self.request(path, body, **kwargs)
        return self.wait(sid, timeout)

    def wait(self, sid, timeout=5):
        stream = self.streams[sid]
        self.read_until(lambda: stream.done or self.closed, timeout, "the end of stream %d" % sid)
        return stream

    # receiving
    def read_frame(self, deadline):
        """One frame, handled; False at EOF (or reset); raises TimeoutError at the deadline."""
        while len(self.buffer) < 9 or len(self.buffer) < 9 + int.from_bytes(self.buffer[:3], "big"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError()
            except ConnectionResetError:
                self.closed = True
                self.reset_by_peer = True
                return False
            if not chunk:
                self.closed = True
                return False
            self.buffer += chunk
        frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
        frame.parse_body(memoryview(self.buffer[9:9 + length]))
        self.buffer = self.buffer[9 + length:]
        self.handle(frame)
        return True

    def read_until(self, condition, timeout, what):
        deadline = time.monotonic() + timeout
        while not condition():
            try:
                if not self.read_frame(deadline):
                    if condition():
                        return
                    raise Fail("the server closed the connection while waiting for %s" % what)
            except TimeoutError:
                raise Fail("no %s within %.1f s" % (what, timeout))

    def read_for(self, seconds):
        """Reads (and handles) what comes for `seconds`, or until the server closes."""
        deadline = time.monotonic() + seconds
        try:
            while self.read_frame(deadline):
                pass
        except TimeoutError:
            pass

    def read_to_end(self, timeout):
        """Reads until the server closes the connection; whether it did within `timeout`."""
        deadline = time.monotonic() + timeout
        try:
            while self.read_frame(deadline):
                pass
            return True
        except TimeoutError:
            return False

    def stream(self, sid):
        if sid not in self.streams:
            self.streams[sid] = Stream(sid)
        return self.streams[sid]

    def handle(self, frame):
        kind = type(frame).__name__.replace("Frame", "")
        self.frames.append((time.monotonic(), kind))
        if isinstance(frame, SettingsFrame):
            if "ACK" in frame.flags:
                self.settings_acked = True
            else:
                self.server_settings = dict(frame.settings)
                if self.ack_settings:
                    ack = SettingsFrame(0)
                    ack.flags.add("ACK")
                    self.send(ack)
        elif isinstance(frame, PingFrame):
            if "ACK" in frame.flags:
                self.ping_acks += 1
            else:
                self.pings.append(bytes(frame.opaque_data))
                if self.answer_pings:
                    ack = PingFrame(0, opaque_data=bytes(frame.opaque_data))
                    ack.flags.add("ACK")
                    self.send(ack)
        elif isinstance(frame, GoAwayFrame):
            self.goaway = (frame.last_stream_id, frame.error_code)
        elif isinstance(frame, RstStreamFrame):
            stream = self.stream(frame.stream_id)
            stream.kinds.append("RST_STREAM(%d)" % frame.error_code)
            stream.rst = frame.error_code
        elif isinstance(frame, (HeadersFrame, ContinuationFrame)):
            stream = self.stream(frame.stream_id)
            stream.kinds.append("HEADERS" if isinstance(frame, HeadersFrame) else "CONTINUATION")
            if isinstance(frame, HeadersFrame):
                self.pending_block = [frame.stream_id, bytes(frame.data), "END_STREAM" in frame.flags]
            else:
                self.pending_block[1] += bytes(frame.data)
            if "END_HEADERS" in frame.flags:
                sid, block, end = self.pending_block
                self.pending_block = None
                stream.blocks.append(dict(self.decoder.decode(block)))
                if end:
                    stream.ended = True
        elif isinstance(frame, DataFrame):
            stream = self.stream(frame.stream_id)
            stream.kinds.append("DATA")
            stream.data += bytes(frame.data)
            if "END_STREAM" in frame.flags:
                stream.ended = True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- assertions on answers -----------------------------------------------------------------

def expect_trailers_only(stream, status, what):
    check(stream.ended, "%s: the stream did not end: %s" % (what, stream.describe()))
    check(stream.kinds[0] == "HEADERS" and len(stream.blocks) == 1 and not stream.data,
          "%s: not a Trailers-Only answer (one HEADERS): %s" % (what, stream.describe()))
    block = stream.blocks[0]
    check(block.get(":status") == "200", "%s: :status %s, not 200: %s" % (what, block.get(":status"), stream.describe()))
    check(block.get("content-type", "").startswith("application/grpc"),
          "%s: content-type %r: %s" % (what, block.get("content-type"), stream.describe()))
    check(stream.grpc_status() == status, "%s: grpc-status %s, not %d (grpc-message %r)" % (
        what, stream.grpc_status(), status, stream.field("grpc-message")))
    ok("%s: Trailers-Only, grpc-status %d (%s)" % (what, status, stream.field("grpc-message")))


def expect_status(stream, status, what):
    check(stream.ended, "%s: the stream did not end: %s" % (what, stream.describe()))
    check(stream.blocks and stream.blocks[0].get(":status") == "200", "%s: no :status 200: %s" % (what, stream.describe()))
    check(stream.grpc_status() == status, "%s: grpc-status %s, not %d (grpc-message %r): %s" % (
        what, stream.grpc_status(), status, stream.field("grpc-message"), stream.describe()))
    ok("%s: grpc-status %d (%s)" % (what, status, stream.field("grpc-message")))


def expect_http_status(stream, status, what):
    """An HTTP error answer: `status`, the stream ended, no gRPC status."""
    check(stream.ended and stream.blocks and stream.blocks[0].get(":status") == status,
          "%s: not :status %s: %s" % (what, status, stream.describe()))
    check(stream.grpc_status() is None, "%s: a gRPC status too: %s" % (what, stream.describe()))
    ok("%s: :status %s" % (what, status))


def normal_call(conn, what="a normal ListLocks"):
    stream = conn.call(LOCKS + "ListLocks", grpc_message(b""))
    expect_status(stream, OK, what)
    check(len(grpc_messages(stream.data)) == 1, "%s: not one response message: %s" % (what, stream.describe()))
    return stream


# --- the cases -----------------------------------------------------------------------------

def case_normal():
    conn = Connection()
    conn.start()
    normal_call(conn)
    conn.close()


def case_list_has(service):
    """Prints whether ListLocks lists a lock of `service`."""
    conn = Connection()
    conn.start()
    stream = conn.call(LOCKS + "ListLocks", grpc_message(b""))
    check(stream.grpc_status() == OK, "ListLocks: " + stream.describe())
    print("yes" if service in listed_services(grpc_messages(stream.data)[0]) else "no")
    conn.close()


def expect_closed(conn, what, timeout=5):
    check(conn.read_to_end(timeout), "%s: the connection is still open after %d s (frames: %s)" % (
        what, timeout, [kind for _, kind in conn.frames]))
    streams = [s.describe() for s in conn.streams.values()]
    check(not streams, "%s: the server answered a stream: %s" % (what, streams))
    ok("%s: closed by the server (frames received: %s%s%s)" % (
        what, [kind for _, kind in conn.frames], ", GOAWAY error %d" % conn.goaway[1] if conn.goaway else "",
        ", reset" if conn.reset_by_peer else ""))


def case_garbage():
    conn = Connection()
    conn.send_bytes(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    expect_closed(conn, "an HTTP/1.1 request instead of the preface")
    check(not conn.buffer, "bytes after the last frame (an HTTP/1 answer?): %r" % conn.buffer[:80])
    conn.close()

    conn = Connection()
    conn.send_bytes(b"\x16\x03\x01" + os.urandom(4093))  # random bytes, as after a TLS ClientHello's start
    expect_closed(conn, "4 KiB of random bytes instead of the preface")
    conn.close()

    # After a good preface: a DATA frame on stream 0 is a connection error (PROTOCOL_ERROR).
    conn = Connection()
    conn.start()
    conn.send_bytes(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA, length 1, stream 0
    expect_closed(conn, "DATA on stream 0 after the preface")
    check(conn.goaway is not None and conn.goaway[1] == PROTOCOL_ERROR,
          "no GOAWAY(PROTOCOL_ERROR) before the close: %s" % (conn.goaway,))
    ok("  with GOAWAY(PROTOCOL_ERROR)")
    conn.close()

    # A SETTINGS frame of 7 bytes (not a multiple of 6): FRAME_SIZE_ERROR.
    conn = Connection()
    conn.start()
    conn.send_bytes(b"\x00\x00\x07\x04\x00\x00\x00\x00\x00" + b"\x00" * 7)
    expect_closed(conn, "a SETTINGS frame of 7 bytes")
    check(conn.goaway is not None and conn.goaway[1] == 6, "no GOAWAY(FRAME_SIZE_ERROR): %s" % (conn.goaway,))
    ok("  with GOAWAY(FRAME_SIZE_ERROR)")
    conn.close()


def case_unknown_method():
    conn = Connection()
    conn.start()
    stream = conn.call("/no.such.Service/Method", grpc_message(b""))
    expect_trailers_only(stream, UNIMPLEMENTED, "/no.such.Service/Method")
    stream = conn.call(LOCKS + "NoSuchMethod", grpc_message(b""))
    expect_trailers_only(stream, UNIMPLEMENTED, LOCKS + "NoSuchMethod")
    # Not even a path a gRPC client would send.
    stream = conn.call("/", grpc_message(b""))
    expect_trailers_only(stream, UNIMPLEMENTED, "/")
    normal_call(conn, "a normal ListLocks on the same connection")
    conn.close()


def case_http_errors():
    conn = Connection()
    conn.start()
    expect_http_status(conn.call(LOCKS + "ListLocks", method="GET"), "405", "GET")
    for content_type in ("text/plain", None, "application/grpcx"):
        stream = conn.call(LOCKS + "ListLocks", grpc_message(b""), content_type=content_type)
        expect_http_status(stream, "415", "content-type %s" % (content_type or "(none)"))
    stream = conn.call(LOCKS + "ListLocks", grpc_message(b""), content_type="application/grpc+proto")
    expect_status(stream, OK, "content-type application/grpc+proto")
    normal_call(conn, "a normal ListLocks on the same connection")
    conn.close()


def case_too_large():
    conn = Connection()
    conn.start()
    # Only the prefix, announcing 4 GiB - 1 (the most 32 bits say), and nothing after it:
    # the answer must come without the body.
    sid = conn.request(LOCKS + "ListLocks", struct.pack(">BI", 0, 0xFFFFFFFF), end=False)
    started = time.monotonic()
    stream = conn.wait(sid, 3)
    elapsed = time.monotonic() - started
    expect_trailers_only(stream, RESOURCE_EXHAUSTED, "a prefix announcing 4 GiB, no body")
    check(elapsed < 2, "answered after %.2f s" % elapsed)
    ok("  answered in %.0f ms, the body never sent" % (elapsed * 1000))
    # The stream is closed on the server's side too (RST_STREAM NO_ERROR, RFC 9113 8.1):
    # otherwise it would count against the 100 concurrent streams until the client ends it.
    conn.read_until(lambda: stream.rst is not None, 3, "RST_STREAM after the early answer")
    check(stream.rst == NO_ERROR, "RST_STREAM %d, not NO_ERROR" % stream.rst)
    ok("  and the stream reset with NO_ERROR")

    payload = b"\x7a" + b"\x00" * 8192  # 8193 bytes, whatever they are
    stream = conn.call(LOCKS + "ListLocks", grpc_message(payload))
    expect_trailers_only(stream, RESOURCE_EXHAUSTED, "a message of 8193 bytes (declared and sent)")

    # 8192 bytes exactly is taken: a valid ListLocksRequest padded with an unknown field 15.
    payload = pb_bytes(15, b"x" * 8189)  # 1 byte of tag, 2 of length
    check(len(payload) == 8192, "padding: %d bytes" % len(payload))
    stream = conn.call(LOCKS + "ListLocks", grpc_message(payload))
    expect_status(stream, OK, "a message of 8192 bytes exactly (the limit)")
    normal_call(conn, "a normal ListLocks on the same connection")
    conn.close()


def case_compressed():
    conn = Connection()
    conn.start()
    stream = conn.call(LOCKS + "ListLocks", grpc_message(b"", compressed=True), extra=[("grpc-encoding", "gzip")])
    expect_trailers_only(stream, UNIMPLEMENTED, "compressed flag set (grpc-encoding gzip)")
    stream = conn.call(LOCKS + "ListLocks", grpc_message(b"", compressed=True))
    expect_trailers_only(stream, UNIMPLEMENTED, "compressed flag set, no grpc-encoding")
    normal_call(conn, "a normal ListLocks on the same connection")
    conn.close()


def case_framing():
    conn = Connection()
    conn.start()
    stream = conn.call(LOCKS + "ListLocks", grpc_message(b"") + grpc_message(b""))
    expect_trailers_only(stream, INTERNAL, "two messages on a unary method")
    # The two messages in two DATA frames.
    sid = conn.open_stream()
    frames = conn.request_frames(sid, LOCKS + "ListLocks", grpc_message(b""), end=False)
    second = DataFrame(sid, data=grpc_message(b""))
    second.flags.add("END_STREAM")
    conn.send(*frames, second)
    expect_trailers_only(conn.wait(sid), INTERNAL, "two messages in two DATA frames")
    stream = conn.call(LOCKS + "ListLocks")  # END_STREAM on HEADERS
    expect_trailers_only(stream, INTERNAL, "no message (END_STREAM on HEADERS)")
    stream = conn.call(LOCKS + "ListLocks", b"")  # an empty DATA with END_STREAM
    expect_trailers_only(stream, INTERNAL, "no message (an empty DATA ending the stream)")
    stream = conn.call(LOCKS + "ListLocks", grpc_message(b"abc", declared=10))
    expect_trailers_only(stream, INTERNAL, "the stream ends inside a message (3 of 10 bytes)")
    stream = conn.call(LOCKS + "ListLocks", b"\x00\x00")
    expect_trailers_only(stream, INTERNAL, "the stream ends inside a prefix (2 of 5 bytes)")
    stream = conn.call(LOCKS + "ListLocks", grpc_message(b"\x0a\x05ab"))
    expect_trailers_only(stream, INTERNAL, "bytes that are not a ListLocksRequest")
    stream = conn.call(LOCKS + "CreateLock", grpc_message(b"\xff\xff\xff"))
    expect_trailers_only(stream, INTERNAL, "bytes that are not a CreateLockRequest")
    normal_call(conn, "a normal ListLocks on the same connection")
    conn.close()


def case_huge_headers():
    conn = Connection()
    conn.start()
    # 20,000 bytes of value, sent literally (no Huffman, never indexed): a header block of
    # more than 16 KiB, so HEADERS and a CONTINUATION.
    extra = [("x-huge", "v" * 20000, True)]
    sid = conn.open_stream()
    frames = conn.request_frames(sid, LOCKS + "ListLocks", grpc_message(b""), extra=extra)
    check(sum(1 for f in frames if isinstance(f, ContinuationFrame)) >= 1, "no CONTINUATION: the block is too small")
    conn.send(*frames)
    stream = conn.wait(sid)
    check(stream.rst is not None and not stream.blocks,
          "headers of 20 KB: not reset (RST_STREAM) without an answer: " + stream.describe())
    ok("a header block of 20 KB (HEADERS + CONTINUATION): RST_STREAM(%d), no answer" % stream.rst)
    # Within the limit (8 KiB, as HTTP/2 counts: name, value and 32 per field): answered.
    extra = [("x-some-%d" % i, "w" * 100) for i in range(40)]
    stream = conn.call(LOCKS + "ListLocks", grpc_message(b""), extra=extra)
    expect_status(stream, OK, "40 headers of 100 bytes each (6 KB, within the limit)")
    # Many headers adding up past the limit.
    extra = [("x-many-%d" % i, "w" * 100) for i in range(200)]
    stream = conn.call(LOCKS + "ListLocks", grpc_message(b""), extra=extra)
    check(stream.rst is not None and not stream.blocks,
          "200 headers of 100 bytes: not reset without an answer: " + stream.describe())
    ok("200 headers of 100 bytes each: RST_STREAM(%d), no answer" % stream.rst)
    check(not conn.closed and conn.goaway is None, "the connection ended (GOAWAY %s)" % (conn.goaway,))
    normal_call(conn, "a normal ListLocks on the same connection afterwards")
    conn.close()


def case_cancel_grant(mode, service):
    """A CreateLock of `service`, then RST_STREAM(CANCEL) (`rst`) or the socket closed (`close`,
    `abort`: with a TCP RST) before anything of the answer is read."""
    conn = Connection()
    conn.start()
    sid = conn.open_stream()
    frames = conn.request_frames(sid, LOCKS + "CreateLock", grpc_message(tracker_create_request(service, "h2-raw")))
    if mode == "rst":
        # All in one segment: the server reads the request and the cancel together.
        conn.send(*frames, RstStreamFrame(sid, error_code=CANCEL))
        # The same connection still answers (it reads stream 1's answer too, if there was one).
        normal_call(conn, "ListLocks on the same connection after the cancel")
        ok("CreateLock %s then RST_STREAM(CANCEL) at once: stream 1 saw %s" % (service, conn.streams[sid].kinds))
        conn.close()
    elif mode == "close":
        conn.send(*frames)
        conn.close()
        ok("CreateLock %s then the socket closed at once" % service)
    else:
        conn.send(*frames)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        ok("CreateLock %s then the socket aborted (TCP RST) at once" % service)


def case_streams():
    # a) Before the client ACKs the server's SETTINGS (nghttp2 already holds itself to 100):
    #    the 101st stream is refused alone, the connection goes on.
    conn = Connection(ack_settings=False)
    conn.start(wait=False)
    frames = []
    sids = [conn.open_stream() for _ in range(101)]
    for sid in sids:
        frames += conn.request_frames(sid, LOCKS + "ListLocks", grpc_message(b""), end=False)
    conn.send(*frames)
    last = conn.streams[sids[-1]]
    conn.read_until(lambda: last.done or conn.goaway is not None or conn.closed, 5, "an answer to the 101st stream")
    if conn.goaway is not None:
        check(conn.goaway[1] == PROTOCOL_ERROR, "GOAWAY(%d), not PROTOCOL_ERROR" % conn.goaway[1])
        check(conn.goaway[0] >= sids[-2], "GOAWAY's last stream %d: the first 100 were not taken" % conn.goaway[0])
        ok("101 streams (SETTINGS not acknowledged): GOAWAY(PROTOCOL_ERROR), last stream %d" % conn.goaway[0])
    else:
        check(last.rst == REFUSED_STREAM and not last.blocks,
              "the 101st stream: not RST_STREAM(REFUSED_STREAM): " + last.describe())
        ok("101 streams (SETTINGS not acknowledged): the 101st RST_STREAM(REFUSED_STREAM)")
        busy = [s.describe() for s in conn.streams.values() if s.sid != last.sid and s.kinds]
        check(not busy, "streams among the first 100 answered or reset: %s" % busy[:3])
        # The first 100 are open: end one, it is answered.
        end = DataFrame(sids[0], data=b"")
        end.flags.add("END_STREAM")
        conn.send(end)
        expect_status(conn.wait(sids[0]), OK, "stream 1 of the 100, ended now")
        conn.ack_settings = True
        ack = SettingsFrame(0)
        ack.flags.add("ACK")
        conn.send(ack)
        normal_call(conn, "a new stream on the same connection")
    conn.close()

    # b) After the ACK: nghttp2 makes it a connection error (RFC 9113 5.1.2 allows a stream
    #    error, PROTOCOL_ERROR or REFUSED_STREAM; both are accepted here).
    conn = Connection()
    conn.start()
    frames = []
    sids = [conn.open_stream() for _ in range(101)]
    for sid in sids:
        frames += conn.request_frames(sid, LOCKS + "ListLocks", grpc_message(b""), end=False)
    conn.send(*frames)
    last = conn.streams[sids[-1]]
    conn.read_until(lambda: last.done or conn.goaway is not None or conn.closed, 5, "an answer to the 101st stream")
    if conn.goaway is not None:
        check(conn.goaway[1] in (PROTOCOL_ERROR, REFUSED_STREAM), "GOAWAY(%d)" % conn.goaway[1])
        check(conn.goaway[0] >= sids[-2], "GOAWAY's last stream %d: the first 100 were not taken" % conn.goaway[0])
        ok("101 streams (SETTINGS acknowledged): GOAWAY(%d), last stream %d" % (conn.goaway[1], conn.goaway[0]))
        check(conn.read_to_end(5), "still open after the GOAWAY")
        ok("  and the connection closed")
    else:
        check(last.rst in (REFUSED_STREAM, PROTOCOL_ERROR) and not last.blocks,
              "the 101st stream: not refused: " + last.describe())
        ok("101 streams (SETTINGS acknowledged): the 101st RST_STREAM(%d)" % last.rst)
        normal_call(conn, "a new stream... ")
    conn.close()


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Fail("no VmRSS for %d" % pid)


def case_ping_flood(pid, count, most_growth_kb, expect):
    """`count` PINGs, the ACKs not read until the server stops reading (or all are sent).
    `expect`: closed (the server must close the connection), or any (closed, or every PING
    answered)."""
    before = vm_rss_kb(pid)
    # A small receive buffer: the ACKs the client does not read fill it, and the server's
    # send buffer, soon.
    conn = Connection(receive_buffer=4096)
    conn.start()
    ping = PingFrame(0, opaque_data=b"floodfld").serialize()
    chunk = 1000
    data = ping * chunk
    conn.sock.setblocking(False)
    sent = 0          # whole PING frames written
    pending = b""
    stalled_since = None
    closed_while_sending = False
    peak = before
    deadline = time.monotonic() + 10
    while sent < count and time.monotonic() < deadline:
        if not pending:
            pending = data[:min(chunk, count - sent) * len(ping)]
        _, writable, _ = select.select([], [conn.sock], [], 0.2)
        peak = max(peak, vm_rss_kb(pid))
        if not writable:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 1:
                break  # the server reads no more: it stopped taking PINGs it cannot answer
            continue
        stalled_since = None
        try:
            n = conn.sock.send(pending)
        except BlockingIOError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            closed_while_sending = True
            break
        pending = pending[n:]
        if not pending:
            sent += min(chunk, count - sent)
    peak = max(peak, vm_rss_kb(pid))
    conn.sock.setblocking(True)
    stalled = sent < count and not closed_while_sending
    ok("PING flood: %d of %d PINGs written%s%s; server RSS %d kB before, %d kB at most during" % (
        sent, count, ", then the server stopped reading" if stalled else "",
        ", then the server closed the connection" if closed_while_sending else "", before, peak))
    check(peak - before < most_growth_kb, "the server's RSS grew by %d kB (more than %d kB)" % (peak - before, most_growth_kb))
    # Now the answers are read: the server either closed the connection (nghttp2's flood
    # protection: GOAWAY(ENHANCE_YOUR_CALM)), or answered every PING taken, in order.
    conn.read_until(lambda: conn.closed or conn.ping_acks >= sent, 10, "the PING ACKs or the end")
    check(conn.closed or expect != "closed", "the flooding connection is still open (%d PING ACKs for %d PINGs)" % (
        conn.ping_acks, sent))
    if conn.closed:
        check(conn.ping_acks < sent, "closed, yet all %d PINGs were answered" % sent)
        ok("  the server closed the flooding connection after %d PING ACKs for %d PINGs (%s)" % (
            conn.ping_acks, sent, "reset" if conn.reset_by_peer else "GOAWAY %s" % (conn.goaway,)))
    else:
        check(conn.ping_acks == sent, "%d PING ACKs for %d PINGs" % (conn.ping_acks, sent))
        ok("  the connection stayed open: %d PING ACKs for %d PINGs (GOAWAY %s)" % (conn.ping_acks, sent, conn.goaway))
        normal_call(conn, "a normal ListLocks on the flooding connection once it reads")
    conn.close()
    print("RSS_PEAK_KB=%d" % peak)


def case_silent():
    """Preface and SETTINGS, then silence: the server's PING is never answered."""
    started = time.monotonic()
    conn = Connection(answer_pings=False)
    conn.start()
    conn.read_until(lambda: conn.pings or conn.closed, 20, "a PING from the server")
    check(conn.pings, "closed before any PING (after %.1f s)" % (time.monotonic() - started))
    ping_at = time.monotonic() - started
    ok("the server's PING after %.1f s (not answered)" % ping_at)
    check(conn.read_to_end(30 - (time.monotonic() - started)), "not closed within 30 s")
    closed_at = time.monotonic() - started
    ok("the server closed the connection after %.1f s, %.1f s after its PING (GOAWAY %s)" % (
        closed_at, closed_at - ping_at, conn.goaway))
    check(8.5 <= ping_at <= 13, "the PING came after %.1f s, not about 10 s" % ping_at)
    check(3.5 <= closed_at - ping_at <= 8, "closed %.1f s after the PING, not about 5 s" % (closed_at - ping_at))
    conn.close()


def line(lock_port, request):
    """One line-protocol request on a fresh connection; its answer."""
    with socket.create_connection(("127.0.0.1", lock_port), timeout=5) as sock:
        sock.sendall(request.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer.decode().strip()


def waiters(lock_port, name):
    """How many wait for `name` (the line protocol's .locks)."""
    import json
    answer = line(lock_port, ".locks,name:" + name)
    check(answer.startswith("locks,"), ".locks answered %r" % answer)
    locks = json.loads(answer[len("locks,"):])["locks"]
    return sum(entry["waiters"] for entry in locks if entry["name"] == name)


def expect_no_waiter(lock_port, name, what):
    deadline = time.monotonic() + 2
    while True:
        count = waiters(lock_port, name)
        if count == 0:
            break
        check(time.monotonic() < deadline, "%s: %d waiter(s) still queued for %s after 2 s" % (what, count, name))
        time.sleep(0.02)
    ok("%s: no waiter queued for %s any more" % (what, name))


def case_wait_deadline(service, lock_port):
    """LockExtensions.CreateLock waiting 10 s on a held `service`, with grpc-timeout 500m."""
    lock_port = int(lock_port)
    check(waiters(lock_port, service) == 0, "a waiter queued before")
    conn = Connection()
    conn.start()
    started = time.monotonic()
    stream = conn.call(EXTENSIONS + "CreateLock", grpc_message(ext_create_request(service, "h2-waiter", 10)),
                       timeout=3, extra=[("grpc-timeout", "500m")])
    elapsed = time.monotonic() - started
    expect_status(stream, DEADLINE_EXCEEDED, "CreateLock waiting 10 s on a held lock, grpc-timeout 500m")
    check(0.3 <= elapsed <= 1.2, "answered after %.2f s, not about 0.5 s" % elapsed)
    ok("  answered after %.0f ms" % (elapsed * 1000))
    expect_no_waiter(lock_port, service, "after DEADLINE_EXCEEDED")
    normal_call(conn, "a normal ListLocks on the same connection")
    conn.close()


def case_wait_cancel(service, mode, lock_port):
    """LockExtensions.CreateLock waiting 10 s on a held `service`, given up after 300 ms:
    RST_STREAM(CANCEL) (`rst`) or the connection closed (`close`)."""
    lock_port = int(lock_port)
    conn = Connection()
    conn.start()
    sid = conn.request(EXTENSIONS + "CreateLock", grpc_message(ext_create_request(service, "h2-waiter", 10)))
    stream = conn.streams[sid]
    conn.read_for(0.3)
    check(not stream.kinds and not conn.closed, "the waiting CreateLock was answered at once: " + stream.describe())
    check(waiters(lock_port, service) == 1, "not queued: %d waiters" % waiters(lock_port, service))
    ok("CreateLock waiting on a held lock: no answer after 300 ms, queued (1 waiter)")
    if mode == "rst":
        conn.send(RstStreamFrame(sid, error_code=CANCEL))
        expect_no_waiter(lock_port, service, "after RST_STREAM(CANCEL)")
        normal_call(conn, "a normal ListLocks on the same connection")
        conn.read_for(0.2)
        check(not stream.kinds, "the cancelled stream was answered: " + stream.describe())
    else:
        conn.close()
        expect_no_waiter(lock_port, service, "after the connection closed")
    conn.close()


CASES = {
    "normal": case_normal,
    "list-has": case_list_has,
    "garbage": case_garbage,
    "unknown-method": case_unknown_method,
    "http-errors": case_http_errors,
    "too-large": case_too_large,
    "compressed": case_compressed,
    "framing": case_framing,
    "huge-headers": case_huge_headers,
    "cancel-grant": case_cancel_grant,
    "streams": case_streams,
    "ping-flood": lambda pid, count, kb, expect: case_ping_flood(int(pid), int(count), int(kb), expect),
    "silent": case_silent,
    "wait-deadline": case_wait_deadline,
    "wait-cancel": case_wait_cancel,
}


def main():
    global PORT
    PORT = int(sys.argv[1])
    try:
        CASES[sys.argv[2]](*sys.argv[3:])
    except Fail as failure:
        print("FAIL: %s" % failure, flush=True)
        sys.exit(1)
    except OSError as error:
        print("FAIL: %s: %s" % (type(error).__name__, error), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
