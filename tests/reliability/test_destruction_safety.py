"""Destruction safety: every way a restore could delete what it must not, each proving that
no Delete call was made (or no further one, when the rails change their verdict midway).

Rows already covered in tests/pipeline/test_safety.py (listed in docs/reliability.md):
existing cluster with existingCluster Fail, unmanaged cluster, deletion-protected cluster,
owner tag of another namespace, replaceAllowed pattern that does not match, target that is
the snapshot's own cluster, and a cluster recreated by someone else between check and delete.
"""

from __future__ import annotations

from typing import Any

import pytest

from aurora_restore.driver import Driver
from aurora_restore_sandbox.aws import DropRequest
from support.aws import create_cluster
from support.world import (
    MANAGED,
    SOURCE,
    TARGET,
    World,
    cross_region_spec,
    existing_staging,
    same_region_spec,
)

from .helpers import run_ticks

DELETES = ("DeleteDBCluster", "DeleteDBInstance", "DeleteDBClusterSnapshot")


def deletes(world: World) -> dict[str, int]:
    return {op: world.aws.count(op) for op in DELETES}


def cluster(world: World, region: str = SOURCE, name: str = "staging") -> dict[str, Any]:
    return world.client("rds", region).describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][
        0
    ]


@pytest.mark.parametrize(
    "spec",
    [
        {
            "source": {"region": SOURCE, "clusterIdentifier": "prod"},
            "target": {"region": SOURCE, "clusterIdentifier": "prod", "existingCluster": "Replace"},
        },
        {
            "source": {"region": SOURCE, "snapshotIdentifier": "rds:prod-2026-11-26-03-00"},
            "target": {"region": SOURCE, "clusterIdentifier": "prod", "existingCluster": "Replace"},
        },
        {
            "source": {
                "region": SOURCE,
                "snapshotIdentifier": "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:"
                "rds:prod-2026-11-26-03-00",
            },
            "target": {"region": SOURCE, "clusterIdentifier": "PROD", "existingCluster": "Replace"},
        },
    ],
    ids=["by-cluster", "automated-snapshot-name", "automated-snapshot-arn-upper-case"],
)
def test_target_is_the_source_cluster_is_rejected_before_any_aws_call(
    world: World, spec: dict[str, Any]
) -> None:
    status, _ = world.run(spec)
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "ValidationError"
    assert {svc for svc, _, _ in world.aws.call_records()} <= {"dynamodb", "monitoring"}
    assert cluster(world, name="prod")["Status"] == "available"


def _replace_until(world: World, spec: dict[str, Any], change: Any) -> tuple[dict[str, Any], Any]:
    """Replace a managed two-instance cluster; once the first instance is being deleted,
    ``change`` the cluster (as someone else would), and run on."""
    rds = world.client("rds")
    done: list[bool] = []

    def between(driver: Driver, status: dict[str, Any]) -> None:
        if not done and status.get("replaced") and world.aws.count("DeleteDBInstance") == 1:
            change(rds, status["replaced"]["arn"])
            done.append(True)

    status, ticks = run_ticks(world, spec, between)
    assert done
    return status, ticks


MIDWAY_CHANGES = [
    (
        "deletion protection switched on",
        lambda rds, arn: rds.modify_db_cluster(
            DBClusterIdentifier="staging", DeletionProtection=True, ApplyImmediately=True
        ),
        "DeletionProtection",
    ),
    (
        "managed-by tag removed",
        lambda rds, arn: rds.remove_tags_from_resource(
            ResourceName=arn, TagKeys=["dbrestore.io/managed-by"]
        ),
        "UnmanagedCluster",
    ),
    (
        "handed to another namespace",
        lambda rds, arn: rds.add_tags_to_resource(
            ResourceName=arn, Tags=[{"Key": "dbrestore.io/owner", "Value": "team-b/nightly"}]
        ),
        "ForeignOwner",
    ),
]


@pytest.mark.parametrize(
    ("label", "change", "code"), MIDWAY_CHANGES, ids=[c[0] for c in MIDWAY_CHANGES]
)
def test_rails_are_checked_again_before_every_delete(
    world: World, label: str, change: Any, code: str
) -> None:
    existing_staging(world, MANAGED, instances=2)
    status, _ = _replace_until(world, same_region_spec(existingCluster="Replace"), change)
    assert status["phase"] == "Failed"
    assert (status["error"]["type"], status["error"]["code"]) == ("SafetyViolation", code)
    # The first instance was deleted while the rails allowed it; nothing after the change.
    assert deletes(world) == {
        "DeleteDBCluster": 0,
        "DeleteDBInstance": 1,
        "DeleteDBClusterSnapshot": 0,
    }
    assert cluster(world)["Status"] == "available"
    assert world.aws.count("RestoreDBClusterFromSnapshot") == 0


def test_replace_allowed_never_overrides_deletion_protection(world: World) -> None:
    existing_staging(world, deletion_protection=True)
    status, _ = world.run(
        same_region_spec(existingCluster="Replace"),
        driver=world.driver(AURORA_RESTORE_REPLACE_ALLOWED="staging*"),
    )
    assert status["error"]["code"] == "DeletionProtection"
    assert deletes(world) == dict.fromkeys(DELETES, 0)


