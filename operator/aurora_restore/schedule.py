"""The AuroraRestoreSchedule core: what a schedule should do at a given moment.

No I/O and no clock of its own: the caller lists the schedule's children, reads the clock
and calls :func:`plan`, which returns what to do (create a child, delete children, post
events, patch the status, look again in N seconds). ``k8s/schedules.py`` applies it.

The rules follow the Kubernetes CronJob controller, so that they surprise no one:

- A run is *due* when the most recent cron time at or before ``now`` is later than the
  last run this schedule knows of (``status.lastScheduleTime``, or the newest child's
  scheduled time when a status write was lost, or the schedule's creation).
- Only that most recent time is ever considered: runs missed while the operator was
  down (or the schedule suspended, or blocked by a running child) collapse into at most
  one catch-up run, never a burst. ``startingDeadline`` bounds how late it may start.
- A due run that cannot start yet (suspended, or ``Forbid`` while a child runs) waits;
  it starts once possible if that is still within ``startingDeadline``, else it is
  skipped. Nothing about a skip is written but the message, which is also what keeps
  the Skipped event from being repeated on every look.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from croniter import croniter

from .api.names import (
    GROUP,
    RUN_NOW_ANNOTATION,
    SCHEDULE_LABEL,
    SCHEDULED_AT_ANNOTATION,
    VERSION,
)
from .api.names import RESTORE_KIND as CHILD_KIND
from .api.names import SCHEDULE_KIND as KIND
from .api.restore import SpecError
from .api.rules import parse_duration
from .api.schedule import (
    AuroraRestoreScheduleSpec,
    AuroraRestoreScheduleStatus,
    ConcurrencyPolicy,
    validate_schedule_spec,
)
from .api.status import Condition, Phase

# ``dbrestore.io/run-now: <any new value>`` (RUN_NOW_ANNOTATION) on a schedule starts a run
# now, under the concurrency policy (also while suspended: it is an explicit request). The
# value answered is kept in ``status.runNowToken`` and on the run it created, so it is
# answered once.
# Object names are DNS subdomains, but the schedule label's value (and many tools) allow
# only 63 characters.
MAX_NAME_LENGTH = 63
# While a Replace waits for the old child to go (its finalizer runs its cleanup).
REPLACE_POLL_SECONDS = 5.0
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_COUNTED_MISSES = 1000
_MAX_MESSAGE = 1024

EventType = Literal["Normal", "Warning"]


# --- time -----------------------------------------------------------------------------------


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 time from the API (``...Z``); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def format_time(value: dt.datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes times."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(value: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    # For people: events and messages show the schedule's own wall-clock time.
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _repeated_wall_time(value: dt.datetime) -> bool:
    """The second occurrence of a wall-clock time when daylight saving time ends.

    croniter yields 02:30 twice on such a night; a daily 02:30 run must run once, and both
    would get the same child name. Like cron, the repeated hour is not run again.
    """
    return value.fold == 1 and value.replace(fold=0).utcoffset() != value.utcoffset()


def previous_time(cron: str, tz: zoneinfo.ZoneInfo, now: dt.datetime) -> dt.datetime | None:
    """The most recent cron time at or before ``now`` (UTC), or None."""
    # croniter's get_prev is strictly earlier than its start; one microsecond later makes
    # a run due exactly at ``now`` count.
    it = croniter(cron, now.astimezone(tz) + dt.timedelta(microseconds=1))
    for _ in range(4):
        found: dt.datetime = it.get_prev(dt.datetime)
        if not _repeated_wall_time(found):
            return found.astimezone(dt.UTC)
    return None


def next_time(cron: str, tz: zoneinfo.ZoneInfo, after: dt.datetime) -> dt.datetime:
    """The first cron time strictly after ``after`` (UTC)."""
    it = croniter(cron, after.astimezone(tz))
    while True:
        found: dt.datetime = it.get_next(dt.datetime)
        if not _repeated_wall_time(found):
            return found.astimezone(dt.UTC)


def _count_between(cron: str, tz: zoneinfo.ZoneInfo, start: dt.datetime, end: dt.datetime) -> int:
    """Cron times strictly between ``start`` and ``end``, counted up to a cap."""
    it = croniter(cron, start.astimezone(tz))
    count = 0
    while count < _MAX_COUNTED_MISSES:
        found: dt.datetime = it.get_next(dt.datetime)
        if found >= end:
            break
        if not _repeated_wall_time(found):
            count += 1
    return count


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleObject:
    """The parts of an AuroraRestoreSchedule the core needs."""

    name: str
    namespace: str
    uid: str
    spec: Mapping[str, Any]
    status: Mapping[str, Any] = field(default_factory=dict)
    generation: int | None = None
    created: dt.datetime | None = None
    run_now: str | None = None  # the dbrestore.io/run-now annotation

    @classmethod
    def from_body(
        cls, body: Mapping[str, Any], status: Mapping[str, Any] | None = None
    ) -> ScheduleObject:
        """``status`` overrides the body's, which may lag behind our own last write."""
        meta = body.get("metadata") or {}
        return cls(
            name=meta["name"],
            namespace=meta.get("namespace") or "default",
            uid=meta.get("uid") or "",
            spec=body.get("spec") or {},
            status=dict(status if status is not None else body.get("status") or {}),
            generation=meta.get("generation"),
            created=parse_time(meta.get("creationTimestamp")),
            run_now=(meta.get("annotations") or {}).get(RUN_NOW_ANNOTATION) or None,
        )


