"""Every operation leaves its records (DynamoDB state and audit, SNS, CloudWatch), and no
secret value reaches any of them, nor the status, the events or the logs."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import pytest

from aurora_restore.driver import Driver, Resource
from aurora_restore.logs import setup
from aurora_restore_sandbox.postgres import PostgresSandbox
from support.world import (
    APP,
    MASTER,
    REPORTING,
    SOURCE,
    TARGET,
    World,
    cross_region_spec,
    db_spec,
    same_region_spec,
)


def test_audit_state_sns_and_metrics_of_a_completed_restore(world: World) -> None:
    spec = cross_region_spec()
    spec["notification"] = {"snsTopicArn": world.topic_arn}
    status, _ = world.run(spec)
    assert status["phase"] == "Completed"
    op = status["operationId"]

    audit = world.audit(op)
    finished = [(a["step"], a["status"]) for a in audit if a["step"] != "restore"]
    assert finished == [
        ("snapshot-check", "Started"),
        ("snapshot-check", "Succeeded"),
        ("copy-snapshot", "Started"),
        ("copy-snapshot", "Succeeded"),
        ("check-copy-status", "Started"),
        ("check-copy-status", "Succeeded"),
        ("delete-rds", "Started"),
        ("delete-rds", "Skipped"),
        ("check-delete-status", "Started"),
        ("check-delete-status", "Skipped"),
        ("restore-snapshot", "Started"),
        ("restore-snapshot", "Succeeded"),
        ("check-restore-status", "Started"),
        # Succeeded once, when the cluster is available; the instances by their own reason.
        ("check-restore-status", "Succeeded"),
        ("check-restore-status", "InstancesAvailable"),
        ("setup-db-users", "Started"),
        ("setup-db-users", "Skipped"),
        # existingCluster: Fail, so no swap: its two stages and the deletion are skipped.
        ("swap-clusters", "Started"),
        ("swap-clusters", "Skipped"),
        ("swap-clusters", "Skipped"),
        ("delete-retired-cluster", "Started"),
        ("delete-retired-cluster", "Skipped"),
        ("archive-snapshot", "Started"),
        ("archive-snapshot", "Succeeded"),
        ("undo-swap", "Started"),
        ("undo-swap", "Skipped"),
        ("sns-notification", "Succeeded"),
    ]
    assert [a["status"] for a in audit if a["step"] == "restore"] == ["Started", "Completed"]
    assert all(a["details"]["resource"] == "databases/staging-refresh" for a in audit)
    assert [a["timestamp"] for a in audit] == sorted(a["timestamp"] for a in audit)
    # The sort key is a plain ISO 8601 UTC timestamp with microseconds, unique per operation.
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
    assert all(stamp.match(a["timestamp"]) for a in audit), audit[0]["timestamp"]
    assert len({a["timestamp"] for a in audit}) == len(audit)
    instances = next(a for a in audit if a["status"] == "InstancesAvailable")
    assert instances["details"]["message"] == "Instances available: staging-1"
    cluster_ok = next(
        a for a in audit if a["step"] == "check-restore-status" and a["status"] == "Succeeded"
    )
    assert cluster_ok["details"]["message"] == "Cluster restore completed"

    state = world.client("dynamodb").get_item(
        TableName="aurora-restore-state", Key={"operation_id": {"S": op}}
    )["Item"]
    assert state["status"]["S"] == "Completed"
    assert stamp.match(state["timestamp"]["S"]), state["timestamp"]["S"]
    assert state["state"]["M"]["phase"]["S"] == "Completed"

    [message] = world.sns_messages()
    assert set(message) == {"operation_id", "status", "message", "details", "timestamp"}
    assert message["operation_id"] == op and message["status"] == "success"
    assert message["details"]["cluster_identifier"] == "staging"
    assert message["details"]["target_region"] == TARGET

    names = {
        m["MetricName"]
        for m in world.client("cloudwatch").list_metrics(Namespace="AuroraRestore")["Metrics"]
    }
    assert {"RestoreStarted", "RestoreSucceeded", "RestoreDuration", "StepDuration"} <= names


def test_failure_notification_uses_the_operator_default_topic(world: World) -> None:
    spec = same_region_spec()
    spec["source"].update(snapshotIdentifier="nope", waitTimeout="1m")
    status, _ = world.run(spec, driver=world.driver(AURORA_RESTORE_SNS_TOPIC_ARN=world.topic_arn))
    assert status["phase"] == "Failed"
    [message] = world.sns_messages()
    assert message["status"] == "failure"
    assert message["details"]["error_type"] == "SnapshotNotFound"
    assert message["details"]["error_step"] == "snapshot-check"


def test_failed_run_writes_a_run_level_failed_item(world: World) -> None:
    spec = same_region_spec()
    spec["source"].update(snapshotIdentifier="nope", waitTimeout="1m")
    status, _ = world.run(spec)
    assert status["phase"] == "Failed"
    audit = world.audit(status["operationId"])
    run_level = [a for a in audit if a["step"] == "restore"]
    assert [a["status"] for a in run_level] == ["Started", "Failed"]
    assert run_level[1]["details"]["error_type"] == "SnapshotNotFound"


def test_audit_sort_keys_are_unique_when_written_in_the_same_microsecond(world: World) -> None:
    from aurora_restore.pipeline.engine import AuditEntry

    records = world.driver().records
    entries = [AuditEntry("restore", "Started", {}) for _ in range(3)]
    records.audit("op-same", entries, "ns/x", world.clock.now)
    # Another process (a fresh Records) writing at the same moment bumps, never overwrites.
    world.driver().records.audit("op-same", entries[:1], "ns/x", world.clock.now)
    stamps = sorted(a["timestamp"] for a in world.audit("op-same"))
    assert stamps == [
        "2026-11-27T03:00:00.000000Z",
        "2026-11-27T03:00:00.000001Z",
        "2026-11-27T03:00:00.000002Z",
        "2026-11-27T03:00:00.000003Z",
    ]


def test_notification_events_filter(world: World) -> None:
    spec = same_region_spec()
    spec["notification"] = {"snsTopicArn": world.topic_arn, "events": ["Failed"]}
    status, _ = world.run(spec)
    assert status["phase"] == "Completed"
    assert world.sns_messages() == []
    step = next(s for s in status["steps"] if s["name"] == "sns-notification")
    assert step["state"] == "Skipped"


@pytest.mark.parametrize("master_ok", [True, False], ids=["completed", "failed"])
def test_no_secret_reaches_any_record(
    world: World, postgres: PostgresSandbox, caplog: pytest.LogCaptureFixture, master_ok: bool
) -> None:
    postgres.set_master_password(MASTER)
    world.env.update(
        AURORA_RESTORE_DB_ENDPOINT_OVERRIDE=f"{postgres.host}:{postgres.port}",
        AURORA_RESTORE_DB_SSLMODE="disable",
    )
    sm = world.client("secretsmanager", SOURCE)
    sm.create_secret(
        Name="reporting",
        SecretString=json.dumps({"username": "reporting", "password": REPORTING}),
        Tags=[{"Key": "dbrestore.io/namespace", "Value": "databases"}],
    )
    world.kube.secrets.update(
        {
            "staging-master": {"password": MASTER if master_ok else MASTER + "-wrong"},
            "app-db": {"password": APP},
        }
    )
    world.kube.config_maps["mask-pii"] = {"mask.sql": "SELECT 1;"}
    spec = db_spec()
    spec["users"][1] = {
        "name": "reporting",
        "passwordSecretsManagerSecretId": "reporting",
        "privileges": "readonly",
    }
    spec["notification"] = {"snsTopicArn": world.topic_arn}
    # The operator's own logging setup, at its most verbose.
    setup("DEBUG", "json")
    caplog.set_level(logging.DEBUG)
    status, ticks = world.run(spec)
    assert status["phase"] == ("Completed" if master_ok else "Failed"), status.get("error")

    state = world.client("dynamodb").get_item(
        TableName="aurora-restore-state", Key={"operation_id": {"S": status["operationId"]}}
    )["Item"]
    everything = "\n".join(
        [
            json.dumps(status),
            json.dumps([[e.__dict__ for e in t.events] for t in ticks]),
            json.dumps(world.audit(status["operationId"]), default=str),
            json.dumps(state),
            json.dumps(world.sns_messages()),
            caplog.text,
        ]
    )
    for sentinel in ("S3ntinel",):
        assert sentinel not in everything
    assert "reporting" in everything  # the check looks at real content


# --- records off the tick path, in batches ----------------------------------------------

RECORD_WRITES = ("BatchWriteItem", "PutItem", "PutMetricData")


def run_many(world: World, driver: Driver, n: int) -> tuple[list[dict[str, Any]], list[float]]:
    """``n`` restores ticked in turn, as the operator's daemons do; (statuses, tick times)."""
    specs = [cross_region_spec(clusterIdentifier=f"staging-{i}") for i in range(n)]
    statuses: list[dict[str, Any] | None] = [None] * n
    done = [False] * n
    held: list[float] = []
    for _ in range(200):
        waits = []
        for i in range(n):
            if done[i]:
                continue
            resource = Resource(f"r{i}", "databases", f"uid-{i}", 1, specs[i], statuses[i])
            started = time.perf_counter()
            tick = driver.tick(resource, world.kube)
            held.append(time.perf_counter() - started)
            statuses[i] = tick.status.to_dict()
            if tick.requeue_after is None:
                done[i] = True
            else:
                waits.append(tick.requeue_after)
        if all(done):
            return [s for s in statuses if s is not None], held
        world.clock.advance(max(min(waits), 1.0))
    raise AssertionError(f"not finished: {[s and s['phase'] for s in statuses]}")


