#!/usr/bin/env python3
"""Checks the Kubernetes manifests in deploy/kubernetes (or the directory given).

    check_kubernetes_manifests.py [DIR]

Parses every YAML document with yaml.safe_load_all (no cluster, no kubectl) and checks
what matters for a lock server: exactly one copy can ever run (replicas 1, and a
StatefulSet or a Recreate Deployment, with a comment saying why); its arguments put
--state-dir on a persistent volume, HTTP on 0.0.0.0:7655 and the admin token in a
mounted Secret; liveness and readiness probe /healthz and /readyz on the HTTP port;
it runs as uid 10001 with no privileges; resources are requested; a Service selects
its pods on 7654 and 7655; an example Job runs its command under tcpnetlock_do --wait;
kustomization.yaml lists every manifest; every image is pinned.

HA mode (the server runs with --backend etcd: deploy/kubernetes/ha/etcd and
ha/external, kustomize overlays over ha/base, whose directory resources and
configMapGenerator literals are followed here): instead of the single copy, at least 3
replicas with a PodDisruptionBudget that selects them and lets at most one go at a time,
spread over nodes, etcd endpoints set (from a ConfigMap or Secret in the manifests),
no --state-dir and no volume; readiness follows the backend promptly; and, where the
manifests run etcd themselves, an odd cluster of 3 or more members with a headless
Service, a PVC each, a quorum-keeping PodDisruptionBudget, a NetworkPolicy admitting only
the replicas to its client port, and endpoints naming every member.

Prints one line per check ("ok" or "FAIL") and exits 0 when all pass, 1 when any
fails, 3 on an internal error (a bug here, not in the manifests).
"""

import os
import re
import sys

import yaml

SERVER_PROGRAM = "tcpnetlock_server"
DO_PROGRAM = "tcpnetlock_do"
LOCK_PORT = 7654
HTTP_PORT = 7655
RUN_UID = 10001
CLIENT_LABEL = ("tcpnetlock-client", "true")  # the pods networkpolicy.yaml admits to the lock port
SERVER_IMAGE = "tcpnetlock"  # the image name kustomization.yaml pins
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Pod")


class Checks:
    def __init__(self):
        self.count = 0
        self.failures = []

    def check(self, ok, what, detail=""):
        """Records and prints one check; returns whether it passed."""
        self.count += 1
        if ok:
            print(f"ok    {what}")
        else:
            message = f"{what}: {detail}" if detail else what
            print(f"FAIL  {message}")
            self.failures.append(message)
        return bool(ok)


def get(node, *path, default=None):
    """node[path[0]][path[1]]..., or default when any step is missing or not a mapping."""
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def comment_text(path):
    """The text of every comment line (a line whose first non-blank character is #)."""
    with open(path, encoding="utf-8") as f:
        return "\n".join(line.strip().lstrip("#").strip() for line in f if line.lstrip().startswith("#"))


def command_line(container):
    return [str(word) for word in (container.get("command") or []) + (container.get("args") or [])]


def option(argv, name):
    """The value of --name VALUE or --name=VALUE in argv (the last one wins), or None."""
    value = None
    for i, word in enumerate(argv):
        if word == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif word.startswith(name + "="):
            value = word[len(name) + 1:]
    return value


def image_pinned(image):
    """True for name:tag (tag not latest) or name@sha256:..."""
    if not isinstance(image, str) or not image:
        return False
    if "@" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("", "latest")


def port_number(container, port):
    """A probe's or Service's target port (a number or a container port's name) as a number."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return declared.get("containerPort")
    return None


def inside(path, directory):
    """True when path is directory itself or below it."""
    if not isinstance(path, str) or not isinstance(directory, str):
        return False
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def load(directory, checks, prefix="", seen=None):
    """Returns [(directory, prefix, kustomization)] and [(file, document)] for every YAML
    file in directory and, recursively, in the directories its kustomization lists as
    resources (file names relative to the first directory: "../base/deployment.yaml").
    A configMapGenerator's literals become a ConfigMap document (named as the generator,
    without kustomize's hash suffix), attributed to the kustomization file."""
    seen = set() if seen is None else seen
    real = os.path.realpath(directory)
    if real in seen:
        checks.check(False, f"{prefix or '.'}: kustomization resources form no cycle", "it includes itself")
        return [], []
    seen.add(real)
    documents = []
    kustomization = None
    names = sorted(n for n in os.listdir(directory) if n.endswith((".yaml", ".yml")))
    for name in names:
        path = os.path.join(directory, name)
        shown = os.path.normpath(os.path.join(prefix, name)) if prefix else name
        try:
            with open(path, encoding="utf-8") as f:
                loaded = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            checks.check(False, f"{shown} parses as YAML", str(e).replace("\n", " "))
            continue
        checks.check(all(isinstance(d, dict) for d in loaded) and loaded,
                     f"{shown} parses as YAML: {len(loaded)} document(s)", "a document is not a mapping, or none")
        for document in loaded:
            if not isinstance(document, dict):
                continue
            if name in ("kustomization.yaml", "kustomization.yml") or document.get("kind") == "Kustomization":
                kustomization = (shown, document)
                continue
            checks.check(bool(document.get("apiVersion")) and bool(document.get("kind")) and bool(get(document, "metadata", "name")),
                         f"{shown}: {document.get('kind')}/{get(document, 'metadata', 'name')} has apiVersion, kind and metadata.name")
            documents.append((shown, document))
    kustomizations = [(directory, prefix, kustomization)]
    if kustomization is not None:
        shown, document = kustomization
        for generator in document.get("configMapGenerator") or []:
            data = {}
            for literal in generator.get("literals") or []:
                key, _, value = str(literal).partition("=")
                data[key] = value
            documents.append((shown, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator.get("name")},
                                      "data": data}))
        for resource in [str(r) for r in document.get("resources") or []]:
            child = os.path.join(directory, resource)
            if os.path.isdir(child):
                child_prefix = os.path.normpath(os.path.join(prefix, resource))
                more_kustomizations, more_documents = load(child, checks, child_prefix, seen)
                kustomizations += more_kustomizations
                documents += more_documents
    return kustomizations, documents


