"""Conditions over a restore's whole life, read the way Flux and kpt read them (kstatus),
and the way `kubectl wait` users read them (Ready, Progressing, Failed)."""

from __future__ import annotations

from typing import Any

from aurora_restore.driver import Resource
from kstatus_rules import Current, Failed, InProgress, kstatus
from support.world import World, cross_region_spec, same_region_spec


def obj(status: dict[str, Any] | None, generation: int = 1) -> dict[str, Any]:
    return {
        "kind": "AuroraRestore",
        "metadata": {"name": "staging-refresh", "generation": generation},
        "status": status or {},
    }


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def life(world: World, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every status the restore goes through, tick by tick."""
    driver = world.driver()
    status: dict[str, Any] | None = None
    seen = []
    for _ in range(200):
        tick = driver.tick(
            Resource("staging-refresh", "databases", "uid-1", 1, spec, status), world.kube
        )
        status = tick.status.to_dict()
        seen.append(status)
        if tick.requeue_after is None:
            return seen
        world.clock.advance(max(tick.requeue_after, 1.0))
    raise AssertionError("the restore did not finish")


def test_a_completed_restore_is_in_progress_then_current(world: World) -> None:
    seen = life(world, cross_region_spec())
    running = [s for s in seen if s["phase"] != "Completed"]
    assert {s["phase"] for s in running} >= {"CopyingSnapshot", "RestoringCluster"}
    for status in running:
        assert kstatus(obj(status))[0] == InProgress, status["phase"]
        assert conditions(status)["Ready"][0] == "False"
        # Progressing and Failed mirror Reconciling and Stalled exactly.
        assert conditions(status)["Progressing"] == conditions(status)["Reconciling"]
        assert conditions(status)["Reconciling"] == ("True", status["phase"])
        assert conditions(status)["Stalled"] == conditions(status)["Failed"] == ("False", "NoError")
    final = seen[-1]
    assert final["phase"] == "Completed"
    assert kstatus(obj(final)) == (Current, "Resource is current")
    assert conditions(final) == {
        "Ready": ("True", "RestoreCompleted"),
        "Reconciling": ("False", "Completed"),
        "Stalled": ("False", "NoError"),
        "Progressing": ("False", "Completed"),
        "Failed": ("False", "NoError"),
    }
    assert [c["type"] for c in final["conditions"]] == [
        "Ready", "Reconciling", "Stalled", "Progressing", "Failed"
    ]  # fmt: skip
    # A new generation the operator has not picked up yet is InProgress, not Current.
    assert kstatus(obj(final, generation=2))[0] == InProgress


def test_a_failed_restore_is_in_progress_then_failed(world: World) -> None:
    spec = same_region_spec()
    spec["source"].update(snapshotIdentifier="prod-missing", waitTimeout="30m")
    seen = life(world, spec)
    assert len(seen) > 2
    for status in seen:
        # Failed from the tick that fails it, also while the failure notification is sent.
        expected = Failed if status["phase"] == "Failed" else InProgress
        assert kstatus(obj(status))[0] == expected, status["phase"]
    final = seen[-1]
    assert final["phase"] == "Failed" and seen[0]["phase"] != "Failed"
    state, message = kstatus(obj(final))
    assert state == Failed and message == final["message"]
    assert (
        conditions(final)["Stalled"]
        == conditions(final)["Failed"]
        == (
            "True",
            "SnapshotNotFound",
        )
    )
    assert conditions(final)["Reconciling"][0] == conditions(final)["Ready"][0] == "False"


def test_an_invalid_spec_is_failed_at_once(world: World) -> None:
    spec = cross_region_spec()
    del spec["copy"]
    final = life(world, spec)[-1]
    assert kstatus(obj(final))[0] == Failed
    assert conditions(final)["Stalled"] == ("True", "ValidationError")


def test_a_spec_change_during_a_run_stays_in_progress(world: World) -> None:
    driver = world.driver()
    spec = cross_region_spec()
    status = None
    for _ in range(3):
        tick = driver.tick(
            Resource("staging-refresh", "databases", "uid-1", 1, spec, status), world.kube
        )
        status = tick.status.to_dict()
        world.clock.advance(5)
    changed = dict(spec, deletionPolicy="Delete")
    tick = driver.tick(
        Resource("staging-refresh", "databases", "uid-1", 2, changed, status), world.kube
    )
    status = tick.status.to_dict()
    assert status["observedGeneration"] == 1
    assert kstatus(obj(status, generation=2))[0] == InProgress
    reconciling = next(c for c in status["conditions"] if c["type"] == "Reconciling")
    assert reconciling["status"] == "True" and "the spec changed" in reconciling["message"]


def test_transition_times_move_only_with_the_status(world: World) -> None:
    seen = life(world, cross_region_spec())
    times = {
        (c["type"], c["status"]): c["lastTransitionTime"] for s in seen for c in s["conditions"]
    }
    # One transition time per (type, status) pair: it did not move while the status stayed.
    firsts = {}
    for status in seen:
        for c in status["conditions"]:
            firsts.setdefault((c["type"], c["status"]), c["lastTransitionTime"])
    assert times == firsts
    final = {c["type"]: c for c in seen[-1]["conditions"]}
    assert final["Ready"]["lastTransitionTime"] == final["Reconciling"]["lastTransitionTime"]
    assert seen[0]["conditions"][1]["lastTransitionTime"] < final["Ready"]["lastTransitionTime"]
