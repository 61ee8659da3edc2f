"""The AuroraRestoreSchedule resource contract: a cron schedule that creates AuroraRestores.

Like ``restore.py`` this imports pydantic (and croniter and zoneinfo for the two rules a regex
cannot express) and nothing that talks to AWS or Kubernetes.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from enum import StrEnum
from typing import Annotated, Any

from croniter import CroniterBadDateError, croniter
from pydantic import AfterValidator, Field, StrictBool

from .names import RUN_NOW_ANNOTATION
from .restore import AuroraRestoreSpec, Model, parse_spec
from .rules import Duration
from .schema import Crd
from .status import Conditions, Generation, StatusModel, Time, conditions, unset

_CRON_MACROS = ("yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly")
# Exactly five fields (croniter would also take a sixth, seconds, which is not standard
# cron) of the characters cron uses, or a macro. The CRD carries the same pattern; croniter
# then checks the ranges, which a regex cannot say briefly.
CRON_SHAPE = re.compile(
    rf"^(?:@(?:{'|'.join(_CRON_MACROS)})|[0-9A-Za-z*?,/#-]+(?: +[0-9A-Za-z*?,/#-]+){{4}})$"
)
# The shape of an IANA zone name (Area/Location[/Sub]); zoneinfo then checks it exists.
TIME_ZONE_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}$")
# A file in the tz database that is not a zone name.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_CRON_RULE = (
    "must be a 5-field cron expression (minute hour day-of-month month day-of-week) such as "
    "'0 3 * * *', or @hourly, @daily, @weekly, @monthly or @yearly"
)


def _cron(value: str) -> str:
    shown = value[:80]
    if not CRON_SHAPE.fullmatch(value) or not croniter.is_valid(value):
        raise ValueError(f"{_CRON_RULE} (got {shown!r})")
    try:
        # "0 0 31 2 *" is well-formed but never due; croniter gives up after a search.
        croniter(value, dt.datetime(2000, 1, 1)).get_next(dt.datetime)
    except CroniterBadDateError:
        raise ValueError(f"{shown!r} never comes due; check the day and month") from None
    return value


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_ZONES


def _time_zone(value: str) -> str:
    if not TIME_ZONE_SHAPE.fullmatch(value) or value not in _zones():
        raise ValueError(
            f"must be an IANA time zone name such as UTC or Europe/Berlin (got {value[:80]!r})"
        )
    return value


CronSchedule = Annotated[
    str, AfterValidator(_cron), Crd(minLength=1, maxLength=128, pattern=CRON_SHAPE.pattern)
]
TimeZone = Annotated[
    str, AfterValidator(_time_zone), Crd(minLength=1, maxLength=64, pattern=TIME_ZONE_SHAPE.pattern)
]
HistoryLimit = Annotated[int, Field(ge=0, le=100, strict=True)]
_HISTORY = "How many finished runs with this result to keep (0-100)."


class ConcurrencyPolicy(StrEnum):
    # No "Allow": two restores of one target cluster cannot both win.
    Forbid = "Forbid"
    Replace = "Replace"


class AuroraRestoreScheduleSpec(Model):
    """When to restore, and the restore to create each time."""

    schedule: CronSchedule = Field(
        description="Standard 5-field cron (minute hour day-of-month month day-of-week), e.g. "
        "'0 3 * * *', or @hourly, @daily, @weekly, @monthly, @yearly."
    )
    time_zone: TimeZone = Field(
        "UTC",
        description="IANA time zone of the schedule, e.g. Europe/Berlin; also the zone in "
        "which 'yesterday' is resolved for each run.",
    )
    # source.date left unset means "the day before the run's scheduled time in time_zone",
    # resolved when the run is created.
    template: AuroraRestoreSpec = Field(
        description="The AuroraRestore spec of each run. When source.date is unset, each run "
        "restores the day before its scheduled time, in timeZone."
    )
    suspend: StrictBool = Field(
        False, description="Create no new runs while true; running ones go on."
    )
    concurrency_policy: ConcurrencyPolicy = Field(
        ConcurrencyPolicy.Forbid,
        description="When a run is due while the previous one is still running: Forbid skips "
        "the new run, Replace stops the running one first.",
    )
    # None: a missed run starts however late (at most one is caught up).
    starting_deadline: Duration | None = Field(
        None,
        description="How late a missed run may still start, e.g. 2h; unset means no limit. At "
        "most one missed run is caught up.",
    )
    successful_runs_history_limit: HistoryLimit = Field(3, description=_HISTORY)
    failed_runs_history_limit: HistoryLimit = Field(3, description=_HISTORY)


class AuroraRestoreScheduleStatus(StatusModel):
    """Written by the operator: the schedule's runs."""

    observed_generation: Generation | None = unset("The spec generation this status is about.")
    last_schedule_time: Time | None = unset("When the last run was created (RFC 3339).")
    last_successful_time: Time | None = unset(
        "When the last run that completed was created (RFC 3339)."
    )
    next_schedule_time: Time | None = unset("When the next run is due (RFC 3339).")
    active: str | None = unset("Name of the AuroraRestore currently running, if any.")
    last_result: str | None = unset("Phase the last finished run ended in: Completed or Failed.")
    message: str | None = unset("One human sentence about the schedule.")
    conditions: Conditions = conditions("Ready, Reconciling, Stalled (kstatus), Suspended, Active.")
    run_now_token: str | None = unset(f"The {RUN_NOW_ANNOTATION} annotation value last answered.")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def validate_schedule_spec(document: Any) -> AuroraRestoreScheduleSpec:
    """Parse a schedule spec mapping; every problem names its field and what is allowed."""
    return parse_spec(AuroraRestoreScheduleSpec, document)
