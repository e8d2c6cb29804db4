#!/usr/bin/env bash
# Starts a local Kubernetes control plane for the e2e tests, entirely on
# 127.0.0.1, from the binaries built by build.sh:
#   etcd -> kube-apiserver -> kube-controller-manager, kube-scheduler, kwok
# plus 3 fake kwok nodes (kwok-node-0..2) whose pods kwok drives through their
# lifecycle (see kwok/stages.yaml).
#
# Usage: start.sh [STATE_DIR]        (default: e2e/controlplane/.state)
#
# Env:
#   CONTROLPLANE_TIMEOUT  seconds each component may take to become ready (default 90)
#   CONTROLPLANE_NODES    number of fake nodes (default 3)
#   CONTROLPLANE_LOG_V    klog verbosity of the k8s components (default 1)
#   SKIP_BUILD=1          do not run build.sh first (it is a quick no-op when
#                         the binaries for versions.env are already cached)
#
# Writes into STATE_DIR:
#   kubeconfig   admin (system:masters) kubeconfig, certificates embedded
#   env          shell-sourceable: KUBECONFIG, APISERVER_URL, CA paths, ports, PIDs (see bottom)
#   pids         "<component> <pid> <executable>" per line, used by stop.sh
#   logs/        one log per component
#   pki/ etcd/ kwok/ kubeconfigs/  certificates, etcd data, kwok work dir
#
# Every port is picked free at start, so a leftover or parallel cluster (in
# another STATE_DIR) does not collide. Nothing listens on a non-loopback address.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"

state="${1:-$here/.state}"
mkdir -p "$state"
state="$(cd "$state" && pwd)"
timeout_s="${CONTROLPLANE_TIMEOUT:-90}"
node_count="${CONTROLPLANE_NODES:-3}"
log_v="${CONTROLPLANE_LOG_V:-1}"

service_cidr=10.96.0.0/16
first_service_ip=10.96.0.1
cluster_cidr=10.244.0.0/16
sa_issuer=https://kubernetes.default.svc.cluster.local

t0=$SECONDS
log() { printf '[start %3ds] %s\n' "$((SECONDS - t0))" "$*"; }

# --- binaries ---------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  "$here/build.sh"
fi
bin="$(readlink -f "$here/bin" || true)"
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
  [ -x "$bin/$b" ] || { echo "start.sh: $here/bin/$b missing; run e2e/controlplane/build.sh" >&2; exit 1; }
done
kubectl="$bin/kubectl"

# --- state dir --------------------------------------------------------------
# Refuse to clobber a cluster that is still running from this state dir.
if [ -f "$state/pids" ]; then
  while read -r name pid exe; do
    if [ -n "${pid:-}" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" = "$exe" ]; then
      echo "start.sh: $name (pid $pid) from a previous start is still running in $state; run stop.sh $state first" >&2
      exit 1
    fi
  done <"$state/pids"
fi
# A leftover state dir from a crashed run: start from scratch (stale etcd data
# would resurrect old objects, stale certs would not match the new CA).
if [ -f "$state/.cdo-controlplane-state" ]; then
  find "$state" -mindepth 1 -delete
elif [ -n "$(ls -A "$state")" ]; then
  echo "start.sh: $state is not empty and not a control plane state dir; refusing to use it" >&2
  exit 1
fi
touch "$state/.cdo-controlplane-state" # marker: stop.sh only deletes dirs carrying it
mkdir -p "$state/logs" "$state/pki" "$state/kubeconfigs" "$state/etcd" "$state/kwok"
chmod 700 "$state/pki" "$state/etcd"
: >"$state/pids"
rm -f "$state/env"

# --- process helpers ---------------------------------------------------------
declare -A pid_of=()
started_ok=0

# On any failure after the first component started, stop what we started
# (only our own PIDs, via stop.sh) but keep the state dir for the logs.
cleanup_on_failure() {
  if [ "$started_ok" != 1 ] && [ -s "$state/pids" ]; then
    echo "start.sh: stopping the components started so far (state and logs kept in $state)" >&2
    KEEP_STATE=1 "$here/stop.sh" "$state" >&2 || true
  fi
}
trap cleanup_on_failure EXIT

die_with_log() { # component message
  local name="$1"; shift
  echo "start.sh: ERROR: $*" >&2
  if [ -f "$state/logs/$name.log" ]; then
    echo "---- last 40 lines of $state/logs/$name.log ----" >&2
    tail -n 40 "$state/logs/$name.log" >&2
    echo "----" >&2
  fi
  exit 1
}

# launch NAME BINARY ARGS...: runs $bin/BINARY in the background in its own
# session (setsid: a terminal hang-up or a Ctrl-C in the calling shell does
# not reach it; it lives until stop.sh), logging to logs/NAME.log.
launch() {
  local name="$1" exe="$bin/$2"; shift 2
  setsid "$exe" "$@" >"$state/logs/$name.log" 2>&1 </dev/null &
  local pid=$!
  pid_of[$name]=$pid
  # The executable path lets stop.sh check a PID still is our process before
  # signalling it (PIDs get reused after a reboot or a long time).
  echo "$name $pid $exe" >>"$state/pids"
  log "started $name (pid $pid)"
}

alive() { kill -0 "${pid_of[$1]}" 2>/dev/null; }

# wait_for NAME DESCRIPTION CMD...: polls CMD until it succeeds; fails with
# the component's log tail if the component exits or the timeout passes.
wait_for() {
  local name="$1" what="$2"; shift 2
  local deadline=$((SECONDS + timeout_s))
  until "$@" >/dev/null 2>&1; do
    alive "$name" || die_with_log "$name" "$name exited while waiting for $what"
    [ "$SECONDS" -lt "$deadline" ] || die_with_log "$name" "timed out after ${timeout_s}s waiting for $what"
    sleep 0.25
  done
  log "$what: ok"
}

# --- free ports ----------------------------------------------------------------
# Pick random ports below the kernel's ephemeral range (so outgoing
# connections never hold them) that nothing listens on now.
read -r eph_low _ </proc/sys/net/ipv4/ip_local_port_range
port_hi=$((eph_low > 21000 ? eph_low - 1 : 19999))
port_lo=$((port_hi - 10000))
taken=" $(ss -Htln 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }' | tr '\n' ' ') "
pick_port() { # VAR
  local p i
  for i in $(seq 1 500); do
    p=$((port_lo + (RANDOM * 32768 + RANDOM) % (port_hi - port_lo)))
    case "$taken" in *" $p "*) continue ;; esac
    taken+="$p "
    printf -v "$1" '%s' "$p"
    return 0
  done
  echo "start.sh: no free port found in $port_lo-$port_hi" >&2
  exit 1
}
pick_port ETCD_CLIENT_PORT
pick_port ETCD_PEER_PORT
pick_port APISERVER_PORT
pick_port KCM_PORT
pick_port SCHEDULER_PORT
pick_port KWOK_PORT
APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"

