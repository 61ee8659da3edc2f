"""Tenancy at driver level: a run never adopts a cluster another run made (ForeignRun), and
a second run of a held target waits (TargetBusy) without a mutating call."""

from __future__ import annotations

from typing import Any

from aurora_restore.driver import Resource
from support.world import SOURCE, World, same_region_spec

from .helpers import MUTATING, counts


def _spec(world: World) -> dict[str, Any]:
    world.kube.secrets["staging-master"] = {"password": "new-master-pw"}
    return {
        **same_region_spec(instances=1, existingCluster="Replace"),
        "masterPassword": {"secretRef": {"name": "staging-master"}},
    }


def _tick_until(world: World, driver: Any, res: Resource, until: Any) -> dict[str, Any]:
    status = res.status
    for _ in range(100):
        tick = driver.tick(
            Resource(res.name, res.namespace, res.uid, res.generation, res.spec, status), world.kube
        )
        status = tick.status.to_dict()
        if until(status) or tick.requeue_after is None:
            return status
        world.clock.advance(max(tick.requeue_after, 1.0))
    raise AssertionError(status)


def test_a_run_does_not_adopt_a_cluster_another_run_tagged(world: World) -> None:
    spec = _spec(world)
    driver = world.driver()
    res = Resource("a", "databases", "uid-a", 1, spec, None)
    status = _tick_until(
        world, driver, res, lambda s: s.get("phase") == "RestoringCluster" and s.get("cluster")
    )
    # Meanwhile another run replaced the cluster: same identifier, its own operation id.
    rds = world.client("rds", SOURCE)
    arn = rds.describe_db_clusters(DBClusterIdentifier="staging")["DBClusters"][0]["DBClusterArn"]
    rds.add_tags_to_resource(
        ResourceName=arn,
        Tags=[
            {"Key": "dbrestore.io/operation-id", "Value": "op-someoneelse"},
            {"Key": "dbrestore.io/owner", "Value": "databases/b"},
        ],
    )
    before = counts(world)
    res = Resource("a", "databases", "uid-a", 1, spec, status)
    status = _tick_until(world, driver, res, lambda s: s.get("phase") == "Failed")
    assert status["phase"] == "Failed"
    assert (status["error"]["type"], status["error"]["code"]) == ("SafetyViolation", "ForeignRun")
    assert "op-someoneelse" in status["error"]["message"]
    after = counts(world)
    # Nothing more on the target: no instance, no password reset (the notification aside).
    assert {op: after[op] - before[op] for op in MUTATING if op != "Publish"} == dict.fromkeys(
        (op for op in MUTATING if op != "Publish"), 0
    )


def test_a_second_run_of_a_held_target_waits_without_calls(world: World) -> None:
    spec = _spec(world)
    driver = world.driver()
    first = _tick_until(
        world,
        driver,
        Resource("a", "databases", "uid-a", 1, spec, None),
        lambda s: s.get("phase") == "RestoringCluster",
    )
    before = counts(world)
    second = _tick_until(
        world,
        driver,
        Resource("b", "databases", "uid-b", 1, spec, None),
        lambda s: "holds it" in (s.get("message") or ""),
    )
    assert second["phase"] == "DeletingExistingCluster"
    assert first["operationId"] in second["message"] and "databases/a" in second["message"]
    progressing = next(c for c in second["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "TargetBusy")
    assert counts(world) == before, "no mutating call while waiting"


def test_the_lease_table_grants_one_holder_then_takeover_only_after_expiry(world: World) -> None:
    import threading

    from aurora_restore.aws.clients import Clients
    from aurora_restore.aws.leases import DynamoLeases

    driver = world.driver()
    driver.records.check_tables(True)
    now = [1_000_000.0]

    def leases() -> DynamoLeases:
        # A fresh adapter per caller: no renewal cache, every answer from the table.
        return DynamoLeases(
            Clients(world.session), SOURCE, "aurora-restore-state", 60, lambda: now[0]
        )

    granted: list[str] = []

    def take(op: str) -> None:
        if leases().hold(SOURCE, "Contested", f"ns/{op}", op) is None:
            granted.append(op)

    threads = [threading.Thread(target=take, args=(f"op-{n}",)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 1, granted
    holder = granted[0]
    other = "op-late"
    busy = leases().hold(SOURCE, "contested", "ns/late", other)
    assert busy is not None and (busy.owner, busy.operation_id) == (f"ns/{holder}", holder)
    now[0] += 59
    assert leases().hold(SOURCE, "contested", "ns/late", other) is not None, "not expired yet"
    now[0] += 2
    assert leases().hold(SOURCE, "contested", "ns/late", other) is None, "taken over"
    assert leases().hold(SOURCE, "contested", f"ns/{holder}", holder) is not None
    leases().release(SOURCE, "contested", holder)  # not the holder any more: no effect
    assert leases().hold(SOURCE, "contested", "ns/third", "op-third") is not None
    leases().release(SOURCE, "contested", other)
    assert leases().hold(SOURCE, "contested", "ns/third", "op-third") is None, "released"
    assert leases().signing_key() == leases().signing_key() and len(leases().signing_key()) == 32
