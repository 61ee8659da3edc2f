"""No lost wake-ups: a restore told that the region refresh follows its object is woken when
the object changes, every time, within the time it was told. The interleavings are driven
step by step with a fake clock and a scripted Describe, not with sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aurora_restore.aws.rds_reads import RdsReads, RdsTuning
from aurora_restore.pipeline.context import READS, Followed, ReadPolicy

from .conftest import FakeTime, status_describer, watching

REGION, KIND = "us-west-2", "clusters"


class World:
    """Objects whose status the test sets; every Describe is counted."""

    def __init__(self, **statuses: str) -> None:
        self.status = dict(statuses)
        self.describes = 0

    def fetch(self, region: str, kind: str, ids: list[str]) -> dict[str, Any]:
        self.describes += 1
        return {i: {"Status": self.status[i]} for i in ids if i in self.status}


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def make_reads(world: World, clock: FakeTime, **tuning: Any) -> RdsReads:
    reads = RdsReads(
        None,  # type: ignore[arg-type]  # no call leaves this test: fetch is scripted
        RdsTuning(cache_ttl=1.0, batch_window=0, **tuning),
        world.fetch,
        lambda kind, item: item["Status"],
        clock,
    )
    # As when the operator's refresher thread runs; the test calls refresh() itself.
    reads.refreshing = True
    return reads


class Restores:
    """Restores asking as their status checks do, each with its own wake-up callback."""

    def __init__(self, reads: RdsReads) -> None:
        self.reads = reads
        self.woken: list[str] = []
        # One callback per restore, as each daemon has one (its own is told apart by it).
        self.callbacks: dict[str, Any] = {}

    def check(self, who: str, *identifiers: str) -> tuple[dict[str, Any], float | None]:
        """(answers, seconds within which the refresh promised to look, or None)."""
        followed = Followed()
        callback = self.callbacks.setdefault(who, lambda: self.woken.append(who))
        with watching(callback):
            policy = READS.set(ReadPolicy(cached=True, followed=followed))
            try:
                items = self.reads.shared(REGION, KIND, list(identifiers or (who,)))
            finally:
                READS.reset(policy)
        return {k: v and v["Status"] for k, v in items.items()}, followed.seconds


def run_refresher(reads: RdsReads, clock: FakeTime, until: float, step: float = 0.1) -> None:
    """The refresher thread's loop, on the fake clock."""
    while clock.now < until:
        clock.now = round(clock.now + step, 6)
        reads.refresh()


def test_the_refresh_keeps_its_promise_when_the_others_finish(clock: FakeTime) -> None:
    world = World(a="creating", b="creating", c="creating")
    reads = make_reads(world, clock)
    restores = Restores(reads)
    restores.check("a")
    restores.check("b")
    answers, within = restores.check("c")
    assert answers == {"c": "creating"}
    # Three in progress: the refresh looks every 30 / 3 = 10 s; c may sleep on that.
    assert within is not None and within < 30
    # a and b finish first; a's own check sees it, and the region has one left in progress.
    world.status.update(a="available", b="available")
    clock.now += 1.5
    assert restores.check("a")[0] == {"a": "available"}
    assert restores.woken == ["b"]
    # Then c's restore finishes, while its daemon sleeps on the promise.
    world.status["c"] = "available"
    run_refresher(reads, clock, until=clock.now + within)
    assert "c" in restores.woken, f"c was promised a look within {within:.1f}s, not woken"


def test_a_restore_that_leads_the_describe_is_woken_for_what_it_answered_from_the_cache(
    clock: FakeTime,
) -> None:
    # A restore with two instances: one answered from the cache, the other missing from it.
    world = World(i1="creating", i2="creating")
    reads = make_reads(world, clock)
    restores = Restores(reads)
    assert restores.check("a", "i1", "i2")[0] == {"i1": "creating", "i2": "creating"}
    reads.mutated(REGION, KIND, "i2")  # e.g. a retried create: i2's cached answer goes
    world.status["i1"] = "available"
    answers, _ = restores.check("a", "i1", "i2")
    # Its own Describe saw i1 become available; the answer it got for i1 came from the cache.
    assert world.describes == 2
    assert answers["i1"] == "available" or restores.woken == ["a"]


def test_a_woken_restore_acts_on_the_describe_that_woke_it(clock: FakeTime) -> None:
    world = World(a="creating", b="creating")
    reads = make_reads(world, clock)
    restores = Restores(reads)
    restores.check("a")
    restores.check("b")
    world.status["b"] = "available"
    clock.now += 1.5
    restores.check("a")  # a's Describe sees b's cluster become available: b is woken
    assert restores.woken == ["b"]
    describes = world.describes
    # b's daemon waits for a worker longer than the cache lives; its check still uses the
    # Describe that woke it, and asks AWS nothing more.
    clock.now += 5
    assert restores.check("b")[0] == {"b": "available"}
    assert world.describes == describes


def test_a_woken_restore_sees_the_next_change_when_it_looks_itself(clock: FakeTime) -> None:
    """The Describe that woke a restore answers its next check only. A lone restore's copy
    first shows up absent, then copying (a change: it is woken); had the wake-up answered
    every check for ``hold`` seconds, it would have seen "copying" for 30 s after the copy
    ended (N = 1 took 70 s longer than AWS in the bench)."""
    world = World()
    reads = make_reads(world, clock)
    restores = Restores(reads)
    assert restores.check("a", "copy")[0] == {"copy": None}  # before CopyDBClusterSnapshot
    world.status["copy"] = "copying"
    clock.now += 1.5
    assert restores.check("a", "copy")[0] == {"copy": "copying"}
    world.status["copy"] = "available"
    for _ in range(3):  # the restore's own looks, each past the cache's TTL
        clock.now += 2
        answers = restores.check("a", "copy")[0]
    assert answers == {"copy": "available"}


@pytest.fixture
def no_watcher() -> Iterator[None]:
    with watching(None):
        yield


def test_a_promise_is_kept_until_the_restore_would_look_itself(
    clock: FakeTime, no_watcher: None
) -> None:
    state = {key: {"Status": "creating"} for key in ("x", "y", "z")}
    describer = status_describer(state, clock)
    for key in state:
        describer.get(key)
    assert describer.follow(30, 2) == pytest.approx(10)  # three in progress: 30 / 3
    state["y"]["Status"] = state["z"]["Status"] = "available"
    clock.now += 10
    assert describer.refresh_if_due(30, 2)
    # One left in progress: every 30 s by the rule, but every 10 s as promised ...
    clock.now += 9
    assert not describer.refresh_if_due(30, 2)
    clock.now += 1
    assert describer.refresh_if_due(30, 2)
    # ... until the promise ends, 30 s after it was made (x's restore looks itself then).
    clock.now += 10
    assert not describer.refresh_if_due(30, 2)
    assert describer.stats.describes == 5
