"""The AWS stand-in: moto's RDS with in-progress states, the call counter, the seed."""

import subprocess
import sys
import time
from datetime import UTC, date, datetime

import pytest
from botocore.exceptions import ClientError

from aurora_restore_sandbox.aws import (
    RDS_CLUSTER,
    RDS_CLUSTER_RENAME,
    RDS_CLUSTER_SNAPSHOT,
    RDS_INSTANCE,
    AwsSandbox,
    install_rds_states,
    seed_demo_data,
)
from support.waiting import wait_for as support_wait_for

SOURCE, TARGET = "us-east-1", "us-west-2"
# Long enough that the state right after a call is still there when a loaded machine gets
# round to asking (0.3 s failed once beside other work).
DELAY = 1.5


def wait_for(predicate):
    # A few times the stand-in's delay is ample.
    return support_wait_for(predicate, timeout=10.0)


def create_cluster(rds, identifier: str = "c1", **extra) -> dict:
    return rds.create_db_cluster(
        DBClusterIdentifier=identifier,
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword="password123",
        **extra,
    )["DBCluster"]


def cluster_status(rds, identifier: str) -> str | None:
    try:
        return rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]["Status"]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "DBClusterNotFoundFault"
        return None


def instance_status(rds, identifier: str) -> str | None:
    try:
        instances = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "DBInstanceNotFound"
        return None
    return instances[0]["DBInstanceStatus"]


def snapshot(rds, identifier: str) -> dict:
    found = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=identifier)
    return found["DBClusterSnapshots"][0]


def test_install_is_idempotent():
    install_rds_states()
    install_rds_states()
    from moto.moto_api import state_manager

    assert {RDS_CLUSTER, RDS_CLUSTER_SNAPSHOT, RDS_INSTANCE} <= set(
        state_manager.get_registered_models()
    )


def test_without_delay_everything_is_available_at_once(aws: AwsSandbox):
    rds = aws.client("rds", TARGET)
    create_cluster(rds)
    assert cluster_status(rds, "c1") == "available"


def test_cluster_and_instance_are_created_then_deleted_over_time(aws: AwsSandbox):
    aws.set_delays(DELAY)
    rds = aws.client("rds", TARGET)

    assert create_cluster(rds)["Status"] == "creating"
    assert cluster_status(rds, "c1") == "creating"
    wait_for(lambda: cluster_status(rds, "c1") == "available")

    created = rds.create_db_instance(
        DBInstanceIdentifier="c1-1",
        DBClusterIdentifier="c1",
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
    )["DBInstance"]
    assert created["DBInstanceStatus"] == "creating"
    wait_for(lambda: instance_status(rds, "c1-1") == "available")

    deleted = rds.delete_db_instance(DBInstanceIdentifier="c1-1", SkipFinalSnapshot=True)
    assert deleted["DBInstance"]["DBInstanceStatus"] == "deleting"
    assert instance_status(rds, "c1-1") == "deleting"
    # As in AWS, a cluster whose instances are all deleting may be deleted.
    rds.delete_db_cluster(DBClusterIdentifier="c1", SkipFinalSnapshot=True)
    assert cluster_status(rds, "c1") == "deleting"
    with pytest.raises(ClientError, match="InvalidDBClusterStateFault"):
        rds.delete_db_cluster(DBClusterIdentifier="c1", SkipFinalSnapshot=True)

    wait_for(lambda: instance_status(rds, "c1-1") is None)
    wait_for(lambda: cluster_status(rds, "c1") is None)


def test_cluster_with_live_instances_cannot_be_deleted(aws: AwsSandbox):
    rds = aws.client("rds", TARGET)
    create_cluster(rds)
    rds.create_db_instance(
        DBInstanceIdentifier="c1-1",
        DBClusterIdentifier="c1",
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
    )
    with pytest.raises(ClientError, match="InvalidDBClusterStateFault"):
        rds.delete_db_cluster(DBClusterIdentifier="c1", SkipFinalSnapshot=True)


