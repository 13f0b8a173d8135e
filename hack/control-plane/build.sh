#!/usr/bin/env bash
# Builds the local test control plane (etcd + a multi-call hyperkube with
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl) from
# Kubernetes' Go modules into a per-version cache outside the repo, and prints
# the bin directory. A cache hit costs nothing; a cold build takes 10-25 min on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S=$(cat "$here/K8S_VERSION")
MIN=${K8S#v1.}; MIN=${MIN%%.*}
OUT=${OUTPOST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/outpost}/k8s-$K8S
stamp="$OUT/.built-$(cat "$here/go.sum" "$here/cmd"/*/main.go | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then echo "$OUT"; exit 0; fi
command -v go >/dev/null || { echo "build.sh: Go is not installed; install Go >= $(sed -n 's/^go //p' "$here/go.mod") (https://go.dev/dl) and retry" >&2; exit 1; }
mkdir -p "$OUT"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly
VF=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  VF+=" -X $p.gitVersion=$K8S -X $p.gitMajor=1 -X $p.gitMinor=$MIN -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
done
cd "$here"
echo "build.sh: building Kubernetes $K8S control plane into $OUT (cold builds take a while)" >&2
go build -p "$(nproc)" -trimpath -ldflags "-s -w $VF" -o "$OUT/hyperkube.tmp" ./cmd/hyperkube
go build -p "$(nproc)" -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" ./cmd/etcd
mv "$OUT/hyperkube.tmp" "$OUT/hyperkube"; mv "$OUT/etcd.tmp" "$OUT/etcd"
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do ln -sf hyperkube "$OUT/$c"; done
rm -f "$OUT"/.built-*; touch "$stamp"
echo "$OUT"
