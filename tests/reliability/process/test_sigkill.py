"""Crash matrix, operator process: SIGKILL just before or just after mutating AWS calls.

The AWS stand-in calls a hook in its server thread when the call arrives: ``before`` kills
the operator and drops the request (AWS never sees it), ``after`` kills it once AWS has done
the work but before the answer reaches the operator. The test restarts the operator each
time; the restore completes, each mutating call is made exactly as often as in an
undisturbed run, and the audit trail has no gap. The full matrix (every call, before and
after, and every tick) runs at driver level in ../test_crash_matrix.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from aurora_restore_sandbox.aws import AwsSandbox, DropRequest
from support.cluster import (
    AwsWorld,
    Cluster,
    Operator,
    finished,
    full_spec,
    wait_finished,
)

from ..helpers import BASELINE, MUTATING, assert_audit_complete

pytestmark = pytest.mark.e2e


# Representative points: each kind of create and delete, before and after.
KILLS = [
    ("after", "CopyDBClusterSnapshot"),
    ("before", "DeleteDBInstance"),
    ("after", "DeleteDBCluster"),
    ("after", "RestoreDBClusterFromSnapshot"),
    ("before", "CreateDBInstance"),
    ("after", "DeleteDBClusterSnapshot"),
]


def killer(operator: Operator, killed: list[str], when: str, op: str) -> Callable[..., None]:
    def hook(*_: str) -> None:
        operator.kill()
        killed.append(f"{when} {op}")
        if when == "before":
            raise DropRequest

    return hook


def test_sigkill_around_mutating_calls_resumes_without_repeating_them(
    aws: AwsSandbox, aws_world: AwsWorld, operator: Operator, cluster: Cluster
) -> None:
    cluster.secret("staging-master", {"password": "new-master-pw"})
    killed: list[str] = []
    for when, op in KILLS:
        aws.on_call(op, **{when: killer(operator, killed, when, op)}, times=1)
    cluster.apply_restore("staging-refresh", full_spec(aws_world))
    # The operator is started again whenever it exited: the pod restarts.
    obj = wait_finished(cluster, "staging-refresh", timeout=150, operator=operator)
    status = obj["status"]
    assert status["phase"] == "Completed", (status.get("error"), operator.logs()[-2000:])
    assert killed == [f"{w} {o}" for w, o in KILLS]
    assert operator.starts == 1 + len(KILLS)
    assert {op: aws.count(op) for op in MUTATING} == BASELINE
    assert_audit_complete(aws_world, status)
    messages = aws_world.sns_messages()
    assert [(m["status"], m["operation_id"]) for m in messages] == [
        ("success", status["operationId"])
    ]


def test_sigkill_around_record_writes_loses_no_audit_item(
    aws: AwsSandbox, aws_world: AwsWorld, operator: Operator, cluster: Cluster
) -> None:
    """The records writer's own calls are kill points too: the operator dies as a
    BatchWriteItem arrives (its records never written) or once DynamoDB wrote it (before
    the state item that confirms it). After each restart the trail is whole again."""
    cluster.secret("staging-master", {"password": "new-master-pw"})
    seen: list[int] = []
    killed: list[str] = []
    # The first, third and fifth batch: before, after, before.
    points = {1: "before", 3: "after", 5: "before"}

    def hook(when: str) -> Callable[..., None]:
        def kill(*_: str) -> None:
            if when == "before":
                seen.append(len(seen) + 1)
            if points.get(len(seen)) != when or f"{when} {len(seen)}" in killed:
                return
            operator.kill()
            killed.append(f"{when} {len(seen)}")
            if when == "before":
                raise DropRequest

        return kill

    aws.on_call("BatchWriteItem", before=hook("before"), after=hook("after"), times=None)
    cluster.apply_restore("staging-refresh", full_spec(aws_world))
    deadline = time.monotonic() + 150
    obj = None
    while time.monotonic() < deadline:
        assert operator.proc is not None
        if operator.proc.poll() is not None:
            operator.start()
        obj = finished(cluster, "staging-refresh")
        if obj is not None and len(killed) == len(points):
            break
        time.sleep(0.1)
    assert obj is not None
    status = obj["status"]
    assert status["phase"] == "Completed", (status.get("error"), operator.logs()[-2000:])
    assert killed == ["before 1", "after 3", "before 5"], killed
    assert {op: aws.count(op) for op in MUTATING} == BASELINE
    # The last restart has reconciled once the state item says Completed.
    deadline = time.monotonic() + 30
    while _state_of(aws_world, status["operationId"]) != "Completed":
        assert time.monotonic() < deadline, _state_of(aws_world, status["operationId"])
        time.sleep(0.2)
    assert_audit_complete(aws_world, status)


def _state_of(world: AwsWorld, operation_id: str) -> str | None:
    try:
        return str(world.state(operation_id).get("status"))
    except KeyError:  # no state item yet
        return None
