#!/usr/bin/env bash
# Deletes the kind cluster made by hack/kind-up.sh.
set -euo pipefail
kind delete cluster --name "${KIND_CLUSTER_NAME:-outpost}"