@dataclass(frozen=True)
class Child:
    """One AuroraRestore run of a schedule."""

    name: str
    created: dt.datetime | None = None
    phase: str | None = None
    scheduled_at: dt.datetime | None = None
    deleting: bool = False
    message: str | None = None
    run_now: str | None = None  # the run-now request it answered, if any

    @property
    def finished(self) -> bool:
        return self.phase in (Phase.Completed.value, Phase.Failed.value)

    @property
    def time(self) -> dt.datetime:
        """When the run was due; creation time for a child without the annotation."""
        return self.scheduled_at or self.created or _EPOCH

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Child:
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        annotations = meta.get("annotations") or {}
        return cls(
            name=meta["name"],
            created=parse_time(meta.get("creationTimestamp")),
            phase=status.get("phase"),
            scheduled_at=parse_time(annotations.get(SCHEDULED_AT_ANNOTATION)),
            deleting=bool(meta.get("deletionTimestamp")),
            message=status.get("message"),
            run_now=annotations.get(RUN_NOW_ANNOTATION) or None,
        )


def children_of(objects: Iterable[Mapping[str, Any]], owner_uid: str) -> list[Child]:
    """The runs this schedule controls.

    The label finds candidates; the controller owner reference decides, so that a stray
    AuroraRestore carrying the label (or a run of a deleted schedule of the same name) is
    never pruned or replaced by this one.
    """
    runs = []
    for obj in objects:
        refs = (obj.get("metadata") or {}).get("ownerReferences") or []
        if any(r.get("uid") == owner_uid and r.get("controller") for r in refs):
            runs.append(Child.from_object(obj))
    return runs


# --- outputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    type: EventType
    reason: str
    message: str


@dataclass(frozen=True)
class CreateChild:
    name: str
    scheduled_time: dt.datetime
    body: dict[str, Any]
    event: Event


@dataclass(frozen=True)
class DeleteChild:
    name: str
    reason: Literal["Replaced", "Pruned"]
    event: Event


@dataclass
class Plan:
    """What to do now. Deletions go first (a Replace never creates in the same plan)."""

    status: dict[str, Any]
    create: CreateChild | None = None
    delete: list[DeleteChild] = field(default_factory=list)
    # Events not tied to an action; an action's event is posted once the action succeeded.
    events: list[Event] = field(default_factory=list)
    # Seconds until looking again is useful; None: only when something changes.
    requeue_after: float | None = None


# --- children -------------------------------------------------------------------------------