def check_kustomization(directory, prefix, kustomization, documents, checks):
    shown_directory = prefix or directory
    if not checks.check(kustomization is not None, f"kustomization.yaml exists in {shown_directory}", f"none in {directory}"):
        return
    name, document = kustomization
    resources = [str(r) for r in document.get("resources") or []]
    here = os.path.normpath(prefix) if prefix else ""
    files = sorted({f for f, _ in documents if os.path.dirname(f) == here and f != name})
    checks.check(all(os.path.exists(os.path.join(directory, r)) for r in resources),
                 f"{name}: every listed resource exists ({', '.join(resources)})",
                 f"missing: {', '.join(r for r in resources if not os.path.exists(os.path.join(directory, r)))}")
    listed = {os.path.normpath(os.path.join(prefix, r)) if prefix else os.path.normpath(r) for r in resources}
    unlisted = [f for f in files if f not in listed]
    checks.check(not unlisted, f"{name}: lists every manifest in the directory", f"not listed: {', '.join(unlisted)}")
    for image in document.get("images") or []:
        pinned = bool(image.get("digest")) or (image.get("newTag") not in (None, "", "latest"))
        checks.check(pinned, f"{name}: images entry {image.get('name')} pins a tag or digest",
                     f"newTag {image.get('newTag')!r}")


def pod_spec(workload):
    if workload.get("kind") == "Pod":
        return workload.get("spec") or {}
    return get(workload, "spec", "template", "spec", default={}) or {}


def pod_labels(workload):
    if workload.get("kind") == "Pod":
        return get(workload, "metadata", "labels", default={}) or {}
    return get(workload, "spec", "template", "metadata", "labels", default={}) or {}


def containers_of(workload):
    spec = pod_spec(workload)
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def find_server(documents, checks):
    """The one workload whose container runs tcpnetlock_server, and that container."""
    found = []
    for name, document in documents:
        if document.get("kind") not in WORKLOAD_KINDS:
            continue
        for container in containers_of(document):
            if any(SERVER_PROGRAM in word for word in command_line(container)):
                found.append((name, document, container))
    described = ", ".join(f"{d['kind']}/{get(d, 'metadata', 'name')} in {n}" for n, d, _ in found)
    if not checks.check(len(found) == 1, f"exactly one workload runs {SERVER_PROGRAM} ({described or 'none'})",
                        "a second one would be a second, independent lock server" if found else
                        f"no container's command or args name {SERVER_PROGRAM}"):
        return None
    return found[0]


def check_single_copy(name, workload, directory, checks):
    kind = workload.get("kind")
    checks.check(get(workload, "spec", "replicas") == 1, f"{kind} replicas is 1",
                 f"replicas is {get(workload, 'spec', 'replicas')!r} (must be exactly 1, written out: "
                 "two servers grant every lock twice)")
    if kind == "StatefulSet":
        update = get(workload, "spec", "updateStrategy", "type", default="RollingUpdate")
        checks.check(update in ("RollingUpdate", "OnDelete"), f"StatefulSet updateStrategy {update} replaces the pod, never runs two",
                     f"unknown updateStrategy {update!r}")
    elif kind == "Deployment":
        strategy = get(workload, "spec", "strategy", "type", default="RollingUpdate")
        checks.check(strategy == "Recreate", "Deployment strategy.type is Recreate",
                     f"strategy.type is {strategy} (a rolling update runs the old and the new server at once: "
                     "use Recreate or a StatefulSet)")
    else:
        checks.check(False, f"the server is a StatefulSet or a Deployment with strategy Recreate",
                     f"it is a {kind}")
    comments = comment_text(os.path.join(directory, name))
    explained = (re.search(r"StatefulSet|Recreate", comments) and re.search(r"\btwo\b|\btwice\b|\bsecond\b", comments, re.I)
                 and re.search(r"\block", comments, re.I))
    checks.check(explained, f"{name} explains in a comment why one copy (StatefulSet/Recreate: two servers, every lock twice)",
                 "no comment mentions StatefulSet or Recreate together with two servers and locks")


def backend_of(container):
    """The server's --backend (or TCPNETLOCK_BACKEND), "local" when neither is set."""
    backend = option(command_line(container), "--backend")
    if backend is None:
        backend = next((e.get("value") for e in container.get("env") or [] if e.get("name") == "TCPNETLOCK_BACKEND"), None)
    return backend or "local"


def env_value(container, name, documents):
    """(value, where) of the environment variable `name`: a literal, or a key of a
    ConfigMap or Secret found in the manifests; (None, why) when it is not resolvable."""
    entry = next((e for e in container.get("env") or [] if e.get("name") == name), None)
    if entry is None:
        return None, "not set"
    if "value" in entry:
        return str(entry["value"]), "a literal"
    for ref_kind, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
        ref = get(entry, "valueFrom", ref_kind)
        if not ref:
            continue
        source = next((d for _, d in documents if d.get("kind") == kind and get(d, "metadata", "name") == ref.get("name")), None)
        if source is None:
            return None, f"{kind} {ref.get('name')} is not in the manifests"
        data = dict(source.get("data") or {})
        if kind == "Secret":
            import base64
            data = {k: base64.b64decode(str(v)).decode("utf-8", "replace") for k, v in data.items()}
            data.update(source.get("stringData") or {})
        if ref.get("key") not in data:
            return None, f"{kind} {ref.get('name')} has no key {ref.get('key')!r}"
        return str(data[ref.get("key")]), f"{kind} {ref.get('name')} key {ref.get('key')}"
    return None, "neither a value nor a ConfigMap/Secret key"


