"""AWS fault matrix: every fault kind at every step of a restore that makes every AWS call.

Faults come from botocore's before-send hook (the response carries the error, or the hook
raises the network error), armed only while the named step is the current one. The driver
uses one botocore attempt per call, so each fault reaches the pipeline: botocore's own
retries are covered by tests/pipeline/test_faults.py.

- Transient (throttling, 500, 503, connection reset, read timeout, InvalidDBClusterStateFault):
  one restore per kind, with the fault injected once at every point; it completes, each
  point is retried (a Retrying event and audit item), and each mutating call is made as
  often as in an undisturbed run.
- Permanent (AccessDenied, KMSKeyNotAccessibleFault, quota exceeded): the restore ends Failed
  with type AWSError, the step and the code, a Warning event, an audit item and an SNS
  failure message.
- Terminal AWS states (failed, incompatible-restore, inaccessible-encryption-credentials) of
  the source snapshot, the copy, the cluster and an instance: Failed likewise.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from aurora_restore.pipeline.table import RECOVERY, STEP_NAMES
from support.world import SOURCE, TARGET, World

from .helpers import (
    Inject,
    StepTracker,
    assert_audit_complete,
    baseline,
    counts,
    events_of,
    fast_driver,
    run_ticks,
)
from .helpers import prepare_full as _prepare_full

MASTER_SM_ID = "staging-master-secret"
# (step, service, operation): every AWS call of every step of the full restore.
POINTS: list[tuple[str, str, str]] = [
    ("snapshot-check", "rds", "DescribeDBClusterSnapshots"),
    ("copy-snapshot", "rds", "CopyDBClusterSnapshot"),
    ("check-copy-status", "rds", "DescribeDBClusterSnapshots"),
    ("delete-rds", "rds", "DescribeDBClusters"),
    ("delete-rds", "rds", "DescribeDBInstances"),
    ("delete-rds", "rds", "DeleteDBInstance"),
    ("delete-rds", "rds", "DeleteDBCluster"),
    ("check-delete-status", "rds", "DescribeDBClusters"),
    ("restore-snapshot", "rds", "RestoreDBClusterFromSnapshot"),
    ("check-restore-status", "rds", "DescribeDBClusters"),
    ("check-restore-status", "rds", "CreateDBInstance"),
    ("check-restore-status", "rds", "DescribeDBInstances"),
    ("setup-db-users", "secretsmanager", "GetSecretValue"),
    ("setup-db-users", "rds", "ModifyDBCluster"),
    ("archive-snapshot", "rds", "DeleteDBClusterSnapshot"),
    ("sns-notification", "sns", "Publish"),
]
TRANSIENT: dict[str, dict[str, Any]] = {
    "throttling": {"code": "Throttling", "status": 400},
    "http-500": {"code": "InternalFailure", "status": 500},
    "http-503": {"code": "ServiceUnavailable", "status": 503},
    "connection-reset": {"network": "reset"},
    "read-timeout": {"network": "timeout"},
    # Decided: transient (the object is busy); see docs/reliability.md.
    "invalid-cluster-state": {"code": "InvalidDBClusterStateFault", "status": 400},
}


def prepare(world: World) -> dict[str, Any]:
    """The full restore, with the master password in Secrets Manager (one more AWS call),
    and one instance (the two-instance case is the crash matrix's)."""
    spec = _prepare_full(world, instances=1)
    world.client("secretsmanager", TARGET).create_secret(
        Name=MASTER_SM_ID,
        SecretString=json.dumps({"password": "new-master-pw"}),
        Tags=[{"Key": "dbrestore.io/namespace", "Value": "databases"}],
    )
    spec["masterPassword"] = {"secretsManagerSecretId": MASTER_SM_ID}
    world.aws.reset_calls()
    return spec


def run(
    world: World,
    spec: dict[str, Any],
    between: Callable[[dict[str, Any]], None] = lambda status: None,
    **env: str,
) -> tuple[dict[str, Any], list[Any]]:
    return run_ticks(world, spec, lambda _, status: between(status), fast_driver(world, **env))


@pytest.fixture
def tracker(monkeypatch: pytest.MonkeyPatch) -> StepTracker:
    return StepTracker(monkeypatch)


class Faults:
    """One fault per point (once, or ``times``), each only while its step runs."""

    def __init__(
        self,
        world: World,
        tracker: StepTracker,
        points: list[tuple[str, str, str]],
        times: int | None = 1,
        **fault: Any,
    ) -> None:
        self.points = points
        self.injected = [
            Inject(world.session, svc, op, times=times, when=tracker.at(step), **fault)
            for step, svc, op in points
        ]

    def missed(self) -> list[tuple[str, str, str]]:
        return [p for p, i in zip(self.points, self.injected, strict=True) if not i.hits]

    def __enter__(self) -> Faults:
        return self

    def __exit__(self, *_: object) -> None:
        for inject in self.injected:
            inject.remove()


@pytest.mark.parametrize("kind", list(TRANSIENT))
def test_transient_fault_at_every_point_is_retried_and_completes(
    world: World, tracker: StepTracker, kind: str
) -> None:
    spec = prepare(world)
    # The client-side rate limit slows down (in real time) after each throttling answer: it
    # works, but sixteen throttles in a row would only make this test slow.
    env = {"AURORA_RESTORE_AWS_RATE_LIMIT": "0"} if kind == "throttling" else {}
    with Faults(world, tracker, POINTS, **TRANSIENT[kind]) as faults:
        status, ticks = run(world, spec, **env)
    assert status["phase"] == "Completed", status.get("error")
    assert faults.missed() == []
    assert counts(world) == baseline(1)
    retries = [e for e in events_of(ticks) if e[1] == "Retrying"]
    # Every point but the notification (retried quietly after the run ended) says so.
    assert len(retries) == len(POINTS) - 1, [r[2] for r in retries]
    audit = assert_audit_complete(world, status)
    retried = {a["step"] for a in audit if a["status"] == "Retrying"}
    assert retried == {p[0] for p in POINTS} - {"sns-notification"}
    notification = next(s for s in status["steps"] if s["name"] == "sns-notification")
    assert notification["state"] == "Succeeded" and notification["attempts"] == 2
    assert [m["status"] for m in world.sns_messages()] == ["success"]


def _reads(point: tuple[str, str, str]) -> bool:
    return point[2].startswith(("Describe", "Get"))


def _one_call_per_step(points: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Each step's first call that changes something, or its first read if it only reads."""
    chosen: dict[str, tuple[str, str, str]] = {}
    for point in points:
        step = point[0]
        if step not in chosen or (_reads(chosen[step]) and not _reads(point)):
            chosen[step] = point
    return list(chosen.values())


# One call of every step answers AccessDenied; KMS and quota faults where AWS raises them.
STEP_POINTS = _one_call_per_step(POINTS)
PERMANENT: list[tuple[str, str, str, str, int]] = [
    # (step, service, operation, code, http status)
    *[(step, svc, op, "AccessDenied", 403) for step, svc, op in STEP_POINTS],
    ("delete-rds", "rds", "DeleteDBCluster", "AccessDenied", 403),
    ("setup-db-users", "secretsmanager", "GetSecretValue", "AccessDeniedException", 400),
    ("copy-snapshot", "rds", "CopyDBClusterSnapshot", "KMSKeyNotAccessibleFault", 400),
    ("restore-snapshot", "rds", "RestoreDBClusterFromSnapshot", "KMSKeyNotAccessibleFault", 400),
    ("check-restore-status", "rds", "CreateDBInstance", "KMSKeyNotAccessibleFault", 400),
    ("setup-db-users", "secretsmanager", "GetSecretValue", "DecryptionFailure", 400),
    ("copy-snapshot", "rds", "CopyDBClusterSnapshot", "SnapshotQuotaExceeded", 400),
    ("restore-snapshot", "rds", "RestoreDBClusterFromSnapshot", "DBClusterQuotaExceededFault", 400),
    ("check-restore-status", "rds", "CreateDBInstance", "InstanceQuotaExceeded", 400),
]


@pytest.mark.parametrize(
    ("step", "service", "operation", "code", "http"),
    PERMANENT,
    ids=[f"{c}-{op}-{s}" for s, _, op, c, _ in PERMANENT],
)
def test_permanent_fault_fails_with_type_step_code_event_audit_and_sns(
    world: World,
    tracker: StepTracker,
    step: str,
    service: str,
    operation: str,
    code: str,
    http: int,
) -> None:
    spec = prepare(world)
    point = (step, service, operation)
    with Faults(world, tracker, [point], times=None, code=code, status=http) as faults:
        status, ticks = run(world, spec)
    assert faults.injected[0].hits == 1
    messages = world.sns_messages()
    if step == "sns-notification":
        # The restore itself succeeded; only its notification failed, and says so.
        assert status["phase"] == "Completed"
        notification = next(s for s in status["steps"] if s["name"] == "sns-notification")
        assert notification["state"] == "Failed" and code in notification["message"]
        assert any(e[0] == "Warning" and e[1] == "NotificationFailed" for e in events_of(ticks))
        audit = world.audit(status["operationId"])
        assert any(
            a["step"] == step and a["status"] == "Failed" and a["details"]["error_code"] == code
            for a in audit
        )
        assert messages == []
        return
    assert status["phase"] == "Failed"
    error = status["error"]
    assert (error["type"], error["step"], error["code"]) == ("AWSError", step, code)
    warnings = [e for e in events_of(ticks) if e[0] == "Warning"]
    assert [e[1] for e in warnings] == ["AWSError"], warnings
    audit = assert_audit_complete(world, status)
    failed = [a for a in audit if a["status"] == "Failed" and a["step"] != "restore"]
    assert [(a["step"], a["details"]["error_code"]) for a in failed] == [(step, code)]
    # The run-level item, as a completed run gets "restore Completed".
    run_level = [a for a in audit if a["step"] == "restore"]
    assert [a["status"] for a in run_level] == ["Started", "Failed"]
    assert run_level[1]["details"]["error_code"] == code
    assert [
        (m["status"], m["details"]["error_step"], m["details"]["error_code"]) for m in messages
    ] == [("failure", step, code)]
    assert messages[0]["operation_id"] == status["operationId"]
    # Nothing after the failing call was attempted but the failure clean-up of the copy;
    # the recovery steps ran after the failure and had nothing to undo (no swap).
    order = list(STEP_NAMES)
    recovery = {stage.step for stage in RECOVERY}
    for later in order[order.index(step) + 1 : -1]:
        state = next(s for s in status["steps"] if s["name"] == later)["state"]
        if later == "archive-snapshot" and status.get("copy"):
            assert state == "Succeeded" and "Clean-up after the failure" in status["message"]
            continue
        assert state == ("Skipped" if later in recovery else "Pending"), later


def test_invalid_state_fault_that_never_clears_gives_up(world: World) -> None:
    """Transient, but not forever: the retries are bounded (max_retries)."""
    spec = prepare(world)
    inject = Inject(
        world.session,
        "rds",
        "RestoreDBClusterFromSnapshot",
        "InvalidDBClusterStateFault",
        times=None,
    )
    try:
        status, ticks = run(world, spec)
    finally:
        inject.remove()
    assert status["phase"] == "Failed"
    assert status["error"]["code"] == "InvalidDBClusterStateFault"
    assert status["error"]["step"] == "restore-snapshot"
    assert "gave up after 8 retries" in status["error"]["message"]
    assert sum(1 for e in events_of(ticks) if e[1] == "Retrying") == 8
    assert world.aws.count("RestoreDBClusterFromSnapshot") == 0


TERMINAL_STATES = ["failed", "incompatible-restore", "inaccessible-encryption-credentials"]
# (what, step whose check sees it, sandbox kind, region, identifier, when to set it)
OBJECTS: list[tuple[str, str, str, str]] = [
    ("source-snapshot", "snapshot-check", "cluster-snapshot", SOURCE),
    ("copy", "check-copy-status", "cluster-snapshot", TARGET),
    ("cluster", "check-restore-status", "cluster", TARGET),
    ("instance", "check-restore-status", "instance", TARGET),
]


@pytest.mark.parametrize("state", TERMINAL_STATES)
@pytest.mark.parametrize(("what", "step", "kind", "region"), OBJECTS, ids=[o[0] for o in OBJECTS])
def test_aws_terminal_state_fails(
    world: World, state: str, what: str, step: str, kind: str, region: str
) -> None:
    spec = prepare(world)
    done: list[str] = []

    def between(status: dict[str, Any]) -> None:
        if done:
            return
        if what == "copy" and status.get("copy"):
            world.aws.set_status(region, kind, status["copy"]["identifier"], state)
        elif what == "cluster" and status.get("cluster"):
            world.aws.set_status(region, kind, status["cluster"]["identifier"], state)
        elif what == "instance" and any(
            i.get("status") not in (None, "pending")
            for i in (status.get("cluster") or {}).get("instances", [])
        ):
            world.aws.set_status(region, kind, "staging-1", state)
        else:
            return
        done.append(state)

    if what == "source-snapshot":
        world.aws.set_status(region, kind, "prod-manual-1", state)
        done.append(state)
    status, ticks = run(world, spec, between=between)
    assert done, "the object never appeared"
    assert status["phase"] == "Failed", status
    error = status["error"]
    assert (error["type"], error["step"], error["code"]) == ("AWSError", step, state)
    assert state in error["message"]
    assert any(e[0] == "Warning" and e[1] == "AWSError" for e in events_of(ticks))
    audit = assert_audit_complete(world, status)
    assert any(a["step"] == step and a["status"] == "Failed" for a in audit)
    [message] = world.sns_messages()
    assert (message["status"], message["details"]["error_code"]) == ("failure", state)


def test_records_are_best_effort(world: World) -> None:
    """A DynamoDB outage does not stop the restore; each lost record is a Warning event."""
    spec = prepare(world)
    # The signing key is made at startup (cli.check_startup), before any outage.
    world.driver().leases.signing_key()
    inject = Inject(
        world.session,
        "dynamodb",
        "BatchWriteItem",
        "ProvisionedThroughputExceededException",
        times=3,
    )
    try:
        status, ticks = run(world, spec)
    finally:
        inject.remove()
    assert status["phase"] == "Completed"
    assert counts(world) == baseline(1)
    assert sum(1 for e in events_of(ticks) if e[1] == "RecordsFailed") >= 1


def test_a_throttled_table_slows_the_records_writer_not_the_restore(world: World) -> None:
    """Every BatchWriteItem is throttled for a while: the records writer (a thread of its
    own, as in the operator) backs off and retries; the ticks never wait for it, no record
    is lost and none is reported lost."""
    spec = prepare(world)
    driver = fast_driver(world)
    backoff: list[float] = []
    sleepers: set[str] = set()

    def sleep(seconds: float) -> None:
        backoff.append(seconds)
        sleepers.add(threading.current_thread().name)
        time.sleep(seconds)

    driver.writer.sleep = sleep
    driver.writer.start()
    inject = Inject(
        world.session,
        "dynamodb",
        "BatchWriteItem",
        "ProvisionedThroughputExceededException",
        times=6,
    )
    held: list[float] = []

    def timed(resource: Any, kube: Any) -> Any:
        started = time.perf_counter()
        try:
            return tick(resource, kube)
        finally:
            held.append(time.perf_counter() - started)

    tick, driver.tick = driver.tick, timed  # type: ignore[method-assign]
    try:
        started = time.monotonic()
        status, ticks = run_ticks(world, spec, lambda *_: None, driver)
        restore_seconds = time.monotonic() - started
    finally:
        driver.writer.stop()
        inject.remove()
    assert status["phase"] == "Completed"
    assert counts(world) == baseline(1)
    assert inject.hits == 6
    # The writer spent longer backing off than the whole restore took.
    assert sum(backoff) > restore_seconds, (backoff, restore_seconds)
    # Every backoff was slept in the writer's thread, none in a tick.
    assert sleepers == {"aurora-restore-records"}, sleepers
    assert len(held) == len(ticks)
    assert not [e for e in events_of(ticks) if e[1] == "RecordsFailed"]
    assert_audit_complete(world, status)
