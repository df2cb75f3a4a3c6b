"""Randomized kill test (bounded): a real tcpnetlock_server with --state-dir and
--lock-delay, tcpnetlock_do holders (a command with a background child) and raw line
clients contending on a few names, while random SIGKILLs and SIGSTOPs hit the raw
clients, tcpnetlock_do, its guardian and the server (restarted on the same state dir).

Every critical section appends "name holder token" lines to one O_APPEND log (one write
each: appends are atomic and ordered). Checked afterwards, per name:
  - no overlap: no holder writes after a newer holder of the same name has written;
  - tokens only rise: holders, in the order they first wrote, have rising tokens.
Prints the figures; exits 1 on any overlap or token going backwards.

Usage: random_kills.py BIN_DIR SECONDS [--server-kills] [--seed N]
"""
import os, random, shutil, signal, socket, subprocess, sys, tempfile, time, uuid

from process_tools import guardians_of, signal_pid  # beside this script (tests/scripts/lib)

bin_dir, seconds = sys.argv[1], float(sys.argv[2])
server_kills = "--server-kills" in sys.argv
seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else random.randrange(1 << 30)
rng = random.Random(seed)
work = tempfile.mkdtemp(prefix="tnl_random_kills.")
log_path = os.path.join(work, "sections.log")
state = os.path.join(work, "state")
os.mkdir(state)
NAMES = ["n0", "n1", "n2"]
LOCK_DELAY, KILL_GRACE, HOLDER_TIMEOUT = os.environ.get("TNL_LOCK_DELAY", "1.5"), "0.3", "1"

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

port = free_port()
server_log = open(os.path.join(work, "server.log"), "ab")

def start_server():
    proc = subprocess.Popen([os.path.join(bin_dir, "tcpnetlock_server"), "--listen", "127.0.0.1", "--port", str(port),
                             "--http", "off", "--state-dir", state, "--lock-delay", LOCK_DELAY,
                             "--holder-timeout", HOLDER_TIMEOUT, "--tcp-keepalive", "1,1,2", "--info"],
                            stdout=server_log, stderr=server_log)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close(); return proc
        except OSError:
            time.sleep(0.02)
    raise SystemExit("server did not start")

# The raw line client: holds with fencing:1; before each tick it proves it still holds
# with a .keepalive round trip (a revoked holder reads `lost` or a closed connection).
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
# The command tcpnetlock_do runs: a background child and the command itself both tick.
# It ignores SIGTERM, so that it runs for the whole --kill-grace once its lock is lost: the
# lock-delay (longer than the grace) must cover that.
CMD = ('trap "" TERM; tick() { for i in 1 2 3 4 5 6 7 8 9 10; do echo "$TCPNETLOCK_LOCK_NAME $UIDX $TCPNETLOCK_TOKEN $1" >> "$LOG"; '
       'sleep 0.03; done; }; tick bg & tick fg; wait')

clients = []  # (kind, Popen)
stopped = []  # (pid, when to continue)
figures = dict(rounds=0, raw=0, do=0, kill_raw=0, stop_raw=0, kill_do=0, stop_do=0, kill_guardian=0,
               stop_guardian=0, kill_server=0, term_server=0, stop_server=0)