def parse_endpoints(text):
    """[(host, port)] of "http://a:2379,b:2379"; raises ValueError with the reason."""
    endpoints = []
    for item in [i.strip() for i in str(text).split(",")]:
        if not item:
            raise ValueError("an empty endpoint")
        if item.startswith("https://"):
            raise ValueError(f"{item}: https is not supported by the etcd client yet")
        if "://" in item and not item.startswith("http://"):
            raise ValueError(f"{item}: only http:// (or host:port)")
        rest = item[len("http://"):] if item.startswith("http://") else item
        host, _, port = rest.rstrip("/").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in host:
            raise ValueError(f"{item}: not host:port")
        endpoints.append((host, int(port)))
    return endpoints


def spreads_over_nodes(workload):
    """True when the pod spec spreads its own pods over kubernetes.io/hostname: a topology
    spread constraint or a pod anti-affinity term (required or preferred) selecting them."""
    spec = pod_spec(workload)
    labels = pod_labels(workload)
    for constraint in spec.get("topologySpreadConstraints") or []:
        if constraint.get("topologyKey") == "kubernetes.io/hostname" and selects(constraint.get("labelSelector"), labels) \
                and isinstance(constraint.get("maxSkew"), int) and constraint.get("maxSkew") >= 1:
            return True
    anti = get(spec, "affinity", "podAntiAffinity", default={}) or {}
    terms = list(anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []) + \
        [t.get("podAffinityTerm") or {} for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    return any(t.get("topologyKey") == "kubernetes.io/hostname" and selects(t.get("labelSelector"), labels) for t in terms)


def disruption_budget(workload, documents, replicas, keep, checks, what):
    """Checks that one PodDisruptionBudget selects the workload's pods and keeps at least
    `keep` of its `replicas` running while still allowing one voluntary disruption."""
    labels = pod_labels(workload)
    budgets = [d for _, d in documents if d.get("kind") == "PodDisruptionBudget" and selects(get(d, "spec", "selector"), labels)]
    if not checks.check(len(budgets) == 1, f"one PodDisruptionBudget selects the {what}'s pods {labels}",
                        f"{len(budgets)} do" if budgets else "none does: a drain could take every replica at once"):
        return
    budget = budgets[0]
    name = get(budget, "metadata", "name")
    spec = budget.get("spec") or {}
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if isinstance(max_unavailable, int) and min_available is None:
        allowed = max_unavailable
    elif isinstance(min_available, int) and max_unavailable is None:
        allowed = (replicas if isinstance(replicas, int) else 0) - min_available
    else:
        allowed = None
    checks.check(allowed is not None and 1 <= allowed and (replicas if isinstance(replicas, int) else 0) - allowed >= keep,
                 f"PodDisruptionBudget {name} lets one {what} pod go at a time and keeps {keep} of {replicas} "
                 f"(minAvailable {min_available}, maxUnavailable {max_unavailable})",
                 "needs an integer maxUnavailable or minAvailable (not both) allowing 1 to "
                 f"{(replicas if isinstance(replicas, int) else 0) - keep} disruptions"
                 + ("" if allowed is None else f"; it allows {allowed}"))


def check_ha(name, workload, container, directory, documents, checks):
    """HA mode: several replicas over etcd, kept apart and kept running."""
    kind = workload.get("kind")
    replicas = get(workload, "spec", "replicas")
    checks.check(kind in ("Deployment", "StatefulSet"), f"the HA server is a Deployment (or StatefulSet): {kind}", f"it is a {kind}")
    checks.check(isinstance(replicas, int) and replicas >= 3, f"{kind} replicas is {replicas} >= 3 (HA: survives a node)",
                 f"replicas is {replicas!r}, written out and at least 3")
    comments = comment_text(os.path.join(directory, name))
    explained = re.search(r"\betcd\b", comments) and re.search(r"\blease\b", comments, re.I) and \
        re.search(r"\btransactions?\b", comments, re.I)
    checks.check(explained, f"{name} explains in a comment why several replicas are safe (etcd: lease, transactions)",
                 "no comment mentions etcd together with the lease and its transactions")
    disruption_budget(workload, documents, replicas, 2, checks, "server")
    checks.check(spreads_over_nodes(workload), f"{kind} spreads its replicas over nodes (topology spread or anti-affinity on kubernetes.io/hostname)",
                 "no topologySpreadConstraint or podAntiAffinity term on kubernetes.io/hostname selects its pods")

    argv = command_line(container)
    where = "--etcd-endpoints"
    endpoints_text = option(argv, "--etcd-endpoints")
    if endpoints_text is None:
        endpoints_text, where = env_value(container, "TCPNETLOCK_ETCD_ENDPOINTS", documents)
        where = f"TCPNETLOCK_ETCD_ENDPOINTS from {where}"
    endpoints = []
    if checks.check(endpoints_text is not None and endpoints_text.strip(), f"etcd endpoints are set ({where}: {endpoints_text})",
                    f"{where}: the server refuses --backend etcd without endpoints"):
        try:
            endpoints = parse_endpoints(endpoints_text)
            checks.check(True, f"etcd endpoints parse: {', '.join(f'{h}:{p}' for h, p in endpoints)}")
        except ValueError as e:
            checks.check(False, "etcd endpoints parse", str(e))
    ttl = option(argv, "--etcd-lease-ttl")
    if ttl is None:
        ttl = next((e.get("value") for e in container.get("env") or [] if e.get("name") == "TCPNETLOCK_ETCD_LEASE_TTL"), None)
    checks.check(ttl is None or (str(ttl).isdigit() and int(ttl) >= 2), f"--etcd-lease-ttl {ttl or 'default (10)'} is an integer >= 2",
                 f"{ttl!r}")
    etcd = find_etcd(documents)
    if etcd is None:
        print("      etcd: not in these manifests (external endpoints)")
    else:
        check_etcd(etcd, endpoints, workload, documents, checks)


def find_etcd(documents):
    """The workload running etcd (its container's command or image names etcd), or None."""
    for name, document in documents:
        if document.get("kind") not in WORKLOAD_KINDS:
            continue
        for container in pod_spec(document).get("containers") or []:
            words = command_line(container)
            if any(os.path.basename(w) == "etcd" for w in words[:1]) or "etcd:" in str(container.get("image")):
                return name, document, container
    return None


def check_etcd(etcd, endpoints, server, documents, checks):
    name, workload, container = etcd
    kind = workload.get("kind")
    sts = get(workload, "metadata", "name")
    replicas = get(workload, "spec", "replicas")
    checks.check(kind == "StatefulSet", f"etcd runs as a StatefulSet (stable member names and volumes): {sts} in {name}", f"it is a {kind}")
    checks.check(isinstance(replicas, int) and replicas >= 3 and replicas % 2 == 1,
                 f"etcd StatefulSet {sts} has an odd number >= 3 of members: {replicas}",
                 f"replicas is {replicas!r} (an even count tolerates no more failures than one less; 1 tolerates none)")
    count = replicas if isinstance(replicas, int) else 0
    checks.check(get(workload, "spec", "podManagementPolicy") == "Parallel",
                 f"etcd StatefulSet {sts} starts its members in parallel (a member alone waits for a quorum)",
                 f"podManagementPolicy {get(workload, 'spec', 'podManagementPolicy')!r}")
    labels = pod_labels(workload)
    governing = get(workload, "spec", "serviceName")
    service = next((d for _, d in documents if d.get("kind") == "Service" and get(d, "metadata", "name") == governing), None)
    if checks.check(service is not None, f"etcd serviceName {governing!r} names a Service in the manifests", "no such Service"):
        checks.check(get(service, "spec", "clusterIP") == "None" and selects({"matchLabels": get(service, "spec", "selector") or {}}, labels)
                     and get(service, "spec", "selector"),
                     f"Service {governing} is headless and selects the members (per-member DNS names)",
                     f"clusterIP {get(service, 'spec', 'clusterIP')!r}, selector {get(service, 'spec', 'selector')}")
        checks.check(get(service, "spec", "publishNotReadyAddresses") is True,
                     f"Service {governing} publishes members that are not ready yet (they find each other before a quorum)",
                     "publishNotReadyAddresses is not true: a new cluster could never form")
    argv = command_line(container)
    members = [f"{sts}-{i}" for i in range(count)]
    wanted = {m: f"{m}.{governing}" for m in members}
    initial = option(argv, "--initial-cluster") or ""
    listed = {}
    for item in [i for i in initial.split(",") if i]:
        member, _, url = item.partition("=")
        listed[member] = url
    checks.check(sorted(listed) == sorted(members) and all(wanted[m] in listed[m] for m in members),
                 f"--initial-cluster names every member by its stable name ({', '.join(wanted.values())})",
                 f"it is {initial!r}")
    hosts = {h for h, _ in endpoints}
    missing = [h for h in wanted.values() if not any(e == h or e.startswith(h + ".") for e in hosts)]
    checks.check(endpoints and not missing, f"the replicas' etcd endpoints name every member ({', '.join(sorted(hosts))})",
                 f"missing {', '.join(missing)}: the replicas could not fail over to them")
    data_dir = option(argv, "--data-dir")
    claims = {get(t, "metadata", "name") for t in get(workload, "spec", "volumeClaimTemplates", default=[]) or []}
    mount = next((m for m in container.get("volumeMounts") or [] if data_dir and inside(data_dir, m.get("mountPath"))), None)
    checks.check(mount is not None and mount.get("name") in claims,
                 f"etcd --data-dir {data_dir} is on a volume claim template (each member keeps its data)",
                 "not on a claim template: a restarted member would come back empty")
    disruption_budget(workload, documents, replicas, count // 2 + 1, checks, "etcd")
    checks.check(spreads_over_nodes(workload), f"etcd StatefulSet {sts} spreads its members over nodes",
                 "no topologySpreadConstraint or podAntiAffinity term on kubernetes.io/hostname selects its pods")
    check_security(workload, container, checks, "etcd: ")
    requests = get(container, "resources", "requests", default={}) or {}
    checks.check("cpu" in requests and "memory" in requests and get(container, "resources", "limits", "memory"),
                 f"etcd resources request cpu and memory and limit memory", f"resources {container.get('resources')}")
    checks.check(container.get("readinessProbe") and container.get("livenessProbe"), "etcd has readiness and liveness probes",
                 "one is missing")
    # Its NetworkPolicy: the client port only from the replicas (and the members).
    client_port = 2379
    policies = [d for _, d in documents if d.get("kind") == "NetworkPolicy" and selects(get(d, "spec", "podSelector"), labels)]
    if checks.check(policies, f"a NetworkPolicy selects the etcd members {labels}",
                    "none does: any pod could delete any lock in etcd"):
        server_labels = pod_labels(server)
        problems = []
        for rule in get(policies[0], "spec", "ingress", default=[]) or []:
            ports = rule_ports(container, rule)
            if ports is not None and None not in ports and client_port not in ports:
                continue
            for peer in rule.get("from") or [{}]:
                selector = peer.get("podSelector")
                if "ipBlock" in peer or "namespaceSelector" in peer or not selector or \
                        not (selects(selector, server_labels) or selects(selector, labels)):
                    problems.append(f"{peer}")
        checks.check(not problems, f"NetworkPolicy {get(policies[0], 'metadata', 'name')}: etcd's client port admits only the replicas and members",
                     "also " + "; ".join(problems))


def volumes_of(workload):
    """{volume name: ('persistent' | 'secret' | 'other', definition)} incl. claim templates."""
    volumes = {}
    for volume in pod_spec(workload).get("volumes") or []:
        if "persistentVolumeClaim" in volume or "ephemeral" in volume:
            volumes[volume.get("name")] = ("persistent" if "persistentVolumeClaim" in volume else "other", volume)
        elif "secret" in volume:
            volumes[volume.get("name")] = ("secret", volume)
        else:
            volumes[volume.get("name")] = ("other", volume)
    if workload.get("kind") == "StatefulSet":
        for template in get(workload, "spec", "volumeClaimTemplates", default=[]) or []:
            volumes[get(template, "metadata", "name")] = ("persistent", template)
    return volumes


def check_server_container(directory, workload, container, documents, checks, ha=False):
    argv = command_line(container)
    volumes = volumes_of(workload)
    mounts = container.get("volumeMounts") or []
    print(f"      server command line: {' '.join(argv)}")

    listen = option(argv, "--listen")
    checks.check(listen in ("0.0.0.0", "::", "[::]"), "--listen is 0.0.0.0 (or ::): reachable through the Service",
                 f"--listen is {listen!r}")
    port = option(argv, "--port")
    checks.check(port is None or str(port) == str(LOCK_PORT), f"--port is {LOCK_PORT}", f"--port is {port!r}")

    state_dir = option(argv, "--state-dir")
    if ha:
        # etcd keeps everything; a volume would suggest state that is not there, and the
        # server refuses --state-dir and --start-grace with --backend etcd.
        checks.check(state_dir is None and option(argv, "--start-grace") is None,
                     "no --state-dir nor --start-grace in HA mode (detached locks are kept in etcd)",
                     f"--state-dir {state_dir!r}, --start-grace {option(argv, '--start-grace')!r}")
        persistent = [n for n, (kind, _) in volumes.items() if kind == "persistent"] + \
            [get(v, "name") for v in pod_spec(workload).get("volumes") or [] if "hostPath" in v]
        checks.check(not persistent, "no persistent volume (PVC, claim template, hostPath) for the server in HA mode",
                     f"volumes {persistent}")
    else:
        # --state-dir on a mounted persistent volume.
        state_mount = next((m for m in mounts if state_dir and os.path.normpath(m.get("mountPath", "")) == os.path.normpath(state_dir)), None)
        if checks.check(state_mount is not None, f"--state-dir {state_dir} is a volumeMount's mountPath",
                        f"mountPaths: {', '.join(str(m.get('mountPath')) for m in mounts) or 'none'}"):
            kind = volumes.get(state_mount.get("name"), ("missing", None))[0]
            checks.check(kind == "persistent", f"--state-dir volume {state_mount.get('name')} is persistent (a PersistentVolumeClaim or claim template)",
                         f"it is {kind}: detached locks and fencing tokens would not survive a new pod")
            checks.check(not state_mount.get("readOnly"), f"--state-dir volume {state_mount.get('name')} is mounted writable", "readOnly: true")

    http = option(argv, "--http")
    checks.check(http in (f"0.0.0.0:{HTTP_PORT}", f"[::]:{HTTP_PORT}"), f"--http is 0.0.0.0:{HTTP_PORT} (the kubelet probes the pod IP)",
                 f"--http is {http!r}")

    token = option(argv, "--admin-token-file")
    token_mount = next((m for m in mounts if token and inside(token, m.get("mountPath"))
                        and os.path.normpath(token) != os.path.normpath(m.get("mountPath", ""))), None)
    secret_kind, secret_volume = volumes.get(token_mount.get("name"), ("missing", None)) if token_mount else ("missing", None)
    if checks.check(token_mount is not None and secret_kind == "secret",
                    f"--admin-token-file {token} is a file inside a mounted secret volume",
                    "no secret volume is mounted above it" if token_mount is None else f"volume {token_mount.get('name')} is {secret_kind}"):
        relative = os.path.relpath(os.path.normpath(token), os.path.normpath(token_mount["mountPath"]))
        items = get(secret_volume, "secret", "items", default=None)
        secret_name = get(secret_volume, "secret", "secretName")
        if items:
            checks.check(relative in [i.get("path") for i in items], f"the secret volume's items provide {relative}",
                         f"items: {', '.join(str(i.get('path')) for i in items)}")
        comments = "\n".join(comment_text(os.path.join(directory, f)) for f in sorted({f for f, _ in documents}))
        checks.check(re.search(r"kubectl create secret generic " + re.escape(str(secret_name)) + r"\b", comments),
                     f"a comment says how to create the Secret {secret_name} (kubectl create secret generic {secret_name} ...)",
                     "no comment tells the user to generate their own token")

    http_ports = [p for p in container.get("ports") or [] if p.get("containerPort") == HTTP_PORT]
    lock_ports = [p for p in container.get("ports") or [] if p.get("containerPort") == LOCK_PORT]
    checks.check(http_ports and lock_ports, f"the container declares ports {LOCK_PORT} and {HTTP_PORT}",
                 f"containerPorts: {', '.join(str(p.get('containerPort')) for p in container.get('ports') or []) or 'none'}")

    for probe_name, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        probe = container.get(probe_name) or {}
        got_path = get(probe, "httpGet", "path")
        got_port = port_number(container, get(probe, "httpGet", "port"))
        checks.check(got_path == path and got_port == HTTP_PORT,
                     f"{probe_name} is httpGet {path} on the http port {HTTP_PORT}",
                     f"httpGet path {got_path!r} port {get(probe, 'httpGet', 'port')!r}" if probe else "missing")
    if ha:
        readiness = container.get("readinessProbe") or {}
        out_after = (readiness.get("periodSeconds", 10) or 10) * (readiness.get("failureThreshold", 3) or 3)
        checks.check(out_after <= 10, f"readinessProbe takes a replica whose backend is unavailable out of the Service "
                     f"within {out_after} s", "needs periodSeconds x failureThreshold <= 10")
    liveness = container.get("livenessProbe") or {}
    patience = (liveness.get("periodSeconds", 10) or 10) * (liveness.get("failureThreshold", 3) or 3)
    checks.check(patience >= 30 and liveness.get("timeoutSeconds", 1) >= 2,
                 f"livenessProbe is patient: restarts only after {patience} s of failures, timeout {liveness.get('timeoutSeconds', 1)} s "
                 "(a restart drops every lock)",
                 "needs periodSeconds x failureThreshold >= 30 and timeoutSeconds >= 2")
    startup = container.get("startupProbe")
    if startup:
        checks.check(get(startup, "httpGet", "path") == "/healthz", "startupProbe is httpGet /healthz",
                     f"path {get(startup, 'httpGet', 'path')!r}")

    check_security(workload, container, checks)

    requests = get(container, "resources", "requests", default={}) or {}
    checks.check("cpu" in requests and "memory" in requests,
                 f"resources.requests sets cpu and memory ({requests.get('cpu')}, {requests.get('memory')})",
                 f"requests: {requests}")
    checks.check(bool(get(container, "resources", "limits", "memory")), "resources.limits sets memory",
                 "no memory limit")

    grace = pod_spec(workload).get("terminationGracePeriodSeconds", 30)
    checks.check(isinstance(grace, int) and grace >= 2, f"terminationGracePeriodSeconds {grace} >= 2 (the server's linger)",
                 f"{grace!r}")


def check_security(workload, container, checks, who=""):
    """The pod's and container's security context; `who` prefixes each check ("etcd: ")."""
    pod = pod_spec(workload).get("securityContext") or {}
    ctr = container.get("securityContext") or {}

    def effective(key):
        return ctr.get(key, pod.get(key))

    checks.check(effective("runAsNonRoot") is True, who + "securityContext runAsNonRoot: true", f"{effective('runAsNonRoot')!r}")
    checks.check(effective("runAsUser") == RUN_UID, who + f"securityContext runAsUser: {RUN_UID}", f"runAsUser is {effective('runAsUser')!r}")
    checks.check(pod.get("fsGroup") == RUN_UID, who + f"pod securityContext fsGroup: {RUN_UID} (the state volume is writable)",
                 f"fsGroup is {pod.get('fsGroup')!r}")
    checks.check(ctr.get("allowPrivilegeEscalation") is False, who + "container securityContext allowPrivilegeEscalation: false",
                 f"{ctr.get('allowPrivilegeEscalation')!r}")
    checks.check(ctr.get("readOnlyRootFilesystem") is True, who + "container securityContext readOnlyRootFilesystem: true",
                 f"{ctr.get('readOnlyRootFilesystem')!r}")
    drop = [str(c) for c in get(ctr, "capabilities", "drop", default=[]) or []]
    add = get(ctr, "capabilities", "add", default=[]) or []
    checks.check("ALL" in drop and not add, who + "container securityContext drops ALL capabilities and adds none",
                 f"drop {drop}, add {add}")
    checks.check(not ctr.get("privileged"), who + "container is not privileged", "privileged: true")
    seccomp = get(ctr, "seccompProfile", "type", default=get(pod, "seccompProfile", "type"))
    checks.check(seccomp == "RuntimeDefault", who + "seccompProfile RuntimeDefault", f"{seccomp!r}")
    spec = pod_spec(workload)
    checks.check(not pod.get("sysctls") and not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")),
                 who + "no sysctls, hostNetwork, hostPID or hostIPC", "one of them is set")


def check_service(workload, container, documents, checks):
    labels = pod_labels(workload)
    selector = get(workload, "spec", "selector", "matchLabels", default={}) or {}
    checks.check(selector and all(labels.get(k) == v for k, v in selector.items()),
                 f"the workload's selector {selector} matches its pod template labels {labels}", "it does not")
    services = [(n, d) for n, d in documents if d.get("kind") == "Service"]
    matching = [(n, d) for n, d in services
                if (get(d, "spec", "selector") or {}) and all(labels.get(k) == v for k, v in get(d, "spec", "selector").items())]
    if not checks.check(matching, f"a Service's selector matches the server's pod labels {labels}",
                        "selectors: " + "; ".join(f"{get(d, 'metadata', 'name')}: {get(d, 'spec', 'selector')}" for _, d in services)
                        if services else "no Service"):
        return None
    _, service = matching[0]
    service_name = get(service, "metadata", "name")
    ports = get(service, "spec", "ports", default=[]) or []
    for wanted in (LOCK_PORT, HTTP_PORT):
        port = next((p for p in ports if p.get("port") == wanted), None)
        target = port_number(container, port.get("targetPort", wanted)) if port else None
        checks.check(port is not None and target == wanted,
                     f"Service {service_name} exposes {wanted} -> container port {wanted}",
                     "no such port" if port is None else f"targetPort {port.get('targetPort')!r} is container port {target!r}")
    checks.check(not get(service, "spec", "publishNotReadyAddresses"),
                 f"Service {service_name} leaves out pods that are not ready (publishNotReadyAddresses is not true)",
                 "a shutting-down server, or a replica without its etcd lease, would still get new clients")
    service_type = get(service, "spec", "type", default="ClusterIP")
    checks.check(service_type == "ClusterIP", f"Service {service_name} is a ClusterIP Service", f"type {service_type}")
    if workload.get("kind") == "StatefulSet":
        governing = get(workload, "spec", "serviceName")
        checks.check(governing in [get(d, "metadata", "name") for _, d in services],
                     f"StatefulSet serviceName {governing!r} names a Service in the manifests", "no such Service")
    return service_name


def check_job(documents, service_name, checks):
    jobs = []
    for name, document in documents:
        if document.get("kind") not in ("Job", "CronJob"):
            continue
        spec = get(document, "spec", "jobTemplate", "spec") if document.get("kind") == "CronJob" else document.get("spec")
        template_spec = get(spec, "template", "spec", default={}) or {}
        for container in template_spec.get("containers") or []:
            if any(DO_PROGRAM in word for word in command_line(container)):
                jobs.append((name, document, spec, template_spec, container))
    if not checks.check(jobs, f"a Job runs its command under {DO_PROGRAM}",
                        f"no Job container's command or args name {DO_PROGRAM}"):
        return
    name, job, spec, template_spec, container = jobs[0]
    argv = command_line(container)
    job_name = get(job, "metadata", "name")
    print(f"      job {job_name} command line: {' '.join(argv)}")
    wait = option(argv, "--wait") or option(argv, "--timeout")
    checks.check(wait is not None, f"Job {job_name}: {DO_PROGRAM} queues for the lock with --wait ({wait})", "no --wait SECONDS")
    checks.check("--" in argv and argv.index("--") < len(argv) - 1, f"Job {job_name}: the command follows --", "no command after --")
    host = option(argv, "--host") or next((e.get("value") for e in container.get("env") or [] if e.get("name") == "TCPNETLOCK_HOST"), None)
    checks.check(service_name is not None and host is not None and (host == service_name or host.startswith(f"{service_name}.")),
                 f"Job {job_name}: --host {host} is the Service {service_name}", f"--host is {host!r}")
    checks.check(option(argv, "--lock-name"), f"Job {job_name}: names its lock (--lock-name {option(argv, '--lock-name')})", "no --lock-name")
    checks.check(template_spec.get("restartPolicy") == "Never", f"Job {job_name}: restartPolicy Never",
                 f"restartPolicy {template_spec.get('restartPolicy')!r}")
    checks.check(isinstance(spec.get("backoffLimit"), int), f"Job {job_name}: backoffLimit {spec.get('backoffLimit')}", "not set")
    checks.check(isinstance(spec.get("ttlSecondsAfterFinished"), int),
                 f"Job {job_name}: ttlSecondsAfterFinished {spec.get('ttlSecondsAfterFinished')}", "not set")
    ctr = container.get("securityContext") or {}
    pod = template_spec.get("securityContext") or {}
    checks.check(ctr.get("runAsNonRoot", pod.get("runAsNonRoot")) is True and ctr.get("allowPrivilegeEscalation") is False,
                 f"Job {job_name}: runs as non-root without privilege escalation", "runAsNonRoot / allowPrivilegeEscalation")
    labels = get(spec, "template", "metadata", "labels", default={}) or {}
    checks.check(str(labels.get(CLIENT_LABEL[0])) == CLIENT_LABEL[1],
                 f"Job {job_name}: its pods are labelled {CLIENT_LABEL[0]}: \"{CLIENT_LABEL[1]}\" (admitted by the NetworkPolicy)",
                 f"labels {labels}")
    check_static_client_copy(job_name, template_spec, container, argv, checks)


def check_static_client_copy(job_name, template_spec, container, argv, checks):
    """The static tcpnetlock_do comes from the tcpnetlock image through an init container
    and an emptyDir shared with the application's container, which runs it from there."""
    volumes = {v.get("name"): v for v in template_spec.get("volumes") or []}
    program = next((w for w in argv if w.endswith("/" + DO_PROGRAM) or w == DO_PROGRAM), None)
    mount = next((m for m in container.get("volumeMounts") or [] if program and inside(program, m.get("mountPath"))), None)
    if not checks.check(mount is not None and "emptyDir" in (volumes.get(mount.get("name")) or {}),
                        f"Job {job_name}: runs {program} from a mounted emptyDir volume (the copied static client)",
                        "not from a volume mount" if mount is None else f"volume {mount.get('name')} is not an emptyDir"):
        return
    copy_to = os.path.join(os.path.dirname(program), DO_PROGRAM)
    copiers = []
    for init in template_spec.get("initContainers") or []:
        image = str(init.get("image") or "")
        words = command_line(init)
        init_mount = next((m for m in init.get("volumeMounts") or [] if m.get("name") == mount.get("name")), None)
        if init_mount is None:
            continue
        # The path in the init container that is `program` in the application's container.
        target = os.path.join(init_mount["mountPath"], os.path.relpath(copy_to, mount["mountPath"]))
        if image.rsplit("/", 1)[-1].split(":")[0].split("@")[0] == SERVER_IMAGE and \
                any(w.endswith("/" + DO_PROGRAM) for w in words[:-1]) and \
                any(os.path.normpath(w) in (os.path.normpath(target), os.path.normpath(init_mount["mountPath"])) for w in words):
            copiers.append(init)
    checks.check(copiers, f"Job {job_name}: an init container copies {DO_PROGRAM} from the {SERVER_IMAGE} image into volume {mount.get('name')}",
                 "no init container of the tcpnetlock image writes it into that volume")
    for init in copiers:
        ctr = init.get("securityContext") or {}
        pod = template_spec.get("securityContext") or {}
        checks.check(ctr.get("runAsNonRoot", pod.get("runAsNonRoot")) is True and ctr.get("allowPrivilegeEscalation") is False,
                     f"Job {job_name}: init container {init.get('name')} runs as non-root without privilege escalation",
                     "runAsNonRoot / allowPrivilegeEscalation")


def selects(selector, labels):
    """Whether a LabelSelector's matchLabels (and matchExpressions In) select labels."""
    if not isinstance(selector, dict):
        return False
    if not all(str(labels.get(k)) == str(v) for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        if expression.get("operator") != "In" or labels.get(expression.get("key")) not in (expression.get("values") or []):
            return False
    return True


def rule_ports(container, rule):
    """The container port numbers a NetworkPolicy ingress rule admits (None: every port)."""
    ports = rule.get("ports")
    if not ports:
        return None
    return {port_number(container, p.get("port")) for p in ports if p.get("port") is not None} | \
        ({None} if any(p.get("port") is None for p in ports) else set())


def check_network_policy(workload, container, documents, checks):
    labels = pod_labels(workload)
    policies = [d for _, d in documents if d.get("kind") == "NetworkPolicy"
                and selects(get(d, "spec", "podSelector", default={}), labels)]
    if not checks.check(policies, f"a NetworkPolicy selects the server's pods {labels}",
                        "none does: every pod in the cluster can take and block any lock"):
        return
    policy = policies[0]
    name = get(policy, "metadata", "name")
    types = get(policy, "spec", "policyTypes", default=None) or ["Ingress"]
    checks.check("Ingress" in types, f"NetworkPolicy {name} restricts Ingress", f"policyTypes {types}")
    rules = get(policy, "spec", "ingress", default=[]) or []
    lock_rules, http_rules = [], []
    for rule in rules:
        ports = rule_ports(container, rule)
        if ports is None or None in ports or LOCK_PORT in ports:
            lock_rules.append(rule)
        if ports is None or None in ports or HTTP_PORT in ports:
            http_rules.append(rule)

    def peers_ok(rule, allow_namespace):
        peers = rule.get("from")
        if not peers:
            return False, "from every source"
        for peer in peers:
            if "ipBlock" in peer:
                return False, f"an ipBlock {peer['ipBlock']}"
            pod_selector = peer.get("podSelector")
            if not pod_selector or not (pod_selector.get("matchLabels") or pod_selector.get("matchExpressions")):
                return False, "every pod of a namespace (an empty or missing podSelector)"
            if "namespaceSelector" in peer and not allow_namespace:
                return False, "pods of other namespaces"
        return True, ""

    problems = []
    for rule in lock_rules:
        ok, why = peers_ok(rule, allow_namespace=False)
        if not ok:
            problems.append(why)
        elif not all(selects(peer.get("podSelector"), {CLIENT_LABEL[0]: CLIENT_LABEL[1]}) and
                     (peer.get("podSelector").get("matchLabels") or {}).keys() == {CLIENT_LABEL[0]}
                     for peer in rule["from"]):
            problems.append(f"pods selected by {[p.get('podSelector') for p in rule['from']]}")
    checks.check(lock_rules and not problems,
                 f"NetworkPolicy {name}: the lock port {LOCK_PORT} admits only pods labelled {CLIENT_LABEL[0]}: \"{CLIENT_LABEL[1]}\"",
                 "no rule admits clients" if not lock_rules else "; ".join(problems))
    problems = [why for ok, why in (peers_ok(rule, allow_namespace=True) for rule in http_rules) if not ok]
    checks.check(not problems, f"NetworkPolicy {name}: the HTTP port {HTTP_PORT} admits selected pods only "
                 f"({len(http_rules)} rule(s))", "; ".join(problems))


def check_images(documents, checks):
    for name, document in documents:
        kind = document.get("kind")
        if kind == "CronJob":
            pods = get(document, "spec", "jobTemplate", "spec", "template", "spec", default={}) or {}
        elif kind == "Job" or kind in WORKLOAD_KINDS:
            pods = pod_spec(document)
        else:
            continue
        for container in (pods.get("initContainers") or []) + (pods.get("containers") or []):
            image = container.get("image")
            checks.check(image_pinned(image), f"{name}: container {container.get('name')} image {image} is pinned (a tag, not latest)",
                         "untagged or latest")


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    directory = argv[1] if len(argv) > 1 else os.path.join(here, "..", "..", "deploy", "kubernetes")
    directory = os.path.normpath(directory)
    print(f"checking the Kubernetes manifests in {directory}")
    checks = Checks()
    if not os.path.isdir(directory):
        checks.check(False, f"{directory} is a directory")
    else:
        kustomizations, documents = load(directory, checks)
        for where, prefix, kustomization in kustomizations:
            check_kustomization(where, prefix, kustomization, documents, checks)
        server = find_server(documents, checks)
        service_name = None
        ha = False
        if server:
            name, workload, container = server
            ha = backend_of(container) == "etcd"
            print(f"      mode: {'HA (--backend etcd)' if ha else 'single server (local backend)'}")
            if ha:
                check_ha(name, workload, container, directory, documents, checks)
            else:
                check_single_copy(name, workload, directory, checks)
            check_server_container(directory, workload, container, documents, checks, ha)
            service_name = check_service(workload, container, documents, checks)
            check_network_policy(workload, container, documents, checks)
        if not ha:  # the example Job lives with the single-server manifests (it works unchanged with HA)
            check_job(documents, service_name, checks)
        check_images(documents, checks)
    if checks.failures:
        print(f"\n{len(checks.failures)} of {checks.count} checks failed:")
        for failure in checks.failures:
            print(f"FAIL: {failure}")
        return 1
    print(f"\nall {checks.count} checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception:  # a bug in this checker: never mistaken for a failed check
        import traceback
        traceback.print_exc()
        print("INTERNAL ERROR in check_kubernetes_manifests.py", file=sys.stderr)
        sys.exit(3)
