"""N restores waiting in one region cost one Describe per tick, not N (server-side counts)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Wait:
    """What N restores wait on together, and the one Describe that answers them all."""

    name: str
    model: str
    spec: Callable[[str], dict[str, Any]]
    message: str
    started: str  # the call that began what each waits on: once per restore
    describe: str
    region: str


COPIES = Wait(
    "copies",
    RDS_CLUSTER_SNAPSHOT,
    cross_region,
    "Snapshot copy is still in progress",
    "CopyDBClusterSnapshot",
    "DescribeDBClusterSnapshots",
    TARGET,
)
CLUSTERS = Wait(
    "clusters",
    RDS_CLUSTER,
    same_region,
    "Cluster restore is still in progress",
    "RestoreDBClusterFromSnapshot",
    "DescribeDBClusters",
    SOURCE,
)
INSTANCES = Wait(
    "instances",
    RDS_INSTANCE,
    same_region,
    "Waiting for instances to be available",
    "CreateDBInstance",
    "DescribeDBInstances",
    SOURCE,
)


def _all_waiting(fleet: Fleet, wait: Wait, n: int = N) -> None:
    fleet.aws.set_transition(wait.model, STUCK)
    for i in range(n):
        fleet.add(f"{wait.name}-{i}", wait.spec(f"staging-{i}"))
    fleet.run_until(_waiting(wait.message))


@pytest.mark.parametrize("wait", [COPIES, CLUSTERS, INSTANCES], ids=lambda w: w.name)
def test_restores_waiting_together_share_one_describe(fleet: Fleet, wait: Wait) -> None:
    _all_waiting(fleet, wait)
    assert fleet.aws.count(wait.started, wait.region) == N
    _rounds_cost_one_describe(fleet, wait.describe, wait.region)


def test_the_cost_does_not_grow_with_the_number_of_restores(fleet: Fleet) -> None:
    _all_waiting(fleet, COPIES, 3 * N)
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
