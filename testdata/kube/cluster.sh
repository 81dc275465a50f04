#!/usr/bin/env bash
# A real single-node Kubernetes for devstack's tests, on this machine:
#
#   cluster.sh up      build (cached) and start it; prints the kubeconfig path
#   cluster.sh down    stop it and remove everything it made
#   cluster.sh status  exit 0 when it answers
#   cluster.sh load IMAGE...   copy images from the local Docker engine into the node
#   cluster.sh wipe DIR        empty one of its local volumes (to reuse a Released one)
#
# Everything runs in a network namespace and a private mount namespace of its
# own (a holder process keeps them), so the components' ports, the containerd
# socket, /var/lib/{kubelet,containerd,cni} and /var/log/pods are the
# cluster's alone: the Docker engine's containerd is never touched. The host
# reaches the node at 10.200.0.2 over a veth; the node reaches the host (and
# its loopback registry) at 10.200.0.1.
#
# Parts: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kube-proxy built from the Go module proxy (build.sh), and Debian's
# etcd-server, containerd (a private instance with the CRI plugin) and
# containernetworking-plugins. A registry (Debian's docker-registry) listens
# on $REGISTRY_PORT: the Docker engine pushes to 127.0.0.1:$REGISTRY_PORT and
# the node's containerd pulls the same name over HTTP through 10.200.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${DEVSTACK_KUBE_CACHE:-$HOME/.cache/devstack-kube}
BIN=$CACHE/bin
RUN=${DEVSTACK_KUBE_RUN:-$CACHE/run}
REGISTRY_PORT=${DEVSTACK_KUBE_REGISTRY_PORT:-5055}
NODE=devstack-node
HOST_IP=10.200.0.1
NODE_IP=10.200.0.2
VETH=dkube0
PAUSE=registry.k8s.io/pause:3.10

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }

holder() { cat "$RUN/holder.pid" 2>/dev/null || true; }
inside() { nsenter -t "$(holder)" -m -n -- "$@"; }
alive() { local p; p=$(holder); [ -n "$p" ] && [ -d "/proc/$p" ] && [ "$(cat /proc/$p/comm 2>/dev/null)" = sleep ]; }

# start NAME CMD...: run a component inside the namespaces, its log in $RUN/log.
start() {
	local name=$1; shift
	nsenter -t "$(holder)" -m -n -- "$@" >"$RUN/log/$name.log" 2>&1 9>&- &
	echo $! >"$RUN/$name.pid"
}

# wait_for WHAT SECONDS CMD...: poll until CMD succeeds.
wait_for() {
	local what=$1 secs=$2; shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || die "$what did not come up in ${secs}s (logs in $RUN/log)"
		sleep 0.5
	done
}

need() {
	local missing=()
	for c in etcd containerd ctr runc openssl iptables nsenter unshare ip gcc curl docker-registry; do
		command -v "$c" >/dev/null || missing+=("$c")
	done
	[ -x /usr/lib/cni/bridge ] || missing+=("containernetworking-plugins")
	[ ${#missing[@]} = 0 ] || die "missing: ${missing[*]} (apt-get install etcd-server containerd containernetworking-plugins docker-registry openssl iptables gcc curl)"
}

pki() {
	local d=$RUN/pki
	mkdir -p "$d"
	[ -f "$d/apiserver.crt" ] && return 0
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=devstack-kube-ca \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
		-keyout "$d/apiserver.key" -out "$d/apiserver.csr" 2>/dev/null
	printf 'subjectAltName=IP:%s,IP:127.0.0.1,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost\n' "$NODE_IP" >"$d/san.ext"
	openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 3650 -extfile "$d/san.ext" -out "$d/apiserver.crt" 2>/dev/null
	openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
	openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
	# Static tokens: the test cluster's users (RBAC's bootstrap roles name them).
	local id user group t
	: >"$d/tokens.csv"
	for id in admin node cm sched proxy; do
		group=
		case $id in
		admin) user=admin group=system:masters ;;
		node) user=system:node:$NODE group=system:nodes ;;
		cm) user=system:kube-controller-manager ;;
		sched) user=system:kube-scheduler ;;
		proxy) user=system:kube-proxy ;;
		esac
		t=$(openssl rand -hex 16)
		echo "$t,$user,$user${group:+,\"$group\"}" >>"$d/tokens.csv"
		echo "$t" >"$d/$id.token"
	done
}

