"""Randomized kill test (bounded) with gRPC holders: a real tcpnetlock_server serving the line
protocol and gRPC, and three kinds of holders contending for the same few names:
  - raw line clients (lock,name:...,fencing:1; a .keepalive round trip before each tick);
  - LockExtensions.Acquire streams (the lock held while the stream is open; before each
    tick the stream must not have said `lost` or ended, GetLock(id) must still find the
    hold, and the call's own deadline must be at least MARGIN away);
  - LockExtensions.CreateLock detached locks with a TTL (before each tick GetLock(id)
    finds it and the lease, counted from before the request was sent, has MARGIN left;
    Renew now and then; UnLock at the end);
while random SIGKILLs and short SIGSTOPs hit the holders at any moment (waiting, just
granted, mid-answer, holding). gRPC calls get random deadlines, some close to their wait,
so that deadlines race grants; some Acquire streams are cancelled by the client right
after the grant arrives.

Every critical section appends "name holder token kind" lines to one O_APPEND log (one
write each). Checked afterwards, per name: no holder writes after a newer holder of the
same name has written (no overlap), and fencing tokens only rise. Exits 1 on any.

Usage: random_kills_grpc.py BIN_DIR SECONDS [--seed N]
Needs /usr/bin/python3 with grpcio and protobuf, and protoc.
"""
import os, random, shutil, signal, socket, subprocess, sys, tempfile, time, uuid

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from process_tools import signal_pid  # noqa: E402

bin_dir, seconds = sys.argv[1], float(sys.argv[2])
seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else random.randrange(1 << 30)
rng = random.Random(seed)
repo = os.path.normpath(os.path.join(here, "..", "..", ".."))
work = tempfile.mkdtemp(prefix="tnl_random_kills_grpc.")
log_path = os.path.join(work, "sections.log")
open(log_path, "w").close()
pb_dir = os.path.join(work, "pb")
os.mkdir(pb_dir)
subprocess.check_call(["protoc", "-I" + os.path.join(repo, "proto"), "-I/usr/include", "--python_out=" + pb_dir,
                       os.path.join(repo, "proto/tcpnetlock/v1/lock_extensions.proto"),
                       os.path.join(repo, "proto/tracker/lock/v1alpha1/lock.proto")])
NAMES = ["g0", "g1", "g2"]
LOCK_DELAY, HOLDER_TIMEOUT = "1.5", "1"
PYTHON = "/usr/bin/python3"  # Debian's, with grpcio


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port


port, grpc_port = free_port(), free_port()
server_log = open(os.path.join(work, "server.log"), "ab")
server_cmd = [os.path.join(bin_dir, "tcpnetlock_server"), "--listen", "127.0.0.1", "--port", str(port),
              "--http", "off", "--grpc", "127.0.0.1:%d" % grpc_port, "--lock-delay", LOCK_DELAY,
              "--holder-timeout", HOLDER_TIMEOUT, "--tcp-keepalive", "1,1,2", "--info"]
server = subprocess.Popen(server_cmd, stdout=server_log, stderr=server_log)
deadline = time.time() + 20
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        socket.create_connection(("127.0.0.1", grpc_port), timeout=1).close()
        break
    except OSError:
        if time.time() > deadline or server.poll() is not None:
            raise SystemExit("server did not start")
        time.sleep(0.05)

RAW = r'''
import socket, sys, os, time
port, name, uid, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rwb", buffering=0)
f.write(("lock,name:%s,wait:5,fencing:1,client-id:%s\n" % (name, uid)).encode())
answer = f.readline().decode().strip()
if not answer.startswith("ok,token:"): sys.exit(3)
token = answer[len("ok,token:"):]
fd = os.open(log, os.O_WRONLY | os.O_APPEND)
for i in range(15):
    f.write(b".keepalive\n")
    if f.readline().decode().strip() != "alive": sys.exit(4)
    os.write(fd, ("%s %s %s raw\n" % (name, uid, token)).encode())
    time.sleep(0.02)
f.write(b"release\n"); f.readline()
'''

