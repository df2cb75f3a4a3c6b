"""Mutual-exclusion checker over 3 replicas on a 3-member etcd (bounded): tcpnetlock_do
holders (a command with a background child) and raw line clients, each on a random
replica, contend on a few names while random kill -9s hit the raw clients, tcpnetlock_do,
its guardians and the replicas (restarted on the same port), SIGSTOPs hit replicas (some
past the lease TTL), and, with --etcd-kills, kill -9s hit one etcd member at a time.

The protected resource: every critical section appends "name holder token" lines to one
O_APPEND log (one write each: appends are atomic and ordered, so the log is the order in
which a single resource received the writes). Replayed per name as a fenced resource
would: a write is accepted only if its token is at least the highest token it has seen
for that name (equal: the holder that set it writes again), i.e. only with a token higher
than any other holder's it has seen. Checked:
  - accepted writes never overlap: once a holder's write is accepted, no write of an
    earlier holder is accepted again (that would take a duplicate token or one going
    backwards);
  - tokens rise: holders, in the order of their first write, have rising tokens;
  - without the fence (every write, as a resource that does not check tokens would take
    them): no holder writes after a newer holder of the same name has written. This is
    the lock alone, with holders that check their lock (.keepalive round trip before each
    write; tcpnetlock_do's keepalive timeout) well inside the lease TTL.
Prints the figures; exits 1 on any overlap or token going backwards.

Usage: random_kills_etcd.py BIN_DIR SECONDS [--seed N] [--ttl S] [--etcd-kills] [--no-replica-stops]
                            [--control-independent]
  --control-independent: the replicas share nothing (local backend): the check must fail.
"""
import json, os, random, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request, uuid

from process_tools import guardians_of, signal_pid  # beside this script (tests/scripts/lib)

bin_dir, seconds = sys.argv[1], float(sys.argv[2])
def arg(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default
seed = int(arg("--seed", random.randrange(1 << 30)))
TTL = int(arg("--ttl", "3"))
etcd_kills = "--etcd-kills" in sys.argv
replica_stops = "--no-replica-stops" not in sys.argv
# The negative control: three independent local-backend servers (no shared lock space), on
# which the checker must find overlaps; proves that it can.
control = "--control-independent" in sys.argv
rng = random.Random(seed)
base = "/dev/shm" if os.path.isdir("/dev/shm") else None
work = tempfile.mkdtemp(prefix="tnl_random_kills_etcd.", dir=base)
log_path = os.path.join(work, "sections.log")
open(log_path, "w").close()
NAMES = ["n0", "n1", "n2"]
PREFIX = "/tnl-random-kills/"
# tcpnetlock_do's command is stopped within KEEPALIVE + KEEPALIVE_TIMEOUT + KILL_GRACE
# (1.1 s) of its replica's last answer; a replica's lease outlives its last acknowledged
# keepalive by at least TTL * 3/4 (2.25 s with TTL 3).
KEEPALIVE, KEEPALIVE_TIMEOUT, KILL_GRACE = "0.2", "0.6", "0.3"

def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks: s.close()
    return ports

def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond(): return
        time.sleep(0.02)
    raise SystemExit("timed out: %s (work dir %s)" % (what, work))

# --- etcd: three members on loopback ---
ETCD = "/usr/bin/etcd"
if not os.access(ETCD, os.X_OK): raise SystemExit("needs /usr/bin/etcd (Debian etcd-server)")
eports = free_ports(6)
members = [dict(name="m%d" % i, client=eports[2 * i], peer=eports[2 * i + 1]) for i in range(3)]
initial = ",".join("%s=http://127.0.0.1:%d" % (m["name"], m["peer"]) for m in members)
endpoints = ",".join("http://127.0.0.1:%d" % m["client"] for m in members)
etcd_log = open(os.path.join(work, "etcd.log"), "ab")

def start_member(m):
    m["proc"] = subprocess.Popen([
        ETCD, "--name", m["name"], "--data-dir", os.path.join(work, m["name"]),
        "--listen-client-urls", "http://127.0.0.1:%d" % m["client"],
        "--advertise-client-urls", "http://127.0.0.1:%d" % m["client"],
        "--listen-peer-urls", "http://127.0.0.1:%d" % m["peer"],
        "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % m["peer"],
        "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", os.path.basename(work),
        "--heartbeat-interval", "50", "--election-timeout", "500", "--logger", "zap", "--log-level", "warn"],
        stdout=etcd_log, stderr=etcd_log)

def member_healthy(m):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % m["client"], timeout=1) as r:
            return json.loads(r.read()).get("health") == "true"
    except Exception:
        return False

# --- replicas: fixed ports, so that a restarted one is found where it was ---
rports = free_ports(3)
server_log = open(os.path.join(work, "servers.log"), "ab")
replicas = [dict(port=p, proc=None) for p in rports]

