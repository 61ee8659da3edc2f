"""Kubernetes API faults on the emulator, with the operator as its own process: status
patches answered 409 or 500 right after each mutating AWS call, watch streams dropped
every half second, and 500s on the watch itself. No phase is lost (the restore completes
with every step recorded and every phase event posted) and no step is repeated (each
mutating call is made as often as in an undisturbed run; see the note on ModifyDBCluster
and Publish in docs/reliability.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.kube import KubeSandbox
from support.cluster import (
    RUN_EVENTS,
    SOURCE,
    AwsWorld,
    Cluster,
    Operator,
    full_spec,
    wait_finished,
)

from ..helpers import BASELINE, MUTATING, assert_audit_complete

pytestmark = pytest.mark.e2e


NAME = "staging-refresh"
STATUS_PATH = f"/apis/dbrestore.io/v1alpha1/namespaces/databases/aurorarestores/{NAME}/status"
WATCH_PATH = "/apis/dbrestore.io/v1alpha1/aurorarestores"
# A run that replaces the managed cluster, then notifies.
PHASE_EVENTS = {*RUN_EVENTS, "DeletionStarted", "ClusterDeleted", "NotificationSent"}


def wait_completed(cluster: Cluster, operator: Operator) -> dict[str, Any]:
    obj = wait_finished(cluster, NAME)
    assert obj["status"]["phase"] == "Completed", (
        obj["status"].get("error"),
        operator.logs()[-3000:],
    )
    return obj


def check_nothing_lost(
    world: AwsWorld, cluster: Cluster, obj: dict[str, Any], events: set[str] = PHASE_EVENTS
) -> None:
    status = obj["status"]
    assert {s["state"] for s in status["steps"]} <= {"Succeeded", "Skipped"}
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    cluster.wait_events(NAME, *sorted(events))
    assert_audit_complete(world, status)
    assert world.state(status["operationId"])["status"] == "Completed"


@pytest.fixture
def failing_patches(aws: AwsSandbox, kube: KubeSandbox) -> Callable[[str, int], list[str]]:
    """Right after AWS answers ``operation`` (its first time), the operator's next status
    patch fails with ``code``: the status that recorded the call is lost."""
    armed: list[str] = []

    def arm(operation: str, code: int) -> list[str]:
        def after(*_: str) -> None:
            kube.inject_error(code, method="PATCH", path_prefix=STATUS_PATH, times=1)
            armed.append(f"{code} after {operation}")

        aws.on_call(operation, after=after, times=1)
        return armed

    return arm


def test_status_patch_conflicts_and_errors_after_each_mutating_call(
    aws: AwsSandbox,
    aws_world: AwsWorld,
    operator: Operator,
    cluster: Cluster,
    failing_patches: Callable[[str, int], list[str]],
) -> None:
    cluster.secret("staging-master", {"password": "new-master-pw"})
    armed: list[str] = []
    for n, op in enumerate(MUTATING):
        armed = failing_patches(op, 409 if n % 2 == 0 else 500)
    cluster.apply_restore(NAME, full_spec(aws_world))
    obj = wait_completed(cluster, operator)
    assert len(armed) == len(MUTATING), armed
    assert operator.logs().count("status patch failed") >= len(MUTATING) - 1
    check_nothing_lost(aws_world, cluster, obj)
    counts = {op: aws.count(op) for op in MUTATING}
    # The daemon retries the failed status write, not the tick, so even the two calls that
    # leave nothing at AWS to adopt (ModifyDBCluster, Publish) happen exactly once.
    assert counts == BASELINE
    messages = aws_world.sns_messages(expect=1)
    assert {(m["status"], m["operation_id"]) for m in messages} == {
        ("success", obj["status"]["operationId"])
    }


@pytest.fixture
def dropped_watches(kube: KubeSandbox) -> Iterator[list[int]]:
    """End every watch stream every half second (as a load balancer or an API server
    restart does), for as long as the test runs."""
    drops: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.5):
            drops.append(kube.call(lambda emulator: emulator.drop_watches()))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield drops
    stop.set()
    thread.join(5)


def test_dropped_watch_streams_and_failing_watches(
    aws: AwsSandbox,
    aws_world: AwsWorld,
    operator: Operator,
    cluster: Cluster,
    kube: KubeSandbox,
    dropped_watches: list[int],
) -> None:
    cluster.secret("staging-master", {"password": "new-master-pw"})
    # The next three watch (re)connections fail too.
    kube.inject_error(500, method="GET", path_prefix=WATCH_PATH, times=3)
    # A lighter restore than the full one (same region, one instance): the watches matter
    # here, not the steps.
    spec = full_spec(aws_world)
    spec.pop("copy")
    spec["target"] = {
        "region": SOURCE,
        "clusterIdentifier": "staging-light",
        "existingCluster": "Replace",
        "instances": 1,
    }
    cluster.apply_restore(NAME, spec)
    obj = wait_completed(cluster, operator)
    assert sum(dropped_watches) >= 3, dropped_watches
    light = PHASE_EVENTS - {"CopyStarted", "CopyCompleted", "DeletionStarted", "ClusterDeleted"}
    check_nothing_lost(aws_world, cluster, obj, light - {"SnapshotArchived"})
    once = {"RestoreDBClusterFromSnapshot": 1, "CreateDBInstance": 1, "ModifyDBCluster": 1}
    assert {op: aws.count(op) for op in MUTATING} == {
        **dict.fromkeys(MUTATING, 0),
        **once,
        "Publish": 1,
    }
    # A rerun asked for now still reaches the operator through the re-established watches,
    # and replaces the first run's cluster.
    cluster.patch(NAME, {"metadata": {"annotations": {"dbrestore.io/rerun": "again"}}})
    rerun = cluster.wait(
        NAME,
        lambda o: (
            len(o["status"].get("history", [])) == 1
            and o["status"]["phase"] in ("Completed", "Failed")
        ),
        timeout=90,
    )
    assert rerun["status"]["phase"] == "Completed", rerun["status"].get("error")
    assert aws.count("DeleteDBCluster") == 1 and aws.count("RestoreDBClusterFromSnapshot") == 2
