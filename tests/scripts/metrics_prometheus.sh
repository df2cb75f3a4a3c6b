#!/usr/bin/env bash
# /metrics read by Prometheus' own Python parser (prometheus_client), after some real
# activity: every metric family docs/HTTP-API.md lists is there with its type, histogram
# buckets are cumulative and end with +Inf == _count, and the values add up. On one server
# with connection holds, a semaphore with 2 holders, a detached lock and a lock-delay,
# `.stats`, /metrics and the HTTP list agree on locks held (names), holds and lock-delays.
# Then `promtool check metrics` lints every name, type and HELP against Prometheus'
# conventions (Debian: prometheus; without it the test ends as skipped after the rest).
#
# Loopback only; the server is on ephemeral ports and killed on exit.
set -euo pipefail

: "${TNL_BIN_DIR:?set by ctest}"
: "${TNL_SOURCE_DIR:?set by ctest}"

source "$(dirname "${BASH_SOURCE[0]}")/lib/python.bash"
python=$(python_with prometheus_client.parser)  # Debian: python3-prometheus-client
if [[ -z $python ]]; then
  echo "SKIPPED: no python3 with prometheus_client (Debian: python3-prometheus-client)"
  exit 77  # ctest reports it as skipped, not passed
fi
if ! command -v curl >/dev/null 2>&1; then
  echo "SKIPPED: curl is not installed"
  exit 77
fi

source "$(dirname "${BASH_SOURCE[0]}")/lib/http_server.bash"

# A lock-delay, so that a forced release leaves one; no start grace, so that grants start at once.
start_http_server --lock-delay 60 --start-grace 0
echo "server: lock port $PORT, $URL"

# http_code METHOD PATH [BODY]: prints the status, keeps the body in $work/body.
http_code() {
  curl -s -o "$work/body" -w '%{http_code}' -X "$1" "$URL$2" -H 'Content-Type: application/json' ${3:+-d "$3"}
}

step "a TCP lock, held on fd 3"
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
echo "lock,name:tcp-held,client-id:metrics" >&3
read -r -t 10 answer <&3 || fail "no answer to lock"
[[ $answer == ok ]] || fail "lock answered '$answer'"
echo "   $answer"

step "a wait that times out (lock,name:tcp-held,wait:0.1)"
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
echo "lock,name:tcp-held,wait:0.1" >&4
read -r -t 10 answer <&4 || fail "no answer to the wait"
[[ $answer == not-granted ]] || fail "the wait answered '$answer'"
exec 4>&-
echo "   $answer"

step "a detached lock over HTTP, kept"
code=$(http_code POST /api/v1alpha1/lock '{"service":"kept","who":"metrics"}')
[[ $code == 201 ]] || fail "POST answered $code: $(cat "$work/body")"

step "a detached lock over HTTP, released"
code=$(http_code POST /api/v1alpha1/lock '{"service":"released","who":"metrics"}')
[[ $code == 201 ]] || fail "POST answered $code: $(cat "$work/body")"
id=$("$python" -c 'import json,sys; print(json.load(sys.stdin)["id"])' <"$work/body")
code=$(http_code GET "/api/v1alpha1/unlock/$id")
[[ $code == 200 ]] || fail "unlock answered $code: $(cat "$work/body")"

step "a semaphore (limit:2) with two holders, on fds 5 and 6"
exec 5<>"/dev/tcp/127.0.0.1/$PORT" 6<>"/dev/tcp/127.0.0.1/$PORT"
for fd in 5 6; do
  echo "lock,name:sem,limit:2,client-id:sem-$fd" >&$fd
  read -r -t 10 answer <&$fd || fail "no answer to the semaphore lock"
  [[ $answer == ok ]] || fail "semaphore lock answered '$answer'"
done

step "a connection lock released by the admin (fd 7): leaves a lock-delay"
exec 7<>"/dev/tcp/127.0.0.1/$PORT"
echo "lock,name:revoked,client-id:victim" >&7
read -r -t 10 answer <&7 || fail "no answer to lock"
[[ $answer == ok ]] || fail "lock answered '$answer'"
code=$(http_code GET "/api/v1alpha1/locks/list?per_page=1000")
[[ $code == 200 ]] || fail "list answered $code"
victim=$("$python" -c 'import json,sys; print(next(l["id"] for l in json.load(sys.stdin)["locks"] if l["service"] == "revoked"))' <"$work/body")
code=$(http_code DELETE "/api/v1alpha1/lock/$victim")
[[ $code == 200 ]] || fail "forced release answered $code: $(cat "$work/body")"
read -r -t 10 answer <&7 || fail "no answer to the forced release"
[[ $answer == "lost,released by admin" ]] || fail "the victim was told '$answer'"
exec 7>&-

