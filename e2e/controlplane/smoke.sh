#!/usr/bin/env bash
# Smoke test of a running control plane (start.sh): exercises the behaviour
# the operator's e2e tests rely on, with the kubectl built by build.sh.
#   1. namespace + headless Service + PDB + 3-replica StatefulSet (OrderedReady,
#      RollingUpdate with partition) -> 3 pods Running+Ready with pod IPs,
#      EndpointSlice with 3 endpoints, PDB status computed
#   2. kubectl delete pod --grace-period=5 -> pod stays Terminating ~5 s,
#      then disappears and the StatefulSet controller recreates it
#   3. kubectl cordon -> node.kubernetes.io/unschedulable taint appears
#   4. kubectl drain --ignore-daemonsets -> pods evicted (PDB respected) and
#      rescheduled on other nodes
#   5. RBAC: a ServiceAccount token (kubectl create token) gets 403 listing
#      secrets, and is allowed what a RoleBinding grants
#   6. admission: a URL-based validating webhook served on https://127.0.0.1
#      (smoke-webhook/, built with go) is called, and a ValidatingAdmissionPolicy
#      is enforced
#   7. namespace deletion completes (namespace controller + garbage collector)
#
# Usage: smoke.sh [STATE_DIR]       (default: e2e/controlplane/.state)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="${1:-$here/.state}"
[ -f "$state/env" ] || { echo "smoke.sh: $state/env not found; run start.sh first" >&2; exit 1; }
# shellcheck source=/dev/null
. "$state/env"
k() { "$KUBECTL" "$@"; }

ns="cdo-smoke-$$"
t0=$SECONDS
step() { printf '\n[smoke %3ds] == %s\n' "$((SECONDS - t0))" "$*"; }
ok() { printf '[smoke %3ds]    ok: %s\n' "$((SECONDS - t0))" "$*"; }
fail() {
  printf '[smoke %3ds] FAIL: %s\n' "$((SECONDS - t0))" "$*" >&2
  k get nodes -o wide >&2 || true
  k -n "$ns" get all,events -o wide >&2 || true
  exit 1
}
# poll TIMEOUT DESCRIPTION CMD...: retry CMD every 0.5 s until it succeeds.
poll() {
  local timeout="$1" what="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${timeout}s: $what"
    sleep 0.5
  done
  ok "$what"
}
now_ms() { date +%s%3N; }

tmp="$(mktemp -d)"
cleanup() {
  # Our webhook process (by PID) and the cluster-wide admission objects.
  if [ -n "${webhook_pid:-}" ]; then kill "$webhook_pid" 2>/dev/null || true; fi
  k delete validatingwebhookconfiguration "$ns-webhook" --ignore-not-found >/dev/null 2>&1 || true
  k delete validatingadmissionpolicybinding "$ns-policy" --ignore-not-found >/dev/null 2>&1 || true
  k delete validatingadmissionpolicy "$ns-policy" --ignore-not-found >/dev/null 2>&1 || true
  rm -rf "$tmp"
  # Leave no cordoned node or namespace behind if we failed half-way.
  if [ -n "${drained_node:-}" ]; then k uncordon "$drained_node" >/dev/null 2>&1 || true; fi
  k delete namespace "$ns" --ignore-not-found --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

k version
step "nodes"
k get nodes -o wide

step "namespace $ns, headless Service, PDB, StatefulSet web (3 replicas)"
k create namespace "$ns"
k -n "$ns" apply -f - <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  clusterIP: None
  selector: {app: web}
  ports:
  - {name: http, port: 80}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: web}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: 3
  podManagementPolicy: OrderedReady
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {partition: 0}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        # kwok never pulls or runs images; any name will do.
        image: registry.invalid/cdo/smoke:1
        ports:
        - {name: http, containerPort: 80}
EOF
k -n "$ns" rollout status statefulset/web --timeout=120s

pods_ready_with_ip() {
  local n
  n="$(k -n "$ns" get pods -l app=web -o jsonpath='{range .items[*]}{.status.phase}|{.status.podIP}|{.status.conditions[?(@.type=="Ready")].status}|{.metadata.deletionTimestamp}{"\n"}{end}' |
    awk -F'|' '$1 == "Running" && $2 != "" && $3 == "True" && $4 == ""' | wc -l)"
  [ "$n" -eq 3 ]
}
poll 60 "3 pods Running+Ready with pod IPs" pods_ready_with_ip
k -n "$ns" get pods -o wide

