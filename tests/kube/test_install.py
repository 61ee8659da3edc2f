"""The shipped manifests against a real API server: `kubectl apply -k deploy/` and
`helm install --dry-run=server` succeed (names, labels and RBAC that offline validation
cannot judge), and `kubectl get ar` shows the CRD's printer columns."""

from __future__ import annotations

import json

from control_plane_support import ROOT, TOOLS, ControlPlane, run_tool

CHART = ROOT / "helm" / "aurora-restore-operator"


def test_kubectl_apply_k_deploy(plane: ControlPlane) -> None:
    # Not --dry-run=server: the namespaced objects would need the namespace it creates.
    applied = plane.kubectl("apply", "-k", str(ROOT / "deploy")).stdout
    assert "deployment.apps/aurora-restore-operator" in applied, applied
    deployment = json.loads(
        plane.kubectl(
            "-n",
            "aurora-restore-system",
            "get",
            "deployment",
            "aurora-restore-operator",
            "-o",
            "json",
        ).stdout
    )
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == (
        "aurora-restore-operator"
    )


def test_helm_install_dry_run_server(plane: ControlPlane) -> None:
    result = run_tool(
        [
            str(TOOLS / "helm"),
            "--kubeconfig",
            str(plane.kubeconfig),
            "install",
            # Not the release tests/e2e/test_chart_rbac.py binds the operator with.
            "dry-run",
            str(CHART),
            "--namespace",
            "aurora-restore-dry-run",
            "--create-namespace",
            "--dry-run=server",
            # The session's server already has the CRDs, applied without Helm: Helm refuses to
            # adopt objects it does not own, so this release leaves them alone (as a user
            # does who installs the CRDs separately, docs/install.md).
            "--set",
            "crds.enabled=false",
        ]
    )
    assert "STATUS: pending-install" in result.stdout, result.stdout[-2000:]
    assert "kind: ClusterRole" in result.stdout