kubeconfig() { # kubeconfig FILE TOKEN
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: devstack-test
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority-data: $(base64 -w0 <"$RUN/pki/ca.crt")
users:
- name: devstack-test
  user:
    token: $2
contexts:
- name: devstack-test
  context: {cluster: devstack-test, user: devstack-test}
current-context: devstack-test
EOF
	chmod 600 "$1"
}

# pause builds the sandbox image: a static C program in a hand-made OCI
# layout (nothing can be pulled here), imported into the node's containerd.
pause_image() {
	local d=$CACHE/pause
	if [ ! -f "$d/pause.tar" ]; then
		rm -rf "$d" && mkdir -p "$d/root" "$d/oci/blobs/sha256"
		printf '#include <signal.h>\n#include <unistd.h>\n#include <stdlib.h>\nstatic void bye(int s){(void)s;exit(0);}\nint main(void){signal(SIGINT,bye);signal(SIGTERM,bye);for(;;)pause();}\n' >"$d/pause.c"
		gcc -static -O2 -o "$d/root/pause" "$d/pause.c"
		tar -C "$d/root" --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$d/layer.tar" pause
		local lsum lsize csum csize msum msize
		lsum=$(sha256sum "$d/layer.tar" | cut -d' ' -f1); lsize=$(stat -c %s "$d/layer.tar")
		cp "$d/layer.tar" "$d/oci/blobs/sha256/$lsum"
		printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$lsum" >"$d/config.json"
		csum=$(sha256sum "$d/config.json" | cut -d' ' -f1); csize=$(stat -c %s "$d/config.json")
		cp "$d/config.json" "$d/oci/blobs/sha256/$csum"
		printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
			"$csum" "$csize" "$lsum" "$lsize" >"$d/manifest.json"
		msum=$(sha256sum "$d/manifest.json" | cut -d' ' -f1); msize=$(stat -c %s "$d/manifest.json")
		cp "$d/manifest.json" "$d/oci/blobs/sha256/$msum"
		printf '{"imageLayoutVersion":"1.0.0"}' >"$d/oci/oci-layout"
		printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"3.10"}}]}' \
			"$msum" "$msize" "$PAUSE" >"$d/oci/index.json"
		tar -C "$d/oci" -cf "$d/pause.tar" .
	fi
	inside ctr -a /run/containerd/containerd.sock -n k8s.io images import "$d/pause.tar" >/dev/null
}

api() { # api METHOD PATH [JSON]: the test cluster's API as admin (setup only)
	curl -sS -f --cacert "$RUN/pki/ca.crt" -H "Authorization: Bearer $(cat "$RUN/pki/admin.token")" \
		-H 'Content-Type: application/json' -X "$1" "https://$NODE_IP:6443$2" ${3:+-d "$3"}
}

# storage gives the cluster a default StorageClass backed by a few
# pre-made local volumes (no provisioner can be pulled here): a claim binds
# to one of them, and its data lives on the node across pod replacements.
storage() {
	api POST /apis/storage.k8s.io/v1/storageclasses '{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"local","annotations":{"storageclass.kubernetes.io/is-default-class":"true"}},"provisioner":"kubernetes.io/no-provisioner","volumeBindingMode":"WaitForFirstConsumer","reclaimPolicy":"Delete"}' >/dev/null
	for i in $(seq 1 16); do
		inside mkdir -p "/var/lib/devstack-pv/pv$i"
		api POST /api/v1/persistentvolumes "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":\"local-pv$i\"},\"spec\":{\"capacity\":{\"storage\":\"10Gi\"},\"accessModes\":[\"ReadWriteOnce\"],\"persistentVolumeReclaimPolicy\":\"Retain\",\"storageClassName\":\"local\",\"hostPath\":{\"path\":\"/var/lib/devstack-pv/pv$i\"}}}" >/dev/null
	done
}

