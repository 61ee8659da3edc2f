"""The schedule core on a controllable clock: due runs, concurrency, suspend, outages,
pruning, names, resolved dates and status."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from schedule_support import UID, Clock, World, template, utc

from aurora_restore import schedule as core
from aurora_restore.api.restore import validate_spec
from aurora_restore.api.schedule import AuroraRestoreScheduleStatus
from aurora_restore.k8s import handlers
from aurora_restore.k8s.status import merge_patch
from kstatus_rules import Current, Failed, InProgress, kstatus


def reasons(events: list[core.Event]) -> list[str]:
    return [e.reason for e in events]


def condition(status: dict, type_: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == type_)


FIRST = "nightly-202611200330"


def first_night_ran(w: World, clock: Clock) -> None:
    """The run due on the 20th at 03:30 is created (its events are taken)."""
    clock.at("2026-11-20T03:30:00")
    w.look()
    assert w.names() == [FIRST]
    w.take_events()


def skipped(w: World) -> core.Event:
    """A look that creates nothing and warns why: its one event."""
    w.look()
    assert w.names() == [FIRST]
    [event] = w.take_events()
    assert (event.type, event.reason) == ("Warning", "Skipped")
    return event


# --- due runs -------------------------------------------------------------------------------


def test_a_due_run_creates_exactly_one_child(world, clock: Clock) -> None:
    w = world()
    clock.at("2026-11-20T03:29:59")
    plan = w.look()
    assert w.names() == []
    assert plan.requeue_after == pytest.approx(1.0)
    assert w.status["nextScheduleTime"] == "2026-11-20T03:30:00Z"

    clock.at("2026-11-20T03:30:00")
    w.look()
    assert w.names() == ["nightly-202611200330"]
    [event] = w.take_events()
    assert (event.type, event.reason) == ("Normal", "Created")
    assert "nightly-202611200330" in event.message

    for _ in range(3):  # looking again, even much later the same day, creates nothing
        clock.advance(minutes=7)
        w.look()
    assert w.names() == ["nightly-202611200330"]
    assert w.take_events() == []
    assert w.status["lastScheduleTime"] == "2026-11-20T03:30:00Z"
    assert w.status["nextScheduleTime"] == "2026-11-21T03:30:00Z"
    assert w.status["active"] == "nightly-202611200330"
    assert condition(w.status, "Active")["status"] == "True"


def test_the_child_is_owned_labelled_and_annotated(world, clock: Clock) -> None:
    w = world()
    clock.at("2026-11-20T03:30:05")
    plan = w.look()
    assert plan.create is not None
    meta = plan.create.body["metadata"]
    assert plan.create.body["apiVersion"] == "dbrestore.io/v1alpha1"
    assert plan.create.body["kind"] == "AuroraRestore"
    assert meta["namespace"] == "databases"
    assert meta["labels"] == {core.SCHEDULE_LABEL: "nightly"}
    assert meta["annotations"] == {core.SCHEDULED_AT_ANNOTATION: "2026-11-20T03:30:00Z"}
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "dbrestore.io/v1alpha1",
            "kind": "AuroraRestoreSchedule",
            "name": "nightly",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    # The restore daemon tags AWS resources with the schedule through this very label.
    assert core.SCHEDULE_LABEL == handlers.SCHEDULE_LABEL


def test_a_new_schedule_does_not_run_for_times_before_it_existed(world, clock: Clock) -> None:
    w = world()
    w.created = utc("2026-11-20T10:00:00")
    clock.at("2026-11-20T10:00:30")
    w.look()
    assert w.names() == []
    assert w.take_events() == []
    clock.at("2026-11-21T03:30:00")
    w.look()
    assert w.names() == ["nightly-202611210330"]


def test_a_lost_status_write_adopts_the_child_instead_of_creating_it_again(
    world, clock: Clock
) -> None:
    w = world()
    clock.at("2026-11-20T03:30:00")
    w.look()
    w.status = {}  # as if the status patch after the creation had failed
    clock.advance(seconds=10)
    plan = w.look()
    assert plan.create is None
    assert w.names() == ["nightly-202611200330"]
    assert w.status["lastScheduleTime"] == "2026-11-20T03:30:00Z"


# --- concurrency ----------------------------------------------------------------------------


def test_forbid_skips_while_a_child_runs_and_says_so_once(world, clock: Clock) -> None:
    w = world(startingDeadline="1h")
    first_night_ran(w, clock)
    w.start(FIRST)

    clock.at("2026-11-21T03:30:00")
    event = skipped(w)
    assert "nightly-202611200330 is still running" in event.message
    assert "Forbid" in event.message
    assert w.status["message"] == event.message
    assert w.status["active"] == "nightly-202611200330"

    clock.advance(seconds=30)
    w.look()
    assert w.take_events() == []  # the same reason is not repeated on every look

    # The old run ends after the deadline: the night's run is skipped for good.
    clock.at("2026-11-21T04:45:00")
    w.finish("nightly-202611200330")
    event = skipped(w)
    assert "startingDeadline" in event.message
    assert "active" not in w.status

    clock.at("2026-11-22T03:30:00")
    w.look()
    assert w.names() == ["nightly-202611200330", "nightly-202611220330"]


def test_forbid_starts_the_blocked_run_when_the_old_one_ends_within_the_deadline(
    world, clock: Clock
) -> None:
    w = world(startingDeadline="2h")
    clock.at("2026-11-20T03:30:00")
    w.look()
    clock.at("2026-11-21T03:30:00")
    w.look()
    clock.at("2026-11-21T04:00:00")
    w.finish("nightly-202611200330")
    w.take_events()
    w.look()
    assert w.names() == ["nightly-202611200330", "nightly-202611210330"]
    [event] = w.take_events()
    assert event.reason == "Created"
    assert "30m late" in event.message
    assert w.objects["nightly-202611210330"]["spec"]["source"]["date"] == "2026-11-20"


def test_replace_stops_the_running_child_before_creating_the_new_one(world, clock: Clock) -> None:
    w = world(concurrencyPolicy="Replace")
    w.finalizers = True  # the old run's cleanup takes a while
    first_night_ran(w, clock)
    w.start(FIRST)

    clock.at("2026-11-21T03:30:00")
    plan = w.look()
    assert plan.create is None
    assert [(d.name, d.reason) for d in plan.delete] == [("nightly-202611200330", "Replaced")]
    assert reasons(w.take_events()) == ["Replaced"]
    assert plan.requeue_after == core.REPLACE_POLL_SECONDS

    # Still finalizing: neither deleted again nor replaced yet.
    clock.advance(seconds=5)
    plan = w.look()
    assert (plan.create, plan.delete, w.take_events()) == (None, [], [])
    assert "Stopping nightly-202611200330" in w.status["message"]

    w.finalize("nightly-202611200330")
    clock.advance(seconds=5)
    plan = w.look()
    assert plan.create is not None
    assert w.names() == ["nightly-202611210330"]
    assert reasons(w.take_events()) == ["Created"]


def test_replace_with_an_idle_schedule_just_creates(world, clock: Clock) -> None:
    w = world(concurrencyPolicy="Replace")
    clock.at("2026-11-20T03:30:00")
    w.look()
    w.finish("nightly-202611200330")
    clock.at("2026-11-21T03:30:00")
    plan = w.look()
    assert plan.create is not None and plan.delete == []


# --- suspend --------------------------------------------------------------------------------


def test_suspend_stops_new_runs(world, clock: Clock) -> None:
    w = world(suspend=True, startingDeadline="1h")
    clock.at("2026-11-20T03:30:00")
    plan = w.look()
    assert w.names() == []
    assert plan.create is None and plan.requeue_after is None
    assert "nextScheduleTime" not in w.status
    assert condition(w.status, "Suspended")["status"] == "True"
    assert condition(w.status, "Ready")["reason"] == "Suspended"
    [event] = w.take_events()
    assert (event.type, event.reason) == ("Normal", "Skipped")
    assert "suspended" in event.message

    clock.advance(minutes=1)
    w.look()
    assert w.take_events() == []

    # Resumed within the deadline: the night's run starts (once).
    w.spec["suspend"] = False
    clock.at("2026-11-20T04:00:00")
    w.look()
    assert w.names() == ["nightly-202611200330"]
    assert condition(w.status, "Suspended")["status"] == "False"


def test_suspend_does_not_stop_a_running_child_or_pruning(world, clock: Clock) -> None:
    w = world(successfulRunsHistoryLimit=0)
    clock.at("2026-11-20T03:30:00")
    w.look()
    w.spec["suspend"] = True
    clock.advance(minutes=1)
    plan = w.look()
    assert plan.delete == []
    assert w.status["active"] == "nightly-202611200330"
    w.finish("nightly-202611200330")
    clock.advance(minutes=1)
    w.look()
    assert w.names() == []
    assert w.status["lastResult"] == "Completed"


# --- missed runs ----------------------------------------------------------------------------


def test_operator_down_across_two_due_times_catches_up_once_inside_the_deadline(
    world, clock: Clock
) -> None:
    w = world(startingDeadline="1h")
    first_night_ran(w, clock)
    w.finish(FIRST)

    clock.at("2026-11-22T04:00:00")  # back after missing the 21st and the 22nd
    w.look()
    assert w.names() == ["nightly-202611200330", "nightly-202611220330"]
    [event] = w.take_events()
    assert event.reason == "Created"
    assert "1 earlier missed run(s) were not started" in event.message
    for _ in range(5):
        clock.advance(minutes=1)
        w.look()
    assert len(w.names()) == 2


def test_operator_down_beyond_the_deadline_starts_nothing(world, clock: Clock) -> None:
    w = world(startingDeadline="1h")
    first_night_ran(w, clock)
    w.finish(FIRST)

    clock.at("2026-11-22T05:00:00")
    event = skipped(w)
    assert "more than 1h late" in event.message
    clock.advance(minutes=30)
    w.look()
    assert w.take_events() == []

    clock.at("2026-11-23T03:30:00")
    w.look()
    assert w.names() == ["nightly-202611200330", "nightly-202611230330"]


def test_without_a_deadline_one_catch_up_run_starts_however_late(world, clock: Clock) -> None:
    w = world(schedule="*/5 * * * *")
    clock.at("2026-11-20T00:00:00")
    w.look()
    w.finish("nightly-202611200000")
    clock.at("2026-11-21T12:02:00")  # 431 runs missed
    w.look()
    assert w.names() == ["nightly-202611200000", "nightly-202611211200"]
    assert "431 earlier missed run(s)" in w.events[-1].message
    clock.advance(seconds=1)
    assert w.look().create is None


# --- pruning --------------------------------------------------------------------------------


def run_nights(w, clock: Clock, results: list[str]) -> list[str]:
    names = []
    for day, result in enumerate(results, start=1):
        clock.at(f"2026-11-{day:02d}T03:30:00")
        w.look()
        name = f"nightly-202611{day:02d}0330"
        names.append(name)
        if result != "Running":
            w.finish(name, result)
        clock.advance(minutes=1)
        w.look()
    return names


def test_pruning_keeps_exactly_the_history_limits(world, clock: Clock) -> None:
    w = world(successfulRunsHistoryLimit=2, failedRunsHistoryLimit=1)
    w.created = utc("2026-10-31T00:00:00")
    results = ["Completed", "Failed", "Completed", "Completed", "Failed", "Completed", "Failed"]
    names = run_nights(w, clock, results)
    completed = [n for n, r in zip(names, results, strict=True) if r == "Completed"]
    failed = [n for n, r in zip(names, results, strict=True) if r == "Failed"]
    assert w.names() == sorted(completed[-2:] + failed[-1:])
    pruned = [e for e in w.events if e.reason == "Pruned"]
    assert len(pruned) == len(names) - 3
    assert all("HistoryLimit" in e.message for e in pruned)
    assert w.status["lastResult"] == "Failed"
    assert w.status["lastSuccessfulTime"] == "2026-11-06T03:30:00Z"


def test_pruning_never_deletes_a_running_child(world, clock: Clock) -> None:
    w = world(successfulRunsHistoryLimit=0, failedRunsHistoryLimit=0, concurrencyPolicy="Replace")
    w.created = utc("2026-10-31T00:00:00")
    run_nights(w, clock, ["Completed", "Failed", "Running"])
    assert w.names() == ["nightly-202611030330"]
    assert all(d.reason == "Pruned" for p in w.plans for d in p.delete)


def test_history_limits_of_zero_keep_last_result_right(world, clock: Clock) -> None:
    w = world(successfulRunsHistoryLimit=3, failedRunsHistoryLimit=0)
    w.created = utc("2026-10-31T00:00:00")
    run_nights(w, clock, ["Completed", "Failed"])
    assert w.names() == ["nightly-202611010330"]
    assert w.status["lastResult"] == "Failed"  # the failed run is gone, but was last

    w = world(successfulRunsHistoryLimit=0, failedRunsHistoryLimit=3)
    w.created = utc("2026-10-31T00:00:00")
    run_nights(w, clock, ["Failed", "Completed"])
    assert w.names() == ["nightly-202611010330"]
    assert w.status["lastResult"] == "Completed"
    assert w.status["lastSuccessfulTime"] == "2026-11-02T03:30:00Z"


# --- time zones, dates and names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "cron", "now", "name", "date"),
    [
        # 01:00 on the 26th in Auckland is 12:00 on the 25th in UTC: yesterday is the 25th
        # there, while UTC's yesterday would be the 24th.
        ("Pacific/Auckland", "0 1 * * *", "2026-11-25T12:00:00", "202611260100", "2026-11-25"),
        # 20:00 on the 25th in Los Angeles is 04:00 on the 26th in UTC: yesterday is the
        # 24th there, while UTC's yesterday would be the 25th.
        ("America/Los_Angeles", "0 20 * * *", "2026-11-26T04:00:00", "202611252000", "2026-11-24"),
    ],
)
def test_the_resolved_date_is_yesterday_in_the_schedules_time_zone(
    world, clock: Clock, zone: str, cron: str, now: str, name: str, date: str
) -> None:
    w = world(schedule=cron, timeZone=zone)
    clock.at(now)
    plan = w.look()
    assert plan.create is not None
    utc_yesterday = (clock.now.date() - dt.timedelta(days=1)).isoformat()
    assert date != utc_yesterday
    assert plan.create.name == f"nightly-{name}"
    assert plan.create.body["spec"]["source"]["date"] == date
    # A late start (here after midnight UTC and local) still restores the scheduled day.
    w2 = world(schedule=cron, timeZone=zone)
    clock.advance(hours=13)
    late = w2.look()
    assert late.create is not None and late.create.body["spec"]["source"]["date"] == date


def test_an_explicit_date_or_snapshot_is_left_alone(world, clock: Clock) -> None:
    clock.at("2026-11-20T03:30:00")
    pinned = world(template=template(date="latest")).look()
    assert pinned.create is not None
    assert pinned.create.body["spec"]["source"]["date"] == "latest"
    exact = {
        "source": {"region": "us-east-1", "snapshotIdentifier": "golden"},
        "target": {"region": "us-west-2", "clusterIdentifier": "staging"},
    }
    snap = world(template=exact).look()
    assert snap.create is not None
    assert "date" not in snap.create.body["spec"]["source"]
    assert snap.create.body["spec"] == exact


@pytest.mark.parametrize(
    "source", [{"method": "Clone"}, {"method": "PointInTime", "restoreTime": "latest"}]
)
def test_a_clone_or_point_in_time_run_gets_no_date(world, clock: Clock, source: dict) -> None:
    clock.at("2026-11-20T03:30:00")
    spec = {
        "source": {"region": "us-east-1", "clusterIdentifier": "prod", **source},
        "target": {"region": "us-east-1", "clusterIdentifier": "staging"},
    }
    plan = world(template=spec).look()
    assert plan.create is not None
    assert plan.create.body["spec"] == spec
    validate_spec(plan.create.body["spec"])


def test_long_schedule_names_give_valid_distinct_child_names() -> None:
    tz = zoneinfo.ZoneInfo("UTC")
    at = utc("2026-11-20T03:30:00")
    short = core.child_name("nightly", at, tz)
    assert short == "nightly-202611200330"
    a = core.child_name("a" * 50 + "-refresh-one", at, tz)
    b = core.child_name("a" * 50 + "-refresh-two", at, tz)
    assert len(a) == len(b) == 63
    assert a != b
    assert a.endswith("-202611200330")
    exactly = core.child_name("b" * 50, at, tz)
    assert exactly == "b" * 50 + "-202611200330" and len(exactly) == 63
    dotted = core.child_name("x" * 43 + "." + "y" * 19, at, tz)
    assert ".-" not in dotted and len(dotted) <= 63


def test_the_repeated_hour_at_the_end_of_daylight_saving_time_runs_once(
    world, clock: Clock
) -> None:
    w = world(schedule="30 2 * * *", timeZone="Europe/Berlin")
    w.created = utc("2026-10-24T00:00:00")
    clock.at("2026-10-25T00:30:00")  # 02:30 CEST
    w.look()
    assert w.names() == ["nightly-202610250230"]
    clock.at("2026-10-25T01:30:00")  # 02:30 CET, the same wall-clock time again
    plan = w.look()
    assert plan.create is None
    assert w.status["nextScheduleTime"] == "2026-10-26T01:30:00Z"


def test_a_run_due_exactly_now_is_due(world, clock: Clock) -> None:
    w = world(schedule="* * * * *")
    clock.at("2026-11-20T03:31:00")
    assert w.look().create is not None
    assert w.plans[-1].requeue_after == pytest.approx(60.0)


# --- status ---------------------------------------------------------------------------------


def test_status_fields_are_the_declared_ones(world, clock: Clock) -> None:
    w = world()
    clock.at("2026-11-20T03:30:00")
    w.look()
    w.finish("nightly-202611200330", "Failed", "Snapshot not found")
    clock.advance(minutes=1)
    w.look()
    declared = {f.alias or n for n, f in AuroraRestoreScheduleStatus.model_fields.items()}
    assert set(w.status) <= declared
    assert w.status["lastResult"] == "Failed"
    assert w.status["message"] == "The last run nightly-202611200330 failed: Snapshot not found"
    assert "lastSuccessfulTime" not in w.status
    assert w.status["observedGeneration"] == 1
    assert {c["type"] for c in w.status["conditions"]} == {
        "Ready", "Suspended", "Active", "Reconciling", "Stalled"
    }  # fmt: skip
    assert condition(w.status, "Ready")["status"] == "True"


def _kstatus(w) -> str:
    return kstatus(
        {"kind": "AuroraRestoreSchedule", "metadata": {"generation": 1}, "status": w.status}
    )[0]


def test_kstatus_follows_the_runs(world, clock: Clock) -> None:
    w = world()
    clock.at("2026-11-20T01:00:00")
    w.look()
    assert _kstatus(w) == Current  # waiting for its first run
    clock.at("2026-11-20T03:30:00")
    w.look()
    assert _kstatus(w) == InProgress  # a run is in progress
    assert condition(w.status, "Reconciling")["reason"] == "RunInProgress"
    w.finish("nightly-202611200330", "Completed")
    clock.advance(minutes=1)
    w.look()
    assert _kstatus(w) == Current
    clock.at("2026-11-21T03:30:00")
    w.look()
    w.finish("nightly-202611210330", "Failed", "Snapshot not found")
    clock.advance(minutes=1)
    w.look()
    # Failed until a later run succeeds, like Argo CD's Degraded for the same schedule.
    assert _kstatus(w) == Failed
    stalled = condition(w.status, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "LastRunFailed")
    assert "Snapshot not found" in stalled["message"]
    clock.at("2026-11-22T03:30:00")
    w.look()
    assert _kstatus(w) == InProgress  # the next run is the answer to the failure
    w.finish("nightly-202611220330", "Completed")
    clock.advance(minutes=1)
    w.look()
    assert _kstatus(w) == Current
    assert condition(w.status, "Stalled")["status"] == "False"


def test_kstatus_of_an_invalid_schedule_is_failed(world, clock: Clock) -> None:
    w = world(schedule="every night at 3")
    clock.at("2026-11-20T03:30:00")
    w.look()
    assert _kstatus(w) == Failed
    assert condition(w.status, "Stalled")["reason"] == "InvalidSpec"


def test_condition_transition_times_move_only_with_their_status(world, clock: Clock) -> None:
    w = world()
    clock.at("2026-11-20T01:00:00")
    w.look()
    ready_since = condition(w.status, "Ready")["lastTransitionTime"]
    clock.at("2026-11-20T03:30:00")
    w.look()
    assert condition(w.status, "Ready")["lastTransitionTime"] == ready_since
    assert condition(w.status, "Active")["lastTransitionTime"] == "2026-11-20T03:30:00Z"


def test_status_patch_nulls_removed_keys() -> None:
    old = {"active": "x", "message": "a", "lastResult": "Completed"}
    new = {"message": "b", "lastResult": "Completed"}
    assert merge_patch(old, new) == {"active": None, "message": "b"}


def test_an_invalid_spec_creates_nothing_and_warns_once(world, clock: Clock) -> None:
    w = world(schedule="every night at 3")
    clock.at("2026-11-20T03:30:00")
    plan = w.look()
    assert plan.create is None and plan.delete == []
    assert w.names() == []
    ready = condition(w.status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.schedule" in w.status["message"]
    [event] = w.take_events()
    assert (event.type, event.reason) == ("Warning", "InvalidSpec")
    clock.advance(minutes=1)
    w.look()
    assert w.take_events() == []
    assert "nextScheduleTime" not in w.status

    w.spec["schedule"] = "30 3 * * *"  # fixed: runs from the next due time on
    clock.at("2026-11-21T03:30:00")
    w.look()
    assert condition(w.status, "Ready")["status"] == "True"
    assert len(w.names()) == 1


def test_children_of_keeps_only_runs_this_schedule_controls() -> None:
    def obj(name: str, uid: str, controller: bool = True) -> dict:
        ref = {"kind": "AuroraRestoreSchedule", "uid": uid, "controller": controller}
        return {"metadata": {"name": name, "ownerReferences": [ref]}}

    kept = core.children_of(
        [
            obj("mine", UID),
            obj("other", "uid-2"),
            obj("loose", UID, False),
            {"metadata": {"name": "bare"}},
        ],
        UID,
    )
    assert [c.name for c in kept] == ["mine"]
