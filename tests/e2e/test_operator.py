"""The operator process end to end, over HTTP, through the Kubernetes API only."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from aurora_restore_sandbox.aws import RDS_CLUSTER, RDS_CLUSTER_SNAPSHOT, RDS_INSTANCE, AwsSandbox
from aurora_restore_sandbox.kube import KubeSandbox
from aurora_restore_sandbox.postgres import PostgresSandbox
from control_plane_support import TOOLS
from support.aws import create_cluster
from support.cluster import (
    RUN_EVENTS,
    SOURCE,
    TARGET,
    Cluster,
    Operator,
    condition,
    cross_region,
    database_restore,
)
from support.world import PHASE_ORDER

pytestmark = pytest.mark.e2e


def test_restore_completes_with_every_phase_in_order(
    aws: AwsSandbox, postgres: PostgresSandbox | None, operator: Operator, cluster: Cluster
) -> None:
    spec = database_restore(postgres, cluster)
    # Phases long enough to be seen from outside.
    aws.set_delays(1.5)
    cluster.apply_restore("staging-refresh", spec)
    seen: list[str] = []
    obj = cluster.wait_phase("staging-refresh", "Completed", "Failed", timeout=90, seen=seen)
    status = obj["status"]
    assert status["phase"] == "Completed", (status.get("error"), operator.logs()[-3000:])
    assert [p for p in PHASE_ORDER if p in seen] == seen[seen.index("CheckingSnapshot") :]
    assert {
        "CheckingSnapshot",
        "CopyingSnapshot",
        "RestoringCluster",
        "CreatingInstances",
        "Completed",
    } <= set(seen)
    assert condition(obj, "Ready")["status"] == "True"
    assert condition(obj, "Ready")["observedGeneration"] == obj["metadata"]["generation"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert status["cluster"]["endpoint"].startswith("staging.cluster-")
    assert status["operationId"].startswith("op-")
    assert obj["metadata"]["finalizers"] == ["dbrestore.io/finalizer"]

    secret = cluster.core.read_namespaced_secret("staging-db", cluster.namespace)
    data = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
    assert set(data) == {"host", "port", "username", "password", "dbname", "uri"}
    assert data["host"] == status["cluster"]["endpoint"]
    assert secret.metadata.owner_references[0].name == "staging-refresh"

    # kopf posts events in the background: the last may land just after the phase.
    cluster.wait_events("staging-refresh", *RUN_EVENTS)
    assert aws.count("CopyDBClusterSnapshot") == 1
    assert aws.count("RestoreDBClusterFromSnapshot") == 1

    metrics = (
        urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    assert (
        'aurora_restore_restores_total{error_type="",namespace="databases",result="Completed",'
        'schedule=""} 1.0' in metrics
    )
    assert 'aurora_restore_aws_calls_total{operation="CopyDBClusterSnapshot"' in metrics
    health = urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/healthz", timeout=5)
    assert health.status == 200
    # No secret reaches the status, the events or the operator's own (debug) logs.
    everything = str(obj) + str([e.message for e in cluster.events("staging-refresh")])
    assert "S3ntinel" not in everything + operator.logs()


def test_invalid_spec_is_refused_by_the_api_server(cluster: Cluster) -> None:
    with pytest.raises(kubernetes.client.ApiException) as info:
        cluster.apply_restore("bad", cross_region(clusterIdentifier="Bad--Name"))
    assert info.value.status == 422
    assert "spec.target.clusterIdentifier" in str(info.value.body)


# On the emulator: a real API server refuses this spec at admission (the test above); the
# operator's own check is for what slips past an outdated CRD.
def test_invalid_spec_fails_without_any_aws_call(
    aws: AwsSandbox, operator: Operator, cluster: Cluster, kube: KubeSandbox
) -> None:
    spec = cross_region(clusterIdentifier="Bad--Name")
    cluster.apply_restore("bad", spec)
    obj = cluster.wait_phase("bad", "Failed")
    assert obj["status"]["error"]["type"] == "ValidationError"
    assert "spec.target.clusterIdentifier" in obj["status"]["error"]["message"]
    assert condition(obj, "Failed")["status"] == "True"
    assert condition(obj, "Ready")["status"] == "False"
    cluster.wait_events("bad", "ValidationError")
    assert any(e.type == "Warning" and e.reason == "ValidationError" for e in cluster.events("bad"))
    assert [c for c in aws.calls("rds")] == []
    # Prometheus counts it, as CloudWatch's RestoreFailed does.
    metrics = (
        urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    failed = [
        line
        for line in metrics.splitlines()
        if line.startswith("aurora_restore_restores_total{") and 'result="Failed"' in line
    ]
    assert failed and float(failed[0].rsplit(" ", 1)[1]) >= 1, metrics


def test_restore_waits_for_a_late_secret_without_touching_aws(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    spec = cross_region()
    spec["masterPassword"] = {"secretRef": {"name": "late-master"}}
    cluster.apply_restore("late", spec)

    def waiting(obj: dict[str, Any]) -> bool:
        cond = {c["type"]: c for c in (obj.get("status") or {}).get("conditions", [])}
        return cond.get("Progressing", {}).get("reason") == "WaitingForSecret"

    obj = cluster.wait("late", waiting, timeout=30)
    assert obj["status"]["phase"] == "CheckingSnapshot"
    progressing = condition(obj, "Progressing")
    assert progressing["status"] == "True" and "late-master" in progressing["message"]
    time.sleep(3)
    assert aws.count("CopyDBClusterSnapshot") == 0 and aws.count("ModifyDBCluster") == 0
    cluster.secret("late-master", {"password": "late-S3ntinel-pw"})
    obj = cluster.wait_phase("late", "Completed", "Failed", timeout=90)
    assert obj["status"]["phase"] == "Completed", obj["status"].get("error")
    assert aws.count("CopyDBClusterSnapshot") == 1


def test_unmanaged_target_is_not_replaced(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    rds = aws.client("rds", TARGET)
    create_cluster(rds, "staging", "someone-elses-pw")
    cluster.apply_restore("replace", cross_region(existingCluster="Replace"))
    obj = cluster.wait_phase("replace", "Failed", timeout=60)
    assert obj["status"]["error"]["type"] == "SafetyViolation"
    assert obj["status"]["error"]["code"] == "UnmanagedCluster"
    assert aws.count("DeleteDBCluster") == 0 and aws.count("DeleteDBInstance") == 0
    assert (
        rds.describe_db_clusters(DBClusterIdentifier="staging")["DBClusters"][0]["Status"]
        == "available"
    )


def test_killed_mid_copy_resumes_with_one_copy_call(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    aws.set_delay(RDS_CLUSTER_SNAPSHOT, 6)
    cluster.apply_restore("crash", cross_region())
    cluster.wait(
        "crash",
        lambda o: any(
            s["name"] == "copy-snapshot" and s["state"] == "Succeeded"
            for s in (o.get("status") or {}).get("steps", [])
        ),
    )
    operator.kill()
    time.sleep(1)
    operator.start()
    obj = cluster.wait_phase("crash", "Completed", "Failed", timeout=90)
    assert obj["status"]["phase"] == "Completed", obj["status"].get("error")
    assert aws.count("CopyDBClusterSnapshot") == 1
    assert aws.count("RestoreDBClusterFromSnapshot") == 1
    assert operator.starts == 2


def test_delete_with_deletion_policy_delete_removes_the_cluster(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    spec = cross_region(instances=2)
    spec["deletionPolicy"] = "Delete"
    spec["archive"] = {"policy": "Retain"}
    cluster.apply_restore("temp", spec)
    obj = cluster.wait_phase("temp", "Completed", "Failed", timeout=60)
    assert obj["status"]["phase"] == "Completed", obj["status"].get("error")
    cluster.delete("temp")
    deadline = time.monotonic() + 60
    while cluster.get("temp") is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.get("temp") is None, operator.logs()[-3000:]
    rds = aws.client("rds", TARGET)
    assert (
        rds.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": ["staging"]}])[
            "DBClusters"
        ]
        == []
    )
    assert aws.count("DeleteDBInstance") == 2 and aws.count("DeleteDBCluster") == 1
    snaps = rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    assert not [s for s in snaps if s["DBClusterSnapshotIdentifier"].startswith("staging-op-")]
    # The end is announced, and the normal waits for the deletes are no errors.
    cluster.wait_events("temp", "CleanupCompleted")
    logs = operator.logs()
    assert "failed temporarily" not in logs, logs[-3000:]
    # Written before the finalizer goes, unless the writer thread was busy (then a moment
    # later): records are asynchronous by design.
    deadline = time.monotonic() + 15
    while True:
        items = aws.client("dynamodb", SOURCE).query(
            TableName="aurora-restore-audit",
            KeyConditionExpression="operation_id = :o",
            ExpressionAttributeValues={":o": {"S": obj["status"]["operationId"]}},
        )["Items"]
        done = [i for i in items if i["step"]["S"] == "cleanup"]
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [i["status"]["S"] for i in done] == ["Completed"]


def test_spec_change_after_completion_starts_a_second_run(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    cluster.apply_restore("rerun", cross_region())
    first = cluster.wait_phase("rerun", "Completed", "Failed", timeout=60)["status"]
    assert first["phase"] == "Completed"
    cluster.patch("rerun", {"spec": {"target": {"clusterIdentifier": "staging-two"}}})
    obj = cluster.wait(
        "rerun",
        lambda o: (
            o["status"].get("operationId") != first["operationId"]
            and o["status"]["phase"] in ("Completed", "Failed")
        ),
        timeout=60,
    )
    assert obj["status"]["phase"] == "Completed", obj["status"].get("error")
    assert obj["status"]["cluster"]["identifier"] == "staging-two"
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] == 2
    assert [h["operationId"] for h in obj["status"]["history"]] == [first["operationId"]]
    # The rerun annotation runs it again without a spec change.
    cluster.patch("rerun", {"spec": {"target": {"existingCluster": "Replace"}}})
    cluster.wait(
        "rerun",
        lambda o: len(o["status"].get("history", [])) == 2 and o["status"]["phase"] == "Completed",
        timeout=60,
    )
    cluster.patch("rerun", {"metadata": {"annotations": {"dbrestore.io/rerun": "again"}}})
    obj = cluster.wait(
        "rerun",
        lambda o: (
            len(o["status"].get("history", [])) == 3
            and o["status"]["phase"] in ("Completed", "Failed")
        ),
        timeout=60,
    )
    assert obj["status"]["phase"] == "Completed", obj["status"].get("error")
    # Runs 3 and 4 each replaced the cluster run 2 restored.
    assert aws.count("DeleteDBCluster") == 2


def test_fifty_restores_at_once_all_complete(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    for model in (RDS_CLUSTER, RDS_CLUSTER_SNAPSHOT, RDS_INSTANCE):
        aws.set_delay(model, 1)
    names = [f"bulk-{i:02d}" for i in range(50)]
    for name in names:
        cluster.apply_restore(name, cross_region(clusterIdentifier=f"staging-{name}"))
    deadline = time.monotonic() + 240
    done: dict[str, str] = {}
    while len(done) < len(names) and time.monotonic() < deadline:
        for item in cluster.custom.list_namespaced_custom_object(
            "dbrestore.io", "v1alpha1", cluster.namespace, "aurorarestores"
        )["items"]:
            phase = (item.get("status") or {}).get("phase")
            if phase in ("Completed", "Failed"):
                done[item["metadata"]["name"]] = phase
        time.sleep(0.5)
    assert len(done) == 50, f"{len(done)} of 50 finished"
    assert set(done.values()) == {"Completed"}
    assert aws.count("CopyDBClusterSnapshot") == 50


def test_kubectl_wait_for_condition_ready(
    aws: AwsSandbox, operator: Operator, cluster: Cluster, kubeconfig: Path
) -> None:
    kubectl = TOOLS / "kubectl"
    if not kubectl.exists():
        pytest.skip("kubectl is not installed in .tools/bin (make setup)")
    manifest = Path(operator.log_path.parent / "restore.yaml")
    manifest.write_text(
        "apiVersion: dbrestore.io/v1alpha1\nkind: AuroraRestore\n"
        "metadata: {name: waited, namespace: databases}\n"
        "spec:\n  source: {region: us-east-1, snapshotIdentifier: prod-manual-1}\n"
        "  target: {region: us-east-1, clusterIdentifier: staging}\n"
    )
    env = {
        "KUBECONFIG": str(kubeconfig),
        "PATH": "/usr/bin:/bin",
        "HOME": str(operator.log_path.parent),
    }
    subprocess.run(
        [str(kubectl), "apply", "-f", str(manifest)], env=env, check=True, capture_output=True
    )
    waited = subprocess.run(
        [
            str(kubectl),
            "-n",
            "databases",
            "wait",
            "--for=condition=Ready",
            "aurorarestore/waited",
            "--timeout=60s",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert waited.returncode == 0, waited.stderr
    got = subprocess.run(
        [str(kubectl), "-n", "databases", "get", "ar"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "waited" in got and "Completed" in got
    assert SOURCE in got


# On the emulator: the test counts the operator's requests, which only the emulator records.
def test_idle_restores_cost_no_status_patches_and_logs_are_structured(
    aws: AwsSandbox, operator: Operator, cluster: Cluster, kube: KubeSandbox
) -> None:
    cluster.apply_restore("idle", cross_region())
    cluster.wait_phase("idle", "Completed", timeout=60)
    time.sleep(1)  # the notification step ends the run
    kube.reset_api_calls()
    aws.reset_calls()
    time.sleep(5)  # more than two poll intervals
    patches = {k: v for k, v in kube.api_calls().items() if k[0] == "patch"}
    assert patches == {}, patches
    assert aws.calls() == []

    lines = [json.loads(line) for line in operator.logs().splitlines() if line.startswith("{")]
    about = [entry for entry in lines if entry.get("resource") == "databases/idle"]
    assert about and all(
        entry["operation_id"].startswith("op-") for entry in about if "operation_id" in entry
    )
    assert any(entry.get("operation_id") for entry in about)


def test_abandon_annotation_lets_a_resource_go_without_cleanup(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    spec = cross_region()
    spec["deletionPolicy"] = "Delete"
    cluster.apply_restore("abandoned", spec)
    cluster.wait_phase("abandoned", "Completed", timeout=60)
    cluster.patch(
        "abandoned", {"metadata": {"annotations": {"dbrestore.io/abandon-cleanup": "true"}}}
    )
    cluster.delete("abandoned")
    deadline = time.monotonic() + 30
    while cluster.get("abandoned") is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.get("abandoned") is None
    assert aws.count("DeleteDBCluster") == 0
    assert aws.client("rds", TARGET).describe_db_clusters(DBClusterIdentifier="staging")[
        "DBClusters"
    ]
