"""The real Kubernetes control plane as the tests use it: kubectl, ServiceAccount tokens,
RBAC from rendered manifests. The `control_plane` fixture (tests/conftest.py) starts it.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".tools" / "bin"
SCRIPT = ROOT / "scripts" / "control-plane.sh"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")
EXTERNAL_KUBECONFIG = os.environ.get("AURORA_RESTORE_TEST_KUBECONFIG")
RBAC_KINDS = {
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
}
# An HTTP 403 in a log line, not the digits inside a timestamp, a port or a uid
# ("...-403b-...", which a log line quoting an object's metadata may carry).
FORBIDDEN = re.compile(r"(?<![\w.:-])403(?![\w-])|forbidden", re.IGNORECASE)


def forbidden_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if FORBIDDEN.search(line)]


@dataclass
class ControlPlane:
    """A Kubernetes API server as kubectl and the tests see it; `kubeconfig` is cluster-admin."""

    kubeconfig: Path
    workdir: Path
    external: bool = False

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return run_tool(
            [
                str(TOOLS / "kubectl"),
                "--kubeconfig",
                str(kubeconfig or self.kubeconfig),
                *args,
            ],
            stdin=stdin,
            check=check,
            timeout=timeout,
        )

    def apply(self, docs: list[dict[str, Any]]) -> None:
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))

    def create_namespace(self, name: str) -> ControlPlane:
        self.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}])
        return self

    def token_kubeconfig(self, namespace: str, service_account: str, path: Path) -> Path:
        """A kubeconfig that authenticates as the ServiceAccount, with a token the API server
        signed (`kubectl create token`), and nothing of the admin's credentials."""
        token = self.kubectl(
            "-n", namespace, "create", "token", service_account, "--duration=4h"
        ).stdout.strip()
        admin = yaml.safe_load(self.kubeconfig.read_text())
        cluster = admin["clusters"][0]["cluster"]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "control-plane", "cluster": cluster}],
            "users": [{"name": service_account, "user": {"token": token}}],
            "contexts": [
                {
                    "name": service_account,
                    "context": {"cluster": "control-plane", "user": service_account},
                }
            ],
            "current-context": service_account,
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def bind_operator(self, docs: list[dict[str, Any]], path: Path) -> Path:
        """Apply the ServiceAccount and RBAC objects of rendered manifests (deploy/ or the
        chart) and return a token kubeconfig for that ServiceAccount."""
        wanted = [d for d in docs if d.get("kind") in RBAC_KINDS]
        namespaces = {d["metadata"]["namespace"] for d in wanted if d["metadata"].get("namespace")}
        present = {d["metadata"]["name"] for d in wanted if d["kind"] == "Namespace"}
        extra = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            for ns in sorted(namespaces - present)
        ]
        self.apply(extra + sorted(wanted, key=lambda d: (d["kind"] != "Namespace", d["kind"])))
        [account] = [d for d in wanted if d["kind"] == "ServiceAccount"]
        meta = account["metadata"]
        return self.token_kubeconfig(meta["namespace"], meta["name"], path)


@contextmanager
def api_client(kubeconfig: Path) -> Iterator[kubernetes.client.ApiClient]:
    """The official client for ``kubeconfig``, configured explicitly (it reads KUBECONFIG
    only at import)."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(kubeconfig), client_configuration=configuration
    )
    with kubernetes.client.ApiClient(configuration) as client:
        yield client


def run_tool(
    args: list[str], stdin: str | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        env={**os.environ, "HOME": os.environ.get("HOME", str(ROOT))},
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    return proc
