"""Adaptive "look again": soon after an AWS operation starts, then backing off; a copy's
progress tells when it should be done; a restore that the region refresh follows sleeps
until POLL_INTERVAL and is woken instead. Always between POLL_FLOOR and POLL_INTERVAL."""

from __future__ import annotations

from typing import Any

import pytest

from aurora_restore.aws.batching import Describer
from aurora_restore.pipeline.context import Followed, PipelineConfig

from .conftest import FakeTime

CONFIG = PipelineConfig(poll_interval=30.0, poll_floor=2.0, poll_backoff=0.25)


@pytest.mark.parametrize(
    "waited,expected",
    [(0.0, 2.0), (4.0, 2.0), (20.0, 5.0), (60.0, 15.0), (119.0, 29.75), (600.0, 30.0)],
)
def test_backs_off_with_the_time_waited(waited: float, expected: float) -> None:
    assert CONFIG.look_again(waited) == pytest.approx(expected)


def test_a_copy_with_progress_is_looked_at_when_it_should_be_done() -> None:
    # 40 % after 20 s: 30 s to go; aim a little early.
    assert CONFIG.look_again(20.0, progress=40) == pytest.approx(22.5)
    # Whole percents below 10 are too coarse: back off as usual.
    assert CONFIG.look_again(2.0, progress=5) == 2.0
    assert CONFIG.look_again(300.0, progress=50) == 30.0
    assert CONFIG.look_again(1.0, progress=99) == 2.0


def test_a_followed_restore_waits_for_its_wake_up() -> None:
    assert CONFIG.look_again(20.0, followed=3.5) == 30.0
    # The refresh would look later than the restore itself: the restore looks.
    assert CONFIG.look_again(20.0, followed=10.0) == 5.0


def test_followed_needs_every_object_followed() -> None:
    followed = Followed()
    followed.note(3.0)
    followed.note(5.0)
    assert followed.seconds == 5.0
    followed.note(None)
    assert followed.seconds is None


def test_the_region_refresh_spends_one_restores_budget_shared_by_all() -> None:
    state: dict[str, dict[str, Any]] = {f"c{i}": {"Status": "copying"} for i in range(3)}
    clock = FakeTime()
    describer = Describer(
        lambda ids: {i: dict(state[i]) for i in ids},
        lambda item: item["Status"],
        lambda: 1.0,
        window=0,
        watch_for=120,
        clock=clock,
    )
    for key in state:
        describer.get(key)
    assert describer.stats.describes == 3
    assert describer.in_progress() == 3
    # Three in progress: every 30 / 3 = 10 s, counted from the last Describe of anyone.
    assert describer.refresh_period(30, 2) == 10
    assert not describer.refresh_if_due(30, 2)
    clock.now += 9
    assert not describer.refresh_if_due(30, 2)
    clock.now += 1
    assert describer.refresh_if_due(30, 2)
    assert describer.stats.describes == 4
    # Nothing in progress any more: no refresh, however long.
    for item in state.values():
        item["Status"] = "available"
    clock.now += 10
    assert describer.refresh_if_due(30, 2)
    clock.now += 1000
    assert describer.in_progress() == 0
    assert not describer.refresh_if_due(30, 2)
    assert describer.stats.describes == 5