def test_cross_region_copy_reports_rising_progress(aws: AwsSandbox):
    seeded = seed_demo_data(aws.endpoint_url, SOURCE, TARGET)
    source = aws.client("rds", SOURCE)
    source_arn = snapshot(source, seeded["source"]["automated_snapshots"][0])[
        "DBClusterSnapshotArn"
    ]
    aws.set_delay(RDS_CLUSTER_SNAPSHOT, 0.6)
    target = aws.client("rds", TARGET)

    copied = target.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=source_arn,
        TargetDBClusterSnapshotIdentifier="copy-1",
        KmsKeyId="alias/staging",
        SourceRegion=SOURCE,
    )["DBClusterSnapshot"]
    assert (copied["Status"], copied["PercentProgress"]) == ("copying", 0)
    assert copied["KmsKeyId"] == seeded["target"]["kms_key_arn"]
    assert copied["SourceDBClusterSnapshotArn"] == source_arn

    seen = []
    while not seen or seen[-1][0] != "available":
        found = snapshot(target, "copy-1")
        seen.append((found["Status"], found["PercentProgress"]))
        time.sleep(0.05)
    progress = [percent for _, percent in seen]
    assert progress == sorted(progress)
    assert any(0 < percent < 100 for _, percent in seen)
    assert all(percent < 100 for status, percent in seen if status == "copying")
    assert seen[-1] == ("available", 100)
    assert aws.count("CopyDBClusterSnapshot", TARGET) == 1


def test_unfinished_snapshot_cannot_be_copied_or_restored(aws: AwsSandbox):
    rds = aws.client("rds", SOURCE)
    create_cluster(rds)
    aws.set_delay(RDS_CLUSTER_SNAPSHOT, 30)
    rds.create_db_cluster_snapshot(DBClusterIdentifier="c1", DBClusterSnapshotIdentifier="s1")
    assert snapshot(rds, "s1")["Status"] == "creating"
    with pytest.raises(ClientError, match="InvalidDBClusterSnapshotStateFault"):
        rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier="s1", TargetDBClusterSnapshotIdentifier="s2"
        )
    with pytest.raises(ClientError, match="InvalidDBClusterSnapshotStateFault"):
        rds.restore_db_cluster_from_snapshot(
            DBClusterIdentifier="c2", SnapshotIdentifier="s1", Engine="aurora-postgresql"
        )


def test_manual_progression_counts_describe_calls(aws: AwsSandbox):
    aws.set_transition(RDS_CLUSTER, {"progression": "manual", "times": 2})
    rds = aws.client("rds", TARGET)
    create_cluster(rds)
    assert [cluster_status(rds, "c1") for _ in range(3)] == ["creating", "available", "available"]


def test_restored_cluster_is_not_deletion_protected_by_default(aws: AwsSandbox):
    rds = aws.client("rds", SOURCE)
    create_cluster(rds, "prod", DeletionProtection=True)
    rds.create_db_cluster_snapshot(DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="s1")
    restored = rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier="staging", SnapshotIdentifier="s1", Engine="aurora-postgresql"
    )["DBCluster"]
    assert restored["DeletionProtection"] is False
    protected = rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier="staging2",
        SnapshotIdentifier="s1",
        Engine="aurora-postgresql",
        DeletionProtection=True,
    )["DBCluster"]
    assert protected["DeletionProtection"] is True


def test_known_moto_differences_still_hold(aws: AwsSandbox):
    """Canaries for DESIGN §6: if one fails, moto changed and the notes need updating."""
    rds = aws.client("rds", TARGET)
    create_cluster(rds, "c1", Tags=[{"Key": "k", "Value": "first"}])
    rds.create_db_cluster_snapshot(DBClusterIdentifier="c1", DBClusterSnapshotIdentifier="s1")
    # Creating a cluster leaves an automated snapshot named after the minute; a
    # restore onto the same identifier in that minute would clash with it.
    for automated in rds.describe_db_cluster_snapshots(
        DBClusterIdentifier="c1", SnapshotType="automated"
    )["DBClusterSnapshots"]:
        assert automated["DBClusterSnapshotIdentifier"].startswith("rds:c1-")
        rds.delete_db_cluster_snapshot(
            DBClusterSnapshotIdentifier=automated["DBClusterSnapshotIdentifier"]
        )
    # A restore onto an existing identifier silently replaces the cluster.
    rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier="c1",
        SnapshotIdentifier="s1",
        Engine="aurora-postgresql",
        Tags=[{"Key": "k", "Value": "second"}],
    )
    assert rds.describe_db_clusters(DBClusterIdentifier="c1")["DBClusters"][0]["TagList"] == [
        {"Key": "k", "Value": "second"}
    ]
    # Identifiers AWS would refuse are accepted.
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="c1", DBClusterSnapshotIdentifier="Not_A--Valid_Id"
    )


