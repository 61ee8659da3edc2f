"""Replacing an existing cluster happens only through the rails; every refusal proves that no
Delete call was made and the cluster is untouched."""

from __future__ import annotations

from typing import Any

import pytest

from support.world import MANAGED, World, existing_staging, same_region_spec

DELETES = ("DeleteDBCluster", "DeleteDBInstance")


def assert_untouched(world: World, arn: str) -> None:
    assert all(world.aws.count(op) == 0 for op in DELETES)
    clusters = world.client("rds").describe_db_clusters(DBClusterIdentifier="staging")["DBClusters"]
    assert clusters[0]["DBClusterArn"] == arn and clusters[0]["Status"] == "available"


def test_replaces_a_managed_cluster_instances_first(world: World) -> None:
    old_arn = existing_staging(world, MANAGED, instances=2)
    status, _ = world.run(same_region_spec(existingCluster="Replace"))
    assert status["phase"] == "Completed", status.get("error")
    assert status["replaced"]["arn"] == old_arn
    assert sorted(status["replaced"]["instances"]) == ["staging-old-0", "staging-old-1"]
    ops = [op for op, _ in world.aws.calls("rds") if op.startswith("Delete")]
    assert ops == ["DeleteDBInstance", "DeleteDBInstance", "DeleteDBCluster"]
    new = world.client("rds").describe_db_clusters(DBClusterIdentifier="staging")["DBClusters"][0]
    assert new["DBClusterArn"] != old_arn or status["operationId"] in str(new["TagList"])


def test_replaces_an_untagged_cluster_matching_replace_allowed(world: World) -> None:
    existing_staging(world)
    driver = world.driver(AURORA_RESTORE_REPLACE_ALLOWED="qa-*, staging*")
    status, _ = world.run(same_region_spec(existingCluster="Replace"), driver=driver)
    assert status["phase"] == "Completed", status
    assert world.aws.count("DeleteDBCluster") == 1


CASES: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("existing cluster with existingCluster Fail", {"tags": MANAGED}, {}, "ClusterAlreadyExists"),
    ("unmanaged cluster", {}, {"existingCluster": "Replace"}, "UnmanagedCluster"),
    (
        "deletion-protected managed cluster",
        {"tags": MANAGED, "deletion_protection": True},
        {"existingCluster": "Replace"},
        "DeletionProtection",
    ),
    (
        "managed by another namespace",
        {"tags": {**MANAGED, "dbrestore.io/owner": "team-b/nightly"}},
        {"existingCluster": "Replace"},
        "ForeignOwner",
    ),
]


@pytest.mark.parametrize(("label", "existing", "target", "code"), CASES, ids=[c[0] for c in CASES])
def test_refusals_delete_nothing(
    world: World, label: str, existing: dict[str, Any], target: dict[str, Any], code: str
) -> None:
    arn = existing_staging(world, **existing)
    status, ticks = world.run(same_region_spec(**target))
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "SafetyViolation"
    assert status["error"]["code"] == code
    # Caught by the preflight, before the first mutating call.
    assert status["error"]["step"] == "snapshot-check"
    assert any(
        e.type == "Warning" and e.reason == "SafetyViolation" for t in ticks for e in t.events
    )
    assert_untouched(world, arn)
    assert world.aws.count("RestoreDBClusterFromSnapshot") == 0


def test_replace_allowed_pattern_that_does_not_match_refuses(world: World) -> None:
    arn = existing_staging(world)
    driver = world.driver(AURORA_RESTORE_REPLACE_ALLOWED="qa-*")
    status, _ = world.run(same_region_spec(existingCluster="Replace"), driver=driver)
    assert status["error"]["code"] == "UnmanagedCluster"
    assert_untouched(world, arn)


def test_target_is_the_snapshots_own_cluster(world: World) -> None:
    # The spec cannot see it (the snapshot is named, not its cluster), so snapshot-check does.
    spec = same_region_spec(clusterIdentifier="prod", existingCluster="Replace")
    status, _ = world.run(spec)
    assert status["phase"] == "Failed"
    # The preflight's rails refuse it (prod is not managed by the operator).
    assert status["error"]["type"] == "SafetyViolation"
    assert status["error"]["step"] == "snapshot-check"
    assert all(world.aws.count(op) == 0 for op in DELETES)


def test_cluster_recreated_by_someone_else_between_check_and_delete(world: World) -> None:
    from aurora_restore.driver import Resource

    existing_staging(world, MANAGED, instances=1)
    spec = same_region_spec(existingCluster="Replace")
    driver = world.driver()
    status = None
    # Run until the operator has recorded the cluster it is replacing.
    for _ in range(20):
        tick = driver.tick(
            Resource("staging-refresh", "databases", "uid-1", 1, spec, status), world.kube
        )
        status = tick.status.to_dict()
        if status.get("replaced"):
            break
    assert world.aws.count("DeleteDBInstance") == 1 and world.aws.count("DeleteDBCluster") == 0
    # Someone deletes it and creates a different cluster under the same name.
    rds = world.client("rds")
    world.aws.settle()
    rds.delete_db_cluster(DBClusterIdentifier="staging", SkipFinalSnapshot=True)
    world.aws.settle()
    world.aws.reset_calls()
    newcomer = rds.create_db_cluster(
        DBClusterIdentifier="staging",
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword="someone-elses",
        Tags=[{"Key": k, "Value": v} for k, v in MANAGED.items()],
    )["DBCluster"]["DBClusterArn"]
    world.aws.reset_calls()
    status, _ = world.run(spec, driver=driver, status=status)
    assert status["phase"] == "Failed"
    assert status["error"]["code"] == "ClusterRecreated"
    assert_untouched(world, newcomer)
