#!/usr/bin/env bash
# /metrics read by Prometheus' own Python parser (prometheus_client), after some real
# activity: every metric family docs/HTTP-API.md lists is there with its type, histogram
# buckets are cumulative and end with +Inf == _count, and the values add up.
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

start_http_server
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

step "GET /metrics"
code=$(curl -s -o "$work/metrics.txt" -D "$work/headers.txt" -w '%{http_code}' "$URL/metrics")
[[ $code == 200 ]] || fail "/metrics answered $code"
grep -qi '^content-type: text/plain; version=0.0.4' "$work/headers.txt" || fail "content type: $(grep -i content-type "$work/headers.txt")"
echo "   $(wc -l <"$work/metrics.txt") lines"

step "parse with prometheus_client and check"
"$python" - "$work/metrics.txt" "$TNL_SOURCE_DIR/docs/HTTP-API.md" <<'PY' || { sed 's/^/   | /' "$work/metrics.txt" >&2; fail "metrics check"; }
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
if len(documented) < 18:
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
    ("tcpnetlock_locks_held", {"kind": "detached"}, lambda v: v == 1, "== 1"),
    ("tcpnetlock_locks_held", {"kind": "connection"}, lambda v: v == 1, "== 1"),
    ("tcpnetlock_waiters", {}, lambda v: v == 0, "== 0"),
    ("tcpnetlock_connections", {}, lambda v: v >= 1, ">= 1 (fd 3 holds a lock)"),
    ("tcpnetlock_requests_total", {}, lambda v: v >= 2, ">= 2"),
    ("tcpnetlock_hold_seconds_count", {}, lambda v: v >= 1, ">= 1 (one release)"),
    ("tcpnetlock_wait_seconds_count", {}, lambda v: v >= 2, ">= 2 (one per grant)"),
    ("tcpnetlock_forced_releases_total", {}, lambda v: v == 0, "== 0"),
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

if problems:
    print("\n".join("PROBLEM: " + p for p in problems), file=sys.stderr)
    sys.exit(1)
PY

kill -0 "$server_pid" 2>/dev/null || fail "the server died"
echo "PASS: /metrics parses with prometheus_client and reflects the activity"
