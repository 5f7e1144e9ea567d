#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, without Docker:
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok
# (fake GPU nodes whose pods "run" and, when owned by a Job, complete).
#
#   cluster.sh up DIR     start everything, state and logs in DIR
#   cluster.sh down DIR   stop everything started by `up DIR` (safe to repeat)
#
# With E2E_OWNER_PID=PID, `up` also leaves a watchdog that runs `down DIR`
# once PID has exited (the Go suite passes its own pid).
#
# Binaries come from $E2E_BIN_DIR, else from ./build.sh (its last line).
# `up` writes DIR/kubeconfig (admin, group system:masters),
# DIR/kubeconfig-alice (a plain user with RBAC rights to create workloads and
# namespaces, but no admin rights), and DIR/env (ports and paths, sourceable).
# Logs: DIR/logs/<component>.log. Pids: DIR/pids/<component>.pid.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}
log() { echo "cluster.sh: $*" >&2; }

# ---------------------------------------------------------------- down

# ours NAME PID: does PID still run the process we started as NAME? (Never
# signal a recycled pid.)
ours() {
	local name="$1" pid="$2" pattern="/$name "
	[[ "$name" == watchdog ]] && pattern="/cluster.sh watch "
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

# stop_group NAME...: SIGTERM to all at once, up to 15s to exit, then SIGKILL.
stop_group() {
	local name pid i pids=()
	for name in "$@"; do
		[[ -f "$DIR/pids/$name.pid" ]] || continue
		pid="$(cat "$DIR/pids/$name.pid")"
		if ours "$name" "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$name:$pid")
		fi
	done
	for ((i = 0; i < 150; i++)); do
		local left=()
		for name in "${pids[@]}"; do
			kill -0 "${name#*:}" 2>/dev/null && left+=("$name")
		done
		pids=("${left[@]+"${left[@]}"}")
		((${#pids[@]} == 0)) && break
		sleep 0.1
	done
	for name in "${pids[@]+"${pids[@]}"}"; do
		log "${name%%:*} (pid ${name#*:}) ignored SIGTERM, sending SIGKILL"
		kill -KILL "${name#*:}" 2>/dev/null || true
	done
	for name in "$@"; do rm -f "$DIR/pids/$name.pid"; done
}

cmd_down() {
	DIR="$1"
	[[ -d "$DIR/pids" ]] || return 0
	# The watchdog runs `down` itself; it must not stop itself half-way.
	[[ "${E2E_IN_WATCHDOG:-}" == 1 ]] || stop_group watchdog
	stop_group kwok kube-scheduler kube-controller-manager kube-apiserver
	stop_group etcd
	log "down: $DIR"
}

# cmd_watch DIR OWNER_PID: runs in the background for `up` when
# E2E_OWNER_PID is set, and brings the cluster down once the owner (the test
# binary) is gone, however it died (timeout panic, SIGKILL).
cmd_watch() {
	local dir="$1" owner="$2"
	while kill -0 "$owner" 2>/dev/null; do sleep 1; done
	[[ -d "$dir/pids" ]] && compgen -G "$dir/pids/*.pid" >/dev/null || exit 0
	echo "cluster.sh: owner pid $owner is gone, bringing $dir down" >>"$dir/logs/watchdog.log"
	E2E_IN_WATCHDOG=1 cmd_down "$dir" >>"$dir/logs/watchdog.log" 2>&1
	rm -f "$dir/pids/watchdog.pid"
}

# ---------------------------------------------------------------- up helpers

used_ports=" "
# free_port VAR: set VAR to a loopback TCP port nobody listens on (probed by
# connecting), never one handed out before in this run. 20000-31999 stays
# below Linux's ephemeral range (32768+), where outgoing connections live.
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		[[ "$used_ports" == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports+="$p "
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port found"
}

# start NAME ARGS...: run the component in the background, log to DIR/logs.
start() {
	local name="$1"
	shift
	"$BIN/$name" "$@" </dev/null >>"$DIR/logs/$name.log" 2>&1 &
	echo $! >"$DIR/pids/$name.pid"
	log "started $name (pid $!)"
}

fail_component() {
	local name="$1" why="$2"
	echo "cluster.sh: $name $why; last lines of $DIR/logs/$name.log:" >&2
	tail -n 40 "$DIR/logs/$name.log" >&2 || true
	cmd_down "$DIR"
	exit 1
}

alive() { kill -0 "$(cat "$DIR/pids/$1.pid")" 2>/dev/null; }

# wait_until NAME TIMEOUT_S CMD...: poll CMD until it succeeds; fail with the
# component's log if it exits or the time runs out.
wait_until() {
	local name="$1" timeout="$2" deadline
	shift 2
	deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		alive "$name" || fail_component "$name" "exited"
		((SECONDS < deadline)) || fail_component "$name" "not ready after ${timeout}s"
		sleep 0.3
	done
}

https_ok() { # URL: 200 with the cluster CA
	[[ "$(curl -sS --max-time 3 --cacert "$PKI/ca.crt" -o /dev/null -w '%{http_code}' "$1")" == 200 ]]
}
https_ok_insecure() { # URL: 200, self-signed serving cert (controller-manager, scheduler)
	[[ "$(curl -sSk --max-time 3 -o /dev/null -w '%{http_code}' "$1")" == 200 ]]
}
http_ok() { [[ "$(curl -sS --max-time 3 -o /dev/null -w '%{http_code}' "$1")" == 200 ]]; }

gen_pki() {
	mkdir -p "$PKI"
	(
		cd "$PKI"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout ca.key -out ca.crt -days 7 -subj "/CN=exportgate-e2e-ca" 2>/dev/null
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
		printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" \
			"keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >apiserver.ext
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-out apiserver.crt -days 7 -extfile apiserver.ext 2>/dev/null
		# Service-account token signing key pair.
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	) || die "openssl failed"
}

write_kubeconfig() { # FILE USER TOKEN
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    token: $3
contexts:
- name: e2e
  context:
    cluster: e2e
    user: $2
current-context: e2e
EOF
	chmod 600 "$1"
}

# RBAC of the non-admin user alice: she may create and change namespaces and
# workloads everywhere, and nothing else (no RBAC, no webhooks, no nodes).
alice_rbac() {
	cat <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: e2e-alice
rules:
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch, create, update, patch]
- apiGroups: [""]
  resources: [pods, configmaps, replicationcontrollers]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [events, pods/log, pods/status]
  verbs: [get, list, watch]
- apiGroups: [batch]
  resources: [jobs, cronjobs]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [apps]
  resources: [deployments, replicasets, statefulsets, daemonsets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [apps]
  resources: [deployments/scale, replicasets/scale, statefulsets/scale]
  verbs: [get, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: e2e-alice
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: e2e-alice
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: alice
EOF
}

# fake_node NAME GPU_PRODUCT GPUS: a kwok-managed node. The annotation puts
# it under kwok; the status carries the GPU capacity the scheduler counts.
fake_node() {
	local name="$1" product="$2" gpus="$3"
	cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
EOF
	if [[ -n "$product" ]]; then
		cat <<EOF
    nvidia.com/gpu.product: $product
    nvidia.com/gpu.count: "$gpus"
EOF
	fi
	cat <<EOF
status:
EOF
	local k
	for k in allocatable capacity; do
		printf '  %s:\n    cpu: "192"\n    memory: 2Ti\n    pods: "110"\n' "$k"
		if [[ -n "$product" ]]; then printf '    nvidia.com/gpu: "%s"\n' "$gpus"; fi
	done
}

fake_nodes() {
	fake_node gpu-h100-0 NVIDIA-H100-80GB-HBM3 8
	fake_node gpu-h100-1 NVIDIA-H100-80GB-HBM3 8
	fake_node gpu-h20-0 NVIDIA-H20 8
	fake_node cpu-0 "" 0
}

# ---------------------------------------------------------------- up

cmd_up() {
	DIR="$1"
	mkdir -p "$DIR"
	DIR="$(cd "$DIR" && pwd)"
	if compgen -G "$DIR/pids/*.pid" >/dev/null; then
		die "$DIR already has a running cluster (pids/); run: $0 down $DIR"
	fi
	mkdir -p "$DIR/logs" "$DIR/pids"
	if [[ -n "${E2E_BIN_DIR:-}" ]]; then
		BIN="$E2E_BIN_DIR"
	else
		BIN="$("$here/build.sh" | tail -n 1)"
	fi
	local b
	for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
		[[ -x "$BIN/$b" ]] || die "missing binary $BIN/$b (run tests/e2e/build.sh)"
	done
	[[ -f "$BIN/kwok-stages.yaml" ]] || die "missing $BIN/kwok-stages.yaml (run tests/e2e/build.sh)"
	trap 'log "interrupted"; cmd_down "$DIR"; exit 130' INT TERM

	PKI="$DIR/pki"
	gen_pki

	free_port ETCD_PORT
	free_port ETCD_PEER_PORT
	free_port APISERVER_PORT
	free_port KCM_PORT
	free_port SCHED_PORT
	free_port KWOK_PORT

	local admin_token alice_token kcm_token sched_token
	admin_token="$(openssl rand -hex 24)"
	alice_token="$(openssl rand -hex 24)"
	kcm_token="$(openssl rand -hex 24)"
	sched_token="$(openssl rand -hex 24)"
	cat >"$PKI/tokens.csv" <<EOF
$admin_token,admin,uid-admin,"system:masters"
$alice_token,alice,uid-alice
$kcm_token,system:kube-controller-manager,uid-kcm
$sched_token,system:kube-scheduler,uid-scheduler
EOF
	chmod 600 "$PKI/tokens.csv"

	# etcd: loopback only, no fsync (test data).
	start etcd \
		--name e2e --data-dir "$DIR/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
		--unsafe-no-fsync --quota-backend-bytes=$((2 * 1024 * 1024 * 1024)) \
		--log-level=warn
	wait_until etcd 60 http_ok "http://127.0.0.1:$ETCD_PORT/health"

	start kube-apiserver \
		--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
		--secure-port "$APISERVER_PORT" \
		--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
		--client-ca-file "$PKI/ca.crt" \
		--token-auth-file "$PKI/tokens.csv" \
		--authorization-mode Node,RBAC \
		--endpoint-reconciler-type none \
		--service-cluster-ip-range 10.96.0.0/16 \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$PKI/sa.pub" \
		--service-account-signing-key-file "$PKI/sa.key" \
		--allow-privileged=true \
		--profiling=false \
		--v=1
	wait_until kube-apiserver 120 https_ok "https://127.0.0.1:$APISERVER_PORT/readyz"

	write_kubeconfig "$DIR/kubeconfig" admin "$admin_token"
	write_kubeconfig "$DIR/kubeconfig-alice" alice "$alice_token"
	write_kubeconfig "$DIR/kubeconfig-kcm" system:kube-controller-manager "$kcm_token"
	write_kubeconfig "$DIR/kubeconfig-scheduler" system:kube-scheduler "$sched_token"

	cat >"$DIR/env" <<EOF
E2E_DIR=$DIR
E2E_BIN_DIR=$BIN
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
APISERVER_PORT=$APISERVER_PORT
APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
KCM_PORT=$KCM_PORT
SCHEDULER_PORT=$SCHED_PORT
KWOK_PORT=$KWOK_PORT
CA_CERT=$PKI/ca.crt
KUBECONFIG_ADMIN=$DIR/kubeconfig
KUBECONFIG_ALICE=$DIR/kubeconfig-alice
LOG_DIR=$DIR/logs
EOF

	local kc=("$BIN/kubectl" --kubeconfig "$DIR/kubeconfig")

	# Controllers use one service account each, as in a real cluster, so the
	# Pods they create are not created by an admin.
	start kube-controller-manager \
		--kubeconfig "$DIR/kubeconfig-kcm" \
		--bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
		--leader-elect=false --controllers='*' \
		--use-service-account-credentials=true \
		--service-account-private-key-file "$PKI/sa.key" \
		--root-ca-file "$PKI/ca.crt" \
		--cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
		--concurrent-job-syncs=5 \
		--v=1
	start kube-scheduler \
		--kubeconfig "$DIR/kubeconfig-scheduler" \
		--bind-address 127.0.0.1 --secure-port "$SCHED_PORT" \
		--leader-elect=false \
		--v=1
	wait_until kube-controller-manager 60 https_ok_insecure "https://127.0.0.1:$KCM_PORT/healthz"
	wait_until kube-scheduler 60 https_ok_insecure "https://127.0.0.1:$SCHED_PORT/healthz"

	alice_rbac | "${kc[@]}" apply -f - >>"$DIR/logs/setup.log" 2>&1 ||
		fail_component kube-apiserver "rejected the RBAC for alice (see $DIR/logs/setup.log)"

	start kwok \
		--kubeconfig "$DIR/kubeconfig" \
		--config "$BIN/kwok-stages.yaml" \
		--manage-all-nodes=false \
		--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
		--node-lease-duration-seconds=40 \
		--server-address "127.0.0.1:$KWOK_PORT"
	wait_until kwok 60 http_ok "http://127.0.0.1:$KWOK_PORT/healthz"

	fake_nodes >"$DIR/nodes.yaml"
	"${kc[@]}" apply -f "$DIR/nodes.yaml" >>"$DIR/logs/setup.log" 2>&1 ||
		fail_component kube-apiserver "rejected the fake nodes (see $DIR/logs/setup.log)"
	wait_until kwok 60 "${kc[@]}" wait --for=condition=Ready node --all --timeout=2s
	# The default service account appears once the controller-manager works;
	# pods are refused until then.
	wait_until kube-controller-manager 60 "${kc[@]}" get serviceaccount default -n default

	if [[ -n "${E2E_OWNER_PID:-}" ]]; then
		setsid "$here/cluster.sh" watch "$DIR" "$E2E_OWNER_PID" </dev/null >/dev/null 2>&1 &
		echo $! >"$DIR/pids/watchdog.pid"
	fi
	trap - INT TERM
	log "up: $DIR (apiserver https://127.0.0.1:$APISERVER_PORT, KUBECONFIG=$DIR/kubeconfig)"
}

case "${1:-}" in
up)
	[[ $# -eq 2 ]] || die "usage: $0 up DIR"
	cmd_up "$2"
	;;
down)
	[[ $# -eq 2 ]] || die "usage: $0 down DIR"
	cmd_down "$2"
	;;
watch)
	[[ $# -eq 3 ]] || die "usage: $0 watch DIR OWNER_PID"
	cmd_watch "$2" "$3"
	;;
*)
	die "usage: $0 up DIR | down DIR"
	;;
esac
