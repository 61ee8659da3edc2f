"""Crash matrix over existingCluster: Swap, driver level: the process dies just before or just
after every mutating AWS call of a swap run (each occurrence: the password reset and both
renames are all ModifyDBCluster), or loses the status of every tick. The restore completes;
each rename is sent exactly once, in order; no Delete ever names the target; the other
mutating calls happen as often as in an undisturbed run (the password reset and the
notification at least once, see test_crash_matrix.py); the audit trail has no gap.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from aurora_restore.pipeline.context import operation_id, swap_identifiers
from support.world import MANAGED, TARGET, World, existing_staging

from .helpers import (
    MASTER_SECRET,
    MUTATING,
    SERVICE,
    SWAP_BASELINE,
    UID,
    Crash,
    assert_audit_complete,
    counts,
    full_spec,
    register,
    resource,
    run_resuming,
    unregister,
)

OP = operation_id(UID, 1)
TEMPORARY, RETIRED = swap_identifiers("staging", OP)
RENAMES = [("staging", RETIRED), (TEMPORARY, "staging")]


def prepare_swap(world: World) -> dict[str, Any]:
    existing_staging(world, MANAGED, instances=2, region=TARGET)
    world.kube.secrets[MASTER_SECRET] = {"password": "new-master-pw"}
    spec = full_spec(world)
    spec["target"]["existingCluster"] = "Swap"
    return spec


@contextmanager
def watch_calls(session: boto3.Session) -> Iterator[dict[str, list[Any]]]:
    """Renames and Deletes that AWS answered: (from, to) and (operation, identifier)."""
    seen: dict[str, list[Any]] = {"renames": [], "deletes": []}

    def params(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if params.get("NewDBClusterIdentifier"):
            context["swap-test"] = (
                "renames",
                (params["DBClusterIdentifier"], params["NewDBClusterIdentifier"]),
            )
        elif model.name.startswith("Delete") and model.name != "DeleteDBClusterSnapshot":
            name = params.get("DBClusterIdentifier") or params.get("DBInstanceIdentifier")
            context["swap-test"] = ("deletes", (model.name, name))

    def answered(http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if "swap-test" in context and http_response.status_code < 300:
            kind, item = context["swap-test"]
            seen[kind].append(item)

    hooks = [
        ("provide-client-params.rds.*", params),
        ("after-call.rds.*", answered),
    ]
    for event, handler in hooks:
        register(session, event, handler)
    try:
        yield seen
    finally:
        for event, handler in hooks:
            unregister(session, event, handler)


@contextmanager
def crash_at_nth(
    session: boto3.Session, operation: str, when: str, nth: int
) -> Iterator[list[str]]:
    """Kill the "process" once, at the ``nth`` ``operation`` call, before it is sent or after
    AWS answered it."""
    fired: list[str] = []
    seen = {"n": 0}
    service = SERVICE.get(operation, "rds")
    event = f"{'before-send' if when == 'before' else 'after-call'}.{service}.{operation}"

    def hook(**_: Any) -> None:
        if fired:
            return
        seen["n"] += 1
        if seen["n"] == nth:
            fired.append(f"{when} {operation} #{nth}")
            raise Crash(fired[-1])

    register(session, event, hook)
    try:
        yield fired
    finally:
        unregister(session, event, hook)


def check_swapped(world: World, status: dict[str, Any], seen: dict[str, list[Any]]) -> None:
    assert status["phase"] == "Completed", status.get("error")
    assert seen["renames"] == RENAMES
    assert all(name != "staging" for _, name in seen["deletes"]), seen["deletes"]
    rds = world.client("rds", TARGET)
    [new] = rds.describe_db_clusters(DBClusterIdentifier="staging")["DBClusters"]
    assert {t["Key"]: t["Value"] for t in new["TagList"]}["dbrestore.io/operation-id"] == OP
    left = rds.describe_db_clusters(
        Filters=[{"Name": "db-cluster-id", "Values": [RETIRED, TEMPORARY]}]
    )
    assert left["DBClusters"] == []
    assert status["swap"]["swapFinishedAt"] and status["swap"]["downtimeSeconds"] >= 0
    assert_audit_complete(world, status)


def test_undisturbed_swap_makes_every_mutating_call_once(world: World) -> None:
    spec = prepare_swap(world)
    with watch_calls(world.session) as seen:
        status, _, crashes = run_resuming(world, spec)
    assert crashes == 0
    check_swapped(world, status, seen)
    assert counts(world) == SWAP_BASELINE


POINTS = [
    (op, n, when)
    for op in MUTATING
    for n in range(1, SWAP_BASELINE[op] + 1)
    for when in ("before", "after")
]


@pytest.mark.parametrize(
    ("operation", "nth", "when"), POINTS, ids=[f"{w}-{o}-{n}" for o, n, w in POINTS]
)
def test_crash_around_every_mutating_call_of_a_swap(
    world: World, operation: str, nth: int, when: str
) -> None:
    spec = prepare_swap(world)
    with watch_calls(world.session) as seen:
        with crash_at_nth(world.session, operation, when, nth) as fired:
            status, _, crashes = run_resuming(world, spec)
    assert fired == [f"{when} {operation} #{nth}"] and crashes == 1
    check_swapped(world, status, seen)
    expected = dict(SWAP_BASELINE)
    # Nothing in AWS shows that a password reset or a publish happened: those two repeat.
    # A rename shows (the name moved), so it never does.
    if when == "after" and (operation, nth) in {("ModifyDBCluster", 1), ("Publish", 1)}:
        expected[operation] += 1
    assert counts(world) == expected


@pytest.mark.parametrize("keep_records", [False, True], ids=["all-lost", "status-lost"])
def test_status_lost_after_every_tick_of_a_swap(world: World, keep_records: bool) -> None:
    spec = prepare_swap(world)
    driver = world.driver()
    status: dict[str, Any] | None = None
    with watch_calls(world.session) as seen:
        for _ in range(300):
            write = driver._write
            if not keep_records:
                driver._write = lambda *_: None  # type: ignore[method-assign]
            try:
                driver.tick(resource(spec, status), world.kube)
            finally:
                driver._write = write  # type: ignore[method-assign]
            tick = driver.tick(resource(spec, status), world.kube)
            status = tick.status.to_dict()
            if tick.requeue_after is None:
                break
            world.clock.advance(max(tick.requeue_after, 1.0))
    assert status is not None
    check_swapped(world, status, seen)
    expected = dict(SWAP_BASELINE)
    expected["ModifyDBCluster"] += 1  # the password reset, twice; each rename once
    expected["Publish"] += 1
    assert counts(world) == expected


def test_crash_after_the_first_rename_then_a_failure_renames_back(world: World) -> None:
    """A crash right after the old cluster's rename, then the new cluster's rename is
    refused: the resumed run renames the old one back, once, and removes the temporary."""
    from aurora_restore_sandbox.aws import DropRequest

    spec = prepare_swap(world)
    calls = {"n": 0}

    def refuse_swap_in(*_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # password reset, retire, then the swap-in
            raise DropRequest("InvalidParameterCombination", 400, "refused by the test")

    world.aws.on_call("ModifyDBCluster", before=refuse_swap_in, times=None)
    with watch_calls(world.session) as seen:
        with crash_at_nth(world.session, "ModifyDBCluster", "after", 2):
            status, _, crashes = run_resuming(world, spec)
    assert crashes == 1
    assert status["phase"] == "Failed" and status["error"]["step"] == "swap-clusters"
    assert seen["renames"] == [("staging", RETIRED), (RETIRED, "staging")]
    assert all(name != "staging" for _, name in seen["deletes"])
    rds = world.client("rds", TARGET)
    [back] = rds.describe_db_clusters(DBClusterIdentifier="staging")["DBClusters"]
    assert back["DbClusterResourceId"] == status["swap"]["oldResourceId"]
    assert len(back["DBClusterMembers"]) == 2
    assert status["swap"]["undone"] == "renamed-back"
    assert_audit_complete(world, status)
