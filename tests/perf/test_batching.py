"""N restores waiting in one region cost one Describe per tick, not N (server-side counts)."""

from __future__ import annotations

import pytest

from aurora_restore_sandbox.aws import RDS_CLUSTER, RDS_CLUSTER_SNAPSHOT, RDS_INSTANCE

from .conftest import SOURCE, TARGET, Fleet, cross_region, same_region

N = 12
# Each in-progress state lasts this many describes: "forever" for these tests.
STUCK = {"progression": "manual", "times": 100_000}


def _waiting(message: str):
    return lambda status: (status.get("message") or "").startswith(message)


def _rounds_cost_one_describe(fleet: Fleet, operation: str, region: str) -> None:
    ttl = fleet.driver.rds.tuning.cache_ttl  # type: ignore[union-attr]
    for concurrent in (False, True, True):
        fleet.clock.advance(ttl + 1)
        fleet.aws.reset_calls()
        ticks = fleet.round(concurrent=concurrent)
        assert all(t.status.phase.value not in ("Failed", "Completed") for t in ticks)
        assert fleet.aws.count(operation, region) == 1, fleet.aws.calls("rds")
        # ... and nothing else of RDS was asked while everyone only waits.
        assert {op for op, _ in fleet.aws.calls("rds")} == {operation}


def test_restores_waiting_on_copies_share_one_describe(fleet: Fleet) -> None:
    fleet.aws.set_transition(RDS_CLUSTER_SNAPSHOT, STUCK)
    for i in range(N):
        fleet.add(f"copy-{i}", cross_region(f"staging-{i}"))
    fleet.run_until(_waiting("Snapshot copy is still in progress"))
    assert fleet.aws.count("CopyDBClusterSnapshot", TARGET) == N
    _rounds_cost_one_describe(fleet, "DescribeDBClusterSnapshots", TARGET)


def test_restores_waiting_on_clusters_share_one_describe(fleet: Fleet) -> None:
    fleet.aws.set_transition(RDS_CLUSTER, STUCK)
    for i in range(N):
        fleet.add(f"cluster-{i}", same_region(f"staging-{i}"))
    fleet.run_until(_waiting("Cluster restore is still in progress"))
    _rounds_cost_one_describe(fleet, "DescribeDBClusters", SOURCE)


def test_restores_waiting_on_instances_share_one_describe(fleet: Fleet) -> None:
    fleet.aws.set_transition(RDS_INSTANCE, STUCK)
    for i in range(N):
        fleet.add(f"instances-{i}", same_region(f"staging-{i}"))
    fleet.run_until(_waiting("Waiting for instances to be available"))
    assert fleet.aws.count("CreateDBInstance", SOURCE) == N
    _rounds_cost_one_describe(fleet, "DescribeDBInstances", SOURCE)


def test_the_cost_does_not_grow_with_the_number_of_restores(fleet: Fleet) -> None:
    fleet.aws.set_transition(RDS_CLUSTER_SNAPSHOT, STUCK)
    for i in range(3 * N):
        fleet.add(f"copy-{i}", cross_region(f"staging-{i}"))
    fleet.run_until(_waiting("Snapshot copy is still in progress"))
    per_round = []
    for _ in range(3):
        fleet.clock.advance(30)
        fleet.aws.reset_calls()
        fleet.round(concurrent=True)
        per_round.append(fleet.aws.count("DescribeDBClusterSnapshots"))
    assert per_round == [1, 1, 1]


def test_all_complete_with_batching(fleet: Fleet) -> None:
    for model in (RDS_CLUSTER_SNAPSHOT, RDS_CLUSTER, RDS_INSTANCE):
        fleet.aws.set_transition(model, {"progression": "manual", "times": 3})
    for i in range(N):
        fleet.add(f"all-{i}", cross_region(f"staging-{i}"))
    fleet.run_until(lambda s: s.get("phase") in ("Completed", "Failed"), rounds=80)
    assert {fleet.phase(n) for n in fleet.specs} == {"Completed"}
    assert fleet.aws.count("CopyDBClusterSnapshot") == N
    assert fleet.aws.count("RestoreDBClusterFromSnapshot") == N
    assert fleet.aws.count("CreateDBInstance") == N


@pytest.mark.parametrize("batching", ["false"])
def test_without_batching_each_restore_asks_for_itself(fleet: Fleet, batching: str) -> None:
    fleet.make_driver(AURORA_RESTORE_AWS_BATCHING=batching)
    fleet.aws.set_transition(RDS_CLUSTER, STUCK)
    for i in range(N):
        fleet.add(f"cluster-{i}", same_region(f"staging-{i}"))
    fleet.run_until(_waiting("Cluster restore is still in progress"))
    fleet.aws.reset_calls()
    fleet.round()
    assert fleet.aws.count("DescribeDBClusters", SOURCE) == N
