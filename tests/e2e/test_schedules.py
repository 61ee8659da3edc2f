"""AuroraRestoreSchedule end to end: the operator process creates a run on the minute, the
run restores on the AWS stand-in, and the schedule reports it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from aurora_restore_sandbox.aws import AwsSandbox
from support.cluster import GROUP, VERSION, Cluster, Operator, condition, cross_region

pytestmark = pytest.mark.e2e

SCHEDULES = "aurorarestoreschedules"


def get_schedule(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.custom.get_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, SCHEDULES, name
    )


def wait_schedule(cluster: Cluster, name: str, check: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    obj = get_schedule(cluster, name)
    while time.monotonic() < deadline:
        obj = get_schedule(cluster, name)
        if check(obj.get("status") or {}):
            return obj
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for schedule {name}: {obj.get('status')}")


def test_a_schedule_due_every_minute_produces_a_run_that_completes(
    aws: AwsSandbox, operator: Operator, cluster: Cluster
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AuroraRestoreSchedule",
        "metadata": {"name": "every-minute"},
        "spec": {"schedule": "* * * * *", "template": cross_region(instances=1)},
    }
    cluster.custom.create_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, SCHEDULES, body
    )
    # No status at all: the operator runs without the schedule handlers (the CLI must import
    # aurora_restore.k8s.schedules).
    schedule = wait_schedule(cluster, "every-minute", lambda s: "nextScheduleTime" in s, 30)
    assert condition(schedule, "Ready")["status"] == "True"

    # The first minute boundary after creation (up to 60 s away), plus the restore.
    schedule = wait_schedule(
        cluster, "every-minute", lambda s: s.get("lastResult") is not None, timeout=150
    )
    status = schedule["status"]
    assert status["lastResult"] == "Completed", (status, operator.logs()[-3000:])
    # No run after this one, which would find the target taken and fail.
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, SCHEDULES, "every-minute", {"spec": {"suspend": True}}
    )

    first = status["lastSuccessfulTime"]
    runs = cluster.custom.list_namespaced_custom_object(
        GROUP,
        VERSION,
        cluster.namespace,
        "aurorarestores",
        label_selector="dbrestore.io/schedule=every-minute",
    )["items"]
    [run] = [r for r in runs if r["metadata"]["annotations"]["dbrestore.io/scheduled-at"] == first]
    name = run["metadata"]["name"]
    assert name == "every-minute-" + first[:16].replace("-", "").replace("T", "").replace(":", "")
    assert run["status"]["phase"] == "Completed"
    [owner] = run["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == (
        "AuroraRestoreSchedule",
        "every-minute",
        True,
    )
    assert owner["uid"] == schedule["metadata"]["uid"]
    assert status["lastScheduleTime"] >= first
    assert aws.count("RestoreDBClusterFromSnapshot") >= 1

    reasons = [e.reason for e in cluster.events("every-minute")]
    assert "Created" in reasons, reasons
    schedule = wait_schedule(cluster, "every-minute", lambda s: "nextScheduleTime" not in s, 30)
    assert condition(schedule, "Suspended")["status"] == "True"

    # kube-controller-manager's garbage collector deletes the runs with their schedule (by
    # the owner reference above); the operator's finalizer lets each go.
    cluster.custom.delete_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, SCHEDULES, "every-minute"
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and cluster.get(name) is not None:
        time.sleep(0.2)
    assert cluster.get(name) is None, "the schedule's run outlived the schedule"
