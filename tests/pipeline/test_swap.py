"""existingCluster: Swap on the stand-in: restore alongside under a temporary name, rename the
old cluster away and the new one into its name, delete the retired one; the rails; the
failure behaviour (undo-swap). The crash matrix over the swap is in
tests/reliability/test_swap_crashes.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from aurora_restore.driver import Resource, Tick
from aurora_restore.pipeline.context import operation_id, swap_identifiers
from aurora_restore_sandbox.aws import DropRequest
from aurora_restore_sandbox.postgres import PostgresSandbox
from support.world import MANAGED, SOURCE, World, db_spec, existing_staging, same_region_spec

OP = operation_id("uid-1", 1)
TEMPORARY, RETIRED = swap_identifiers("staging", OP)


@contextmanager
def deletes(world: World) -> Iterator[list[tuple[str, str]]]:
    """Every Delete call the operator sends: (operation, identifier), in order."""
    seen: list[tuple[str, str]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        name = params.get("DBClusterIdentifier") or params.get("DBInstanceIdentifier")
        seen.append((model.name, str(name)))

    events = [f"provide-client-params.rds.{op}" for op in ("DeleteDBCluster", "DeleteDBInstance")]
    for event in events:
        world.session.events.register(event, record)
    try:
        yield seen
    finally:
        for event in events:
            world.session.events.unregister(event, record)


@contextmanager
def renames(world: World) -> Iterator[list[tuple[str, str]]]:
    """Every rename sent: (from, to)."""
    seen: list[tuple[str, str]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if params.get("NewDBClusterIdentifier"):
            seen.append((params["DBClusterIdentifier"], params["NewDBClusterIdentifier"]))

    world.session.events.register("provide-client-params.rds.ModifyDBCluster", record)
    try:
        yield seen
    finally:
        world.session.events.unregister("provide-client-params.rds.ModifyDBCluster", record)


def describe(world: World, identifier: str) -> dict[str, Any] | None:
    found = world.client("rds").describe_db_clusters(
        Filters=[{"Name": "db-cluster-id", "Values": [identifier]}]
    )["DBClusters"]
    return found[0] if found else None


def tags(cluster: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in cluster.get("TagList") or []}


def run(
    world: World,
    spec: dict[str, Any],
    between: Callable[[dict[str, Any]], None] | None = None,
    driver: Any = None,
) -> tuple[dict[str, Any], list[Tick]]:
    driver = driver or world.driver()
    status: dict[str, Any] | None = None
    ticks: list[Tick] = []
    for _ in range(300):
        tick = driver.tick(
            Resource("staging-refresh", "databases", "uid-1", 1, spec, status), world.kube
        )
        ticks.append(tick)
        status = tick.status.to_dict()
        if tick.requeue_after is None:
            return status, ticks
        if between:
            between(status)
        world.clock.advance(max(tick.requeue_after, 1.0))
    raise AssertionError(status)


def step(status: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in status["steps"] if s["name"] == name)


def test_identifiers_are_valid_for_rds_and_fit_instance_names() -> None:
    for target in ("staging", "a" * 63, "a" * 39 + "-b" + "c" * 22):
        for name in swap_identifiers(target, OP):
            assert len(name) <= 60 and name[0].isalpha()
            assert "--" not in name and not name.endswith("-")
            assert len(f"{name}-16") <= 63
    temporary, retired = swap_identifiers("staging", OP)
    assert temporary != retired and OP in temporary and OP in retired


def test_swap_over_a_managed_cluster_with_two_instances(
    db_world: World,
    postgres: PostgresSandbox,
) -> None:
    world = db_world
    old_arn = existing_staging(world, MANAGED, instances=2)
    old = describe(world, "staging")
    assert old
    spec = db_spec()
    spec["target"].update(existingCluster="Swap", instances=2)

    serving: list[str | None] = []

    def watch(_: dict[str, Any]) -> None:
        # Until the swap, the old cluster keeps its name: staging is never without a cluster
        # except between the two renames.
        held = describe(world, "staging")
        serving.append(held["DbClusterResourceId"] if held else None)

    with deletes(world) as deleted, renames(world) as renamed:
        status, ticks = run(world, spec, between=watch)
    assert status["phase"] == "Completed", status.get("error")

    # The new cluster holds the target name and endpoint, tagged with this run.
    new = describe(world, "staging")
    assert new and new["DbClusterResourceId"] != old["DbClusterResourceId"]
    assert tags(new)["dbrestore.io/operation-id"] == status["operationId"] == OP
    assert new["Endpoint"].startswith("staging.cluster-")
    assert sorted(m["DBInstanceIdentifier"] for m in new["DBClusterMembers"]) == [
        f"{TEMPORARY}-1",
        f"{TEMPORARY}-2",
    ]
    assert status["cluster"]["identifier"] == "staging"
    assert status["cluster"]["endpoint"] == new["Endpoint"]
    # The retired cluster and the temporary name are gone.
    assert describe(world, RETIRED) is None and describe(world, TEMPORARY) is None

    # Two renames, in this order, each once; nothing under the target name ever deleted:
    # only the old instances and the old cluster under its retired name.
    assert renamed == [("staging", RETIRED), (TEMPORARY, "staging")]
    assert sorted(deleted[:2]) == [
        ("DeleteDBInstance", "staging-old-0"),
        ("DeleteDBInstance", "staging-old-1"),
    ]
    assert deleted[2:] == [("DeleteDBCluster", RETIRED)]
    assert world.aws.count("RestoreDBClusterFromSnapshot") == 1
    # One password reset (of the temporary cluster) and two renames.
    assert world.aws.count("ModifyDBCluster") == 3

    # The old cluster served until the retire; then the new one.
    old_id = old["DbClusterResourceId"]
    first_new = next(i for i, held in enumerate(serving) if held not in (old_id,))
    assert set(serving[:first_new]) == {old_id}
    assert set(serving[first_new:]) <= {None, new["DbClusterResourceId"]}
    assert serving[-1] == new["DbClusterResourceId"]

    # setup-db-users ran against the temporary cluster's endpoint; the Secret has the final.
    setup = [
        a for a in world.audit(OP) if a["step"] == "setup-db-users" and a["status"] == "Succeeded"
    ]
    assert setup[0]["details"]["cluster_endpoint"].startswith(f"{TEMPORARY}.cluster-")
    assert world.kube.written["staging-db"]["host"] == new["Endpoint"]

    swap = status["swap"]
    assert (swap["target"], swap["temporary"], swap["retired"]) == ("staging", TEMPORARY, RETIRED)
    assert swap["oldResourceId"] == old_id and swap["oldArn"] == old_arn
    for key in ("retireRequestedAt", "retireFinishedAt", "swapRequestedAt", "swapFinishedAt"):
        assert swap[key], key
    assert swap["retireRequestedAt"] <= swap["swapRequestedAt"] <= swap["swapFinishedAt"]
    assert 0 <= swap["downtimeSeconds"] < 60
    # An event and an audit item per rename; status.steps shows the step.
    reasons = [e.reason for t in ticks for e in t.events]
    assert reasons.count("ClusterRetired") == 1 and reasons.count("ClusterSwapped") == 1
    done = [a["status"] for a in world.audit(OP) if a["step"] == "swap-clusters"]
    # The second part of a step spanning two phases is recorded by its reason (as
    # check-restore-status's instances are): the step itself succeeds once.
    assert done == ["Started", "Succeeded", "ClusterSwapped"]
    assert step(status, "swap-clusters")["state"] == "Succeeded"
    assert step(status, "delete-retired-cluster")["state"] == "Succeeded"
    assert step(status, "delete-rds")["state"] == "Skipped"
    assert step(status, "undo-swap")["state"] == "Skipped"


def test_swap_without_an_existing_cluster_is_a_plain_restore(world: World) -> None:
    with renames(world) as renamed:
        status, _ = run(world, same_region_spec(existingCluster="Swap"))
    assert status["phase"] == "Completed", status.get("error")
    assert "swap" not in status and renamed == []
    cluster = describe(world, "staging")
    assert cluster and tags(cluster)["dbrestore.io/operation-id"] == OP
    assert step(status, "swap-clusters")["state"] == "Skipped"


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("unmanaged cluster", {}, "UnmanagedCluster"),
    ("deletion-protected", {"tags": MANAGED, "deletion_protection": True}, "DeletionProtection"),
    (
        "managed by another namespace",
        {"tags": {**MANAGED, "dbrestore.io/owner": "team-b/nightly"}},
        "ForeignOwner",
    ),
]


@pytest.mark.parametrize(("label", "existing", "code"), CASES, ids=[c[0] for c in CASES])
def test_rail_refusals_make_no_restore_and_no_rename(
    world: World, label: str, existing: dict[str, Any], code: str
) -> None:
    arn = existing_staging(world, **existing)
    with renames(world) as renamed, deletes(world) as deleted:
        status, ticks = run(world, same_region_spec(existingCluster="Swap"))
    assert status["phase"] == "Failed"
    assert (status["error"]["type"], status["error"]["code"]) == ("SafetyViolation", code)
    assert status["error"]["step"] == "snapshot-check"  # the preflight, before any mutation
    assert any(
        e.type == "Warning" and e.reason == "SafetyViolation" for t in ticks for e in t.events
    )
    assert renamed == [] and deleted == []
    for op in ("RestoreDBClusterFromSnapshot", "CopyDBClusterSnapshot", "ModifyDBCluster"):
        assert world.aws.count(op) == 0, op
    held = describe(world, "staging")
    assert held and held["DBClusterArn"] == arn and held["Status"] == "available"


def test_replace_allowed_lets_an_unmanaged_cluster_be_swapped(world: World) -> None:
    existing_staging(world)
    driver = world.driver(AURORA_RESTORE_REPLACE_ALLOWED="staging")
    with deletes(world) as deleted:
        status, _ = run(world, same_region_spec(existingCluster="Swap"), driver=driver)
    assert status["phase"] == "Completed", status.get("error")
    # The retired name does not match the pattern; the rails judge it by the target name.
    assert deleted[-1] == ("DeleteDBCluster", RETIRED)


def test_rails_are_checked_again_before_the_rename(world: World) -> None:
    """Deletion protection turned on while the new cluster is restored: no rename, and
    undo-swap removes only the temporary cluster."""
    existing_staging(world, MANAGED, instances=1)
    rds = world.client("rds")

    def protect(status: dict[str, Any]) -> None:
        if status["phase"] == "CreatingInstances":
            rds.modify_db_cluster(DBClusterIdentifier="staging", DeletionProtection=True)

    with renames(world) as renamed, deletes(world) as deleted:
        status, _ = run(world, same_region_spec(existingCluster="Swap", instances=1), protect)
    assert status["phase"] == "Failed"
    assert (status["error"]["step"], status["error"]["code"]) == (
        "swap-clusters",
        "DeletionProtection",
    )
    assert renamed == []
    assert deleted == [("DeleteDBInstance", f"{TEMPORARY}-1"), ("DeleteDBCluster", TEMPORARY)]
    assert describe(world, "staging")["DeletionProtection"] is True  # type: ignore[index]
    assert describe(world, TEMPORARY) is None
    assert step(status, "undo-swap")["state"] == "Succeeded"


def test_failure_before_the_swap_deletes_only_the_temporary_cluster(world: World) -> None:
    existing_staging(world, MANAGED, instances=1)

    def fail_restore(status: dict[str, Any]) -> None:
        if status["phase"] == "RestoringCluster" and describe(world, TEMPORARY):
            world.aws.set_status(SOURCE, "cluster", TEMPORARY, "incompatible-restore")

    with renames(world) as renamed, deletes(world) as deleted:
        status, ticks = run(world, same_region_spec(existingCluster="Swap"), fail_restore)
    assert status["phase"] == "Failed"
    assert status["error"]["step"] == "check-restore-status"
    assert renamed == [] and deleted == [("DeleteDBCluster", TEMPORARY)]
    assert describe(world, TEMPORARY) is None
    old = describe(world, "staging")
    assert old and "dbrestore.io/operation-id" not in tags(old)
    assert len(old["DBClusterMembers"]) == 1
    # The notification comes after the undo, and the run's error stays the restore's.
    assert status["swap"]["undone"] == "untouched"


def test_a_temporary_name_taken_by_someone_else_is_never_deleted(world: World) -> None:
    existing_staging(world, MANAGED)
    world.client("rds").create_db_cluster(
        DBClusterIdentifier=TEMPORARY,
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword="not-ours-pw",
    )
    with deletes(world) as deleted, renames(world) as renamed:
        status, _ = run(world, same_region_spec(existingCluster="Swap"))
    assert status["phase"] == "Failed"
    assert (status["error"]["step"], status["error"]["code"]) == (
        "restore-snapshot",
        "ClusterAlreadyExists",
    )
    assert deleted == [] and renamed == []
    assert describe(world, TEMPORARY) and describe(world, "staging")
    assert "kept" in step(status, "undo-swap")["message"]


def test_failure_after_the_first_rename_restores_the_old_name(world: World) -> None:
    existing_staging(world, MANAGED, instances=2)
    old = describe(world, "staging")
    assert old
    calls = {"n": 0}

    def second_rename_refused(*_: Any) -> None:
        # No masterPassword: the first ModifyDBCluster is the retire, the second the swap-in.
        calls["n"] += 1
        if calls["n"] == 2:
            raise DropRequest("InvalidParameterCombination", 400, "refused by the test")

    world.aws.on_call("ModifyDBCluster", before=second_rename_refused, times=None)
    with renames(world) as renamed, deletes(world) as deleted:
        status, ticks = run(world, same_region_spec(existingCluster="Swap", instances=1))
    assert status["phase"] == "Failed"
    assert (status["error"]["step"], status["error"]["code"]) == (
        "swap-clusters",
        "InvalidParameterCombination",
    )
    assert renamed == [("staging", RETIRED), (TEMPORARY, "staging"), (RETIRED, "staging")]
    back = describe(world, "staging")
    assert back and back["DbClusterResourceId"] == old["DbClusterResourceId"]
    assert back["Status"] == "available" and back["Endpoint"] == old["Endpoint"]
    assert len(back["DBClusterMembers"]) == 2
    assert describe(world, RETIRED) is None and describe(world, TEMPORARY) is None
    assert deleted == [("DeleteDBInstance", f"{TEMPORARY}-1"), ("DeleteDBCluster", TEMPORARY)]
    assert status["swap"]["undone"] == "renamed-back"
    assert any(e.reason == "SwapUndone" for t in ticks for e in t.events)


def test_the_swap_waits_for_the_new_cluster_to_be_available(world: World) -> None:
    """A new cluster that is busy (e.g. backing-up) after its restore delays the swap; the
    old cluster keeps its name meanwhile."""
    existing_staging(world, MANAGED)
    busy = {"ticks": 0, "released": False}

    def backing_up(status: dict[str, Any]) -> None:
        if busy["released"]:
            return
        if status["phase"] == "CreatingInstances" or (
            status["phase"] == "RetiringExistingCluster" and busy["ticks"] < 3
        ):
            world.aws.set_status(SOURCE, "cluster", TEMPORARY, "backing-up")
            busy["ticks"] += 1
        elif busy["ticks"]:
            world.aws.set_status(SOURCE, "cluster", TEMPORARY, "available")
            busy["released"] = True

    with renames(world) as renamed:
        status, ticks = run(world, same_region_spec(existingCluster="Swap"), backing_up)
    assert status["phase"] == "Completed", status.get("error")
    assert busy["ticks"] >= 1
    assert any(
        (t.status.message or "").startswith(f"Waiting for {TEMPORARY} to be available")
        for t in ticks
    )
    assert renamed == [("staging", RETIRED), (TEMPORARY, "staging")]


def test_the_retired_cluster_gets_its_final_snapshot(world: World) -> None:
    existing_staging(world, MANAGED)
    finals: list[tuple[str, str | None]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        finals.append((params["DBClusterIdentifier"], params.get("FinalDBSnapshotIdentifier")))

    world.session.events.register("provide-client-params.rds.DeleteDBCluster", record)
    try:
        status, _ = run(world, same_region_spec(existingCluster="Swap", finalSnapshot=True))
    finally:
        world.session.events.unregister("provide-client-params.rds.DeleteDBCluster", record)
    assert status["phase"] == "Completed", status.get("error")
    assert finals == [(RETIRED, f"{RETIRED}-final-{OP}")]
    snaps = world.client("rds").describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier=f"{RETIRED}-final-{OP}"
    )["DBClusterSnapshots"]
    assert snaps and snaps[0]["DBClusterIdentifier"] == RETIRED
