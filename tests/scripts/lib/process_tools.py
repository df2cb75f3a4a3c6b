"""Process helpers shared by the random-kill checkers (random_kills.py, random_kills_etcd.py)."""
import os


def guardians_of(pid):
    """The pids of the tnl_guardian processes whose parent is `pid` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit(): continue
        try:
            with open("/proc/%s/stat" % entry) as f: fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%s/comm" % entry) as f: comm = f.read().strip()
        except OSError:
            continue
        if int(fields[1]) == pid and comm == "tnl_guardian": found.append(int(entry))
    return found


def signal_pid(pid, sig):
    """Sends `sig` to `pid`; False when it is gone already."""
    try: os.kill(pid, sig); return True
    except ProcessLookupError: return False
