"""``dbrestore.io/run-now`` on a schedule: a run now, under the concurrency policy, once."""

from __future__ import annotations

from schedule_support import Clock

from aurora_restore import schedule as core


def reasons(events: list[core.Event]) -> list[str]:
    return [e.reason for e in events]


def test_run_now_creates_one_run_and_answers_the_request_once(world, clock: Clock) -> None:
    w = world()
    clock.at("2026-11-20T01:15:42")
    w.look()
    assert w.names() == []
    w.run_now = "2026-11-20T01:16:00Z"
    plan = w.look()
    assert w.names() == ["nightly-202611200115"]
    body = w.objects["nightly-202611200115"]
    assert body["metadata"]["annotations"][core.RUN_NOW_ANNOTATION] == "2026-11-20T01:16:00Z"
    assert body["metadata"]["labels"] == {core.SCHEDULE_LABEL: "nightly"}
    # No source.date in the template: the run restores the day before it started.
    assert body["spec"]["source"]["date"] == "2026-11-19"
    [event] = w.take_events()
    assert (event.type, event.reason) == ("Normal", "Created")
    assert "dbrestore.io/run-now" in event.message
    assert w.status["runNowToken"] == "2026-11-20T01:16:00Z"
    assert w.status["active"] == "nightly-202611200115"
    assert w.status["nextScheduleTime"] == "2026-11-20T03:30:00Z"  # the cron times stay
    assert plan.create is not None
    w.finish("nightly-202611200115")
    clock.advance(minutes=5)
    w.look()
    assert w.names() == ["nightly-202611200115"] and w.take_events() == []


def test_a_lost_status_write_does_not_run_it_twice(world, clock: Clock) -> None:
    w = world()
    clock.at("2026-11-20T01:15:00")
    w.run_now = "a"
    w.look()
    w.status.pop("runNowToken")  # the status write after creating the run was lost
    clock.advance(minutes=2)
    w.look()
    assert w.names() == ["nightly-202611200115"]
    assert w.status["runNowToken"] == "a"


def test_forbid_with_a_run_in_progress_refuses_once(world, clock: Clock) -> None:
    w = world()
    clock.at("2026-11-20T03:30:00")
    w.look()
    w.take_events()
    clock.advance(minutes=10)
    w.run_now = "b"
    w.look()
    assert w.names() == ["nightly-202611200330"]
    [event] = w.take_events()
    assert (event.type, event.reason) == ("Warning", "Skipped")
    assert "nightly-202611200330 is still running" in event.message
    assert w.status["runNowToken"] == "b"
    # Answered: the run's end does not start it later.
    w.finish("nightly-202611200330")
    clock.advance(minutes=10)
    w.look()
    assert w.names() == ["nightly-202611200330"]


def test_replace_stops_the_running_run_first(world, clock: Clock) -> None:
    w = world(concurrencyPolicy="Replace")
    clock.at("2026-11-20T03:30:00")
    w.look()
    clock.advance(minutes=10)
    w.run_now = "c"
    plan = w.look()
    assert [(d.name, d.reason) for d in plan.delete] == [("nightly-202611200330", "Replaced")]
    assert plan.create is None and "runNowToken" not in w.status
    clock.advance(seconds=5)
    w.look()
    assert w.names() == ["nightly-202611200340"]
    assert w.status["runNowToken"] == "c"


def test_run_now_works_while_suspended(world, clock: Clock) -> None:
    w = world(suspend=True)
    clock.at("2026-11-20T12:00:00")
    w.run_now = "d"
    w.look()
    assert w.names() == ["nightly-202611201200"]


def test_a_cron_run_due_now_goes_first(world, clock: Clock) -> None:
    w = world()
    clock.at("2026-11-20T03:30:00")
    w.run_now = "e"
    w.look()
    assert w.names() == ["nightly-202611200330"]
    assert "runNowToken" not in w.status
    w.finish("nightly-202611200330")
    clock.advance(minutes=1)
    w.look()
    assert w.names() == ["nightly-202611200330", "nightly-202611200331"]
