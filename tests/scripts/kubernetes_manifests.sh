#!/usr/bin/env bash
# Validates deploy/kubernetes without a cluster: tests/scripts/check_kubernetes_manifests.py
# parses every manifest (yaml.safe_load_all) and checks that exactly one lock server can
# ever run (replicas 1, StatefulSet or Recreate, with a comment saying why), its
# arguments, volumes, Secret, probes, security context and resources, the Service, the
# example migration Job (tcpnetlock_do --wait, copied from the tcpnetlock image by an init
# container into an emptyDir, its pods labelled tcpnetlock-client), the NetworkPolicy (the
# lock port only from pods labelled tcpnetlock-client: "true", HTTP only from selected
# pods), kustomization.yaml and the image tags. Then the same for the HA overlays
# deploy/kubernetes/ha/etcd and ha/external (over ha/base): replicas >= 3 with
# --backend etcd, a PodDisruptionBudget selecting them, spread over nodes, endpoints set,
# no --state-dir or volume, and the in-cluster etcd (odd members, headless Service,
# volumes, quorum budget, NetworkPolicy, endpoints naming every member). When kubectl is
# installed, `kubectl kustomize` must render every directory too (it is not required).
#
# Then it proves the checker catches mistakes: each case below breaks one thing in a
# copy of the manifests (in a mktemp directory) and expects the checker to fail with a
# message naming it.
#
# Needs python3 with PyYAML (python3-yaml, installed by scripts/install-deps.sh). Run by
# ctest with TNL_SOURCE_DIR set; runs standalone from the repository too.
set -euo pipefail

source_dir=${TNL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
manifests=$source_dir/deploy/kubernetes
checker=$source_dir/tests/scripts/check_kubernetes_manifests.py

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "kubernetes_manifests: $*"; }

[[ -d $manifests ]] || fail "no $manifests"
[[ -f $checker ]] || fail "no $checker"

source "$(dirname "${BASH_SOURCE[0]}")/lib/python.bash"
python=$(python_with yaml)  # Debian: python3-yaml
[[ -n $python ]] || fail "no python3 with PyYAML; run scripts/install-deps.sh (python3-yaml)"

# ---- the real manifests pass ---------------------------------------------------------------
"$python" "$checker" "$manifests" || fail "the manifests in $manifests fail the checks above"
for overlay in etcd external; do
  "$python" "$checker" "$manifests/ha/$overlay" || fail "the manifests in $manifests/ha/$overlay fail the checks above"
