"""The demo's AWS data: a production-like source cluster with snapshots and a restorable
window, and a target network, created through the AWS APIs of a running stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from .server import AwsSandbox


def _day_at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def _days(today: date, days: int) -> Iterator[date]:
    for offset in range(1, days + 1):
        yield today - timedelta(days=offset)


def create_cluster(rds: Any, identifier: str, password: str, **params: Any) -> dict[str, Any]:
    """An Aurora PostgreSQL cluster with master user ``postgres``, through ``rds`` (a client
    of the stand-in); ``params`` are any other CreateDBCluster parameters."""
    return rds.create_db_cluster(
        DBClusterIdentifier=identifier,
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword=password,
        **params,
    )["DBCluster"]


def seed_demo_data(
    endpoint_url: str,
    source_region: str = "us-east-1",
    target_region: str = "us-west-2",
    cluster: str = "prod",
    days: int = 3,
    today: date | None = None,
) -> dict[str, Any]:
    """A production-like source cluster with snapshots and a restorable window going back
    ``days`` days, and a target network.

    Source region: an encrypted, tagged, deletion-protected Aurora PostgreSQL
    cluster ``cluster`` with one instance; for each of the last ``days`` days
    an automated snapshot ``rds:<cluster>-<yyyy-mm-dd>-03-00`` taken at 03:00
    UTC and a manual one ``<cluster>-manual-<yyyy-mm-dd>`` at 12:00 UTC.
    Automated-ness and the creation times are set in the server's process
    through ``/_sandbox/rds/cluster-snapshot``, because RDS has no API for
    them. moto's own automated snapshot from the cluster's creation (today)
    is left as it is.

    Target region: a KMS key aliased ``alias/staging``, a VPC with three
    subnets, a security group open to PostgreSQL from the VPC, and a DB subnet
    group ``staging-subnets``.
    """
    sandbox = AwsSandbox.attach(endpoint_url)
    today = today or datetime.now(UTC).date()
    rds = sandbox.client("rds", source_region)
    kms = sandbox.client("kms", source_region)

    source_key = kms.create_key(Description=f"{cluster} Aurora storage")["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/{cluster}-aurora", TargetKeyId=source_key["KeyId"])
    tags = [
        {"Key": "environment", "Value": "production"},
        {"Key": "team", "Value": "payments"},
        {"Key": "cost-center", "Value": "cc-1234"},
    ]
    created = create_cluster(
        rds,
        cluster,
        "prod-secret-password",
        EngineVersion="15.4",
        DatabaseName="app",
        Port=5432,
        StorageEncrypted=True,
        KmsKeyId=source_key["Arn"],
        DeletionProtection=True,
        CopyTagsToSnapshot=True,
        Tags=tags,
    )
    instance_id = f"{cluster}-1"
    rds.create_db_instance(
        DBInstanceIdentifier=instance_id,
        DBClusterIdentifier=cluster,
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
        Tags=tags,
    )

    automated: list[str] = []
    manual: list[str] = []
    for day in _days(today, days):
        for snapshot_id, snapshot_type, taken_at in (
            (f"rds:{cluster}-{day.isoformat()}-03-00", "automated", _day_at(day, 3)),
            (f"{cluster}-manual-{day.isoformat()}", "manual", _day_at(day, 12)),
        ):
            rds.create_db_cluster_snapshot(
                DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier=snapshot_id, Tags=tags
            )
            sandbox.edit_cluster_snapshot(
                source_region, snapshot_id, snapshot_type=snapshot_type, created_at=taken_at
            )
            (automated if snapshot_type == "automated" else manual).append(snapshot_id)

    target_kms = sandbox.client("kms", target_region)
    target_key = target_kms.create_key(Description="staging Aurora storage")["KeyMetadata"]
    target_kms.create_alias(AliasName="alias/staging", TargetKeyId=target_key["KeyId"])

    ec2 = sandbox.client("ec2", target_region)
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.42.{index}.0/24", AvailabilityZone=f"{target_region}{az}"
        )["Subnet"]["SubnetId"]
        for index, az in enumerate("abc", start=1)
    ]
    sg_id = ec2.create_security_group(
        GroupName="staging-aurora", Description="staging Aurora PostgreSQL", VpcId=vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "IpRanges": [{"CidrIp": "10.42.0.0/16"}],
            }
        ],
    )
    target_rds = sandbox.client("rds", target_region)
    target_rds.create_db_subnet_group(
        DBSubnetGroupName="staging-subnets",
        DBSubnetGroupDescription="staging Aurora subnets",
        SubnetIds=subnet_ids,
    )
    # Its continuous backups go back as far as its oldest snapshot, for point-in-time restores.
    sandbox.set_restorable_window(source_region, cluster, _day_at(today - timedelta(days), 0))
    # Seeded data is history: nothing of it should still be "creating".
    sandbox.settle(source_region)
    sandbox.settle(target_region)

    return {
        "source": {
            "region": source_region,
            "cluster": cluster,
            "cluster_arn": created["DBClusterArn"],
            "instance": instance_id,
            "kms_key_arn": source_key["Arn"],
            "automated_snapshots": automated,
            "manual_snapshots": manual,
        },
        "target": {
            "region": target_region,
            "kms_key_id": target_key["KeyId"],
            "kms_key_arn": target_key["Arn"],
            "kms_alias": "alias/staging",
            "vpc_id": vpc_id,
            "subnet_ids": subnet_ids,
            "security_group_id": sg_id,
            "db_subnet_group": "staging-subnets",
        },
    }
