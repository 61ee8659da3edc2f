"""Crash matrix, driver level: the process dies just before or just after each mutating AWS
call, or loses the status of any tick; the restore completes, each mutating call happens as
often as in an undisturbed run, and the audit trail has no gap.

A crash is a ``BaseException`` raised from a botocore event hook: nothing of the tick is
written (neither the status nor the records), and a new Driver, as a restarted process,
resumes from the last saved status. The operator-process (SIGKILL) points are in
``process/test_sigkill.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from aurora_restore.driver import Tick
from support.world import World

from .helpers import (
    BASELINE,
    MUTATING,
    Crash,
    assert_audit_complete,
    counts,
    crash_at,
    prepare_full,
    resource,
    run_resuming,
)

# A crash after AWS accepted these, and before the status is written, repeats them once:
# nothing on the AWS side tells a restarted operator that they happened (docs/reliability.md).
AT_LEAST_ONCE = frozenset({"ModifyDBCluster", "Publish"})


def test_undisturbed_run_makes_every_mutating_call(world: World) -> None:
    spec = prepare_full(world)
    status, _, crashes = run_resuming(world, spec)
    assert status["phase"] == "Completed", status.get("error")
    assert crashes == 0
    assert counts(world) == BASELINE
    assert_audit_complete(world, status)
    assert [m["status"] for m in world.sns_messages()] == ["success"]


POINTS = [(op, when) for op in MUTATING for when in ("before", "after")]


@pytest.mark.parametrize(("operation", "when"), POINTS, ids=[f"{w}-{o}" for o, w in POINTS])
def test_crash_around_a_mutating_call(world: World, operation: str, when: str) -> None:
    spec = prepare_full(world)
    with crash_at(world.session, operation, when) as fired:
        status, _, crashes = run_resuming(world, spec)
    assert fired == [f"{when} {operation}"] and crashes == 1
    assert status["phase"] == "Completed", status.get("error")
    expected = dict(BASELINE)
    if when == "after" and operation in AT_LEAST_ONCE:
        expected[operation] += 1
    assert counts(world) == expected
    assert_audit_complete(world, status)
    messages = world.sns_messages()
    assert {m["status"] for m in messages} == {"success"}
    assert {m["operation_id"] for m in messages} == {status["operationId"]}


def _lose_every_tick(world: World, spec: dict[str, Any], keep_records: bool) -> dict[str, Any]:
    """Each tick runs twice from the same saved status; the first one's status is lost (and
    its records too unless ``keep_records``: the crash came after the records were written
    but before the status patch)."""
    driver = world.driver()
    status: dict[str, Any] | None = None
    ticks = 0
    for _ in range(200):
        if keep_records:
            driver.tick(resource(spec, status), world.kube)
        else:
            write = driver._write
            driver._write = lambda *_: None  # type: ignore[method-assign]
            try:
                driver.tick(resource(spec, status), world.kube)
            finally:
                driver._write = write  # type: ignore[method-assign]
        tick: Tick = driver.tick(resource(spec, status), world.kube)
        ticks += 1
        status = tick.status.to_dict()
        if tick.requeue_after is None:
            break
        world.clock.advance(max(tick.requeue_after, 1.0))
    assert status is not None
    assert ticks >= 15, ticks  # every phase was crossed, one tick at a time
    return status


@pytest.mark.parametrize("keep_records", [False, True], ids=["all-lost", "status-lost"])
def test_status_lost_after_every_tick(world: World, keep_records: bool) -> None:
    spec = prepare_full(world)
    status = _lose_every_tick(world, spec, keep_records)
    assert status["phase"] == "Completed", status.get("error")
    expected = {op: n * (2 if op in AT_LEAST_ONCE else 1) for op, n in BASELINE.items()}
    assert counts(world) == expected
    assert_audit_complete(world, status)


def test_two_crashes_in_a_row_at_the_same_point(world: World) -> None:
    """The restarted process dies again at the same place before it saves anything."""
    spec = prepare_full(world)
    with crash_at(world.session, "RestoreDBClusterFromSnapshot", "after"):
        with crash_at(world.session, "CreateDBInstance", "after"):
            status, _, first = run_resuming(world, spec)
    assert status["phase"] == "Completed"
    assert first == 2
    assert counts(world) == BASELINE


def test_crash_is_not_swallowed_by_the_pipeline(world: World) -> None:
    """The harness is sound: a crash ends the tick (nothing catches it)."""
    spec = prepare_full(world)
    driver = world.driver()
    with crash_at(world.session, "DescribeDBClusterSnapshots", "before"):
        with pytest.raises(Crash):
            driver.tick(resource(spec, None), world.kube)


# --- records: the process dies before its queued records are written --------------------

# Where in the records writer's flush the process dies: before it writes anything, between
# the audit items and the state item (the watermark), or half-way through a batch.
RECORD_CRASHES = ("before-audit", "before-state", "mid-batch")


def _crash_writer(driver: Any, where: str) -> None:
    """This process's records writer dies at ``where`` of its flush (nothing after it)."""
    writer = driver.writer
    if where == "before-audit":
        writer.flush = lambda: None
    elif where == "before-state":
        writer._write_states = lambda *_: None
    else:
        write_batch = writer.records.write_batch

        def half(puts: list[Any]) -> list[Any]:
            write_batch(puts[: len(puts) // 2])
            raise Crash("SIGKILL half-way through BatchWriteItem")

        writer.records.write_batch = half
        flush = writer.flush

        def dying_flush() -> None:
            try:
                flush()
            except Crash:
                pass

        writer.flush = dying_flush


@pytest.mark.parametrize("where", RECORD_CRASHES)
def test_records_lost_at_every_tick_are_written_after_the_restart(world: World, where: str) -> None:
    """Every tick's status is saved, then the process dies before (part of) its records are
    written, and a new process takes the next tick: each restart writes what the status
    implies beyond the last state item, so the trail has no gap in the end."""
    spec = prepare_full(world)
    status: dict[str, Any] | None = None
    for _ in range(200):
        driver = world.driver()
        _crash_writer(driver, where)
        tick = driver.tick(resource(spec, status), world.kube)
        status = tick.status.to_dict()
        if tick.requeue_after is None:
            break
        world.clock.advance(max(tick.requeue_after, 1.0))
    assert status is not None and status["phase"] == "Completed", status
    assert counts(world) == BASELINE
    # The last process died too; the next start is the one that completes the trail.
    world.driver().tick(resource(spec, status), world.kube)
    audit = assert_audit_complete(world, status)
    keys = [a["timestamp"] for a in audit]
    assert len(keys) == len(set(keys))
    state = world.client("dynamodb").get_item(
        TableName="aurora-restore-state", Key={"operation_id": {"S": status["operationId"]}}
    )["Item"]
    assert state["status"]["S"] == "Completed"
    if where == "before-state":
        # The live items were all written, with their details; none was re-derived over.
        assert not any(a["details"].get("rederived") for a in audit)
