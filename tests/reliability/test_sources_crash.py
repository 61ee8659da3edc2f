"""Crashes around RestoreDBClusterToPointInTime (source.method PointInTime and Clone): the
run completes with exactly one restore call, whether the process died just before the
call or just after AWS accepted it (the restarted run adopts the cluster by its tag)."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.conftest import SOURCE, World

from .helpers import crash_at, run_resuming

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