# --- PKI -------------------------------------------------------------------------
# ECDSA P-256 keys: generated in milliseconds and supported by every component.
pki="$state/pki"
genkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

genkey "$pki/ca.key"
openssl req -x509 -new -key "$pki/ca.key" -sha256 -days 3650 -subj "/CN=cdo-e2e-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
  -out "$pki/ca.crt" 2>/dev/null

# sign NAME SUBJECT EXTENSIONS: NAME.key + NAME.crt signed by the CA.
sign() {
  local name="$1" subj="$2" ext="$3"
  genkey "$pki/$name.key"
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 365 -sha256 \
    -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "$ext") \
    -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr"
}
sign apiserver "/CN=kube-apiserver" \
  "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,IP:$first_service_ip,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
sign admin "/O=system:masters/CN=cdo-e2e-admin" "extendedKeyUsage=clientAuth"
# The controller manager and scheduler use their own identities, bound by the
# apiserver's bootstrap RBAC policy, so RBAC is exercised like in a real cluster.
sign kube-controller-manager "/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth"
sign kube-scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth"
# Front proxy (aggregation layer) CA + client: not needed by the tests, but
# without --requestheader-client-ca-file every component that delegates
# authentication (controller manager, scheduler, any aggregated API server)
# logs "missing content for CA bundle" errors in a loop.
genkey "$pki/front-proxy-ca.key"
openssl req -x509 -new -key "$pki/front-proxy-ca.key" -sha256 -days 3650 -subj "/CN=cdo-e2e-front-proxy-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
  -out "$pki/front-proxy-ca.crt" 2>/dev/null
genkey "$pki/front-proxy-client.key"
openssl req -new -key "$pki/front-proxy-client.key" -subj "/CN=front-proxy-client" 2>/dev/null |
  openssl x509 -req -CA "$pki/front-proxy-ca.crt" -CAkey "$pki/front-proxy-ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 365 -sha256 \
    -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=clientAuth") \
    -out "$pki/front-proxy-client.crt" 2>/dev/null
# Service-account token signing key pair.
genkey "$pki/sa.key"
openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

# write_kubeconfig FILE USER: certificates embedded, so the file is
# self-contained (TypeScript clients, helm, kubectl all read it as is).
write_kubeconfig() {
  local file="$1" user="$2"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: cdo-e2e
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$pki/$user.crt")
    client-key-data: $(base64 -w0 <"$pki/$user.key")
contexts:
- name: cdo-e2e
  context:
    cluster: cdo-e2e
    user: $user
    namespace: default
current-context: cdo-e2e
EOF
  chmod 600 "$file"
}
write_kubeconfig "$state/kubeconfig" admin
write_kubeconfig "$state/kubeconfigs/kube-controller-manager.kubeconfig" kube-controller-manager
write_kubeconfig "$state/kubeconfigs/kube-scheduler.kubeconfig" kube-scheduler
log "PKI and kubeconfigs written"

