"""The AuroraRestoreSchedule model: cron, time zone, template, policies and defaults."""

from __future__ import annotations

from typing import Any

import pytest
from spec_crd_support import SCHEDULE_CRD, at, base_spec, field_accepts, root_schema

from aurora_restore.api import schedule as schedule_api
from aurora_restore.api.restore import AuroraRestoreSpec, SpecError
from aurora_restore.api.schedule import (
    AuroraRestoreScheduleSpec,
    AuroraRestoreScheduleStatus,
    ConcurrencyPolicy,
    validate_schedule_spec,
)


def schedule(**fields: Any) -> dict[str, Any]:
    return {"schedule": "0 3 * * *", "template": base_spec(), **fields}


def one_problem(doc: Any) -> str:
    with pytest.raises(SpecError) as info:
        validate_schedule_spec(doc)
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


def test_defaults() -> None:
    parsed = validate_schedule_spec(schedule())
    assert isinstance(parsed, AuroraRestoreScheduleSpec)
    assert isinstance(parsed.template, AuroraRestoreSpec)
    assert parsed.time_zone == "UTC"
    assert parsed.suspend is False
    assert parsed.concurrency_policy == ConcurrencyPolicy.Forbid
    assert parsed.starting_deadline is None
    assert parsed.successful_runs_history_limit == 3
    assert parsed.failed_runs_history_limit == 3
    assert parsed.template.source.date is None


@pytest.mark.parametrize(
    "cron",
    ["0 3 * * *", "30 3 * * 1-5", "*/15 * * * *", "0 0 1 * *", "0 3 * * MON-FRI",
     "0 0 29 2 *", "5,35 0-6 * jan,jul sun", "@daily", "@hourly", "@weekly", "@monthly",
     "@yearly", "@annually", "@midnight"],
)  # fmt: skip
def test_cron_valid(cron: str) -> None:
    assert validate_schedule_spec(schedule(schedule=cron)).schedule == cron
    assert field_accepts("spec.schedule", cron, SCHEDULE_CRD)


@pytest.mark.parametrize(
    "cron",
    ["", "0 3 * *", "0 3 * * * *", "61 * * * *", "0 24 * * *", "0 3 32 * *", "0 3 * 13 *",
     "every night", "@reboot", "@every 1h", " 0 3 * * *", "0 3 * * *\n", "0\t3 * * *"],
)  # fmt: skip
def test_cron_invalid(cron: str) -> None:
    assert one_problem(schedule(schedule=cron)).startswith(
        "spec.schedule: must be a 5-field cron expression (minute hour day-of-month month "
        "day-of-week) such as '0 3 * * *'"
    )


def test_cron_that_never_comes_due() -> None:
    assert one_problem(schedule(schedule="0 0 31 2 *")) == (
        "spec.schedule: '0 0 31 2 *' never comes due; check the day and month"
    )


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Berlin", "America/New_York", "America/Argentina/Buenos_Aires",
             "Asia/Kolkata", "Etc/GMT+5", "Pacific/Chatham"],
)  # fmt: skip
def test_time_zone_valid(zone: str) -> None:
    assert validate_schedule_spec(schedule(timeZone=zone)).time_zone == zone


@pytest.mark.parametrize(
    "zone", ["", "Mars/Olympus", "europe/berlin", "UTC+2", "localtime", "../etc/passwd",
             "/usr/share/zoneinfo/UTC", "Europe/Berlin\n"],
)  # fmt: skip
def test_time_zone_invalid(zone: str) -> None:
    assert one_problem(schedule(timeZone=zone)).startswith(
        "spec.timeZone: must be an IANA time zone name such as UTC or Europe/Berlin"
    )


def test_template_errors_name_their_field() -> None:
    doc = schedule(template=base_spec(target={"region": "us-east-1", "clusterIdentifier": "a-"}))
    assert one_problem(doc).startswith("spec.template.target.clusterIdentifier: a DB cluster")
    assert one_problem(schedule(template=base_spec(source={"region": "us-east-1"}))).startswith(
        "spec.template.source: set exactly one of snapshotIdentifier"
    )
    assert one_problem({"schedule": "@daily"}) == "spec.template: is required"


def test_policies_and_limits() -> None:
    assert validate_schedule_spec(schedule(concurrencyPolicy="Replace")).concurrency_policy == (
        ConcurrencyPolicy.Replace
    )
    assert one_problem(schedule(concurrencyPolicy="Allow")) == (
        "spec.concurrencyPolicy: must be 'Forbid' or 'Replace'"
    )
    assert validate_schedule_spec(schedule(startingDeadline="2h")).starting_deadline == "2h"
    assert one_problem(schedule(startingDeadline="2 hours")).startswith(
        "spec.startingDeadline: must be a duration"
    )
    for key in ("successfulRunsHistoryLimit", "failedRunsHistoryLimit"):
        assert validate_schedule_spec(schedule(**{key: 0}))
        assert validate_schedule_spec(schedule(**{key: 100}))
        for bad in (-1, 101, "3", True):
            assert one_problem(schedule(**{key: bad})).startswith(f"spec.{key}: ")
    assert one_problem(schedule(suspend="yes")).startswith("spec.suspend: ")
    assert one_problem(schedule(paused=True)).startswith("spec.paused: is not a known field")
    with pytest.raises(SpecError):
        validate_schedule_spec([])


def test_status_model() -> None:
    status = AuroraRestoreScheduleStatus(
        last_schedule_time="2026-11-26T02:30:00Z", active="nightly-staging-202611260330"
    )
    assert status.to_dict() == {
        "lastScheduleTime": "2026-11-26T02:30:00Z",
        "active": "nightly-staging-202611260330",
        "conditions": [],
    }


def test_shape_patterns_are_the_crd_patterns() -> None:
    schema = root_schema(SCHEDULE_CRD)
    assert at(schema, "spec.schedule")["pattern"] == schedule_api.CRON_SHAPE.pattern
    assert at(schema, "spec.timeZone")["pattern"] == schedule_api.TIME_ZONE_SHAPE.pattern


def test_a_hostile_schedule_spec_is_told_in_bounded_problems() -> None:
    """As for a restore: the status must not carry the spec's own huge values back."""
    from aurora_restore.api.restore import MAX_PROBLEM_CHARS, MAX_PROBLEMS

    huge = "x" * 100_000
    template = {**base_spec(), "target": {"region": huge, "clusterIdentifier": huge}}
    doc = schedule(template=template, timeZone=huge, concurrencyPolicy=huge)
    doc["template"]["users"] = [{"name": huge} for _ in range(3 * MAX_PROBLEMS)]
    with pytest.raises(SpecError) as info:
        validate_schedule_spec(doc)
    problems = info.value.problems
    assert all(len(p) <= MAX_PROBLEM_CHARS for p in problems)
    assert len(problems) == MAX_PROBLEMS + 1 and problems[-1].endswith("more problems")
