#!/usr/bin/env bash
# For users with Docker: create (or reuse) a kind cluster for Outpost, install
# the CRDs, build the cloud image outpost:<version> (npm run image:build, no
# Docker build) and load it into the node, and print the kubeconfig path. Then
#   node bin/outpost.js init --kubeconfig "$(hack/kind-up.sh)" --advertise-address <IP edges dial>
# Run e2e tests against it with
#   OUTPOST_E2E_USE_KUBECONFIG=1 KUBECONFIG=$(hack/kind-up.sh) npm run test:e2e
# (CI on machines without Docker uses the local control plane instead: npm run cluster:up.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${KIND_CLUSTER_NAME:-outpost}
command -v kind >/dev/null || { echo "kind-up: kind is not installed (see kind's install docs); or use npm run cluster:up, which needs no Docker" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "kind-up: kubectl is not installed" >&2; exit 1; }
kubeconfig=${KIND_KUBECONFIG:-$here/../.outpost/kind-$name.kubeconfig}
mkdir -p "$(dirname "$kubeconfig")"
if ! kind get clusters 2>/dev/null | grep -qx "$name"; then
  kind create cluster --name "$name" --config "$here/kind/kind-config.yaml" --kubeconfig "$kubeconfig" >&2
else
  kind get kubeconfig --name "$name" > "$kubeconfig"
fi
kubectl --kubeconfig "$kubeconfig" apply --server-side -f "$here/../config/crd/bases" >&2
kubectl --kubeconfig "$kubeconfig" wait --for=condition=Established --timeout=60s -f "$here/../config/crd/bases" >&2
archive=$(cd "$here/.." && npm run -s image:build | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).archive)')
kind load image-archive --name "$name" "$archive" >&2
echo "$kubeconfig"