# --- etcd --------------------------------------------------------------------------
# Plain HTTP on loopback only; --unsafe-no-fsync because durability is
# pointless for a throwaway test store and fsync dominates write latency.
launch etcd etcd \
  --name=cdo-e2e \
  --data-dir="$state/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="cdo-e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster-state=new \
  --unsafe-no-fsync \
  --log-level=warn
wait_for etcd "etcd /health" curl -fsS "http://127.0.0.1:$ETCD_CLIENT_PORT/health"

# --- kube-apiserver ----------------------------------------------------------------------
# --advertise-address=127.0.0.1 keeps the apiserver from publishing the host's
# network address; --endpoint-reconciler-type=none because the kubernetes
# Service's endpoints would be that loopback address, which Endpoints
# validation rejects (nothing runs in-cluster here, so nothing needs them).
launch kube-apiserver kube-apiserver \
  --bind-address=127.0.0.1 \
  --secure-port="$APISERVER_PORT" \
  --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --cert-dir="$state/pki/apiserver-generated" \
  --tls-cert-file="$pki/apiserver.crt" \
  --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --requestheader-client-ca-file="$pki/front-proxy-ca.crt" \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User \
  --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$pki/front-proxy-client.crt" \
  --proxy-client-key-file="$pki/front-proxy-client.key" \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,NodeRestriction,Priority,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,ResourceQuota \
  --allow-privileged=true \
  --service-cluster-ip-range="$service_cidr" \
  --service-account-issuer="$sa_issuer" \
  --api-audiences="$sa_issuer" \
  --service-account-key-file="$pki/sa.pub" \
  --service-account-signing-key-file="$pki/sa.key" \
  --enable-priority-and-fairness=true \
  --profiling=false \
  --v="$log_v"