step ".stats on the line protocol, and the HTTP list"
exec 8<>"/dev/tcp/127.0.0.1/$PORT"
echo ".stats" >&8
read -r -t 10 stats_line <&8 || fail "no answer to .stats"
exec 8>&-
[[ $stats_line == stats,* ]] || fail ".stats answered '$stats_line'"
printf '%s\n' "${stats_line#stats,}" >"$work/stats.json"
echo "   $stats_line"
code=$(http_code GET "/api/v1alpha1/locks/list?per_page=1000")
[[ $code == 200 ]] || fail "list answered $code"
cp "$work/body" "$work/list.json"

step "GET /metrics"
code=$(curl -s -o "$work/metrics.txt" -D "$work/headers.txt" -w '%{http_code}' "$URL/metrics")
[[ $code == 200 ]] || fail "/metrics answered $code"
grep -qi '^content-type: text/plain; version=0.0.4' "$work/headers.txt" || fail "content type: $(grep -i content-type "$work/headers.txt")"
echo "   $(wc -l <"$work/metrics.txt") lines"

step "parse with prometheus_client and check"
"$python" - "$work/metrics.txt" "$TNL_SOURCE_DIR/docs/HTTP-API.md" "$work/stats.json" "$work/list.json" <<'PY' || { sed 's/^/   | /' "$work/metrics.txt" >&2; fail "metrics check"; }
import json
import math
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
docs = open(sys.argv[2]).read()
problems = []

# The families the docs promise: the table under "## Metrics", `name` | type.
section = docs.split("## Metrics", 1)[1]
documented = {}
for row in section.splitlines():
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    if len(cells) < 2 or not cells[0].startswith("`"):
        continue
    kind = re.match(r"(gauge|counter|histogram)", cells[1])
    if not kind:
        continue
    for name in re.findall(r"`([a-z_]+)`", cells[0]):
        documented[name] = kind.group(1)
if len(documented) < 24:
    problems.append(f"only {len(documented)} families found in docs/HTTP-API.md: {sorted(documented)}")

families = {}
for family in text_string_to_metric_families(text):  # raises on anything unparsable
    families[family.name] = family


def family_of(name):
    # prometheus_client names a counter family without its _total suffix.
    return families.get(name) or (families.get(name[: -len("_total")]) if name.endswith("_total") else None)


for name, kind in sorted(documented.items()):
    family = family_of(name)
    if family is None:
        problems.append(f"{name}: missing")
    elif family.type != kind:
        problems.append(f"{name}: type {family.type}, docs say {kind}")
    else:
        print(f"   ok: {name} ({kind}), {len(family.samples)} sample(s)")


def value(sample_name, **labels):
    for family in families.values():
        for s in family.samples:
            if s.name == sample_name and s.labels == labels:
                return s.value
    problems.append(f"no sample {sample_name}{labels or ''}")
    return math.nan


for name, kind in documented.items():
    if kind != "histogram" or name not in families:
        continue
    samples = families[name].samples
    buckets = [(float(s.labels["le"]), s.value) for s in samples if s.name == name + "_bucket"]
    if len(buckets) < 2:
        problems.append(f"{name}: {len(buckets)} buckets")
        continue
    bounds = [b for b, _ in buckets]
    counts = [c for _, c in buckets]
    if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
        problems.append(f"{name}: bucket bounds not increasing: {bounds}")
    if any(later < earlier for earlier, later in zip(counts, counts[1:])):
        problems.append(f"{name}: buckets not cumulative: {counts}")
    if not math.isinf(bounds[-1]):
        problems.append(f"{name}: last bucket is le={bounds[-1]}, not +Inf")
    count = value(name + "_count")
    if counts[-1] != count:
        problems.append(f"{name}: +Inf bucket {counts[-1]} != _count {count}")
    total = value(name + "_sum")
    if not total >= 0:
        problems.append(f"{name}: _sum {total}")
    print(f"   ok: {name}: {len(buckets)} cumulative buckets, +Inf == _count == {count}, _sum {total:.6f}")