def child_name(schedule: str, scheduled: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    """``<schedule>-<YYYYMMDDHHMM>`` in the schedule's zone, at most 63 characters.

    A long schedule name is cut and given a short hash of the full name, so that two long
    names with a common prefix still give their runs different names.
    """
    suffix = scheduled.astimezone(tz).strftime("%Y%m%d%H%M")
    room = MAX_NAME_LENGTH - len(suffix) - 1
    base = schedule
    if len(base) > room:
        digest = hashlib.sha256(schedule.encode()).hexdigest()[:6]
        # A name part must end with a letter or digit: no "-" or "." before the hash.
        base = f"{schedule[: room - len(digest) - 1].rstrip('-.')}-{digest}"
    return f"{base}-{suffix}"


def resolved_date(scheduled: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    """The day before the run's scheduled time, on the schedule's calendar."""
    return (scheduled.astimezone(tz).date() - dt.timedelta(days=1)).isoformat()


def child_spec(
    template: Mapping[str, Any],
    parsed: AuroraRestoreScheduleSpec,
    scheduled: dt.datetime,
    tz: zoneinfo.ZoneInfo,
) -> dict[str, Any]:
    """The template as written (so the CRD's defaults apply to the child as usual), with
    ``source.date`` fixed from the scheduled time when the template leaves it to default:
    a run that starts late, or crosses midnight, still restores the intended day."""
    spec = copy.deepcopy(dict(template))
    source = parsed.template.source
    # PointInTime and Clone take no date: a nightly clone is of the source as it is then.
    if source.cluster_identifier is not None and source.date is None and not source.from_cluster:
        spec["source"] = {**spec.get("source", {}), "date": resolved_date(scheduled, tz)}
    return spec


def child_body(
    schedule: ScheduleObject,
    name: str,
    scheduled: dt.datetime,
    spec: dict[str, Any],
    run_now: str | None = None,
) -> dict[str, Any]:
    annotations = {SCHEDULED_AT_ANNOTATION: format_time(scheduled)}
    if run_now:
        annotations[RUN_NOW_ANNOTATION] = run_now
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": CHILD_KIND,
        "metadata": {
            "name": name,
            "namespace": schedule.namespace,
            "labels": {SCHEDULE_LABEL: schedule.name},
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "name": schedule.name,
                    "uid": schedule.uid,
                    "controller": True,
                    # Foreground deletion of the schedule waits for its runs' cleanup.
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Results:
    last_result: str | None
    last_successful: dt.datetime | None
    failed: Child | None  # the failed run lastResult is about, when it is still there


def _results(children: Sequence[Child], previous: Mapping[str, Any]) -> _Results:
    """lastResult and lastSuccessfulTime, robust to runs pruned with a history limit of 0.

    Pruning keeps the newest runs of each result, so the newest finished child is the
    newest finished run unless a limit is 0. lastSuccessfulTime (kept in the status)
    tells whether a newer successful run was pruned; a failed run pruned after being seen
    shows as an already-seen success that must not turn lastResult back to Completed.
    """
    prev_result = previous.get("lastResult")
    prev_success = parse_time(previous.get("lastSuccessfulTime"))
    finished = sorted((c for c in children if c.finished), key=lambda c: (c.time, c.name))
    successes = [c.time for c in finished if c.phase == Phase.Completed.value]
    last_success = max([t for t in (prev_success, *successes) if t is not None], default=None)
    if not finished:
        return _Results(prev_result, last_success, None)
    newest = finished[-1]
    news = prev_success is None or newest.time > prev_success
    if newest.phase == Phase.Completed.value:
        result = Phase.Completed.value if news else (prev_result or Phase.Completed.value)
    else:
        result = Phase.Failed.value if news else Phase.Completed.value
    failed = newest if result == Phase.Failed.value and newest.phase == result else None
    return _Results(result, last_success, failed)


def _prune(
    children: Sequence[Child], parsed: AuroraRestoreScheduleSpec, tz: zoneinfo.ZoneInfo
) -> list[DeleteChild]:
    """Finished runs beyond the history limits, oldest first; never a running one."""
    deletions: list[DeleteChild] = []
    limits = (
        (Phase.Completed.value, parsed.successful_runs_history_limit, "successfulRuns"),
        (Phase.Failed.value, parsed.failed_runs_history_limit, "failedRuns"),
    )
    for phase, limit, what in limits:
        # Runs already being deleted are on their way out and do not count as kept.
        runs = sorted(
            (c for c in children if c.phase == phase and not c.deleting),
            key=lambda c: (c.time, c.name),
            reverse=True,
        )
        for run in reversed(runs[limit:]):
            deletions.append(
                DeleteChild(
                    run.name,
                    "Pruned",
                    Event(
                        "Normal",
                        "Pruned",
                        f"Deleted {run.name} ({phase}, run of {_local(run.time, tz)}): "
                        f"{what}HistoryLimit is {limit}",
                    ),
                )
            )
    return deletions


# --- conditions -----------------------------------------------------------------------------


def _condition(
    previous: Mapping[str, Any],
    type_: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    now: dt.datetime,
    generation: int | None,
) -> Condition:
    old = next((c for c in previous.get("conditions") or [] if c.get("type") == type_), None)
    # lastTransitionTime moves only when the status does, per the Kubernetes convention.
    since = (
        old["lastTransitionTime"]
        if old and old.get("status") == status and old.get("lastTransitionTime")
        else format_time(now)
    )
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


def _active_condition(
    previous: Mapping[str, Any], active: str | None, now: dt.datetime, generation: int | None
) -> Condition:
    if active:
        return _condition(
            previous, "Active", "True", "Running", f"{active} is running", now, generation
        )
    return _condition(previous, "Active", "False", "Idle", "No run is in progress", now, generation)


def _kstatus_conditions(
    previous: Mapping[str, Any],
    active: str | None,
    stalled: tuple[str, str] | None,
    now: dt.datetime,
    generation: int | None,
) -> list[Condition]:
    """kstatus's two conditions (see pipeline/conditions.py): InProgress while a run is in
    progress, Failed while the spec is invalid or the last run failed (``stalled`` is its
    reason and message; a later successful run clears it), Current otherwise."""
    if active:
        reconciling = _condition(
            previous, "Reconciling", "True", "RunInProgress", f"{active} is running", now,
            generation,
        )  # fmt: skip
    else:
        reconciling = _condition(
            previous, "Reconciling", "False", "Idle", "No run is in progress", now, generation
        )
    if stalled:
        stall = _condition(previous, "Stalled", "True", stalled[0], stalled[1], now, generation)
    else:
        stall = _condition(previous, "Stalled", "False", "NoError", "No error", now, generation)
    return [reconciling, stall]


def _clip(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


# --- the plan -------------------------------------------------------------------------------


def plan(schedule: ScheduleObject, children: Sequence[Child], now: dt.datetime) -> Plan:
    """What the schedule should do at ``now`` (an aware datetime), given its runs."""
    now = now.astimezone(dt.UTC)
    previous = schedule.status
    results = _results(children, previous)
    try:
        parsed = validate_schedule_spec(dict(schedule.spec))
    except SpecError as exc:
        return _invalid(schedule, children, results, exc, now)

    tz = zoneinfo.ZoneInfo(parsed.time_zone)
    generation = schedule.generation
    running = sorted((c for c in children if not c.finished), key=lambda c: (c.time, c.name))
    live = [c for c in running if not c.deleting]
    last_schedule = parse_time(previous.get("lastScheduleTime"))
    # A child newer than lastScheduleTime means our status write after creating it was
    # lost: adopt it rather than creating the run again.
    newest_run = max((c.scheduled_at for c in children if c.scheduled_at), default=None)
    known = [t for t in (schedule.created, last_schedule, newest_run) if t is not None]
    earliest = max(known) if known else now
    last_schedule = max([t for t in (last_schedule, newest_run) if t is not None], default=None)

    due = previous_time(parsed.schedule, tz, now)
    if due is not None and due <= earliest:
        due = None
    upcoming = next_time(parsed.schedule, tz, now)
    requeue: float | None = (upcoming - now).total_seconds()

    create: CreateChild | None = None
    deletions: list[DeleteChild] = []
    events: list[Event] = []
    waiting: str | None = None  # why a due run has not started; also the status message
    active = live[-1].name if live else None

    # A run-now request not answered yet (neither in the status nor by a run of ours, in
    # case the status write after creating it was lost). A cron run due now goes first,
    # unless the schedule is suspended (then only the request starts a run).
    answered = previous.get("runNowToken")
    manual = schedule.run_now
    if manual and (manual == answered or any(c.run_now == manual for c in children)):
        answered, manual = manual, None

    if manual and (due is None or parsed.suspend):
        started = now.replace(microsecond=0)
        asked = f"the run asked for with {RUN_NOW_ANNOTATION}"
        if running and parsed.concurrency_policy is ConcurrencyPolicy.Forbid:
            # Answered by the refusal: the request does not linger until the run ends.
            names = ", ".join(c.name for c in running)
            waiting = f"Did not start {asked}: {names} is still running (concurrencyPolicy Forbid)"
            events.append(Event("Warning", "Skipped", waiting))
            answered = manual
        elif running:
            waiting = _replace(running, live, asked, deletions)
            active, requeue = None, REPLACE_POLL_SECONDS
        else:
            name = child_name(schedule.name, started, tz)
            spec = child_spec(schedule.spec["template"], parsed, started, tz)
            create = CreateChild(
                name,
                started,
                child_body(schedule, name, started, spec, run_now=manual),
                Event(
                    "Normal", "Created", f"Created {name} now, as asked with {RUN_NOW_ANNOTATION}"
                ),
            )
            active, last_schedule, answered = name, started, manual

    if due is not None:
        when = _local(due, tz)
        late = now - due
        deadline = parse_duration(parsed.starting_deadline) if parsed.starting_deadline else None
        if parsed.suspend:
            waiting = f"The run due at {when} has not started: the schedule is suspended"
            event = Event("Normal", "Skipped", waiting)
        elif deadline is not None and late > deadline:
            # Checked before the policies: a run too late to start stops nothing.
            waiting = (
                f"Skipped the run due at {when}: it is more than {parsed.starting_deadline} "
                f"late (startingDeadline); the next run is at {_local(upcoming, tz)}"
            )
            event = Event("Warning", "Skipped", waiting)
        elif running and parsed.concurrency_policy is ConcurrencyPolicy.Forbid:
            names = ", ".join(c.name for c in running)
            waiting = (
                f"The run due at {when} has not started: {names} is still running "
                "(concurrencyPolicy Forbid)"
            )
            event = Event("Warning", "Skipped", waiting)
        elif running:
            waiting = _replace(running, live, f"the run due at {when}", deletions)
            event = None
            active = None
            requeue = REPLACE_POLL_SECONDS
        else:
            name = child_name(schedule.name, due, tz)
            spec = child_spec(schedule.spec["template"], parsed, due, tz)
            missed = _count_between(parsed.schedule, tz, earliest, due)
            text = f"Created {name} for the run due at {when}"
            if late >= dt.timedelta(minutes=1):
                text += f", {_late(late)} late"
            if missed:
                more = "+" if missed >= _MAX_COUNTED_MISSES else ""
                text += f"; {missed}{more} earlier missed run(s) were not started"
            create = CreateChild(
                name, due, child_body(schedule, name, due, spec), Event("Normal", "Created", text)
            )
            active = name
            last_schedule = due
            event = None
        # A waiting run's event is posted when the reason first appears, not on every look.
        if event is not None and previous.get("message") != waiting:
            events.append(event)

    # Prune after deciding: results above already saw the runs about to be deleted.
    deletions.extend(_prune(children, parsed, tz))

    if parsed.suspend:
        # Nothing is due to start; a spec change (resuming) wakes the schedule anyway.
        requeue = None
    if waiting:
        message = waiting
    elif parsed.suspend:
        message = "Suspended: no new runs start"
    elif active and results.last_result == Phase.Failed.value:
        # Argo CD shows a schedule whose last run failed as Degraded, with this message.
        message = f"{active} is running; the run before it failed"
    elif active:
        message = f"{active} is running"
    elif results.last_result == Phase.Failed.value:
        message = _failure_message(results)
    else:
        message = f"Next run at {_local(upcoming, tz)}"

    conditions = [
        _condition(
            previous,
            "Ready",
            "True",
            "Suspended" if parsed.suspend else "Scheduled",
            "Suspended" if parsed.suspend else f"Next run at {_local(upcoming, tz)}",
            now,
            generation,
        ),
        _condition(
            previous,
            "Suspended",
            "True" if parsed.suspend else "False",
            "Suspended" if parsed.suspend else "NotSuspended",
            "No new runs start" if parsed.suspend else "Runs start on schedule",
            now,
            generation,
        ),
        _active_condition(previous, active, now, generation),
        *_kstatus_conditions(
            previous,
            active,
            ("LastRunFailed", _clip(_failure_message(results)))
            # A new run in progress is the schedule's answer to the failure: InProgress.
            if results.last_result == Phase.Failed.value and not active
            else None,
            now,
            generation,
        ),
    ]
    status = AuroraRestoreScheduleStatus(
        observed_generation=generation,
        last_schedule_time=format_time(last_schedule) if last_schedule else None,
        last_successful_time=(
            format_time(results.last_successful) if results.last_successful else None
        ),
        next_schedule_time=None if parsed.suspend else format_time(upcoming),
        active=active,
        last_result=results.last_result,
        message=_clip(message),
        conditions=conditions,
        run_now_token=answered,
    )
    return Plan(
        status=status.to_dict(),
        create=create,
        delete=deletions,
        events=events,
        requeue_after=requeue,
    )


def _replace(
    running: Sequence[Child], live: Sequence[Child], what: str, deletions: list[DeleteChild]
) -> str:
    """concurrencyPolicy Replace: stop the running runs, and start the new one only once
    they are gone, so that the old run's cleanup never races the new restore."""
    names = ", ".join(c.name for c in running)
    for run in live:
        deletions.append(
            DeleteChild(
                run.name,
                "Replaced",
                Event(
                    "Normal",
                    "Replaced",
                    f"Deleted {run.name}, still running, to start {what} (concurrencyPolicy "
                    "Replace)",
                ),
            )
        )
    return f"Stopping {names} to start {what} (concurrencyPolicy Replace)"


def _late(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def _failure_message(results: _Results) -> str:
    failed = results.failed
    if failed is None:
        return "The last run failed"
    if failed.message:
        return f"The last run {failed.name} failed: {failed.message}"
    return f"The last run {failed.name} failed"


def _invalid(
    schedule: ScheduleObject,
    children: Sequence[Child],
    results: _Results,
    error: SpecError,
    now: dt.datetime,
) -> Plan:
    """An invalid spec starts nothing and prunes nothing; it says why, once."""
    previous = schedule.status
    message = _clip(f"The spec is invalid: {'; '.join(error.problems)}")
    live = sorted(
        (c for c in children if not c.finished and not c.deleting), key=lambda c: (c.time, c.name)
    )
    active = live[-1].name if live else None
    ready = _condition(previous, "Ready", "False", "InvalidSpec", message, now, schedule.generation)
    old = next((c for c in previous.get("conditions") or [] if c.get("type") == "Ready"), {})
    events = []
    if (old.get("status"), old.get("reason"), old.get("message")) != (
        "False",
        "InvalidSpec",
        message,
    ):
        events.append(Event("Warning", "InvalidSpec", message))
    status = AuroraRestoreScheduleStatus(
        observed_generation=schedule.generation,
        last_schedule_time=previous.get("lastScheduleTime"),
        last_successful_time=(
            format_time(results.last_successful) if results.last_successful else None
        ),
        active=active,
        last_result=results.last_result,
        message=message,
        run_now_token=previous.get("runNowToken"),
        conditions=[
            ready,
            _active_condition(previous, active, now, schedule.generation),
            *_kstatus_conditions(
                previous, active, ("InvalidSpec", message), now, schedule.generation
            ),
        ],
    )
    return Plan(status=status.to_dict(), events=events, requeue_after=None)
