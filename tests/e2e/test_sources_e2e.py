"""source.method Clone and PointInTime through the operator process and the Kubernetes API:
one RestoreDBClusterToPointInTime each, nothing copied, the database configured as after
a snapshot restore, status.source for kubectl users."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.postgres import PostgresSandbox
from support.cluster import APP_PW, MASTER_PW, SOURCE, Cluster, Operator, condition

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("method", ["Clone", "PointInTime"])
def test_clone_and_point_in_time_restores_complete(
    aws: AwsSandbox,
    postgres: PostgresSandbox | None,
    operator: Operator,
    cluster: Cluster,
    method: str,
) -> None:
    if postgres is None:
        pytest.skip(PostgresSandbox.install_hint())
    now = dt.datetime.now(dt.UTC)
    aws.set_restorable_window(SOURCE, "prod", now - dt.timedelta(days=1))
    postgres.set_master_password(MASTER_PW)
    cluster.secret("staging-master", {"password": MASTER_PW})
    cluster.secret("app-db", {"password": APP_PW})
    source = {"region": SOURCE, "method": method, "clusterIdentifier": "prod"}
    if method == "PointInTime":
        source["restoreTime"] = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    spec = {
        "source": source,
        "target": {"region": SOURCE, "clusterIdentifier": "staging", "instances": 1},
        "masterPassword": {"secretRef": {"name": "staging-master"}},
        "users": [{"name": "app", "passwordSecretRef": {"name": "app-db"}}],
        "connectionSecret": {"name": "staging-db"},
    }
    aws.reset_calls()
    cluster.apply_restore("staging-refresh", spec)
    obj = cluster.wait_phase("staging-refresh", "Completed", "Failed", timeout=90)
    status = obj["status"]
    assert status["phase"] == "Completed", (status.get("error"), operator.logs()[-3000:])
    assert condition(obj, "Ready")["status"] == "True"
    assert status["source"]["method"] == method
    assert status["source"]["restoreType"] == (
        "copy-on-write" if method == "Clone" else "full-copy"
    )
    if method == "PointInTime":
        assert status["source"]["restoreTime"] == source["restoreTime"]
    steps = {s["name"]: s for s in status["steps"]}
    assert steps["copy-snapshot"]["state"] == "Skipped"
    assert steps["copy-snapshot"]["message"].startswith("No snapshot to copy: ")
    assert aws.count("RestoreDBClusterToPointInTime") == 1
    assert aws.count("RestoreDBClusterFromSnapshot") == aws.count("CopyDBClusterSnapshot") == 0
    secret = cluster.core.read_namespaced_secret("staging-db", cluster.namespace)
    data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    assert data["host"] == status["cluster"]["endpoint"]
    cluster.wait_events("staging-refresh", "SourceClusterFound", "RestoreCompleted")