endpoints_ready() {
  [ "$(k -n "$ns" get endpointslices -l kubernetes.io/service-name=web \
    -o jsonpath='{range .items[*].endpoints[*]}{.addresses[0]}{"\n"}{end}' | grep -c .)" -eq 3 ]
}
poll 30 "EndpointSlice of headless Service lists 3 pod IPs" endpoints_ready
pdb_ready() {
  [ "$(k -n "$ns" get pdb web -o jsonpath='{.status.expectedPods}/{.status.currentHealthy}/{.status.disruptionsAllowed}')" = "3/3/1" ]
}
poll 30 "PDB status expectedPods=3 currentHealthy=3 disruptionsAllowed=1 (disruption controller)" pdb_ready

step "delete pod web-1 with --grace-period=5: must stay Terminating for the grace period"
old_uid="$(k -n "$ns" get pod web-1 -o jsonpath='{.metadata.uid}')"
del_ms=$(now_ms)
k -n "$ns" delete pod web-1 --grace-period=5 --wait=false
uid_now() { k -n "$ns" get pod web-1 -o jsonpath='{.metadata.uid}' 2>/dev/null || true; }
sleep 1
[ -n "$(k -n "$ns" get pod web-1 -o jsonpath='{.metadata.deletionTimestamp}')" ] ||
  fail "web-1 has no deletionTimestamp 1 s after the delete"
