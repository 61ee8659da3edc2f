"""Crashes around RestoreDBClusterToPointInTime (source.method PointInTime and Clone): the
run completes with exactly one restore call, whether the process died just before the
call or just after AWS accepted it (the restarted run adopts the cluster by its tag).
And deletionPolicy: Delete removes a clone, never its source."""

from __future__ import annotations

import datetime as dt

import pytest

from support.world import SOURCE, World

from .helpers import crash_at, resource, run_resuming

OPERATION = "RestoreDBClusterToPointInTime"


def spec(method: str) -> dict:
    source = {"region": SOURCE, "method": method, "clusterIdentifier": "prod"}
    if method == "PointInTime":
        source["restoreTime"] = "latest"
    return {"source": source, "target": {"region": SOURCE, "clusterIdentifier": "staging"}}


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("method", ["PointInTime", "Clone"])
def test_crash_around_the_restore_call(world: World, method: str, when: str) -> None:
    world.aws.set_restorable_window(SOURCE, "prod", dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    with crash_at(world.session, OPERATION, when) as fired:
        status, _, crashes = run_resuming(world, spec(method))
    assert fired and crashes == 1
    assert status["phase"] == "Completed", status.get("error")
    assert world.aws.count(OPERATION) == 1
    assert status["source"]["restoreTime"]
    made = world.client("rds").describe_db_clusters(DBClusterIdentifier="staging")["DBClusters"]
    tags = {t["Key"]: t["Value"] for t in made[0]["TagList"]}
    # The time reported is the one the cluster was made with, also after a lost tick.
    assert tags["dbrestore.io/restore-time"] == status["source"]["restoreTime"]


def test_deletion_policy_delete_removes_the_clone_never_its_source(world: World) -> None:
    doc = spec("Clone")
    doc["deletionPolicy"] = "Delete"
    status, _, _ = run_resuming(world, doc)
    assert status["phase"] == "Completed"
    driver = world.driver()
    for _ in range(30):
        result = driver.cleanup(resource(doc, status), world.kube)
        if result.done:
            break
        world.clock.advance(5)
    assert result.done, result.message
    assert world.aws.count("DeleteDBInstance") == 1 and world.aws.count("DeleteDBCluster") == 1
    rds = world.client("rds")
    left = rds.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": ["staging"]}])
    assert [c["Status"] for c in left["DBClusters"]] in ([], ["deleting"])
    source = rds.describe_db_clusters(DBClusterIdentifier="prod")["DBClusters"][0]
    assert source["Status"] == "available"
