#!/usr/bin/env bash
# Builds the test cluster's Kubernetes binaries from the Go module proxy, outside the
# repository: k8s.io/kubernetes at a pinned release with its staging modules replaced by
# their published versions (the way its own go.mod points at ./staging). Cached: a second
# run with the binaries present returns at once.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-v1.34.4}
CACHE=${DEVSTACK_KUBE_CACHE:-$HOME/.cache/devstack-kube}
BIN=$CACHE/bin
SRC=$CACHE/src
want=(kube-apiserver kubelet kube-controller-manager kube-scheduler kube-proxy)
ok=1
for b in "${want[@]}"; do [ -x "$BIN/$b" ] || ok=0; done
if [ $ok = 1 ] && [ "$(cat "$BIN/VERSION" 2>/dev/null)" = "$K8S_VERSION" ]; then exit 0; fi
mkdir -p "$BIN" "$SRC"
cd "$SRC"
staging="0.${K8S_VERSION#v1.}"     # v1.34.4 -> 0.34.4
staging="v$staging"
(cd / && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null)
modfile=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod
{
  echo "module devstack-kube-build"
  echo
  echo "go 1.24.0"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  grep -E '^\s*k8s.io/\S+ => ./staging' "$modfile" | awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
  echo ")"
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
export GOFLAGS=-mod=mod
go mod tidy -e >/dev/null 2>&1 || true
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
go build -tags tools -ldflags "$ld" -o "$BIN/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kube-proxy
echo "$K8S_VERSION" > "$BIN/VERSION"