curl_admin=(curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")
wait_for kube-apiserver "kube-apiserver /readyz" "${curl_admin[@]}" "$APISERVER_URL/readyz"

# --- controller manager, scheduler ---------------------------------------------------------
# --controllers=* enables every default controller (statefulset, garbage
# collector, namespace, serviceaccount(-token), endpoint(slice), disruption,
# node-lifecycle, node-ipam, ...). node-ipam gives every node a /24 podCIDR out
# of cluster_cidr, from which kwok assigns pod IPs.
kcm_kubeconfig="$state/kubeconfigs/kube-controller-manager.kubeconfig"
launch kube-controller-manager kube-controller-manager \
  --kubeconfig="$kcm_kubeconfig" \
  --authentication-kubeconfig="$kcm_kubeconfig" \
  --authorization-kubeconfig="$kcm_kubeconfig" \
  --bind-address=127.0.0.1 \
  --secure-port="$KCM_PORT" \
  --leader-elect=false \
  --controllers='*' \
  --use-service-account-credentials=true \
  --service-account-private-key-file="$pki/sa.key" \
  --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" \
  --cluster-signing-key-file="$pki/ca.key" \
  --allocate-node-cidrs=true \
  --cluster-cidr="$cluster_cidr" \
  --node-cidr-mask-size=24 \
  --service-cluster-ip-range="$service_cidr" \
  --configure-cloud-routes=false \
  --profiling=false \
  --v="$log_v"

sched_kubeconfig="$state/kubeconfigs/kube-scheduler.kubeconfig"
launch kube-scheduler kube-scheduler \
  --kubeconfig="$sched_kubeconfig" \
  --authentication-kubeconfig="$sched_kubeconfig" \
  --authorization-kubeconfig="$sched_kubeconfig" \
  --bind-address=127.0.0.1 \
  --secure-port="$SCHEDULER_PORT" \
  --leader-elect=false \
  --profiling=false \
  --v="$log_v"

# --- kwok ----------------------------------------------------------------------------
# KWOK_WORKDIR keeps kwok from reading a user's ~/.kwok/kwok.yaml. Only nodes
# annotated kwok.x-k8s.io/node=fake are managed. The node lease (40 s, renewed
# every ~10 s) is the heartbeat the node-lifecycle controller watches.
# --server-address serves kwok's healthz/metrics (on loopback) for the probe below.
KWOK_WORKDIR="$state/kwok" launch kwok kwok \
  --kubeconfig="$state/kubeconfig" \
  --config="$here/kwok/stages.yaml" \
  --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 \
  --cidr=10.0.0.0/24 \
  --server-address="127.0.0.1:$KWOK_PORT"

wait_for kube-controller-manager "kube-controller-manager /healthz" \
  curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz"
wait_for kube-scheduler "kube-scheduler /readyz" \
  curl -fsSk "https://127.0.0.1:$SCHEDULER_PORT/readyz"
wait_for kwok "kwok /healthz" curl -fsS "http://127.0.0.1:$KWOK_PORT/healthz"

# --- fake nodes ----------------------------------------------------------------
# Nodes may be created with status (like a kubelet registering itself): we set
# capacity and addresses; kwok's node-initialize stage adds the conditions.
# Addresses are distinct loopback IPs so that nothing that might dial a node
# (kubectl logs/exec via the apiserver) leaves the machine.
export KUBECONFIG="$state/kubeconfig"
nodes_yaml=""
for i in $(seq 0 $((node_count - 1))); do
  nodes_yaml+="---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node-role.kubernetes.io/agent: \"\"
    type: kwok
spec: {}
status:
  capacity: {cpu: \"32\", memory: 256Gi, pods: \"110\", ephemeral-storage: 1Ti}
  allocatable: {cpu: \"32\", memory: 256Gi, pods: \"110\", ephemeral-storage: 1Ti}
  addresses:
  - {type: InternalIP, address: 127.0.0.$((101 + i))}
  - {type: Hostname, address: kwok-node-$i}
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: $KUBERNETES_VERSION
    kubeProxyVersion: $KUBERNETES_VERSION
    containerRuntimeVersion: kwok-$KWOK_VERSION
    kernelVersion: kwok-$KWOK_VERSION
    osImage: kwok
    machineID: \"\"
    systemUUID: \"\"
    bootID: \"\"
"
done
printf '%s' "$nodes_yaml" | "$kubectl" apply -f - >/dev/null
log "created $node_count kwok nodes"

# Ready to use = Ready condition True (kwok), podCIDR assigned (node-ipam) and
# no taints left (the node-lifecycle controller removes the not-ready taint
# that the TaintNodesByCondition admission put on the new nodes).
nodes_usable() {
  local n
  n="$("$kubectl" get nodes -l type=kwok -o jsonpath='{range .items[*]}{.metadata.name}|{.spec.podCIDR}|{.spec.taints}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    awk -F'|' '$2 != "" && $3 == "" && $4 == "True"' | wc -l)"
  [ "$n" -ge "$node_count" ]
}
wait_for kwok "$node_count nodes Ready, untainted, with podCIDR" nodes_usable
wait_for kube-controller-manager "ServiceAccount default/default" "$kubectl" -n default get serviceaccount default

# --- env file ----------------------------------------------------------------------
pid_list=""
for c in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do pid_list+="${pid_of[$c]} "; done
cat >"$state/env.tmp" <<EOF
# Generated by e2e/controlplane/start.sh; source it: . $state/env
export KUBECONFIG='$state/kubeconfig'
export APISERVER_URL='$APISERVER_URL'
export APISERVER_CA_FILE='$pki/ca.crt'
export CA_CERT_FILE='$pki/ca.crt'
export CA_KEY_FILE='$pki/ca.key'
export ADMIN_CERT_FILE='$pki/admin.crt'
export ADMIN_KEY_FILE='$pki/admin.key'
export CONTROLPLANE_STATE_DIR='$state'
export CONTROLPLANE_BIN_DIR='$bin'
export KUBECTL='$bin/kubectl'
export HELM='$bin/helm'
export ETCD_CLIENT_PORT=$ETCD_CLIENT_PORT
export ETCD_PEER_PORT=$ETCD_PEER_PORT
export APISERVER_PORT=$APISERVER_PORT
export KCM_PORT=$KCM_PORT
export SCHEDULER_PORT=$SCHEDULER_PORT
export KWOK_PORT=$KWOK_PORT
export ETCD_PID=${pid_of[etcd]}
export APISERVER_PID=${pid_of[kube-apiserver]}
export KCM_PID=${pid_of[kube-controller-manager]}
export SCHEDULER_PID=${pid_of[kube-scheduler]}
export KWOK_PID=${pid_of[kwok]}
export CONTROLPLANE_PIDS='${pid_list% }'
export KWOK_NODES='$(seq -s ' ' -f 'kwok-node-%g' 0 $((node_count - 1)))'
export SERVICE_CIDR='$service_cidr'
export CLUSTER_CIDR='$cluster_cidr'
export SERVICE_ACCOUNT_ISSUER='$sa_issuer'
EOF
mv "$state/env.tmp" "$state/env"
started_ok=1
log "control plane ready at $APISERVER_URL in $((SECONDS - t0))s"
echo "  source $state/env   # KUBECONFIG=$state/kubeconfig"