def replica_ready(r):
    try:
        s = socket.create_connection(("127.0.0.1", r["port"]), timeout=1)
        s.sendall(b".ping\n"); ok = s.recv(64).startswith(b"pong"); s.close(); return ok
    except OSError:
        return False

def start_replica(r):
    r["proc"] = subprocess.Popen([
        os.path.join(bin_dir, "tcpnetlock_server"), "--listen", "127.0.0.1", "--port", str(r["port"]), "--http", "off",
        "--tcp-keepalive", "1,1,2", "--info"] + ([] if control else [
        "--backend", "etcd", "--etcd-endpoints", endpoints, "--etcd-prefix", PREFIX, "--etcd-lease-ttl", str(TTL)]),
        stdout=server_log, stderr=server_log)
    wait_for(lambda: replica_ready(r) or r["proc"].poll() is not None, 10, "replica on port %d" % r["port"])
    if r["proc"].poll() is not None: raise SystemExit("replica exited at start, see %s/servers.log" % work)

# The raw line client: holds with fencing:1; before each write it proves it still holds
# with a .keepalive round trip, given up after 0.5 s (its replica may be stopped).
RAW = r'''
import socket, sys, os, time
port, name, uid, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port), timeout=10); f = s.makefile("rwb", buffering=0)
f.write(("lock,name:%s,wait:5,fencing:1,client-id:%s\n" % (name, uid)).encode())
answer = f.readline().decode().strip()
if not answer.startswith("ok,token:"): sys.exit(3)
token = answer[len("ok,token:"):]
s.settimeout(0.5)
fd = os.open(log, os.O_WRONLY | os.O_APPEND)
for i in range(15):
    f.write(b".keepalive\n")
    try:
        if f.readline().decode().strip() != "alive": sys.exit(4)
    except OSError:
        sys.exit(5)
    os.write(fd, ("%s %s %s raw\n" % (name, uid, token)).encode())
    time.sleep(0.02)
f.write(b"release\n")
'''
# The command tcpnetlock_do runs: a background child and the command itself both tick.
# It ignores SIGTERM, so that it runs for the whole --kill-grace once its lock is lost.
CMD = ('trap "" TERM; tick() { for i in 1 2 3 4 5 6 7 8 9 10; do echo "$TCPNETLOCK_LOCK_NAME $UIDX $TCPNETLOCK_TOKEN $1" >> "$LOG"; '
       'sleep 0.03; done; }; tick bg & tick fg; wait')

clients = []  # (kind, Popen)
stopped = []  # (pid or replica, when to continue)
figures = dict(rounds=0, raw=0, do=0, kill_raw=0, kill_do=0, kill_guardian=0, kill_replica=0, stop_replica=0,
               stop_replica_past_ttl=0, kill_etcd=0)

