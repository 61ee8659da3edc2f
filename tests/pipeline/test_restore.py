"""Whole restores against the moto server, through the driver the CLI and operator use."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aurora_restore_sandbox.aws import RDS_CLUSTER, RDS_CLUSTER_SNAPSHOT, RDS_INSTANCE
from support.aws import vpc_with_subnets
from support.world import (
    PHASE_ORDER,
    SOURCE,
    SWAP_ONLY,
    TARGET,
    World,
    cross_region_spec,
    same_region_spec,
)


def step(status: dict, name: str) -> dict:
    return next(s for s in status["steps"] if s["name"] == name)


def phases_seen(ticks: list) -> list[str]:
    seen: list[str] = []
    for tick in ticks:
        phase = tick.status.phase.value
        if not seen or seen[-1] != phase:
            seen.append(phase)
    return seen


def test_same_region_restore_by_snapshot_name(world: World) -> None:
    status, ticks = world.run(same_region_spec(instances=2))
    assert status["phase"] == "Completed", status
    assert step(status, "copy-snapshot")["state"] == "Skipped"
    assert (
        step(status, "copy-snapshot")["message"] == "No need to copy snapshot, regions are the same"
    )
    assert step(status, "check-copy-status")["state"] == "Skipped"
    assert step(status, "restore-snapshot")["state"] == "Succeeded"
    assert status["cluster"]["endpoint"] and status["cluster"]["port"] == 5432
    assert [i["status"] for i in status["cluster"]["instances"]] == ["available", "available"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True",
        "Reconciling": "False",
        "Stalled": "False",
        "Progressing": "False",
        "Failed": "False",
    }
    cluster = world.client("rds").describe_db_clusters(DBClusterIdentifier="staging")
    tags = {t["Key"]: t["Value"] for t in cluster["DBClusters"][0]["TagList"]}
    assert tags["dbrestore.io/managed-by"] == "aurora-restore-operator"
    assert tags["dbrestore.io/operation-id"] == status["operationId"]
    assert world.aws.count("RestoreDBClusterFromSnapshot") == 1
    assert world.aws.count("CreateDBInstance") == 2
    assert world.aws.count("CopyDBClusterSnapshot") == 0


def test_cross_region_encrypted_copy_passes_through_in_progress_states(world: World) -> None:
    # Each in-progress state lasts two describes, so every check sees it once.
    for model in (RDS_CLUSTER_SNAPSHOT, RDS_CLUSTER, RDS_INSTANCE):
        world.aws.set_transition(model, {"progression": "manual", "times": 2})
    status, ticks = world.run(cross_region_spec())
    assert status["phase"] == "Completed", status
    run_phases = [p for p in PHASE_ORDER if p not in SWAP_ONLY]
    assert phases_seen(ticks) == run_phases[: len(phases_seen(ticks))] or phases_seen(ticks)
    messages = [t.status.message for t in ticks]
    assert any("Snapshot copy is still in progress" in (m or "") for m in messages)
    assert any(m == "Cluster restore is still in progress" for m in messages)
    assert any((m or "").startswith("Waiting for instances to be available") for m in messages)
    assert world.aws.count("CopyDBClusterSnapshot", TARGET) == 1
    assert world.aws.count("CopyDBClusterSnapshot", SOURCE) == 0
    assert status["copy"]["percentProgress"] == 100
    # Archive policy Delete removes the copy, and only the copy.
    assert status["copy"]["archived"] == "deleted"
    assert world.aws.count("DeleteDBClusterSnapshot", TARGET) == 1
    src = world.client("rds", SOURCE).describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier="prod-manual-1"
    )["DBClusterSnapshots"]
    assert src and src[0]["Status"] == "available"


def test_encrypted_cross_region_without_kms_key_fails_before_copying(world: World) -> None:
    spec = cross_region_spec()
    del spec["copy"]
    status, _ = world.run(spec)
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "ValidationError"
    assert "copy.kmsKeyId" in status["error"]["message"]
    assert world.aws.count("CopyDBClusterSnapshot") == 0


def _automated(world: World, name: str, when: dt.datetime) -> None:
    world.client("rds").create_db_cluster_snapshot(
        DBClusterIdentifier="prod", DBClusterSnapshotIdentifier=name
    )
    world.aws.edit_cluster_snapshot(SOURCE, name, snapshot_type="automated", created_at=when)


def test_by_cluster_and_date_defaults_to_yesterday_and_latest_takes_newest(world: World) -> None:
    now = world.clock.now
    _automated(world, "prod-auto-today", now - dt.timedelta(hours=1))
    _automated(world, "prod-auto-yesterday", now - dt.timedelta(days=1))
    _automated(world, "prod-auto-2days", now - dt.timedelta(days=2))
    spec = {
        "source": {"region": SOURCE, "clusterIdentifier": "prod"},
        "target": {"region": SOURCE, "clusterIdentifier": "staging"},
    }
    status, _ = world.run(spec)
    assert status["phase"] == "Completed", status
    assert status["snapshotDate"] == (now.date() - dt.timedelta(days=1)).isoformat()
    assert status["snapshot"]["identifier"] == "prod-auto-yesterday"

    spec["source"]["date"] = "latest"
    spec["target"]["clusterIdentifier"] = "staging-latest"
    status, _ = world.run(spec, uid="uid-2")
    assert status["snapshot"]["identifier"] == "prod-auto-today"


def test_snapshot_type_filters_the_candidates(world: World) -> None:
    # The source cluster has one automated snapshot (taken at creation) and one manual one.
    spec = {
        "source": {"region": SOURCE, "clusterIdentifier": "prod", "date": "latest"},
        "target": {"region": SOURCE, "clusterIdentifier": "staging"},
    }
    status, _ = world.run(spec)
    assert status["snapshot"]["identifier"].startswith("rds:prod-")
    spec["source"]["snapshotType"] = "manual"
    spec["target"]["clusterIdentifier"] = "staging-2"
    status, _ = world.run(spec, uid="uid-2")
    assert status["phase"] == "Completed"
    assert status["snapshot"]["identifier"] == "prod-manual-1"


def test_snapshot_appearing_late_is_waited_for(world: World) -> None:
    spec = same_region_spec()
    spec["source"]["snapshotIdentifier"] = "prod-late"
    driver = world.driver()
    status = None
    from aurora_restore.driver import Resource

    for _ in range(3):
        tick = driver.tick(Resource("r", "ns", "uid-1", 1, spec, status), world.kube)
        status = tick.status.to_dict()
        world.clock.advance(60)
    assert status["phase"] == "CheckingSnapshot"
    assert "prod-late" in status["message"] and "does not exist yet" in status["message"]
    world.client("rds").create_db_cluster_snapshot(
        DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="prod-late"
    )
    status, _ = world.run(spec, driver=driver, status=status)
    assert status["phase"] == "Completed"


def test_snapshot_never_appearing_fails_after_wait_timeout(world: World) -> None:
    spec = same_region_spec()
    spec["source"].update(snapshotIdentifier="prod-missing", waitTimeout="30m")
    status, ticks = world.run(spec)
    assert status["phase"] == "Failed"
    assert status["error"] == {
        "type": "SnapshotNotFound",
        "step": "snapshot-check",
        "code": "SnapshotNotFound",
        "message": status["error"]["message"],
    }
    assert (
        "us-east-1" in status["error"]["message"] and "prod-missing" in status["error"]["message"]
    )
    started = dt.datetime.fromisoformat(status["startedAt"].replace("Z", "+00:00"))
    ended = dt.datetime.fromisoformat(status["completedAt"].replace("Z", "+00:00"))
    assert dt.timedelta(minutes=30) <= ended - started < dt.timedelta(minutes=32)
    assert any(
        e.type == "Warning" and e.reason == "SnapshotNotFound" for t in ticks for e in t.events
    )
    assert world.aws.count("RestoreDBClusterFromSnapshot") == 0


def test_vpc_and_subnets_are_checked_then_a_subnet_group_is_made(world: World) -> None:
    ec2 = world.client("ec2", SOURCE)
    vpc, subnets = vpc_with_subnets(ec2, SOURCE)
    sg = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    status, _ = world.run(same_region_spec(vpcId=vpc, subnetIds=subnets, vpcSecurityGroupIds=[sg]))
    assert status["phase"] == "Completed", status
    assert world.aws.count("CreateDBSubnetGroup") == 1

    other = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    status, _ = world.run(
        same_region_spec(clusterIdentifier="staging-2", vpcId=other, subnetIds=subnets), uid="uid-2"
    )
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "ValidationError"
    assert f"is in {vpc}, not {other}" in status["error"]["message"]
    assert world.aws.count("RestoreDBClusterFromSnapshot") == 1


def timed_out(
    world: World, stuck: str, spec: dict[str, Any], timeouts: dict[str, str]
) -> dict[str, Any]:
    """The status of a run of ``spec`` under ``timeouts`` in which the ``stuck`` resource
    never leaves its in-progress state: it has failed as a Timeout."""
    world.aws.set_transition(stuck, {"progression": "manual", "times": 10_000})
    spec["timeouts"] = timeouts
    status, _ = world.run(spec)
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "Timeout"
    return status


def test_total_timeout_ends_a_stuck_restore(world: World) -> None:
    status = timed_out(world, RDS_CLUSTER, same_region_spec(), {"total": "20m"})
    assert status["error"]["step"] == "check-restore-status"
    assert status["cluster"]["identifier"] == "staging"


def test_step_timeout_names_the_step(world: World) -> None:
    status = timed_out(world, RDS_CLUSTER_SNAPSHOT, cross_region_spec(), {"step": "15m"})
    assert status["error"]["code"] == "StepTimeout"
    assert status["error"]["step"] == "check-copy-status"
    assert "timeouts.step (15m)" in status["error"]["message"]