def record_writes(world: World) -> dict[str, int]:
    return {op: world.aws.count(op) for op in RECORD_WRITES}


@pytest.mark.parametrize("n", [1, 8])
def test_record_writes_per_restore(world: World, n: int) -> None:
    """The writer batches across ticks and restores: few record calls per restore, and no
    tick writes a record itself."""
    driver = world.driver()
    driver.writer.start()
    try:
        statuses, held = run_many(world, driver, n)
    finally:
        driver.writer.stop()
    assert all(s["phase"] == "Completed" for s in statuses)
    writes = record_writes(world)
    per_restore = sum(writes.values()) / n
    print(f"\nrecord writes, N={n}: {writes} = {per_restore:.1f} per restore")
    # One PutItem: the operator's signing key (a lease-table item), not a record.
    assert writes["PutItem"] == 1
    # 29 audit items, their state items and 7 metric points per restore, once seed-style
    # one call each; the target is at most 8 per restore with many in flight.
    assert per_restore <= (8 if n > 1 else 14), writes
    for status in statuses:
        audit = world.audit(status["operationId"])
        # As in the first test: 27 step items and the run's Started and Completed.
        assert len(audit) == 29, [(a["step"], a["status"]) for a in audit]
        assert ("restore", "Completed") in {(a["step"], a["status"]) for a in audit}
        state = world.client("dynamodb").get_item(
            TableName="aurora-restore-state", Key={"operation_id": {"S": status["operationId"]}}
        )["Item"]
        # Current when the run ends.
        assert state["status"]["S"] == "Completed"