up() {
	need
	if alive && api GET /readyz >/dev/null 2>&1; then echo "$RUN/kubeconfig"; return 0; fi
	[ -z "$(holder)" ] || down
	log "building Kubernetes (cached in $BIN)"
	# DEVSTACK_KUBE_NICE: make test builds beside the suite, niced; the
	# components themselves run at normal priority.
	nice -n "${DEVSTACK_KUBE_NICE:-0}" bash "$HERE/build.sh" >&2
	mkdir -p "$RUN/log"
	pki
	# The holder keeps a network and a private mount namespace for every component.
	unshare --mount --net --propagation private sleep infinity 9>&- &
	echo $! >"$RUN/holder.pid"
	wait_for "the namespaces" 10 test -e "/proc/$(holder)/ns/net"
	local h; h=$(holder)
	sleep 0.2
	for m in /run/containerd /var/lib /run/netns /var/log /etc/cni; do
		nsenter -t "$h" -m -- mkdir -p "$m"
		nsenter -t "$h" -m -- mount -t tmpfs -o mode=755 tmpfs "$m"
	done
	ip link add "$VETH" type veth peer name eth0 netns "$h"
	ip addr add "$HOST_IP/24" dev "$VETH"
	ip link set "$VETH" up
	inside ip link set lo up
	inside ip addr add "$NODE_IP/24" dev eth0
	inside ip link set eth0 up
	inside ip route add default via "$HOST_IP"
	inside sysctl -qw net.ipv4.ip_forward=1
	inside sysctl -qw net.ipv4.conf.all.route_localnet=1 || true
	# The kubelet changes these globally: keep them to put back.
	sysctl -n vm.overcommit_memory kernel.panic kernel.panic_on_oops >"$RUN/sysctl.saved"

	# The registry runs on the host: the Docker engine pushes to its loopback.
	docker-registry serve "$(registry_config)" >"$RUN/log/registry.log" 2>&1 9>&- &
	echo $! >"$RUN/registry.pid"
	start etcd etcd --data-dir /var/lib/etcd --listen-client-urls http://127.0.0.1:2379 \
		--advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster default=http://127.0.0.1:2380
	containerd_config
	start containerd containerd -c "$RUN/containerd.toml"
	wait_for etcd 60 inside curl -sf http://127.0.0.1:2379/health
	local p=$RUN/pki
	start apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
		--advertise-address=$NODE_IP --bind-address=0.0.0.0 --secure-port=6443 \
		--tls-cert-file=$p/apiserver.crt --tls-private-key-file=$p/apiserver.key \
		--client-ca-file=$p/ca.crt --token-auth-file=$p/tokens.csv \
		--authorization-mode=Node,RBAC --allow-privileged=true \
		--service-cluster-ip-range=10.96.0.0/16 \
		--service-account-issuer=https://kubernetes.default.svc \
		--service-account-key-file=$p/sa.pub --service-account-signing-key-file=$p/sa.key \
		--kubelet-preferred-address-types=InternalIP
	for c in admin cm sched proxy node; do kubeconfig "$RUN/$c.kubeconfig" "$(cat "$p/$c.token")"; done
	cp "$RUN/admin.kubeconfig" "$RUN/kubeconfig"
	wait_for "the apiserver" 120 api GET /readyz
	start controller-manager "$BIN/kube-controller-manager" --kubeconfig="$RUN/cm.kubeconfig" \
		--service-account-private-key-file=$p/sa.key --root-ca-file=$p/ca.crt \
		--use-service-account-credentials=true --leader-elect=false --controllers='*,-nodeipam,-cloud-node-lifecycle'
	start scheduler "$BIN/kube-scheduler" --kubeconfig="$RUN/sched.kubeconfig" --leader-elect=false
	wait_for containerd 60 inside ctr -a /run/containerd/containerd.sock version
	pause_image
	mkdir -p "$RUN/cni"
	cat >"$RUN/cni/10-devstack.conflist" <<EOF
{"cniVersion":"0.4.0","name":"devstack","plugins":[
 {"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.0.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}
EOF
	cat >"$RUN/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
resolvConf: /etc/resolv.conf
serializeImagePulls: false
protectKernelDefaults: false
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
	start kubelet "$BIN/kubelet" --config="$RUN/kubelet.yaml" --kubeconfig="$RUN/node.kubeconfig" \
		--hostname-override=$NODE --node-ip=$NODE_IP --root-dir=/var/lib/kubelet
	start proxy "$BIN/kube-proxy" --kubeconfig="$RUN/proxy.kubeconfig" --proxy-mode=iptables \
		--masquerade-all --cluster-cidr=10.244.0.0/16 --hostname-override=$NODE --conntrack-max-per-core=0
	wait_for "the node" 120 node_ready
	storage
	log "ready: KUBECONFIG=$RUN/kubeconfig (registry 127.0.0.1:$REGISTRY_PORT)"
	echo "$RUN/kubeconfig"
}

node_ready() { api GET /api/v1/nodes/$NODE | grep -q '"type": "Ready",[[:space:]]*"status": "True"' || api GET /api/v1/nodes/$NODE | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'; }

registry_config() {
	mkdir -p "$RUN/registry"
	cat >"$RUN/registry.yml" <<EOF
version: 0.1
storage:
  filesystem: {rootdirectory: $RUN/registry}
  delete: {enabled: true}
http:
  addr: 0.0.0.0:$REGISTRY_PORT
EOF
	echo "$RUN/registry.yml"
}

containerd_config() {
	cat >"$RUN/containerd.toml" <<EOF
version = 2
root = "/var/lib/containerd"
state = "/run/containerd/state"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  restrict_oom_score_adj = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN/cni"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."127.0.0.1:$REGISTRY_PORT"]
    endpoint = ["http://$HOST_IP:$REGISTRY_PORT"]
EOF
}

# load copies images from the local Docker engine into the node's containerd.
load() {
	alive || die "the cluster is not running (cluster.sh up)"
	for img in "$@"; do
		docker save "$img" | nsenter -t "$(holder)" -m -n -- ctr -a /run/containerd/containerd.sock -n k8s.io images import - >/dev/null
	done
}

down() {
	local h; h=$(holder)
	if [ -n "$h" ] && [ -d "/proc/$h" ]; then
		local mnt; mnt=$(readlink "/proc/$h/ns/mnt")
		# Pods' processes first (they live in kubepods cgroups), then every
		# process in the cluster's mount namespace (components, shims), the holder last.
		for i in 1 2; do
			for f in $(find /sys/fs/cgroup/*/kubepods -name cgroup.procs 2>/dev/null); do
				for pid in $(cat "$f" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
			done
			for pid in $(ls /proc | grep -E '^[0-9]+$'); do
				[ "$pid" = "$h" ] && continue
				[ "$(readlink /proc/$pid/ns/mnt 2>/dev/null)" = "$mnt" ] && kill -9 "$pid" 2>/dev/null || true
			done
			sleep 0.5
		done
		kill -9 "$h" 2>/dev/null || true
	fi
	for f in registry; do
		local p; p=$(cat "$RUN/$f.pid" 2>/dev/null || true)
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	# cgroups the kubelet made, deepest first.
	for d in /sys/fs/cgroup/*/kubepods; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	if [ -f "$RUN/sysctl.saved" ]; then
		mapfile -t v <"$RUN/sysctl.saved"
		sysctl -qw vm.overcommit_memory="${v[0]}" kernel.panic="${v[1]}" kernel.panic_on_oops="${v[2]}" || true
		rm -f "$RUN/sysctl.saved"
	fi
	ip link del "$VETH" 2>/dev/null || true
	rm -f "$RUN"/*.pid
	rm -rf "$RUN/registry"
}

status() { alive && api GET /readyz >/dev/null; }

# wipe DIR empties a local volume's directory on the node, so that a
# Released volume can be bound again (the tests' helper frees them).
wipe() {
	alive || die "the cluster is not running (cluster.sh up)"
	# Exactly pvN: a glob's * would also let "pv1/../.." reach the host's
	# files, which this deletes as root.
	[[ $1 =~ ^/var/lib/devstack-pv/pv[0-9]+/?$ ]] || die "wipe: $1 is not one of the cluster's volumes"
	inside find "$1" -mindepth 1 -delete
}

# One up or down at a time: make test starts the cluster beside the suite
# while a developer's kube-test may start it too, and two builds into one
# cache, or two starts of one node, race. The lock is on fd 9, which the
# cluster's long-lived processes are started without (they would hold it).
serialise() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/lock"
	flock 9
}

case ${1:-} in
up) serialise; up ;;
down) serialise; down ;;
status) status ;;
load) shift; load "$@" ;;
wipe) wipe "$2" ;;
*) echo "usage: cluster.sh up|down|status|load IMAGE...|wipe DIR" >&2; exit 2 ;;
esac
