"""The operator bound to the Helm chart's RBAC (`helm template`, default values: all
namespaces) instead of deploy/'s: a restore with users and a connection Secret completes,
its deletion runs the finalizer, and kube-controller-manager then collects the Secret by
its owner reference. The `operator` fixture fails the test on any 403 in the log."""

from __future__ import annotations

import time
from pathlib import Path

import kubernetes
import pytest
import yaml

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.postgres import PostgresSandbox
from control_plane_support import ROOT, TOOLS, run_tool
from support.cluster import Cluster, Operator, RealCluster, database_restore

pytestmark = pytest.mark.e2e
CHART = ROOT / "helm" / "aurora-restore-operator"
RELEASE_NAMESPACE = "aurora-restore-helm"


@pytest.fixture(scope="module")
def chart_identity(real_cluster: RealCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rendered = run_tool(
        [str(TOOLS / "helm"), "template", "ar", str(CHART), "--namespace", RELEASE_NAMESPACE]
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    path = tmp_path_factory.mktemp("chart-identity") / "kubeconfig"
    return real_cluster.plane.bind_operator(docs, path)


@pytest.fixture
def operator_kubeconfig(chart_identity: Path) -> Path:
    return chart_identity


def test_operator_with_the_charts_rbac_restores_and_its_secret_is_collected(
    aws: AwsSandbox, postgres: PostgresSandbox | None, operator: Operator, cluster: Cluster
) -> None:
    spec = database_restore(postgres, cluster)
    cluster.apply_restore("chart-rbac", spec)
    obj = cluster.wait_phase("chart-rbac", "Completed", "Failed", timeout=90)
    assert obj["status"]["phase"] == "Completed", (
        obj["status"].get("error"),
        operator.logs()[-3000:],
    )
    cluster.wait_events("chart-rbac", "RestoreCompleted")
    cluster.core.read_namespaced_secret("staging-db", cluster.namespace)

    cluster.delete("chart-rbac")
    # The garbage collector watches a CRD's kind from its next discovery (every 30 s).
    deadline = time.monotonic() + 90
    while cluster.get("chart-rbac") is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.get("chart-rbac") is None, operator.logs()[-3000:]
    while time.monotonic() < deadline:
        try:
            cluster.core.read_namespaced_secret("staging-db", cluster.namespace)
        except kubernetes.client.ApiException as exc:
            assert exc.status == 404
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the connection Secret outlived its restore")