expectations = [
    # (sample, labels, test, what)
    ("tcpnetlock_grants_total", {}, lambda v: v >= 2, ">= 2 (one TCP, two detached)"),
    ("tcpnetlock_wait_timeouts_total", {}, lambda v: v >= 1, ">= 1"),
    ("tcpnetlock_waits_total", {}, lambda v: v >= 1, ">= 1"),
    ("tcpnetlock_denials_total", {}, lambda v: v >= 1, ">= 1"),
    ("tcpnetlock_locks_held", {}, lambda v: v == 3, "== 3 (tcp-held, sem, kept)"),
    ("tcpnetlock_holds", {"kind": "detached"}, lambda v: v == 1, "== 1 (kept)"),
    ("tcpnetlock_holds", {"kind": "connection"}, lambda v: v == 3, "== 3 (tcp-held, sem twice)"),
    ("tcpnetlock_lock_delays", {}, lambda v: v == 1, "== 1 (revoked)"),
    ("tcpnetlock_oldest_hold_age_seconds", {"kind": "connection"}, lambda v: 0 < v < 600, "tcp-held's age"),
    ("tcpnetlock_oldest_hold_age_seconds", {"kind": "detached"}, lambda v: 0 < v < 600, "kept's age"),
    ("tcpnetlock_grant_failures_total", {}, lambda v: v == 0, "== 0"),
    ("tcpnetlock_state_write_failures_total", {}, lambda v: v == 0, "== 0"),
    ("process_cpu_seconds_total", {}, lambda v: v > 0, "> 0"),
    ("process_virtual_memory_bytes", {}, lambda v: v > 0, "> 0"),
    ("tcpnetlock_waiters", {}, lambda v: v == 0, "== 0"),
    ("tcpnetlock_connections", {}, lambda v: v >= 1, ">= 1 (fd 3 holds a lock)"),
    ("tcpnetlock_requests_total", {}, lambda v: v >= 2, ">= 2"),
    ("tcpnetlock_hold_seconds_count", {}, lambda v: v >= 1, ">= 1 (one release)"),
    ("tcpnetlock_wait_seconds_count", {}, lambda v: v >= 2, ">= 2 (one per grant)"),
    ("tcpnetlock_forced_releases_total", {}, lambda v: v == 1, "== 1 (revoked)"),
    ("process_open_fds", {}, lambda v: v > 0, "> 0"),
    ("process_max_fds", {}, lambda v: v > 0, "> 0"),
    ("process_resident_memory_bytes", {}, lambda v: v > 0, "> 0"),
    ("process_start_time_seconds", {}, lambda v: v > 1.6e9, "a Unix time"),
]
for sample_name, labels, test, what in expectations:
    v = value(sample_name, **labels)
    shown = sample_name + ("{" + ",".join(f'{k}="{x}"' for k, x in labels.items()) + "}" if labels else "")
    if math.isnan(v) or not test(v):
        problems.append(f"{shown} = {v}, expected {what}")
    else:
        print(f"   ok: {shown} = {v:g} ({what})")

info = families["tcpnetlock_build_info"].samples if "tcpnetlock_build_info" in families else []
if len(info) != 1 or info[0].value != 1 or not info[0].labels.get("version") or not info[0].labels.get("commit"):
    problems.append(f"tcpnetlock_build_info: {info}")
else:
    print(f"   ok: tcpnetlock_build_info {info[0].labels} 1")

# One meaning of "locks held": .stats, /metrics and the HTTP list agree.
stats = json.load(open(sys.argv[3]))
records = json.load(open(sys.argv[4]))["locks"]
holds = [r for r in records if r["kind"] != "delay"]
agree = [
    ("locks held (names)", stats["lock_count"], value("tcpnetlock_locks_held"), len({r["service"] for r in holds})),
    ("holds", stats["hold_count"], value("tcpnetlock_holds", kind="connection") + value("tcpnetlock_holds", kind="detached"),
     len(holds)),
    ("connection holds", stats["connection_hold_count"], value("tcpnetlock_holds", kind="connection"),
     sum(r["kind"] == "connection" for r in holds)),
    ("detached holds", stats["detached_hold_count"], value("tcpnetlock_holds", kind="detached"),
     sum(r["kind"] == "detached" for r in holds)),
    ("lock-delays", stats["lock_delay_count"], value("tcpnetlock_lock_delays"), sum(r["kind"] == "delay" for r in records)),
    ("waiters", stats["waiter_count"], value("tcpnetlock_waiters"), sum(len(r["waiters"]) for r in holds)),
]
for what, from_stats, from_metrics, from_list in agree:
    if not from_stats == from_metrics == from_list:
        problems.append(f"{what}: .stats {from_stats}, /metrics {from_metrics}, list {from_list}")
    else:
        print(f"   ok: {what}: .stats == /metrics == list == {from_stats:g}")
if stats["detached_lock_count"] != stats["detached_hold_count"]:
    problems.append("detached_lock_count (the old name) differs from detached_hold_count")
fenced = {r["service"]: r["fenced"] for r in holds}
if fenced.get("kept") is not True or fenced.get("tcp-held") is not False:
    problems.append(f"fenced flags in the list: {fenced}")

if problems:
    print("\n".join("PROBLEM: " + p for p in problems), file=sys.stderr)
    sys.exit(1)
PY

kill -0 "$server_pid" 2>/dev/null || fail "the server died"
echo "PASS: /metrics parses with prometheus_client, reflects the activity and agrees with .stats"

step "promtool check metrics (Prometheus' naming and HELP/TYPE lint)"
if ! command -v promtool >/dev/null 2>&1; then
  echo "SKIPPED: the checks above passed, but promtool is not installed (Debian: prometheus)"
  exit 77
fi
promtool check metrics <"$work/metrics.txt" >"$work/lint.txt" 2>&1 || { cat "$work/lint.txt" >&2; fail "promtool check metrics"; }
# promtool exits 0 on lint problems too (and prints them): none may be printed.
[[ ! -s $work/lint.txt ]] || { cat "$work/lint.txt" >&2; fail "promtool check metrics found problems"; }
echo "PASS: promtool check metrics finds nothing to complain about"
