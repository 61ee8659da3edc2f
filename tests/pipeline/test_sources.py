"""source.method PointInTime and Clone, whole restores against the moto server (with the
stand-in's RestoreDBClusterToPointInTime, see sandbox/rds_sources.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aurora_restore.api.restore import validate_spec
from aurora_restore.api.status import AuroraRestoreStatus, ErrorType
from aurora_restore.driver import Resource
from aurora_restore.pipeline.context import Context, PipelineConfig
from aurora_restore.pipeline.errors import StepFailure
from aurora_restore.pipeline.steps import restore_snapshot
from support.aws import vpc_with_subnets
from support.world import SOURCE, TARGET, World

MUTATING = (
    "RestoreDBClusterToPointInTime",
    "RestoreDBClusterFromSnapshot",
    "CopyDBClusterSnapshot",
    "ModifyDBCluster",
    "DeleteDBCluster",
    "DeleteDBInstance",
    "DeleteDBClusterSnapshot",
    "CreateDBInstance",
    "AddTagsToResource",
)


def real_now() -> dt.datetime:
    # moto's restorable window follows the real clock, not the tests' clock.
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def step(status: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in status["steps"] if s["name"] == name)


def source_spec(method: str, restore_time: str | None = None, **target: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"region": SOURCE, "method": method, "clusterIdentifier": "prod"}
    if restore_time:
        source["restoreTime"] = restore_time
    return {
        "source": source,
        "target": {"region": SOURCE, "clusterIdentifier": "staging", "instances": 1, **target},
    }


@pytest.fixture
def sources(world: World) -> World:
    """The source cluster has three days of continuous backups; its requests are captured."""
    world.aws.set_restorable_window(SOURCE, "prod", real_now() - dt.timedelta(days=3))
    world.requests = []  # type: ignore[attr-defined]

    def capture(params: dict[str, Any], model: Any, **_: Any) -> None:
        world.requests.append((model.name, dict(params)))  # type: ignore[attr-defined]

    world.session.events.register("provide-client-params.rds.*", capture)
    return world


def requests(world: World, operation: str) -> list[dict[str, Any]]:
    return [p for name, p in world.requests if name == operation]  # type: ignore[attr-defined]


def cluster(world: World, identifier: str) -> dict[str, Any]:
    found: dict[str, Any] = world.client("rds").describe_db_clusters(
        DBClusterIdentifier=identifier
    )["DBClusters"][0]
    return found


def tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("TagList", [])}


def assert_nothing_copied(world: World, status: dict[str, Any], label: str) -> None:
    for name in ("copy-snapshot", "check-copy-status"):
        assert step(status, name)["state"] == "Skipped"
        assert step(status, name)["message"] == f"No snapshot to copy: {label}"
    assert step(status, "archive-snapshot")["state"] == "Skipped"
    assert step(status, "archive-snapshot")["message"].startswith(f"Nothing to archive: {label}")
    for operation in ("CopyDBClusterSnapshot", "RestoreDBClusterFromSnapshot"):
        assert world.aws.count(operation) == 0
    assert world.aws.count("DeleteDBClusterSnapshot") == 0
    assert "copy" not in status and "snapshot" not in status


def test_point_in_time_restore_end_to_end(sources: World) -> None:
    world = sources
    world.client("rds").create_db_cluster_parameter_group(
        DBClusterParameterGroupName="staging-params",
        DBParameterGroupFamily="aurora-postgresql15",
        Description="staging",
    )
    # The preflight resolves target.kmsKeyId in the target region.
    kms = world.client("kms")
    key = kms.create_key(Description="staging")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/staging", TargetKeyId=key)
    wanted = iso(real_now() - dt.timedelta(days=1))
    spec = source_spec(
        "PointInTime",
        wanted,
        kmsKeyId="alias/staging",
        dbClusterParameterGroupName="staging-params",
        vpcSecurityGroupIds=["sg-0123abcd"],
        tags={"team": "payments"},
    )
    spec["notification"] = {"snsTopicArn": world.topic_arn}
    before = cluster(world, "prod")
    status, _ = world.run(spec)
    assert status["phase"] == "Completed", status.get("error")
    assert world.aws.count("RestoreDBClusterToPointInTime") == 1
    assert_nothing_copied(world, status, "point-in-time restore")
    [sent] = requests(world, "RestoreDBClusterToPointInTime")
    assert sent["SourceDBClusterIdentifier"] == "prod"
    assert sent["RestoreType"] == "full-copy"
    assert sent["RestoreToTime"] == dt.datetime.fromisoformat(wanted.replace("Z", "+00:00"))
    assert "UseLatestRestorableTime" not in sent
    # The target's own settings, not the source's.
    assert sent["KmsKeyId"] == "alias/staging"
    assert sent["DBClusterParameterGroupName"] == "staging-params"
    assert sent["VpcSecurityGroupIds"] == ["sg-0123abcd"]
    assert sent["DeletionProtection"] is False
    made = cluster(world, "staging")
    made_tags = tags(made)
    assert made_tags["dbrestore.io/operation-id"] == status["operationId"]
    assert made_tags["dbrestore.io/restore-time"] == wanted
    assert made_tags["team"] == "payments"
    assert made["DBClusterParameterGroup"] == "staging-params"
    assert status["source"] == {
        "method": "PointInTime",
        "region": SOURCE,
        "clusterIdentifier": "prod",
        "restoreTime": wanted,
        "useLatestRestorableTime": False,
        "restoreType": "full-copy",
        "earliestRestorableTime": status["source"]["earliestRestorableTime"],
        "latestRestorableTime": status["source"]["latestRestorableTime"],
    }
    assert status["source"]["earliestRestorableTime"] < wanted
    assert [i["status"] for i in status["cluster"]["instances"]] == ["available"]
    # The method and the time are in the audit trail and in the notification.
    audit = world.audit(status["operationId"])
    started = [a for a in audit if a["step"] == "restore-snapshot" and a["status"] == "Succeeded"]
    assert started[0]["details"]["restore_time"] == wanted
    assert started[0]["details"]["source_method"] == "PointInTime"
    [message] = world.sns_messages()
    assert message["status"] == "success"
    assert message["details"]["source_method"] == "PointInTime"
    assert message["details"]["restore_time"] == wanted
    # The source is as it was.
    after = cluster(world, "prod")
    for key in ("Status", "DeletionProtection", "TagList", "DbClusterResourceId", "KmsKeyId"):
        assert after.get(key) == before.get(key), key


def test_point_in_time_latest_records_the_resolved_time(sources: World) -> None:
    world = sources
    low = real_now() - dt.timedelta(seconds=1)
    status, _ = world.run(source_spec("PointInTime", "latest"))
    high = real_now() + dt.timedelta(seconds=1)
    assert status["phase"] == "Completed", status
    [sent] = requests(world, "RestoreDBClusterToPointInTime")
    assert sent["UseLatestRestorableTime"] is True and "RestoreToTime" not in sent
    assert sent["RestoreType"] == "full-copy"
    resolved = status["source"]["restoreTime"]
    assert iso(low) <= resolved <= iso(high)
    assert status["source"]["useLatestRestorableTime"] is True
    assert tags(cluster(world, "staging"))["dbrestore.io/restore-time"] == resolved


def test_clone_end_to_end_is_copy_on_write(sources: World) -> None:
    world = sources
    spec = source_spec("Clone", dbSubnetGroupName="clone-subnets")
    ec2 = world.client("ec2")
    vpc, subnets = vpc_with_subnets(ec2, SOURCE, "10.9")
    world.client("rds").create_db_subnet_group(
        DBSubnetGroupName="clone-subnets", DBSubnetGroupDescription="clones", SubnetIds=subnets
    )
    status, _ = world.run(spec)
    assert status["phase"] == "Completed", status
    assert world.aws.count("RestoreDBClusterToPointInTime") == 1
    assert_nothing_copied(world, status, "clone")
    [sent] = requests(world, "RestoreDBClusterToPointInTime")
    assert sent["RestoreType"] == "copy-on-write"
    assert sent["UseLatestRestorableTime"] is True and "RestoreToTime" not in sent
    assert sent["DBSubnetGroupName"] == "clone-subnets"
    made, source = cluster(world, "staging"), cluster(world, "prod")
    # AWS marks a clone and its source with one clone group.
    assert made["CloneGroupId"] and made["CloneGroupId"] == source["CloneGroupId"]
    assert status["source"]["method"] == "Clone"
    assert status["source"]["restoreType"] == "copy-on-write"
    # A clone holds the source as it was when the clone was made (the tests' clock).
    started = step(status, "restore-snapshot")["startedAt"]
    assert status["source"]["restoreTime"] == started
    assert step(status, "restore-snapshot")["message"] == "Clone initiated"


@pytest.mark.parametrize(
    "offset", [dt.timedelta(days=-4), dt.timedelta(days=1)], ids=["before", "after"]
)
def test_time_outside_the_window_fails_naming_it(sources: World, offset: dt.timedelta) -> None:
    world = sources
    wanted = iso(real_now() + offset)
    status, _ = world.run(source_spec("PointInTime", wanted))
    assert status["phase"] == "Failed"
    error = status["error"]
    assert error["type"] == "ValidationError" and error["step"] == "snapshot-check"
    assert error["code"] == "RestoreTimeOutsideWindow"
    window = cluster(world, "prod")
    earliest = iso(window["EarliestRestorableTime"])
    assert (
        f"source.restoreTime {wanted} is outside the restorable window of prod" in error["message"]
    )
    assert f"{earliest} to " in error["message"]
    for operation in MUTATING:
        assert world.aws.count(operation) == 0, operation


@pytest.mark.parametrize("method", ["PointInTime", "Clone"])
def test_cross_region_is_refused_before_any_call(sources: World, method: str) -> None:
    world = sources
    spec = source_spec(method, "latest" if method == "PointInTime" else None)
    spec["target"]["region"] = TARGET
    status, _ = world.run(spec)
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "ValidationError"
    assert (
        f"source.method {method} needs target.region equal to source.region"
        in (status["error"]["message"])
    )
    assert world.aws.calls("rds") == []


def test_a_source_cluster_that_is_not_available_is_waited_for_then_fails(sources: World) -> None:
    world = sources
    world.aws.set_status(SOURCE, "cluster", "prod", "backing-up")
    spec = source_spec("Clone")
    spec["source"]["waitTimeout"] = "2m"
    status, ticks = world.run(spec)
    assert status["phase"] == "Failed"
    assert status["error"]["code"] == "InvalidDBClusterStateFault"
    assert "still backing-up after waitTimeout (2m)" in status["error"]["message"]
    assert any("Waiting for Source cluster prod" in (t.status.message or "") for t in ticks)
    assert world.aws.count("RestoreDBClusterToPointInTime") == 0


def test_a_missing_or_stopped_source_fails_at_once(sources: World) -> None:
    world = sources
    missing = source_spec("Clone")
    missing["source"]["clusterIdentifier"] = "nope"
    status, _ = world.run(missing)
    assert status["error"]["code"] == "DBClusterNotFoundFault"
    assert "Source cluster nope in us-east-1 does not exist" in status["error"]["message"]
    world.aws.set_status(SOURCE, "cluster", "prod", "stopped")
    status, ticks = world.run(source_spec("Clone"), uid="uid-2")
    assert len(ticks) <= 3 and status["error"]["code"] == "stopped"
    assert world.aws.count("RestoreDBClusterToPointInTime") == 0


@pytest.mark.parametrize("method", ["PointInTime", "Clone"])
def test_lost_status_after_the_restore_call_adopts_the_cluster(sources: World, method: str) -> None:
    """The status written after RestoreDBClusterToPointInTime is lost: the run starts again
    from nothing, finds the cluster by its operation-id tag, and never calls twice."""
    world = sources
    spec = source_spec(method, "latest" if method == "PointInTime" else None)
    driver = world.driver()
    status: dict[str, Any] | None = None
    for _ in range(20):
        tick = driver.tick(
            Resource("staging-refresh", "databases", "uid-1", 1, spec, status), world.kube
        )
        status = tick.status.to_dict()
        if world.aws.count("RestoreDBClusterToPointInTime"):
            break
        world.clock.advance(max(tick.requeue_after or 0, 1.0))
    assert status and status["source"]["restoreTime"]
    first_time = status["source"]["restoreTime"]
    world.clock.advance(60)
    final, _ = world.run(spec, status=None)
    assert final["phase"] == "Completed", final
    assert final["operationId"] == status["operationId"]
    assert world.aws.count("RestoreDBClusterToPointInTime") == 1
    assert step(final, "restore-snapshot")["message"].endswith("already initiated; following it")
    # The time used is the one the first attempt resolved (kept on the cluster as a tag).
    assert final["source"]["restoreTime"] == first_time


def test_the_source_cluster_is_never_named_by_a_mutating_call(sources: World) -> None:
    world = sources
    for method, restore_time in (("PointInTime", "latest"), ("Clone", None)):
        spec = source_spec(method, restore_time, existingCluster="Replace")
        status, _ = world.run(spec, uid=f"uid-{method}")
        assert status["phase"] == "Completed", status
    # The second run replaced the first one's cluster: Replace applies to these methods too.
    assert world.aws.count("DeleteDBCluster") == 1
    assert world.aws.count("RestoreDBClusterToPointInTime") == 2
    for name, params in world.requests:  # type: ignore[attr-defined]
        if name in MUTATING:
            named = {params.get("DBClusterIdentifier"), params.get("ResourceName", "")}
            assert "prod" not in named and not any(":cluster:prod" in n for n in named if n)


def test_rail_refuses_a_target_that_is_the_source(sources: World) -> None:
    """Behind the spec's rule: even a run spec that skipped validation never restores over
    its source."""
    world = sources
    spec = validate_spec(source_spec("Clone"))
    target = spec.target.model_copy(update={"cluster_identifier": "prod-2"})
    # model_copy does not validate: the target becomes the source, as a tampered spec could.
    source = spec.source.model_copy(update={"cluster_identifier": "prod-2"})
    ctx = Context(
        spec=spec.model_copy(update={"target": target, "source": source}),
        status=AuroraRestoreStatus(operation_id="op-000000000001"),
        ports=world.driver().ports(world.kube, "databases"),
        config=PipelineConfig(),
        now=world.clock.now,
        owner="databases/staging-refresh",
    )
    with pytest.raises(StepFailure) as info:
        restore_snapshot.run(ctx)
    assert info.value.type is ErrorType.SafetyViolation and info.value.code == "TargetIsSource"
    assert world.aws.count("RestoreDBClusterToPointInTime") == 0