# The gRPC holders. MARGIN: how much of a deadline or lease must be left before a tick.
GRPC = r'''
import os, random, sys, threading, time
sys.path.insert(0, sys.argv[1])
import grpc
from tcpnetlock.v1 import lock_extensions_pb2 as ext
from tracker.lock.v1alpha1 import lock_pb2 as tracker
target, kind, name, uid, log, seed = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])
rng = random.Random(seed)
MARGIN = 0.3
channel = grpc.insecure_channel(target)
def unary(service, method, response):
    return channel.unary_unary("/%s/%s" % (service, method), request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response.FromString)
EXT, LOCKS = "tcpnetlock.v1.LockExtensions", "tracker.lock.v1alpha1.LockService"
get_lock = unary(LOCKS, "GetLock", tracker.GetLockResponse)
def still_held(lock_id):
    try:
        return get_lock(tracker.GetLockRequest(id=lock_id), timeout=2).lock.id == lock_id
    except grpc.RpcError:
        return False
fd = os.open(log, os.O_WRONLY | os.O_APPEND)
def tick(token):
    os.write(fd, ("%s %s %d %s\n" % (name, uid, token, kind)).encode())

if kind == "stream":
    acquire = channel.unary_stream("/%s/Acquire" % EXT, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=ext.AcquireEvent.FromString)
    request = ext.AcquireRequest(service=name, who=uid)
    request.wait.seconds = 5
    timeout = rng.choice([None, None, rng.uniform(0.2, 6.0)])
    started = time.monotonic()
    call = acquire(request, timeout=timeout)
    state = {"granted": None, "over": False}
    granted = threading.Event()
    def read():
        try:
            for event in call:
                if event.HasField("granted"):
                    state["granted"] = event.granted
                    granted.set()
                else:
                    state["over"] = True
        except grpc.RpcError:
            pass
        state["over"] = True
        granted.set()
    threading.Thread(target=read, daemon=True).start()
    granted.wait(10)
    if state["granted"] is None or state["over"]: sys.exit(3)
    g = state["granted"]
    if rng.random() < 0.1: call.cancel(); sys.exit(0)
    for i in range(15):
        if timeout is not None and time.monotonic() > started + timeout - MARGIN: break
        if state["over"] or not still_held(g.lock.id) or state["over"]: break
        if timeout is not None and time.monotonic() > started + timeout - MARGIN: break
        tick(g.fencing_token)
        time.sleep(0.02)
    call.cancel()
else:
    create = unary(EXT, "CreateLock", ext.CreateLockResponse)
    renew = unary(EXT, "Renew", ext.RenewResponse)
    unlock = unary(LOCKS, "UnLock", tracker.UnLockResponse)
    wait = rng.choice([0, 1, 3, 5])
    ttl = 4
    request = ext.CreateLockRequest(service=name, who=uid)
    request.wait.seconds = wait
    request.ttl.seconds = ttl
    # Deadlines that race the grant: some shorter than the wait, some close to it.
    timeout = rng.choice([10.0, rng.uniform(0.05, wait + 0.5), wait + rng.uniform(-0.05, 0.05) if wait else 0.5])
    sent = time.monotonic()
    try:
        response = create(request, timeout=max(timeout, 0.01))
    except grpc.RpcError:
        sys.exit(3)
    lease_end = sent + ttl
    lock_id, token = response.lock.id, response.fencing_token
    for i in range(15):
        if i % 5 == 4:
            again = time.monotonic()
            r = ext.RenewRequest(id=lock_id); r.ttl.seconds = ttl
            try:
                renew(r, timeout=2); lease_end = again + ttl
            except grpc.RpcError:
                break
        if time.monotonic() > lease_end - MARGIN or not still_held(lock_id): break
        if time.monotonic() > lease_end - MARGIN: break
        tick(token)
        time.sleep(0.02)
    try:
        unlock(tracker.UnLockRequest(id=lock_id), timeout=2)
    except grpc.RpcError:
        pass
'''

clients = []  # (kind, Popen)
stopped = []  # (pid, when to continue)
figures = dict(rounds=0, raw=0, stream=0, create=0, kill_raw=0, kill_stream=0, kill_create=0, stop_raw=0,
               stop_stream=0, stop_create=0)