def spawn():
    name = rng.choice(NAMES); uid = uuid.uuid4().hex[:12]
    if rng.random() < 0.5:
        figures["raw"] += 1
        p = subprocess.Popen([sys.executable, "-c", RAW, str(port), name, uid, log_path], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        clients.append(("raw", p))
    else:
        figures["do"] += 1
        env = dict(os.environ, UIDX=uid, LOG=log_path)
        p = subprocess.Popen([os.path.join(bin_dir, "tcpnetlock_do"), "--port", str(port), "--lock-name", name,
                              "--fencing", "--wait", "5", "--kill-grace", KILL_GRACE, "--keep-alive-secs", "0.3",
                              "--shell", CMD], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        clients.append(("do", p))

server = start_server()
end = time.time() + seconds
while time.time() < end:
    figures["rounds"] += 1
    now = time.time()
    for pid, when in list(stopped):
        if when <= now: signal_pid(pid, signal.SIGCONT); stopped.remove((pid, when))
    clients[:] = [(k, p) for k, p in clients if p.poll() is None]
    while len(clients) < 12: spawn()
    action = rng.random()
    wanted = "raw" if action < 0.30 else "do"
    pool = [p for k, p in clients if k == wanted]
    if action >= 0.55 and action < 0.72:  # guardians exist only while a command runs
        pool = [p for p in pool if guardians_of(p.pid)] or pool
    kind, victim = wanted, rng.choice(pool) if pool else clients[0][1]
    if action < 0.15 and kind == "raw":
        figures["kill_raw"] += signal_pid(victim.pid, signal.SIGKILL)
    elif action < 0.30 and kind == "raw":
        if signal_pid(victim.pid, signal.SIGSTOP):
            figures["stop_raw"] += 1; stopped.append((victim.pid, now + rng.uniform(0.1, 2.5)))
    elif action < 0.45 and kind == "do":
        figures["kill_do"] += signal_pid(victim.pid, signal.SIGKILL)
    elif action < 0.55 and kind == "do":
        if signal_pid(victim.pid, signal.SIGSTOP):
            figures["stop_do"] += 1; stopped.append((victim.pid, now + rng.uniform(0.1, 2.5)))
    elif action < 0.65 and kind == "do":
        for g in guardians_of(victim.pid): figures["kill_guardian"] += signal_pid(g, signal.SIGKILL)
    elif action < 0.72 and kind == "do":
        for g in guardians_of(victim.pid):
            if signal_pid(g, signal.SIGSTOP):
                figures["stop_guardian"] += 1; stopped.append((g, now + rng.uniform(0.1, 2.5)))
    elif action > 0.97 and server_kills:
        how = rng.choice(["kill", "term", "stop"])
        if how == "stop":
            figures["stop_server"] += 1
            server.send_signal(signal.SIGSTOP); time.sleep(rng.uniform(0.1, 1.0)); server.send_signal(signal.SIGCONT)
        else:
            figures["kill_server" if how == "kill" else "term_server"] += 1
            server.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
            server.wait()
            server_log.write(b"=== restart ===\n"); server_log.flush()
            with open(log_path, "a") as f: f.write("# server restart\n")
            server = start_server()
    time.sleep(rng.uniform(0.05, 0.25))

for pid, _ in stopped: signal_pid(pid, signal.SIGCONT)
for _, p in clients:
    try: p.wait(timeout=30)
    except subprocess.TimeoutExpired: p.kill()
server.send_signal(signal.SIGTERM); server.wait()

# The checks, per name.
lines = open(log_path).read().splitlines() if os.path.exists(log_path) else []
restarts_seen = 0
first, last, token_of, order = {}, {}, {}, {}
epoch_of = {}
for i, line in enumerate(lines):
    if line.startswith("#"): restarts_seen += 1; continue
    name, uid, token = line.split()[:3]
    key = (name, uid)
    if key not in first:
        first[key] = i; order.setdefault(name, []).append(uid); token_of[key] = int(token); epoch_of[key] = restarts_seen
    last[key] = i
overlaps, across_restart, backwards = 0, 0, 0
for name, uids in order.items():
    for a, b in zip(uids, uids[1:]):
        if last[(name, a)] > first[(name, b)]:
            overlaps += 1
            if epoch_of[(name, a)] != epoch_of[(name, b)]: across_restart += 1
            print("OVERLAP on %s: %s (token %d, lines %d-%d) wrote after %s (token %d) started at line %d" % (
                name, a, token_of[(name, a)], first[(name, a)], last[(name, a)], b, token_of[(name, b)],
                first[(name, b)]))
        if token_of[(name, b)] <= token_of[(name, a)]:
            backwards += 1
            print("TOKEN BACKWARDS on %s: %s had %d, the next holder %s %d" % (name, a, token_of[(name, a)], b,
                                                                                token_of[(name, b)]))
sections = sum(len(u) for u in order.values())
print("seed %d, %.0f s: %s" % (seed, seconds, " ".join("%s=%d" % kv for kv in figures.items())))
print("critical sections %d, log lines %d, overlaps %d (%d across a server restart), tokens backwards %d" % (
    sections, len(lines), overlaps, across_restart, backwards))
failed = overlaps or backwards or sections == 0
if failed:
    print("work dir (logs kept): %s" % work)
else:
    shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failed else 0)