def test_calls_are_counted_per_operation_and_region(aws: AwsSandbox):
    aws.client("rds", SOURCE).describe_db_clusters()
    aws.client("rds", TARGET).describe_db_clusters()
    aws.client("kms", TARGET).list_keys()
    aws.client("dynamodb", SOURCE).list_tables()
    aws.client("sns", SOURCE).list_topics()

    assert aws.calls() == [
        ("DescribeDBClusters", SOURCE),
        ("DescribeDBClusters", TARGET),
        ("ListKeys", TARGET),
        ("ListTables", SOURCE),
        ("ListTopics", SOURCE),
    ]
    assert aws.calls(service="rds") == [
        ("DescribeDBClusters", SOURCE),
        ("DescribeDBClusters", TARGET),
    ]
    assert aws.count("DescribeDBClusters") == 2
    assert aws.count("DescribeDBClusters", TARGET) == 1
    aws.reset_calls()
    assert aws.calls() == []


def test_seed_demo_data(aws: AwsSandbox):
    seeded = seed_demo_data(
        aws.endpoint_url, SOURCE, TARGET, cluster="prod", days=3, today=date(2026, 11, 27)
    )
    source = seeded["source"]
    assert source["automated_snapshots"] == [
        "rds:prod-2026-11-26-03-00",
        "rds:prod-2026-11-25-03-00",
        "rds:prod-2026-11-24-03-00",
    ]
    assert source["manual_snapshots"] == [
        "prod-manual-2026-11-26",
        "prod-manual-2026-11-25",
        "prod-manual-2026-11-24",
    ]
    rds = aws.client("rds", SOURCE)
    cluster = rds.describe_db_clusters(DBClusterIdentifier="prod")["DBClusters"][0]
    assert cluster["Engine"] == "aurora-postgresql"
    assert cluster["StorageEncrypted"] is True
    assert cluster["Status"] == "available"
    assert {"Key": "environment", "Value": "production"} in cluster["TagList"]

    automated = rds.describe_db_cluster_snapshots(
        DBClusterIdentifier="prod", SnapshotType="automated"
    )
    by_id = {item["DBClusterSnapshotIdentifier"]: item for item in automated["DBClusterSnapshots"]}
    yesterday = by_id["rds:prod-2026-11-26-03-00"]
    assert yesterday["SnapshotCreateTime"] == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert yesterday["Status"] == "available"
    assert yesterday["StorageEncrypted"] is True
    manual = rds.describe_db_cluster_snapshots(DBClusterIdentifier="prod", SnapshotType="manual")
    assert {item["DBClusterSnapshotIdentifier"] for item in manual["DBClusterSnapshots"]} == set(
        source["manual_snapshots"]
    )

    target = seeded["target"]
    kms = aws.client("kms", TARGET)
    assert kms.describe_key(KeyId="alias/staging")["KeyMetadata"]["Arn"] == target["kms_key_arn"]
    group = aws.client("rds", TARGET).describe_db_subnet_groups(DBSubnetGroupName="staging-subnets")
    subnets = group["DBSubnetGroups"][0]["Subnets"]
    assert {subnet["SubnetIdentifier"] for subnet in subnets} == set(target["subnet_ids"])
    groups = aws.client("ec2", TARGET).describe_security_groups(
        GroupIds=[target["security_group_id"]]
    )
    assert groups["SecurityGroups"][0]["VpcId"] == target["vpc_id"]


def test_reset_forgets_data_and_restores_delays(aws: AwsSandbox):
    rds = aws.client("rds", TARGET)
    create_cluster(rds)
    aws.set_delays(30)
    aws.reset()
    assert rds.describe_db_clusters()["DBClusters"] == []
    create_cluster(rds)
    assert cluster_status(rds, "c1") == "available"