done
if command -v kubectl >/dev/null; then
  for directory in "$manifests" "$manifests/ha/etcd" "$manifests/ha/external"; do
    rendered=$(kubectl kustomize "$directory") || fail "kubectl kustomize $directory failed"
    # The generated ConfigMap's hashed name is what the Deployment refers to.
    if [[ $directory == */ha/* ]]; then
      configmap=$(sed -n 's/^  name: \(tcpnetlock-etcd-[a-z0-9]\{10\}\)$/\1/p' <<<"$rendered" | head -n 1)
      [[ -n $configmap ]] && grep -q "name: $configmap\$" <<<"$(grep -A2 configMapKeyRef <<<"$rendered")" ||
        fail "kubectl kustomize $directory: the Deployment does not refer to the generated ConfigMap ($configmap)"
    fi
    note "kubectl kustomize $directory renders $(grep -c '^kind: ' <<<"$rendered") objects"
  done
else
  note "no kubectl: the kustomize rendering is not checked (the checker follows the overlays itself)"
fi

# ---- the HA Deployment's command line runs with this server ---------------------------------
# The server's arguments and environment as deploy/kubernetes/ha/etcd gives them (addresses
# moved to loopback, the token to a temporary file), with a real etcd: the replica must
# start, answer /readyz 200 once its lease is granted, and grant a lock. Catches an option
# the manifests use that the server no longer accepts. Needs the built server (ctest sets
# TNL_BIN_DIR) and /usr/bin/etcd, a dependency of the etcd backend.
if [[ -n ${TNL_BIN_DIR:-} ]]; then
  [[ -x $TNL_BIN_DIR/tcpnetlock_server ]] || fail "$TNL_BIN_DIR/tcpnetlock_server is not built"
  [[ -x /usr/bin/etcd ]] || fail "no /usr/bin/etcd (etcd-server; scripts/install-deps.sh)"
  run=$(mktemp -d /dev/shm/tnl-k8s-run.XXXXXX)
  etcd_pid= server_pid=
  cleanup_run() {
    local pid
    for pid in $server_pid $etcd_pid; do
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
    server_pid= etcd_pid=
    rm -rf "$run"
  }
  trap cleanup_run EXIT
  free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  client_port=$(free_port) peer_port=$(free_port) http_port=$(free_port)
  /usr/bin/etcd --name k8s --data-dir "$run/etcd" --listen-client-urls "http://127.0.0.1:$client_port" \
    --advertise-client-urls "http://127.0.0.1:$client_port" --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" --initial-cluster "k8s=http://127.0.0.1:$peer_port" \
    --log-level warn >"$run/etcd.log" 2>&1 &
  etcd_pid=$!
  # The replica's argv (one per line) and environment (NAME=VALUE lines) from the manifests.
  "$python" - "$manifests/ha/etcd" "$checker" >"$run/spec" <<'PY' || fail "cannot read the HA Deployment's command line"
import importlib.util, sys
spec = importlib.util.spec_from_file_location("checker", sys.argv[2])
checker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checker)
import io, contextlib
with contextlib.redirect_stdout(io.StringIO()):
    checks = checker.Checks()
    _, documents = checker.load(sys.argv[1], checks)
    _, workload, container = checker.find_server(documents, checks)
for word in checker.command_line(container):
    print("ARG " + word)
for entry in container.get("env") or []:
    value, _ = checker.env_value(container, entry["name"], documents)
    print(f"ENV {entry['name']}={value}")
PY
  argv=() envs=()
  while IFS= read -r line; do
    case $line in
      "ARG "*) argv+=("${line#ARG }") ;;
      "ENV "*) envs+=("${line#ENV }") ;;
    esac
  done <"$run/spec"
  echo "k8s-test-token-$RANDOM$RANDOM" >"$run/token"
  for ((i = 0; i < ${#argv[@]}; i++)); do
    case ${argv[i]} in
      --listen) argv[i + 1]=127.0.0.1 ;;
      --port) argv[i + 1]=0 ;;
      --http) argv[i + 1]=127.0.0.1:$http_port ;;
      --admin-token-file) argv[i + 1]=$run/token ;;
    esac
  done
  argv[0]=$TNL_BIN_DIR/tcpnetlock_server
  for ((i = 0; i < ${#envs[@]}; i++)); do
    [[ ${envs[i]} == TCPNETLOCK_ETCD_ENDPOINTS=* ]] && envs[i]=TCPNETLOCK_ETCD_ENDPOINTS=http://127.0.0.1:$client_port
  done
  note "running the HA replica's command line: env ${envs[*]} ${argv[*]}"
  for _ in $(seq 200); do  # etcd's client port accepts (a subshell: exec's redirections stay in it)
    (exec 3<>"/dev/tcp/127.0.0.1/$client_port") 2>/dev/null && break
    sleep 0.05
  done
  env "${envs[@]}" "${argv[@]}" --port-file "$run/port" >"$run/server.log" 2>&1 &
  server_pid=$!
  http_status() (  # the status code of GET $1 on the replica's HTTP port, or nothing (a subshell)
    exec 4<>"/dev/tcp/127.0.0.1/$http_port" || exit 0
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&4
    IFS=' ' read -r -t 5 _ line _ <&4 || true
    echo "${line:-}"
  ) 2>/dev/null
  ready=
  for _ in $(seq 300); do  # 15 s: etcd's start and the replica's first lease
    kill -0 "$server_pid" 2>/dev/null || { cat "$run/server.log" >&2; fail "the HA replica's command line exited: $(tail -n 3 "$run/server.log")"; }
    [[ $(http_status /readyz) == 200 ]] && { ready=1; break; }
    sleep 0.05
  done
  [[ -n $ready ]] || { cat "$run/server.log" "$run/etcd.log" >&2; fail "the HA replica never answered /readyz 200"; }
  port=$(cat "$run/port")
  exec 5<>"/dev/tcp/127.0.0.1/$port"
  printf 'lock,name:k8s-manifest-probe\n' >&5
  IFS= read -r -t 10 answer <&5 || answer="(no answer)"
  exec 5>&-
  [[ $answer == ok ]] || fail "the HA replica answered '$answer' to a lock"
  note "the HA replica runs with the manifests' arguments and environment: /readyz 200, lock granted"
  cleanup_run
  trap - EXIT
else
  note "no TNL_BIN_DIR: the HA Deployment's command line is not run (ctest runs it)"
fi

# ---- broken copies fail ----------------------------------------------------------------------
work=$(mktemp -d /tmp/tnl-k8s-manifests.XXXXXX)
trap 'rm -rf "$work"' EXIT

# broken NAME FILE EXPECTED SED-SCRIPT: copies the manifests, applies SED-SCRIPT to FILE,
# and expects the checker to exit 1 with a FAIL line containing EXPECTED.
cases=0
broken() {
  local name=$1 file=$2 expected=$3 script=$4 copy output status
  copy=$work/$name
  cp -r "$manifests" "$copy"
  sed -E -i -e "$script" "$copy/$file"
  cmp -s "$manifests/$file" "$copy/$file" && fail "case $name: the sed script '$script' changed nothing in $file"
  output=$("$python" "$checker" "$copy" 2>&1) && status=0 || status=$?
  if [[ $status != 1 ]]; then
    echo "$output" >&2
    fail "case $name ($file: $script): the checker exited $status, expected 1 (failed checks)"
  fi
  if ! grep -F -- "FAIL: " <<<"$output" | grep -qF -- "$expected"; then
    echo "$output" >&2
    fail "case $name ($file: $script): no FAIL line mentions '$expected'"
  fi
  note "broken copy '$name' is caught: $(grep -F -- "FAIL: " <<<"$output" | grep -F -- "$expected" | head -n 1)"
  cases=$((cases + 1))
}

sts=statefulset.yaml
broken replicas-2 $sts "replicas is 2" 's/^  replicas: 1\b/  replicas: 2/'
broken deployment-rolling-update $sts "strategy.type is RollingUpdate" \
  's/^kind: StatefulSet/kind: Deployment/; s/^  updateStrategy:/  strategy:/'
broken deployment-default-strategy $sts "strategy.type is RollingUpdate" \
  's/^kind: StatefulSet/kind: Deployment/; /^  updateStrategy:/,/^    type:/d'
broken daemonset $sts "is a StatefulSet or a Deployment" 's/^kind: StatefulSet/kind: DaemonSet/'
broken no-why-comment $sts "explains in a comment" '/^#/d'
broken http-loopback $sts "--http is '127.0.0.1:7655'" 's/- 0\.0\.0\.0:7655/- 127.0.0.1:7655/'
broken no-http $sts "--http is None" '/^            - --http$/{N;d}'
broken state-dir-unmounted $sts "--state-dir /var/lib/elsewhere is a volumeMount" \
  's|^(            - )/var/lib/tcpnetlock$|\1/var/lib/elsewhere|'
broken state-dir-emptydir $sts "it is other" \
  's/^        - name: tmp$/        - name: state\n          emptyDir: {}\n        - name: tmp/; /^  volumeClaimTemplates:/,$d'
broken token-outside-secret $sts "--admin-token-file /etc/tcpnetlock/token" \
  's|^(            - )/etc/tcpnetlock/admin/token$|\1/etc/tcpnetlock/token|'
broken liveness-on-readyz $sts "livenessProbe is httpGet /healthz" '/livenessProbe:/,/path:/ s|/healthz|/readyz|'
broken readiness-on-healthz $sts "readinessProbe is httpGet /readyz" '/readinessProbe:/,/path:/ s|/readyz|/healthz|'
broken readiness-wrong-port $sts "readinessProbe is httpGet /readyz" '/readinessProbe:/,/port:/ s/port: http/port: lock/'
broken liveness-trigger-happy $sts "livenessProbe is patient" '/livenessProbe:/,/failureThreshold:/ s/failureThreshold: 6/failureThreshold: 1/'
broken root $sts "runAsUser: 10001" 's/runAsUser: 10001/runAsUser: 0/'
broken no-fsgroup $sts "fsGroup: 10001" '/fsGroup: 10001/d'
broken privilege-escalation $sts "allowPrivilegeEscalation: false" 's/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/'
broken writable-root $sts "readOnlyRootFilesystem: true" 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/'
broken capabilities-kept $sts "drops ALL capabilities" 's/drop: \["ALL"\]/drop: ["NET_RAW"]/'
broken no-cpu-request $sts "resources.requests sets cpu and memory" '/^              cpu: 50m$/d'
broken server-image-latest $sts "image tcpnetlock:latest is pinned" 's/image: tcpnetlock:0\.1\.0/image: tcpnetlock:latest/'
broken service-selector $sts "a Service's selector matches" 's/component: server$/component: lock-server/'
broken service-no-http-port service.yaml "exposes 7655" 's/port: 7655/port: 8080/'
broken service-wrong-target service.yaml "exposes 7654" '/name: lock/,/targetPort/ s/targetPort: lock/targetPort: http/'
broken job-without-wait migration-job.yaml "with --wait" '/^            - --wait$/{N;d}'
broken job-without-do migration-job.yaml "runs its command under tcpnetlock_do" 's|\["/tnl/tcpnetlock_do"\]|["/bin/sh"]|'
broken job-do-not-copied migration-job.yaml "from a mounted emptyDir volume" 's|\["/tnl/tcpnetlock_do"\]|["tcpnetlock_do"]|'
broken job-no-init-copy migration-job.yaml "an init container copies tcpnetlock_do" 's|command: \["cp", .*|command: ["true"]|'
broken job-init-other-image migration-job.yaml "an init container copies tcpnetlock_do" 's|image: tcpnetlock:0\.1\.0 |image: busybox:1.36 |'
broken job-unlabelled migration-job.yaml "labelled tcpnetlock-client" '/tcpnetlock-client: "true"/d'
np=networkpolicy.yaml
broken no-network-policy $np "a NetworkPolicy selects the server's pods" 's/^kind: NetworkPolicy/kind: NotANetworkPolicy/'
broken policy-selects-other-pods $np "a NetworkPolicy selects the server's pods" 's/component: server$/component: client/'
broken lock-port-from-any-pod $np "the lock port 7654 admits only" '/tcpnetlock-client: "true"/d'
broken lock-port-from-an-ip-block $np "the lock port 7654 admits only" \
  's|^        - podSelector:$|        - ipBlock:\n            cidr: 0.0.0.0/0\n        - podSelector:|'
broken lock-port-other-label $np "the lock port 7654 admits only" 's/tcpnetlock-client: "true"/app: anything/'
broken http-from-a-whole-namespace $np "the HTTP port 7655 admits selected pods only" '/^          podSelector:$/,/prometheus$/d'
broken job-restarts migration-job.yaml "restartPolicy Never" 's/restartPolicy: Never/restartPolicy: OnFailure/'
broken job-image-untagged migration-job.yaml "image tcpnetlock is pinned" 's/image: tcpnetlock:0\.1\.0/image: tcpnetlock/'
broken kustomization-missing-file kustomization.yaml "lists every manifest" '/- migration-job\.yaml/d'
broken kustomization-missing-policy kustomization.yaml "lists every manifest" '/- networkpolicy\.yaml/d'
broken kustomization-latest kustomization.yaml "pins a tag or digest" 's/newTag: 0\.1\.0/newTag: latest/'

# broken_ha OVERLAY NAME FILE EXPECTED SED-SCRIPT: the same for the HA manifests: copies
# deploy/kubernetes, applies SED-SCRIPT to ha/FILE and checks the copy of ha/OVERLAY.
broken_ha() {
  local overlay=$1 name=$2 file=$3 expected=$4 script=$5 copy output status
  copy=$work/ha-$name
  cp -r "$manifests" "$copy"
  sed -E -i -e "$script" "$copy/ha/$file"
  cmp -s "$manifests/ha/$file" "$copy/ha/$file" && fail "case $name: the sed script '$script' changed nothing in ha/$file"
  output=$("$python" "$checker" "$copy/ha/$overlay" 2>&1) && status=0 || status=$?
  if [[ $status != 1 ]]; then
    echo "$output" >&2
    fail "case $name (ha/$file: $script): the checker exited $status, expected 1 (failed checks)"
  fi
  if ! grep -F -- "FAIL: " <<<"$output" | grep -qF -- "$expected"; then
    echo "$output" >&2
    fail "case $name (ha/$file: $script): no FAIL line mentions '$expected'"
  fi
  note "broken HA copy '$name' is caught: $(grep -F -- "FAIL: " <<<"$output" | grep -F -- "$expected" | head -n 1)"
  cases=$((cases + 1))
}

dep=base/deployment.yaml
broken_ha etcd ha-replicas-2 $dep "replicas is 2" 's/^  replicas: 3$/  replicas: 2/'
broken_ha external ha-replicas-unset $dep "replicas is None" '/^  replicas: 3$/d'
broken_ha etcd ha-local-backend $dep "--state-dir None is a volumeMount" '/^            - --backend$/{N;d}'
broken_ha etcd ha-state-dir $dep "no --state-dir nor --start-grace" 's|^(            - )--backend$|\1--state-dir\n\1/var/lib/tcpnetlock\n\1--backend|'
broken_ha etcd ha-start-grace $dep "no --state-dir nor --start-grace" 's|^(            - )--backend$|\1--start-grace=5\n\1--backend|'
broken_ha etcd ha-state-volume $dep "no persistent volume" \
  's|^      volumes:$|      volumes:\n        - name: state\n          persistentVolumeClaim:\n            claimName: tcpnetlock-state|'
broken_ha etcd ha-no-endpoints $dep "etcd endpoints are set" '/^            - name: TCPNETLOCK_ETCD_ENDPOINTS$/,/^                  key: endpoints$/d'
broken_ha etcd ha-endpoints-wrong-key $dep "has no key 'endpoint'" 's/^                  key: endpoints$/                  key: endpoint/'
broken_ha external ha-endpoints-other-configmap $dep "ConfigMap etcd-config is not in the manifests" \
  '0,/name: tcpnetlock-etcd$/ s/name: tcpnetlock-etcd$/name: etcd-config/'
broken_ha etcd ha-no-spread $dep "spreads its replicas over nodes" \
  '/^      topologySpreadConstraints:$/,/^      containers:$/{/^      containers:$/!d}'
broken_ha etcd ha-spread-selects-others $dep "spreads its replicas over nodes" \
  '/^      topologySpreadConstraints:$/,/^      containers:$/ s/component: server$/component: other/'
broken_ha etcd ha-slow-readiness $dep "out of the Service within 20 s" '/readinessProbe:/,/failureThreshold:/ s/periodSeconds: 2$/periodSeconds: 10/'
broken_ha etcd ha-readiness-on-healthz $dep "readinessProbe is httpGet /readyz" '/readinessProbe:/,/path:/ s|/readyz|/healthz|'
broken_ha etcd ha-liveness-on-readyz $dep "livenessProbe is httpGet /healthz" '/livenessProbe:/,/path:/ s|/healthz|/readyz|'
broken_ha etcd ha-root $dep "runAsUser: 10001" 's/runAsUser: 10001/runAsUser: 0/'
broken_ha etcd ha-writable-root $dep "readOnlyRootFilesystem: true" 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/'
broken_ha etcd ha-no-memory-limit $dep "resources.limits sets memory" '/^              memory: 256Mi$/d'
broken_ha etcd ha-lease-ttl-1 $dep "--etcd-lease-ttl 1 is an integer >= 2" 's/^            - "10"$/            - "1"/'
broken_ha etcd ha-no-why-comment $dep "explains in a comment why several replicas" '/^#/d'
# A second Deployment running the server (a copy under another name) is not another
# replica of the first: the checker wants exactly one workload running it.
two=$work/ha-two-servers
cp -r "$manifests" "$two"
sed -e 's/^  name: tcpnetlock$/  name: tcpnetlock-2/' "$manifests/ha/$dep" >"$two/ha/base/second.yaml"
sed -i -e 's/^  - deployment.yaml$/  - deployment.yaml\n  - second.yaml/' "$two/ha/base/kustomization.yaml"
output=$("$python" "$checker" "$two/ha/etcd" 2>&1) && fail "two Deployments running the server pass the checker" || true
grep -qF 'FAIL: exactly one workload runs tcpnetlock_server' <<<"$output" || { echo "$output" >&2; fail "case ha-two-servers: no FAIL line names the second server"; }
note "broken HA copy 'ha-two-servers' is caught: $(grep -F 'FAIL: exactly one workload' <<<"$output")"
cases=$((cases + 1))
broken_ha etcd ha-https-endpoints etcd/kustomization.yaml "https is not supported" 's|endpoints=http://|endpoints=https://|'
broken_ha external ha-bad-endpoint external/kustomization.yaml "not host:port" 's|endpoints=http://etcd-0.example.internal:2379,|endpoints=http://etcd-0.example.internal,|'
broken_ha etcd ha-endpoints-miss-a-member etcd/kustomization.yaml "missing tcpnetlock-etcd-2.tcpnetlock-etcd" \
  's|,http://tcpnetlock-etcd-2.tcpnetlock-etcd:2379$||'
broken_ha external ha-kustomization-unlisted base/kustomization.yaml "lists every manifest" '/^  - pdb.yaml$/d'
broken_ha etcd ha-service-publishes-unready base/service.yaml "leaves out pods that are not ready" \
  's/^  type: ClusterIP$/  type: ClusterIP\n  publishNotReadyAddresses: true/'
pdb=base/pdb.yaml
broken_ha etcd ha-no-pdb $pdb "one PodDisruptionBudget selects the server's pods" 's/^kind: PodDisruptionBudget$/kind: NotABudget/'
broken_ha etcd ha-pdb-selects-others $pdb "one PodDisruptionBudget selects the server's pods" 's/component: server$/component: client/'
broken_ha etcd ha-pdb-blocks-drains $pdb "lets one server pod go at a time" 's/^  maxUnavailable: 1$/  minAvailable: 3/'
broken_ha etcd ha-pdb-two-at-once $pdb "lets one server pod go at a time" 's/^  maxUnavailable: 1$/  maxUnavailable: 2/'
broken_ha external ha-pdb-percent $pdb "lets one server pod go at a time" 's/^  maxUnavailable: 1$/  maxUnavailable: "50%"/'
broken_ha etcd ha-lock-port-open base/networkpolicy.yaml "the lock port 7654 admits only" '/tcpnetlock-client: "true"/d'
sts=etcd/etcd-statefulset.yaml
broken_ha etcd etcd-2-members $sts "odd number >= 3 of members" 's/^  replicas: 3$/  replicas: 2/'
broken_ha etcd etcd-ordered $sts "starts its members in parallel" 's/^  podManagementPolicy: Parallel$/  podManagementPolicy: OrderedReady/'
broken_ha etcd etcd-initial-cluster $sts "--initial-cluster names every member" 's|,tcpnetlock-etcd-2=http://tcpnetlock-etcd-2.tcpnetlock-etcd:2380$||'
broken_ha etcd etcd-5-members $sts "--initial-cluster names every member" 's/^  replicas: 3$/  replicas: 5/'
broken_ha etcd etcd-data-ephemeral $sts "is on a volume claim template" 's|--data-dir=/var/lib/etcd/data|--data-dir=/tmp/etcd|'
broken_ha etcd etcd-root $sts "etcd: securityContext runAsUser: 10001" 's/runAsUser: 10001/runAsUser: 0/'
broken_ha etcd etcd-escalation $sts "etcd: container securityContext allowPrivilegeEscalation" 's/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/'
broken_ha etcd etcd-no-readiness $sts "etcd has readiness and liveness probes" '/^          readinessProbe:$/,/^            failureThreshold: 2$/d'
broken_ha etcd etcd-latest $sts "image quay.io/coreos/etcd:latest is pinned" 's|image: quay.io/coreos/etcd:v3.4.23|image: quay.io/coreos/etcd:latest|'
broken_ha etcd etcd-same-node $sts "etcd StatefulSet tcpnetlock-etcd spreads its members over nodes" \
  '/^      topologySpreadConstraints:$/,/^      containers:$/{/^      containers:$/!d}'
broken_ha etcd etcd-not-headless etcd/etcd-service.yaml "is headless" 's/^  clusterIP: None$/  type: ClusterIP/'
broken_ha etcd etcd-unready-hidden etcd/etcd-service.yaml "publishes members that are not ready" '/^  publishNotReadyAddresses: true$/d'
broken_ha etcd etcd-pdb-loses-quorum etcd/etcd-pdb.yaml "keeps 2 of 3" 's/^  minAvailable: 2$/  minAvailable: 1/'
broken_ha etcd etcd-no-pdb etcd/etcd-pdb.yaml "one PodDisruptionBudget selects the etcd's pods" 's/^kind: PodDisruptionBudget$/kind: NotABudget/'
broken_ha etcd etcd-open-to-all etcd/etcd-networkpolicy.yaml "etcd's client port admits only the replicas" \
  '0,/^        - podSelector:  # the tcpnetlock replicas/ s|^        - podSelector:  # the tcpnetlock replicas.*|        - namespaceSelector: {}\n          podSelector:|'
broken_ha etcd etcd-no-policy etcd/etcd-networkpolicy.yaml "a NetworkPolicy selects the etcd members" 's/^kind: NetworkPolicy$/kind: NotANetworkPolicy/'
broken_ha etcd etcd-kustomization-unlisted etcd/kustomization.yaml "lists every manifest" '/^  - etcd-pdb.yaml$/d'

echo "PASS: the manifests pass every check, and the checker catches all $cases broken copies"