def test_cluster_created_by_someone_else_before_the_restore_is_not_overwritten(
    world: World,
) -> None:
    """Someone creates a cluster with the target's name right after delete-rds found none.
    restore-snapshot looks again before restoring, but a look earlier in the same tick counts
    as fresh, so the restore call goes out; AWS refuses a restore onto an existing cluster
    (moto would silently replace it, so the sandbox is told to answer as AWS does). Either
    way nothing is overwritten or deleted, and the restore fails clearly."""
    made: list[str] = []
    rds = world.client("rds")

    def someone_else(*_: str) -> None:
        rds.create_db_cluster(
            DBClusterIdentifier="staging",
            Engine="aurora-postgresql",
            MasterUsername="postgres",
            MasterUserPassword="someone-elses",
        )
        made.append("staging")

    def as_aws_does(*_: str) -> None:
        if rds.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": ["staging"]}])[
            "DBClusters"
        ]:
            raise DropRequest("DBClusterAlreadyExistsFault", 400, "DB cluster already exists")

    world.aws.on_call("RestoreDBClusterFromSnapshot", before=as_aws_does, times=None)

    def between(driver: Driver, status: dict[str, Any]) -> None:
        if status.get("snapshot") and not made:
            world.aws.on_call("DescribeDBClusters", after=someone_else, times=1)

    status, ticks = run_ticks(world, same_region_spec(), between)
    assert made
    assert status["phase"] == "Failed"
    assert status["error"]["step"] == "restore-snapshot"
    assert status["error"]["code"] in ("ClusterAlreadyExists", "DBClusterAlreadyExistsFault")
    assert deletes(world) == dict.fromkeys(DELETES, 0)
    survivor = cluster(world)
    assert survivor["Status"] == "available"
    assert not [t for t in survivor.get("TagList", []) if t["Key"].startswith("dbrestore.io/")]


def test_instance_name_taken_by_another_cluster_is_not_touched(world: World) -> None:
    rds = world.client("rds")
    create_cluster(rds, "other", "someone-elses")
    rds.create_db_instance(
        DBInstanceIdentifier="staging-1",
        DBClusterIdentifier="other",
        Engine="aurora-postgresql",
        DBInstanceClass="db.r6g.large",
    )
    world.aws.reset_calls()
    status, _ = world.run(same_region_spec())
    assert status["phase"] == "Failed"
    assert status["error"]["code"] == "DBInstanceAlreadyExists"
    assert deletes(world) == dict.fromkeys(DELETES, 0)
    assert world.aws.count("CreateDBInstance") == 0


def test_copy_name_taken_by_a_foreign_snapshot_is_neither_used_nor_deleted(world: World) -> None:
    target = world.client("rds", TARGET)
    create_cluster(target, "theirs", "someone-elses")
    target.create_db_cluster_snapshot(
        DBClusterIdentifier="theirs", DBClusterSnapshotIdentifier="their-snapshot"
    )
    world.aws.reset_calls()
    spec = cross_region_spec()
    spec["copy"]["targetSnapshotIdentifier"] = "their-snapshot"
    status, _ = world.run(spec)
    assert (status["error"]["type"], status["error"]["code"]) == (
        "SafetyViolation",
        "SnapshotAlreadyExists",
    )
    assert world.aws.count("CopyDBClusterSnapshot") == 0
    assert deletes(world) == dict.fromkeys(DELETES, 0)
    snaps = target.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="their-snapshot")
    assert snaps["DBClusterSnapshots"][0]["Status"] == "available"


@pytest.mark.parametrize("policy", ["Delete", "Tag"])
def test_the_source_snapshot_is_never_archived(world: World, policy: str) -> None:
    spec = same_region_spec()
    spec["archive"] = {"policy": policy}
    status, _ = world.run(spec)
    assert status["phase"] == "Completed"
    assert deletes(world) == dict.fromkeys(DELETES, 0)
    assert world.aws.count("AddTagsToResource") == 0
    snap = world.client("rds").describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier="prod-manual-1"
    )["DBClusterSnapshots"][0]
    assert snap["Status"] == "available"
    assert not [t for t in snap.get("TagList", []) if t["Key"].startswith("dbrestore.io/")]


def _cleanup(world: World, spec: dict[str, Any], status: dict[str, Any]) -> Any:
    from .helpers import resource

    driver = world.driver()
    for _ in range(30):
        result = driver.cleanup(resource(spec, status), world.kube)
        if result.done:
            return result
        world.clock.advance(5)
    raise AssertionError("cleanup did not end")


@pytest.mark.parametrize("takeover", ["recreated-by-someone-else", "deletion-protected"], ids=str)
def test_deletion_policy_delete_keeps_what_is_no_longer_this_runs(
    world: World, takeover: str
) -> None:
    spec = same_region_spec(instances=1)
    spec["deletionPolicy"] = "Delete"
    spec["archive"] = {"policy": "Retain"}
    status, _ = world.run(spec)
    assert status["phase"] == "Completed"
    rds = world.client("rds")
    if takeover == "deletion-protected":
        rds.modify_db_cluster(
            DBClusterIdentifier="staging", DeletionProtection=True, ApplyImmediately=True
        )
    else:
        world.aws.settle()
        rds.delete_db_instance(DBInstanceIdentifier="staging-1", SkipFinalSnapshot=True)
        world.aws.settle()
        rds.delete_db_cluster(DBClusterIdentifier="staging", SkipFinalSnapshot=True)
        world.aws.settle()
        rds.create_db_cluster(
            DBClusterIdentifier="staging",
            Engine="aurora-postgresql",
            MasterUsername="postgres",
            MasterUserPassword="someone-elses",
            Tags=[{"Key": k, "Value": v} for k, v in MANAGED.items()],
        )
    world.aws.reset_calls()
    result = _cleanup(world, spec, status)
    assert "kept" in result.message
    # Not even the instances of a protected cluster (it would be kept, but without compute).
    assert deletes(world) == dict.fromkeys(DELETES, 0)
    assert cluster(world)["Status"] == "available"
