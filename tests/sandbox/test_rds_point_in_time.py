"""The stand-in's RestoreDBClusterToPointInTime behaves as AWS does where moto 5.2 does not
(sandbox/aurora_restore_sandbox/aws/rds_point_in_time.py)."""

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from aurora_restore_sandbox.aws import RDS_CLUSTER, AwsSandbox, seed_demo_data

SOURCE = "us-east-1"


def create_source(aws: AwsSandbox, **extra) -> dict:
    rds = aws.client("rds", SOURCE)
    return rds.create_db_cluster(
        DBClusterIdentifier="prod",
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword="password123",
        **extra,
    )["DBCluster"]


def describe(aws: AwsSandbox, identifier: str) -> dict:
    return aws.client("rds", SOURCE).describe_db_clusters(DBClusterIdentifier=identifier)[
        "DBClusters"
    ][0]


def restore(aws: AwsSandbox, identifier: str = "copy", **params) -> dict:
    params.setdefault("SourceDBClusterIdentifier", "prod")
    return aws.client("rds", SOURCE).restore_db_cluster_to_point_in_time(
        DBClusterIdentifier=identifier, **params
    )["DBCluster"]


def code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def test_the_window_can_be_moved_back_and_is_enforced(aws: AwsSandbox) -> None:
    create_source(aws)
    now = datetime.now(UTC)
    aws.set_restorable_window(SOURCE, "prod", now - timedelta(days=2))
    window = describe(aws, "prod")
    earliest, latest = window["EarliestRestorableTime"], window["LatestRestorableTime"]
    assert abs((earliest - (now - timedelta(days=2))).total_seconds()) < 1
    assert latest >= now - timedelta(seconds=1)
    with pytest.raises(ClientError) as info:
        restore(aws, RestoreToTime=now - timedelta(days=3))
    assert code(info) == "InvalidRestoreFault" and "outside the restorable window" in str(
        info.value
    )
    with pytest.raises(ClientError) as info:
        restore(aws, RestoreToTime=now + timedelta(hours=1))
    assert code(info) == "InvalidRestoreFault"
    made = restore(aws, RestoreToTime=now - timedelta(days=1))
    assert made["DBClusterIdentifier"] == "copy"


def test_exactly_one_of_time_or_latest(aws: AwsSandbox) -> None:
    create_source(aws)
    with pytest.raises(ClientError) as info:
        restore(aws)
    assert code(info) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as info:
        restore(aws, RestoreToTime=datetime.now(UTC), UseLatestRestorableTime=True)
    assert code(info) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as info:
        restore(aws, RestoreType="copy-on-write", RestoreToTime=datetime.now(UTC))
    assert code(info) == "InvalidParameterCombination"


def test_an_existing_identifier_is_refused_not_replaced(aws: AwsSandbox) -> None:
    create_source(aws)
    first = restore(aws, UseLatestRestorableTime=True)
    with pytest.raises(ClientError) as info:
        restore(aws, UseLatestRestorableTime=True)
    assert code(info) == "DBClusterAlreadyExistsFault"
    assert describe(aws, "copy")["DbClusterResourceId"] == first["DbClusterResourceId"]


def test_the_source_must_exist_and_be_available(aws: AwsSandbox) -> None:
    with pytest.raises(ClientError) as info:
        restore(aws, UseLatestRestorableTime=True)
    assert code(info) == "DBClusterNotFoundFault"
    create_source(aws)
    aws.set_status(SOURCE, "cluster", "prod", "stopped")
    with pytest.raises(ClientError) as info:
        restore(aws, UseLatestRestorableTime=True)
    assert code(info) == "InvalidDBClusterStateFault"


def test_new_cluster_takes_the_request_not_the_sources_protection_or_tags(
    aws: AwsSandbox,
) -> None:
    create_source(aws, DeletionProtection=True, Tags=[{"Key": "env", "Value": "prod"}])
    made = restore(aws, UseLatestRestorableTime=True, Tags=[{"Key": "k", "Value": "v"}])
    assert made["DeletionProtection"] is False
    assert made["TagList"] == [{"Key": "k", "Value": "v"}]
    assert made["DbClusterResourceId"] != describe(aws, "prod")["DbClusterResourceId"]
    assert describe(aws, "prod")["DeletionProtection"] is True


def test_a_clone_shares_a_clone_group_with_its_source(aws: AwsSandbox) -> None:
    create_source(aws)
    clone = restore(aws, "clone-1", RestoreType="copy-on-write", UseLatestRestorableTime=True)
    second = restore(aws, "clone-2", RestoreType="copy-on-write", UseLatestRestorableTime=True)
    full = restore(aws, "full", UseLatestRestorableTime=True)
    group = describe(aws, "prod")["CloneGroupId"]
    assert group and clone["CloneGroupId"] == group == second["CloneGroupId"]
    assert not full.get("CloneGroupId")


def test_the_restore_is_not_a_describe_tick(aws: AwsSandbox) -> None:
    """Manual transitions count describes; the restore's own lookup of its source is none."""
    create_source(aws)
    aws.settle(SOURCE)
    aws.set_transition(RDS_CLUSTER, {"progression": "manual", "times": 2})
    restore(aws, "a", UseLatestRestorableTime=True)
    restore(aws, "b", UseLatestRestorableTime=True)
    assert describe(aws, "a")["Status"] == "creating"
    assert describe(aws, "a")["Status"] == "available"


def test_seeded_source_has_a_window_as_long_as_its_snapshots(aws: AwsSandbox) -> None:
    today = datetime.now(UTC).date()
    seed_demo_data(aws.endpoint_url, days=3, today=today)
    window = describe(aws, "prod")
    assert window["EarliestRestorableTime"] == datetime.combine(
        today - timedelta(days=3), datetime.min.time(), tzinfo=UTC
    )