def spawn():
    name = rng.choice(NAMES); uid = uuid.uuid4().hex[:12]; port = rng.choice(replicas)["port"]
    if rng.random() < 0.5:
        figures["raw"] += 1
        p = subprocess.Popen([sys.executable, "-c", RAW, str(port), name, uid, log_path], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        clients.append(("raw", p))
    else:
        figures["do"] += 1
        env = dict(os.environ, UIDX=uid, LOG=log_path)
        p = subprocess.Popen([os.path.join(bin_dir, "tcpnetlock_do"), "--port", str(port), "--lock-name", name,
                              "--fencing", "--wait", "5", "--kill-grace", KILL_GRACE, "--keep-alive-secs", KEEPALIVE,
                              "--keep-alive-timeout", KEEPALIVE_TIMEOUT, "--shell", CMD], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        clients.append(("do", p))

def mark(text):
    with open(log_path, "a") as f: f.write("# %s\n" % text)

try:
    for m in members: start_member(m)
    wait_for(lambda: all(member_healthy(m) for m in members), 20, "etcd cluster healthy")
    for r in replicas: start_replica(r)
    etcd_down = None  # (member, when to restart)
    end = time.time() + seconds
    while time.time() < end:
        figures["rounds"] += 1
        now = time.time()
        for item, when in list(stopped):
            if when <= now:
                signal_pid(item["proc"].pid, signal.SIGCONT); stopped.remove((item, when))
        if etcd_down and etcd_down[1] <= now:
            start_member(etcd_down[0]); etcd_down = None
        for r in replicas:
            if r["proc"].poll() is not None: start_replica(r)  # killed earlier: back on its port
        clients[:] = [(k, p) for k, p in clients if p.poll() is None]
        while len(clients) < 12: spawn()
        action = rng.random()
        if action < 0.20:
            pool = [p for k, p in clients if k == "raw"]
            if pool: figures["kill_raw"] += signal_pid(rng.choice(pool).pid, signal.SIGKILL)
        elif action < 0.40:
            pool = [p for k, p in clients if k == "do"]
            if pool: figures["kill_do"] += signal_pid(rng.choice(pool).pid, signal.SIGKILL)
        elif action < 0.52:
            pool = [g for k, p in clients if k == "do" for g in guardians_of(p.pid)]
            if pool: figures["kill_guardian"] += signal_pid(rng.choice(pool), signal.SIGKILL)
        elif action < 0.58:
            r = rng.choice(replicas)
            if all(r is not item for item, _ in stopped):
                figures["kill_replica"] += 1; mark("kill -9 replica %d" % r["port"])
                r["proc"].send_signal(signal.SIGKILL); r["proc"].wait()
                start_replica(r)
        elif action < 0.62 and replica_stops:
            r = rng.choice(replicas)
            if all(r is not item for item, _ in stopped) and signal_pid(r["proc"].pid, signal.SIGSTOP):
                pause = rng.uniform(0.2, TTL + 1.5)
                figures["stop_replica"] += 1; figures["stop_replica_past_ttl"] += pause > TTL
                mark("SIGSTOP replica %d for %.1f s" % (r["port"], pause))
                stopped.append((r, now + pause))
        elif action < 0.64 and etcd_kills and etcd_down is None:
            m = rng.choice(members)
            figures["kill_etcd"] += 1; mark("kill -9 etcd %s" % m["name"])
            m["proc"].send_signal(signal.SIGKILL); m["proc"].wait()
            etcd_down = (m, now + rng.uniform(0.5, 3.0))
        time.sleep(rng.uniform(0.05, 0.25))
finally:
    for item, _ in stopped: signal_pid(item["proc"].pid, signal.SIGCONT)
    for _, p in clients:
        try: p.wait(timeout=30)
        except subprocess.TimeoutExpired: p.kill()
    for r in replicas:
        if r["proc"] and r["proc"].poll() is None: r["proc"].send_signal(signal.SIGTERM)
    for r in replicas:
        if r["proc"]:
            try: r["proc"].wait(timeout=10)
            except subprocess.TimeoutExpired: r["proc"].kill(); r["proc"].wait()
    for m in members:
        if m.get("proc") and m["proc"].poll() is None: m["proc"].kill(); m["proc"].wait()

# --- the checks, per name ---
writes = {}  # name -> [(uid, token)] in log order
for line in open(log_path).read().splitlines():
    if line.startswith("#"): continue
    name, uid, token = line.split()[:3]
    writes.setdefault(name, []).append((uid, int(token)))

def sections_of(seq):
    """Holders in the order of their first write, with (first, last) positions in seq."""
    first, last, token_of, order = {}, {}, {}, []
    for i, (uid, token) in enumerate(seq):
        if uid not in first: first[uid] = i; order.append(uid); token_of[uid] = token
        last[uid] = i
    return order, first, last, token_of

overlaps, fenced_overlaps, backwards, rejected, sections, total = 0, 0, 0, 0, 0, 0
for name, seq in sorted(writes.items()):
    total += len(seq)
    order, first, last, token_of = sections_of(seq)
    sections += len(order)
    for a, b in zip(order, order[1:]):
        if last[a] > first[b]:
            overlaps += 1
            print("OVERLAP on %s: %s (token %d, writes %d-%d) wrote after %s (token %d) began at %d" % (
                name, a, token_of[a], first[a], last[a], b, token_of[b], first[b]))
        if token_of[b] <= token_of[a]:
            backwards += 1
            print("TOKEN BACKWARDS on %s: %s had %d, the next holder %s %d" % (name, a, token_of[a], b, token_of[b]))
    # The fenced resource: accepts a write only with a token >= the highest it has seen.
    highest, accepted = 0, []
    for uid, token in seq:
        if token >= highest: highest = token; accepted.append((uid, token))
        else: rejected += 1
    order, first, last, token_of = sections_of(accepted)
    for a, b in zip(order, order[1:]):
        if last[a] > first[b]:
            fenced_overlaps += 1
            print("ACCEPTED OVERLAP on %s: %s (token %d) accepted after %s (token %d)" % (
                name, a, token_of[a], b, token_of[b]))

# A sanitized build's reports (ASan, UBSan, LSan at the replicas' SIGTERM) fail the run too.
server_log.flush()
sanitizer = [l for l in open(os.path.join(work, "servers.log"), errors="replace")
             if "ERROR: AddressSanitizer" in l or "ERROR: LeakSanitizer" in l or "runtime error:" in l]
for line in sanitizer[:10]: print("SANITIZER: " + line.rstrip())

print("seed %d, %.0f s, lease TTL %d s: %s" % (seed, seconds, TTL, " ".join("%s=%d" % kv for kv in figures.items())))
print("critical sections %d, writes %d, accepted-write overlaps %d, overlaps without the fence %d, "
      "stale writes the fence refused %d, tokens backwards %d" % (sections, total, fenced_overlaps, overlaps, rejected,
                                                                  backwards))
failed = fenced_overlaps or overlaps or backwards or sections == 0 or sanitizer
if failed:
    print("work dir (logs kept): %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failed else 0)