def spawn():
    name = rng.choice(NAMES); uid = uuid.uuid4().hex[:12]
    kind = rng.choice(["raw", "stream", "stream", "create", "create"])
    figures[kind] += 1
    if kind == "raw":
        args = [sys.executable, "-c", RAW, str(port), name, uid, log_path]
    else:
        args = [PYTHON, "-c", GRPC, pb_dir, "127.0.0.1:%d" % grpc_port, kind, name, uid, log_path,
                str(rng.randrange(1 << 30))]
    clients.append((kind, subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))


end = time.time() + seconds
while time.time() < end:
    figures["rounds"] += 1
    now = time.time()
    for pid, when in list(stopped):
        if when <= now: signal_pid(pid, signal.SIGCONT); stopped.remove((pid, when))
    clients[:] = [(k, p) for k, p in clients if p.poll() is None]
    while len(clients) < 12: spawn()
    kind, victim = rng.choice(clients)
    action = rng.random()
    if action < 0.2:
        figures["kill_" + kind] += signal_pid(victim.pid, signal.SIGKILL)
    elif action < 0.3 and victim.pid not in [pid for pid, _ in stopped]:
        # Short: below the raw holders' timeout + lock-delay, the gRPC keepalive, the MARGIN.
        if signal_pid(victim.pid, signal.SIGSTOP):
            figures["stop_" + kind] += 1; stopped.append((victim.pid, now + rng.uniform(0.05, 0.25)))
    time.sleep(rng.uniform(0.02, 0.2))

for pid, _ in stopped: signal_pid(pid, signal.SIGCONT)
for _, p in clients:
    try: p.wait(timeout=30)
    except subprocess.TimeoutExpired: p.kill()
server_died = server.poll() is not None
server.send_signal(signal.SIGTERM)
try: server_status = server.wait(timeout=20)
except subprocess.TimeoutExpired: server.kill(); server_status = None; print("server did not stop on SIGTERM within 20 s")
server_log.close()
sanitizer = "Sanitizer" in open(os.path.join(work, "server.log"), errors="replace").read()
if server_died or server_status != 0 or sanitizer:
    print("SERVER FAILED: %s, exit status %s%s" % ("died during the run" if server_died else "ran to the end",
                                                  server_status, ", a sanitizer report in its log" if sanitizer else ""))

lines = open(log_path).read().splitlines() if os.path.exists(log_path) else []
first, last, token_of, order, kind_of = {}, {}, {}, {}, {}
for i, line in enumerate(lines):
    name, uid, token, kind = line.split()[:4]
    key = (name, uid)
    if key not in first:
        first[key] = i; order.setdefault(name, []).append(uid); token_of[key] = int(token); kind_of[key] = kind
    last[key] = i
overlaps, backwards = 0, 0
for name, uids in order.items():
    for a, b in zip(uids, uids[1:]):
        if last[(name, a)] > first[(name, b)]:
            overlaps += 1
            print("OVERLAP on %s: %s %s (token %d, lines %d-%d) wrote after %s %s (token %d) started at line %d" % (
                name, kind_of[(name, a)], a, token_of[(name, a)], first[(name, a)], last[(name, a)],
                kind_of[(name, b)], b, token_of[(name, b)], first[(name, b)]))
        if token_of[(name, b)] <= token_of[(name, a)]:
            backwards += 1
            print("TOKEN BACKWARDS on %s: %s had %d, the next holder %s %d" % (name, a, token_of[(name, a)], b,
                                                                                token_of[(name, b)]))
sections = sum(len(u) for u in order.values())
by_kind = {}
for key, kind in kind_of.items(): by_kind[kind] = by_kind.get(kind, 0) + 1
print("seed %d, %.0f s: %s" % (seed, seconds, " ".join("%s=%d" % kv for kv in figures.items())))
print("critical sections %d (%s), log lines %d, overlaps %d, tokens backwards %d" % (
    sections, " ".join("%s=%d" % kv for kv in sorted(by_kind.items())), len(lines), overlaps, backwards))
failed = server_died or server_status != 0 or sanitizer or overlaps or backwards or sections == 0 or any(by_kind.get(k, 0) == 0 for k in ("raw", "stream", "create"))
if failed:
    print("work dir (logs kept): %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failed else 0)
