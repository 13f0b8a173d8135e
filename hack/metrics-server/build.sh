#!/usr/bin/env bash
# Builds metrics-server (sigs.k8s.io/metrics-server, the version in VERSION) from
# its Go module through the module proxy into a per-version cache outside the
# repo, and prints the binary's path. `go install module@version` uses the
# release's own go.mod/go.sum (checked against the checksum database), so no
# wrapper module is needed: metrics-server has no replace directives.
# A cache hit costs nothing; a cold build takes several minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
V=$(cat "$here/VERSION")
OUT=${OUTPOST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/outpost}/metrics-server-$V
if [ -x "$OUT/metrics-server" ]; then echo "$OUT/metrics-server"; exit 0; fi
command -v go >/dev/null || { echo "build.sh: Go is not installed; metrics-server $V needs Go >= 1.26.4 (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$OUT"
tmp=$(mktemp -d "$OUT/.gobin.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "build.sh: building metrics-server $V into $OUT (cold builds take a while)" >&2
# the release Makefile's flags: static, trimmed, version stamped into client-go's version package
PKG=k8s.io/client-go/pkg/version
cd "$tmp"
CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS= GOBIN="$tmp" \
  go install -p "$(nproc)" -trimpath -ldflags "-s -w -X $PKG.gitVersion=$V -X $PKG.buildDate=2026-01-01T00:00:00Z" "sigs.k8s.io/metrics-server/cmd/metrics-server@$V"
mv "$tmp/metrics-server" "$OUT/metrics-server"
echo "$OUT/metrics-server"