def test_runs_as_a_separate_process():
    process = subprocess.Popen(
        [sys.executable, "-m", "aurora_restore_sandbox.aws", "--port", "0", "--delay", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("AWS_ENDPOINT_URL=http://127.0.0.1:"), line
        remote = AwsSandbox.attach(line.split("=", 1)[1])
        rds = remote.client("rds", TARGET)
        assert create_cluster(rds)["Status"] == "creating"
        assert remote.calls() == [("CreateDBCluster", TARGET)]
        assert remote.settle() == 2  # the cluster and moto's automated snapshot of it
        assert cluster_status(rds, "c1") == "available"
        remote.reset_calls()
        assert remote.calls() == []
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_delete_then_restore_within_a_minute(aws: AwsSandbox):
    # moto names automated snapshots by the minute; the sandbox reuses a clashing one.
    rds = aws.client("rds", TARGET)
    create_cluster(rds, "staging")
    rds.create_db_cluster_snapshot(DBClusterIdentifier="staging", DBClusterSnapshotIdentifier="s1")
    rds.delete_db_cluster(DBClusterIdentifier="staging", SkipFinalSnapshot=True)
    assert cluster_status(rds, "staging") is None
    rds.restore_db_cluster_from_snapshot(
        DBClusterIdentifier="staging", SnapshotIdentifier="s1", Engine="aurora-postgresql"
    )
    assert cluster_status(rds, "staging") == "available"


def test_rename_moves_instances_tags_and_endpoint_as_aws_does(aws: AwsSandbox):
    """moto 5.2 leaves a renamed cluster's instances behind; the stand-in moves them."""
    aws.set_delay(RDS_CLUSTER_RENAME, DELAY)
    rds = aws.client("rds", TARGET)
    create_cluster(rds, Tags=[{"Key": "team", "Value": "data"}])
    for n in (1, 2):
        rds.create_db_instance(
            DBInstanceIdentifier=f"c1-{n}",
            DBClusterIdentifier="c1",
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
        )
    before = rds.describe_db_clusters(DBClusterIdentifier="c1")["DBClusters"][0]

    rds.modify_db_cluster(
        DBClusterIdentifier="c1", NewDBClusterIdentifier="c1-retired", ApplyImmediately=True
    )
    # The old name is free at once, and the renamed cluster is renaming for a while.
    with pytest.raises(ClientError, match="DBClusterNotFoundFault"):
        rds.describe_db_clusters(DBClusterIdentifier="c1")
    after = rds.describe_db_clusters(DBClusterIdentifier="c1-retired")["DBClusters"][0]
    assert after["Status"] == "renaming"
    wait_for(lambda: cluster_status(rds, "c1-retired") == "available")
    after = rds.describe_db_clusters(DBClusterIdentifier="c1-retired")["DBClusters"][0]
    assert after["DbClusterResourceId"] == before["DbClusterResourceId"]
    assert {t["Key"]: t["Value"] for t in after["TagList"]} == {"team": "data"}
    assert after["Endpoint"].startswith("c1-retired.cluster-")
    assert sorted(m["DBInstanceIdentifier"] for m in after["DBClusterMembers"]) == ["c1-1", "c1-2"]
    for n in (1, 2):
        inst = rds.describe_db_instances(DBInstanceIdentifier=f"c1-{n}")["DBInstances"][0]
        assert inst["DBClusterIdentifier"] == "c1-retired"

    # The freed name can be taken by another cluster; a taken name is refused.
    create_cluster(rds, "c2")
    rds.modify_db_cluster(
        DBClusterIdentifier="c2", NewDBClusterIdentifier="c1", ApplyImmediately=True
    )
    wait_for(lambda: cluster_status(rds, "c1") == "available")
    with pytest.raises(ClientError, match="DBClusterAlreadyExistsFault"):
        rds.modify_db_cluster(
            DBClusterIdentifier="c1", NewDBClusterIdentifier="c1-retired", ApplyImmediately=True
        )
    with pytest.raises(ClientError, match="DBClusterNotFoundFault"):
        rds.modify_db_cluster(
            DBClusterIdentifier="nope", NewDBClusterIdentifier="c3", ApplyImmediately=True
        )
    # The instances stay with the cluster they belong to, and it can be deleted after them.
    retired = rds.describe_db_clusters(DBClusterIdentifier="c1-retired")["DBClusters"][0]
    assert len(retired["DBClusterMembers"]) == 2
    assert (
        rds.describe_db_clusters(DBClusterIdentifier="c1")["DBClusters"][0]["DBClusterMembers"]
        == []
    )
