"""What a restore costs the Kubernetes API, and what a finished one costs at all.

A restore's status is written once per transition, on the event loop (k8s/status.py), and
the only patch of the object itself is kopf's finalizer (no last-handled-configuration
annotation). A finished restore holds no daemon, so it runs no tick however long it
waits, and a rerun annotation, a spec change or a deletion still reaches it."""

from __future__ import annotations

import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.kube import KubeSandbox
from support.cluster import TARGET, Cluster, Operator, cross_region

pytestmark = pytest.mark.e2e

# The e2e operator polls every 2 s (conftest): a quiet interval of more than two polls.
QUIET_SECONDS = 5.0


def metric(operator: Operator, name: str) -> float:
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    raise AssertionError(f"{name} not in /metrics")


def wait_metric(operator: Operator, name: str, value: float, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (seen := metric(operator, name)) != value:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is {seen}, not {value}")
        time.sleep(0.2)


def completed(cluster: Cluster, name: str, timeout: float = 60) -> dict[str, Any]:
    obj = cluster.wait_phase(name, "Completed", "Failed", timeout=timeout)
    assert obj["status"]["phase"] == "Completed", obj["status"].get("error")
    return obj


def test_a_restore_costs_one_object_patch_and_one_status_patch_per_transition(
    aws: AwsSandbox, operator: Operator, cluster: Cluster, kube: KubeSandbox
) -> None:
    aws.set_delays(1.0)
    kube.reset_api_calls()
    cluster.apply_restore("counted", cross_region())
    completed(cluster, "counted")
    cluster.wait_events("counted", "RestoreCompleted")
    calls = kube.api_calls()
    # kopf's finalizer, and nothing else on the object itself.
    assert calls[("patch", "aurorarestores")] == 1, calls
    # Each transition the run went through is one patch: the phases it passed (Pending
    # excluded), plus the copy's progress and each wait that said something new.
    status_patches = calls[("patch", "aurorarestores/status")]
    assert 1 <= status_patches <= 11, calls
    assert "Connection pool is full" not in operator.logs()


def test_finished_restores_hold_no_daemon_and_still_answer_rerun_spec_and_delete(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    names = [f"idle-{i}" for i in range(4)]
    for name in names:
        spec = cross_region(clusterIdentifier=name, existingCluster="Replace")
        spec["deletionPolicy"] = "Delete"
        cluster.apply_restore(name, spec)
    first = {name: completed(cluster, name)["status"] for name in names}
    wait_metric(operator, "aurora_restore_daemons", 0)
    ticks = metric(operator, "aurora_restore_ticks_total")
    aws.reset_calls()
    time.sleep(QUIET_SECONDS)
    # No daemon wakes for a finished restore: no tick, no AWS call.
    assert metric(operator, "aurora_restore_ticks_total") == ticks
    assert aws.calls() == []

    # The rerun annotation wakes one: a second run, with a new operation id.
    cluster.patch("idle-0", {"metadata": {"annotations": {"dbrestore.io/rerun": "again"}}})
    rerun = cluster.wait(
        "idle-0",
        lambda o: (o.get("status") or {}).get("rerunToken") == "again"
        and o["status"]["phase"] in ("Completed", "Failed"),
    )["status"]
    assert rerun["phase"] == "Completed", rerun.get("error")
    assert rerun["operationId"] != first["idle-0"]["operationId"]

    # A spec change wakes another: its new generation runs.
    cluster.patch("idle-1", {"spec": {"target": {"instanceClass": "db.r6g.xlarge"}}})
    changed = cluster.wait(
        "idle-1",
        lambda o: (o.get("status") or {}).get("observedGeneration") == 2
        and o["status"]["phase"] in ("Completed", "Failed"),
    )["status"]
    assert changed["phase"] == "Completed", changed.get("error")
    assert changed["operationId"] != first["idle-1"]["operationId"]

    # A deletion reaches a third: deletionPolicy Delete removes its cluster.
    cluster.delete("idle-2")
    deadline = time.monotonic() + 60
    while cluster.get("idle-2") is not None:
        assert time.monotonic() < deadline, "idle-2 was not deleted"
        time.sleep(0.2)
    rds = aws.client("rds", TARGET)
    left = {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]}
    assert "idle-2" not in left and {"idle-0", "idle-1", "idle-3"} <= left

    # And the woken ones rest again.
    wait_metric(operator, "aurora_restore_daemons", 0)


def test_the_kubernetes_client_pool_is_as_large_as_the_worker_pool(
    kube: KubeSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker thread may read a Secret at once: with urllib3's default of 4 pooled
    connections the others would open and drop their own ("Connection pool is full")."""
    from aurora_restore.cli import kube_api_client
    from aurora_restore.settings import Settings

    monkeypatch.setattr(kubernetes.config, "load_incluster_config", _not_in_cluster)
    monkeypatch.setenv("KUBECONFIG", str(kube.write_kubeconfig(tmp_path / "kubeconfig")))
    monkeypatch.setattr(
        kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", os.environ["KUBECONFIG"]
    )
    workers = Settings().workers
    api = kube_api_client(workers)
    assert api is not None
    try:
        assert api.configuration.connection_pool_maxsize == workers
        assert api.rest_client.pool_manager.connection_pool_kw["maxsize"] == workers
        kubernetes.client.CoreV1Api(api).list_namespace()
    finally:
        api.close()


def _not_in_cluster() -> None:
    raise kubernetes.config.ConfigException("not in a cluster")


@pytest.mark.parametrize(
    ("phase", "notification", "generation", "token", "wanted"),
    [
        ("CopyingSnapshot", "Pending", 1, None, True),
        ("Completed", "Succeeded", 1, None, False),
        ("Failed", "Skipped", 1, None, False),
        ("Completed", "Pending", 1, None, True),  # the notification is still to send
        ("Completed", "Succeeded", 2, None, True),  # a spec change
        ("Completed", "Succeeded", 1, "again", True),  # a rerun token
    ],
)
def test_a_daemon_is_wanted_exactly_when_the_driver_has_work(
    phase: str, notification: str, generation: int, token: str | None, wanted: bool
) -> None:
    """kopf asks ``daemon_wanted`` on every watch event; it must agree with the driver's
    own test for a new run and with the notification still pending."""
    import datetime as dt

    from aurora_restore.api.status import AuroraRestoreStatus
    from aurora_restore.driver import needs_new_run
    from aurora_restore.k8s.handlers import RERUN_ANNOTATION, daemon_wanted
    from aurora_restore.pipeline.engine import begin

    status = begin(None, None, "op-1", 1, dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    raw = status.to_dict()
    raw["phase"] = phase
    for step in raw["steps"]:
        if step["name"] == "sns-notification":
            step["state"] = notification
    meta = {"generation": generation, "annotations": {RERUN_ANNOTATION: token} if token else {}}
    parsed = AuroraRestoreStatus.model_validate(raw)
    driver_has_work = needs_new_run(parsed, generation, token) or (
        not parsed.phase.finished or parsed.step("sns-notification").state.value == "Pending"
    )
    assert daemon_wanted({"metadata": meta, "status": raw}) is wanted
    assert driver_has_work is wanted
    assert daemon_wanted({"metadata": meta}) is True  # not started yet
