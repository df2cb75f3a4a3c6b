#!/usr/bin/env bash
# Validates deploy/kubernetes without a cluster: tests/scripts/check_kubernetes_manifests.py
# parses every manifest (yaml.safe_load_all) and checks that exactly one lock server can
# ever run (replicas 1, StatefulSet or Recreate, with a comment saying why), its
# arguments, volumes, Secret, probes, security context and resources, the Service, the
# example migration Job (tcpnetlock_do --wait, copied from the tcpnetlock image by an init
# container into an emptyDir, its pods labelled tcpnetlock-client), the NetworkPolicy (the
# lock port only from pods labelled tcpnetlock-client: "true", HTTP only from selected
# pods), kustomization.yaml and the image tags.
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

echo "PASS: the manifests pass every check, and the checker catches all $cases broken copies"