k -n "$ns" get pod web-1 -o wide
ok "web-1 is Terminating (deletionTimestamp set, deletionGracePeriodSeconds=$(k -n "$ns" get pod web-1 -o jsonpath='{.metadata.deletionGracePeriodSeconds}'))"
# Wait until the old pod object is gone (web-1 missing or with a new UID).
deadline=$((SECONDS + 30))
while [ "$(uid_now)" = "$old_uid" ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "old web-1 still present 30 s after delete"
  sleep 0.2
done
gone_ms=$(now_ms)
lingered_ms=$((gone_ms - del_ms))
echo "    old web-1 disappeared after ${lingered_ms} ms"
# deletionTimestamp is truncated to whole seconds, so the pod may go up to 1 s
# early: accept 3.5-12 s for a 5 s grace period.
[ "$lingered_ms" -ge 3500 ] || fail "web-1 went away after ${lingered_ms} ms, before its 5 s grace period"
[ "$lingered_ms" -le 12000 ] || fail "web-1 lingered ${lingered_ms} ms, far beyond its 5 s grace period"
ok "web-1 lingered ${lingered_ms} ms in Terminating (grace period 5 s)"
web1_recreated() {
  local uid; uid="$(uid_now)"
  [ -n "$uid" ] && [ "$uid" != "$old_uid" ] && pods_ready_with_ip
}
poll 60 "web-1 recreated by the StatefulSet controller (new UID) and Ready" web1_recreated

step "cordon the node of web-0"
drained_node="$(k -n "$ns" get pod web-0 -o jsonpath='{.spec.nodeName}')"
k cordon "$drained_node"
has_unschedulable_taint() {
  k get node "$drained_node" -o jsonpath='{range .spec.taints[*]}{.key}:{.effect}{"\n"}{end}' |
    grep -qx 'node.kubernetes.io/unschedulable:NoSchedule'
}
poll 30 "taint node.kubernetes.io/unschedulable:NoSchedule on $drained_node" has_unschedulable_taint

step "drain $drained_node"
k drain "$drained_node" --ignore-daemonsets --delete-emptydir-data --timeout=180s
left_on_node="$(k -n "$ns" get pods -o jsonpath="{range .items[?(@.spec.nodeName==\"$drained_node\")]}{.metadata.name} {end}")"
[ -z "$left_on_node" ] || fail "pods still on drained node $drained_node: $left_on_node"
ok "no smoke pods left on $drained_node"
poll 120 "StatefulSet back to 3 Ready pods on the remaining nodes" pods_ready_with_ip
k -n "$ns" get pods -o wide
k uncordon "$drained_node"
drained_node=""

step "RBAC: ServiceAccount token"
k -n "$ns" create serviceaccount smoke-reader
token="$(k -n "$ns" create token smoke-reader --duration=10m)"
# A kubeconfig with only the token: no client certificate, so the request is
# authenticated as the ServiceAccount alone.
cat >"$tmp/token.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "$APISERVER_URL", certificate-authority: "$APISERVER_CA_FILE"}
users:
- name: u
  user: {token: "$token"}
contexts:
- name: c
  context: {cluster: c, user: u, namespace: "$ns"}
current-context: c
EOF
who="$(k --kubeconfig="$tmp/token.kubeconfig" auth whoami -o jsonpath='{.status.userInfo.username}')"
[ "$who" = "system:serviceaccount:$ns:smoke-reader" ] || fail "token authenticated as '$who'"
ok "token authenticates as $who"
if out="$(k --kubeconfig="$tmp/token.kubeconfig" get secrets 2>&1)"; then
  fail "ServiceAccount could list secrets: $out"
fi
echo "    $out"
grep -q 'Forbidden' <<<"$out" || fail "expected a 403 Forbidden, got: $out"
ok "listing secrets is Forbidden (403) for the ServiceAccount"
k -n "$ns" create role pod-reader --verb=get,list --resource=pods
k -n "$ns" create rolebinding smoke-reader --role=pod-reader --serviceaccount="$ns:smoke-reader"
sa_can_list_pods() { k --kubeconfig="$tmp/token.kubeconfig" get pods; }
poll 30 "after a RoleBinding the ServiceAccount may list pods" sa_can_list_pods

step "admission: URL webhook on https://127.0.0.1 and ValidatingAdmissionPolicy"
# Serving cert for the webhook, signed by the cluster CA (CA_KEY_FILE from env).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/webhook.key" 2>/dev/null
openssl req -new -key "$tmp/webhook.key" -subj "/CN=cdo-smoke-webhook" 2>/dev/null |
  openssl x509 -req -CA "$CA_CERT_FILE" -CAkey "$CA_KEY_FILE" -set_serial "0x$(openssl rand -hex 16)" -days 1 \
    -extfile <(printf '%s\n' "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1") \
    -out "$tmp/webhook.crt" 2>/dev/null
(cd "$here/smoke-webhook" && CGO_ENABLED=0 go build -buildvcs=false -o "$tmp/smoke-webhook" .)
"$tmp/smoke-webhook" -cert "$tmp/webhook.crt" -key "$tmp/webhook.key" -port-file "$tmp/webhook.port" \
  >"$tmp/webhook.log" 2>&1 &
webhook_pid=$!
poll 20 "smoke webhook listening" test -s "$tmp/webhook.port"
webhook_port="$(cat "$tmp/webhook.port")"
k apply -f - <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: $ns-webhook
webhooks:
- name: deny-labelled.smoke.cdo.test
  clientConfig:
    url: https://127.0.0.1:$webhook_port/validate
    caBundle: $(base64 -w0 <"$CA_CERT_FILE")
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: $ns}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 5
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: $ns-policy
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  validations:
  - expression: "!has(object.data) || !('forbidden' in object.data)"
    message: "denied by the cdo smoke ValidatingAdmissionPolicy"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: $ns-policy
spec:
  policyName: $ns-policy
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: $ns}
EOF
# Admission configuration reaches the apiserver's admission chain
# asynchronously: retry until a request gets the expected denial.
n=0
labelled_cm_denied() {
  local out
  n=$((n + 1))
  if out="$(printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: labelled-%s\n  labels: {cdo-smoke-deny: "yes"}\n' "$n" |
    k -n "$ns" create -f - 2>&1)"; then
    k -n "$ns" delete configmap "labelled-$n" >/dev/null 2>&1 || true
    return 1
  fi
  grep -q 'denied by the cdo smoke webhook' <<<"$out"
}
poll 30 "URL webhook on https://127.0.0.1:$webhook_port denies a labelled ConfigMap" labelled_cm_denied
k -n "$ns" create configmap plain --from-literal=a=b >/dev/null
grep -q 'allowed=true' "$tmp/webhook.log" || fail "webhook log shows no allowed review"
ok "webhook was called for and allowed an unlabelled ConfigMap"
policy_denies() {
  local out
  n=$((n + 1))
  if out="$(k -n "$ns" create configmap "forbidden-$n" --from-literal=forbidden=x 2>&1)"; then
    k -n "$ns" delete configmap "forbidden-$n" >/dev/null 2>&1 || true
    return 1
  fi
  grep -q 'denied by the cdo smoke ValidatingAdmissionPolicy' <<<"$out"
}
poll 30 "ValidatingAdmissionPolicy denies a ConfigMap with key 'forbidden'" policy_denies
k delete validatingwebhookconfiguration "$ns-webhook" >/dev/null
k delete validatingadmissionpolicybinding "$ns-policy" >/dev/null
k delete validatingadmissionpolicy "$ns-policy" >/dev/null
kill "$webhook_pid" 2>/dev/null || true
wait "$webhook_pid" 2>/dev/null || true
webhook_pid=""

step "delete namespace $ns (namespace controller + garbage collector)"
k delete namespace "$ns" --timeout=120s
ns_gone() { ! k get namespace "$ns" >/dev/null 2>&1; }
poll 30 "namespace $ns fully removed" ns_gone

printf '\nsmoke test passed in %ds\n' "$((SECONDS - t0))"
