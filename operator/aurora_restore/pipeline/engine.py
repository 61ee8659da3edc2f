"""Advance a restore by one tick: at most one AWS action, then record what happened.

``advance`` is pure apart from the ports it is given: it returns the new status and the
records (events, audit entries, metrics) that the caller writes. The CLI and the kopf
operator drive the same function.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass, field
from typing import Literal

from ..api.restore import AuroraRestoreSpec, resolve_snapshot_date
from ..api.rules import parse_duration
from ..api.status import (
    AuroraRestoreStatus,
    ErrorInfo,
    ErrorType,
    HistoryEntry,
    Phase,
    StepState,
    StepStatus,
)
from . import cleanup
from .conditions import update_conditions
from .context import (
    READS,
    Context,
    Deferred,
    Followed,
    ReadPolicy,
    StepResult,
    iso,
    parse_iso,
)
from .errors import WAITED_FOR, PortError, StepFailure
from .steps import archive_snapshot
from .table import FINAL, PHASE_ORDER, RECOVERY, STAGES, STEP_NAMES, Reads, Stage
from .tenancy import TARGET_BUSY, hold_target, release_target

FINISHED = (StepState.Succeeded, StepState.Skipped, StepState.Failed)


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class AuditEntry:
    step: str
    status: str
    details: dict[str, object]
    # Tells apart the items of one step and state (pipeline/records.py ranks them): the
    # attempt of a Retrying item, the stage of a stage's end in a step spanning two.
    seq: int = 0


@dataclass(frozen=True)
class MetricPoint:
    name: str
    value: float
    unit: str
    dimensions: dict[str, str]


@dataclass
class Outcome:
    status: AuroraRestoreStatus
    # Seconds until the next tick is useful; None when the run has nothing more to do.
    requeue_after: float | None = None
    events: list[Event] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    phase_changed: bool = False
    # The wait was announced (a retry's backoff, a step's own wait): the caller sleeps
    # exactly that long instead of capping it at POLL_INTERVAL.
    exact_wait: bool = False
    # Why the run waits (WaitingForSecret, TargetBusy): the reason of the Progressing and
    # Reconciling conditions.
    waiting_reason: str | None = None


def begin(
    previous: AuroraRestoreStatus | None,
    spec: AuroraRestoreSpec | None,
    operation_id: str,
    generation: int | None,
    now: dt.datetime,
    history_limit: int = 5,
    rerun_token: str | None = None,
) -> AuroraRestoreStatus:
    """A fresh status for a new run; the previous run is kept in ``history``."""
    history: list[HistoryEntry] = list(previous.history) if previous else []
    if previous and previous.operation_id:
        history.insert(
            0,
            HistoryEntry(
                operation_id=previous.operation_id,
                phase=previous.phase,
                started_at=previous.started_at,
                completed_at=previous.completed_at,
                message=previous.message,
                snapshot=previous.snapshot.identifier if previous.snapshot else None,
            ),
        )
    status = AuroraRestoreStatus(
        phase=Phase.Pending,
        operation_id=operation_id,
        observed_generation=generation,
        message="Restore accepted",
        snapshot_date=resolve_snapshot_date(spec, now) if spec else None,
        history=history[:history_limit],
        rerun_token=rerun_token,
        conditions=[c.model_copy() for c in previous.conditions] if previous else [],
    )
    for name in STEP_NAMES:
        status.step(name)
    update_conditions(status, generation, iso(now))
    return status


def reject(
    status: AuroraRestoreStatus, problems: list[str], generation: int | None, now: dt.datetime
) -> Outcome:
    """A spec that fails validation ends the run before any AWS call."""
    message = "Invalid spec: " + "; ".join(problems)
    return refuse(
        status,
        StepFailure(ErrorType.ValidationError, message, "InvalidSpec"),
        generation,
        now,
        "The spec is invalid, so no notification is sent",
    )


def refuse(
    status: AuroraRestoreStatus,
    err: StepFailure,
    generation: int | None,
    now: dt.datetime,
    why_silent: str = "The run was refused before it started, so no notification is sent",
) -> Outcome:
    """End a run before any AWS call (an invalid spec, a forged status)."""
    out = Outcome(status)
    _fail(out, status, STAGES[0].step, err, now)
    # Nothing more to do for this run: an unparsable spec has no notification settings, and
    # a Pending notification step would make every later tick parse the bad spec again.
    final = status.step(FINAL.step)
    final.state = StepState.Skipped
    final.finished_at = iso(now)
    final.message = why_silent
    update_conditions(status, generation, iso(now))
    return out


def _scrub(text: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def _scrub_all(out: Outcome, secrets: set[str]) -> None:
    """Defence in depth: no secret value read in this tick leaves it, whatever a library
    put into an error message."""
    if not secrets:
        return
    st = out.status
    st.message = _scrub(st.message or "", secrets) or None
    if st.error:
        st.error.message = _scrub(st.error.message, secrets)
    for step in st.steps:
        if step.message:
            step.message = _scrub(step.message, secrets)
    for cond in st.conditions:
        cond.message = _scrub(cond.message, secrets)
    out.events = [Event(e.type, e.reason, _scrub(e.message, secrets)) for e in out.events]
    out.audit = [
        AuditEntry(
            a.step,
            a.status,
            {k: _scrub(str(v), secrets) if isinstance(v, str) else v for k, v in a.details.items()},
            a.seq,
        )
        for a in out.audit
    ]


def _current(status: AuroraRestoreStatus) -> Stage | None:
    position = PHASE_ORDER.index(status.phase)
    for stage in STAGES:
        if PHASE_ORDER.index(stage.phase) < position:
            continue
        if status.step(stage.step).state not in FINISHED:
            return stage
    return None


def _start(ctx: Context, out: Outcome, step: StepStatus, **details: object) -> None:
    """A Pending step starts: Running, its first attempt, and the audit item saying so."""
    if step.state is StepState.Pending:
        step.state = StepState.Running
        step.started_at = ctx.iso_now()
        step.attempts = 1
        out.audit.append(AuditEntry(step.name, "Started", details))


def _elapsed(start: str | None, now: dt.datetime) -> float:
    return (now - parse_iso(start)).total_seconds() if start else 0.0


def _fail(
    out: Outcome, st: AuroraRestoreStatus, step_name: str, err: StepFailure, now: dt.datetime
) -> None:
    step = st.step(step_name)
    step.state = StepState.Failed
    step.finished_at = iso(now)
    step.message = err.message
    st.phase = Phase.Failed
    st.completed_at = iso(now)
    st.error = ErrorInfo(type=err.type, step=step_name, message=err.message, code=err.code)
    st.message = f"Restore failed in {step_name}: {err.message}"
    out.phase_changed = True
    out.events.append(Event("Warning", err.type.value, st.message))
    out.audit.append(
        AuditEntry(
            step_name,
            "Failed",
            {"error_type": err.type.value, "error_code": err.code, "message": err.message},
        )
    )
    # The run-level record, as a successful run gets "restore Completed".
    out.audit.append(
        AuditEntry(
            "restore",
            "Failed",
            {
                "error_type": err.type.value,
                "error_step": step_name,
                "error_code": err.code,
                "message": st.message,
            },
        )
    )
    out.metrics.append(MetricPoint("RestoreFailed", 1, "Count", {}))
    out.metrics.append(
        MetricPoint(
            "RestoreDuration", _elapsed(st.started_at, now), "Seconds", {"Result": "Failed"}
        )
    )
    out.requeue_after = 0.0


def _backoff(ctx: Context, attempt: int) -> float:
    ceiling = min(ctx.config.backoff_max, ctx.config.backoff_base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def _act(ctx: Context, stage: Stage, started: float) -> tuple[StepResult, Followed]:
    followed = Followed()
    token = READS.set(
        ReadPolicy(cached=stage.reads is Reads.SHARED, since=started, followed=followed)
    )
    try:
        return stage.action(ctx), followed
    finally:
        READS.reset(token)


def _look_again(
    ctx: Context, step: StepStatus, followed: Followed, announced: float | None = None
) -> float:
    """The wait the step announced, or adaptive polling: soon after an AWS operation
    starts, then less often."""
    if announced is not None:
        return announced
    st = ctx.status
    progress = st.copy_.percent_progress if st.phase is Phase.CopyingSnapshot and st.copy_ else None
    return ctx.config.look_again(_elapsed(step.started_at, ctx.now), progress, followed.seconds)


def _finish_step(
    out: Outcome,
    st: AuroraRestoreStatus,
    stage: Stage,
    result: StepResult,
    now: dt.datetime,
    next_stage: Stage | None,
) -> None:
    step = st.step(stage.step)
    continues = next_stage is not None and next_stage.step == stage.step
    index = STAGES.index(stage)
    # A later part of a step spanning phases (check-restore-status's instances): the step
    # already recorded Succeeded once; this part is recorded by its own reason.
    later_part = index > 0 and STAGES[index - 1].step == stage.step
    if continues:
        # The step goes on in the next phase; move there so this stage is not run again.
        assert next_stage
        st.phase = next_stage.phase
        out.phase_changed = True
    else:
        step.state = StepState.Skipped if result.skipped else StepState.Succeeded
        step.finished_at = iso(now)
        out.metrics.append(
            MetricPoint(
                "StepDuration", _elapsed(step.started_at, now), "Seconds", {"Step": stage.step}
            )
        )
    word = "Skipped" if result.skipped else "Succeeded"
    if later_part and not result.skipped:
        word = result.reason or "Completed"
    part = sum(1 for s in STAGES[:index] if s.step == stage.step)
    out.audit.append(
        AuditEntry(stage.step, word, {"message": result.message, **result.details}, part)
    )
    if result.reason and not result.skipped:
        out.events.append(Event("Normal", result.reason, result.message))


def _cleaned_up_after_failure(ctx: Context, out: Outcome) -> bool:
    """Failure hygiene, recorded as the archive-snapshot step: the failed run's copy gets
    the archive policy and its unused subnet group is deleted, one AWS action per tick.
    True once nothing is left to do (then the notification goes out, naming it)."""
    st = ctx.status
    step = st.step(archive_snapshot.NAME)
    if step.state in FINISHED or not cleanup.needs_cleanup_after_failure(ctx):
        return True
    _start(ctx, out, step, after="failure")
    try:
        result = cleanup.after_failure(ctx)
    except PortError as err:
        if err.retryable and st.retries < ctx.config.max_retries:
            st.retries += 1
            step.attempts += 1
            out.requeue_after = _backoff(ctx, st.retries)
            out.exact_wait = True
            step.message = (
                f"Clean-up: {err.message}; retry {st.retries} in {out.requeue_after:.0f}s"
            )
            return False
        step.state = StepState.Failed
        step.finished_at = ctx.iso_now()
        step.message = f"Clean-up after the failure failed: {err.message}"
        st.message = f"{st.message}; {step.message}"
        out.events.append(Event("Warning", "CleanupFailed", step.message))
        out.audit.append(AuditEntry(archive_snapshot.NAME, "Failed", {"message": step.message}))
        return True
    step.message = result.message
    if not result.done:
        out.requeue_after = result.wait if result.wait is not None else ctx.config.poll_floor
        return False
    step.state = StepState.Succeeded
    step.finished_at = ctx.iso_now()
    st.message = f"{st.message}. {result.message}"
    out.events.append(Event("Normal", "CleanupCompleted", result.message))
    out.audit.append(
        AuditEntry(
            archive_snapshot.NAME, "Succeeded", {"message": result.message, **result.details}
        )
    )
    out.requeue_after = 0.0
    return True


def _recover(ctx: Context, out: Outcome, started: float) -> bool:
    """Run the recovery stages after the run ended; True while one of them has work left
    (then the notification waits). A successful run skips them without asking AWS."""
    st = ctx.status
    for stage in RECOVERY:
        step = st.step(stage.step)
        if step.state in FINISHED:
            continue
        _start(ctx, out, step)
        try:
            result, followed = _act(ctx, stage, started)
        except Deferred as wait:
            out.requeue_after = wait.after
            return True
        except (PortError, StepFailure) as err:
            if (
                isinstance(err, PortError)
                and err.retryable
                and step.attempts < ctx.config.max_retries
            ):
                step.attempts += 1
                step.message = f"{err.message}; retrying"
                out.requeue_after = _backoff(ctx, step.attempts)
                return True
            # The run's own error stays the one in status.error; this one is told apart.
            step.state = StepState.Failed
            step.finished_at = ctx.iso_now()
            step.message = err.message
            out.events.append(Event("Warning", "RecoveryFailed", f"{stage.step}: {err.message}"))
            out.audit.append(
                AuditEntry(stage.step, "Failed", {"message": err.message, "error_code": err.code})
            )
            continue
        step.message = result.message
        if not result.done:
            out.requeue_after = _look_again(ctx, step, followed, result.wait)
            return True
        step.state = StepState.Skipped if result.skipped else StepState.Succeeded
        step.finished_at = ctx.iso_now()
        out.audit.append(
            AuditEntry(stage.step, step.state.value, {"message": result.message, **result.details})
        )
        if not result.skipped:
            out.events.append(Event("Normal", result.reason or "Recovered", result.message))
        if result.used_aws:
            out.requeue_after = 0.0
            return True
    return False


def _run_final(ctx: Context, out: Outcome) -> None:
    st = ctx.status
    step = st.step(FINAL.step)
    if step.state in FINISHED:
        return
    step.state = StepState.Running
    step.started_at = step.started_at or ctx.iso_now()
    step.attempts += 1
    try:
        result = FINAL.action(ctx)
    except PortError as err:
        if err.retryable and step.attempts < ctx.config.max_retries:
            step.message = f"{err.message}; retrying"
            # Pending again: a finished run with a Running notification is never ticked.
            step.state = StepState.Pending
            out.requeue_after = _backoff(ctx, step.attempts)
            return
        step.state = StepState.Failed
        step.message = err.message
        out.events.append(Event("Warning", "NotificationFailed", err.message))
        out.audit.append(
            AuditEntry(FINAL.step, "Failed", {"message": err.message, "error_code": err.code})
        )
        return
    step.state = StepState.Skipped if result.skipped else StepState.Succeeded
    step.finished_at = ctx.iso_now()
    step.message = result.message
    out.audit.append(AuditEntry(FINAL.step, step.state.value, {"message": result.message}))
    if not result.skipped:
        out.events.append(Event("Normal", "NotificationSent", result.message))


def advance(ctx: Context, generation: int | None = None) -> Outcome:
    st = ctx.status
    out = Outcome(st)
    try:
        _advance(ctx, out)
        if st.phase.finished and out.phase_changed:
            release_target(ctx)
    finally:
        update_conditions(
            st,
            generation if generation is not None else st.observed_generation,
            ctx.iso_now(),
            waiting_reason=out.waiting_reason,
        )
        _scrub_all(out, ctx.secrets_seen)
    return out


def _advance(ctx: Context, out: Outcome) -> None:
    st = ctx.status
    now = ctx.now
    # Reads before a create or delete must be answered by AWS after this moment.
    started = time.monotonic()
    if st.phase.finished:
        # Swap's undo first (it frees the names and the subnet group), then the clean-up of
        # the copy and the subnet group, then the notification.
        if _recover(ctx, out, started):
            return
        if st.phase is Phase.Failed and not _cleaned_up_after_failure(ctx, out):
            return
        _run_final(ctx, out)
        return
    if st.phase is Phase.Pending:
        st.started_at = ctx.iso_now()
        out.events.append(Event("Normal", "RestoreStarted", f"Restore {ctx.operation_id} started"))
        out.audit.append(
            AuditEntry(
                "restore",
                "Started",
                {
                    "target_cluster_id": ctx.spec.target.cluster_identifier,
                    "target_region": ctx.spec.target.region,
                    "source_region": ctx.spec.source.region,
                },
            )
        )
        out.metrics.append(MetricPoint("RestoreStarted", 1, "Count", {}))

    timeouts = ctx.spec.timeouts
    stage = _current(st)
    if stage and _elapsed(st.started_at, now) > parse_duration(timeouts.total).total_seconds():
        message = f"The restore did not finish within timeouts.total ({timeouts.total})"
        _fail(out, st, stage.step, StepFailure(ErrorType.Timeout, message, "Timeout"), now)
        return
    step_started = st.step(stage.step).started_at if stage else None
    if stage and _elapsed(step_started, now) > parse_duration(timeouts.step).total_seconds():
        message = f"Step {stage.step} did not finish within timeouts.step ({timeouts.step})"
        last = st.step(stage.step).message
        if last:
            message += f"; last: {last}"
        _fail(out, st, stage.step, StepFailure(ErrorType.Timeout, message, "StepTimeout"), now)
        return

    while True:
        stage = _current(st)
        if stage is None:
            st.phase = Phase.Completed
            st.completed_at = ctx.iso_now()
            cluster = st.cluster
            where = f" at {cluster.endpoint}:{cluster.port}" if cluster and cluster.endpoint else ""
            st.message = f"Restored {ctx.spec.target.cluster_identifier}{where}"
            out.phase_changed = True
            out.events.append(Event("Normal", "RestoreCompleted", st.message))
            out.audit.append(AuditEntry("restore", "Completed", {"message": st.message}))
            out.metrics.append(MetricPoint("RestoreSucceeded", 1, "Count", {}))
            out.metrics.append(
                MetricPoint(
                    "RestoreDuration",
                    _elapsed(st.started_at, now),
                    "Seconds",
                    {"Result": "Completed"},
                )
            )
            out.requeue_after = 0.0
            return
        if stage.phase is not st.phase:
            st.phase = stage.phase
            out.phase_changed = True
        step = st.step(stage.step)
        _start(ctx, out, step)
        try:
            busy = hold_target(ctx, stage.phase)
            if busy:
                # Another run holds the target: no call on it, look again later.
                if step.message != busy:
                    out.events.append(Event("Normal", TARGET_BUSY, busy))
                step.message = st.message = busy
                out.waiting_reason = TARGET_BUSY
                out.requeue_after = ctx.config.poll_interval
                return
            result, followed = _act(ctx, stage, started)
        except Deferred as wait:
            # The AWS call budget is spent: this step runs again later, as if it waited, at
            # its turn in the region's queue (aws/ratelimit.py), not later.
            out.requeue_after = wait.after
            out.exact_wait = True
            return
        except PortError as err:
            if not err.retryable:
                _fail(out, st, stage.step, err, now)
                return
            # A late Secret or a database not reachable yet is waited for up to the step's
            # timeout (checked above); other transient errors get MAX_RETRIES retries.
            if err.code not in WAITED_FOR and st.retries >= ctx.config.max_retries:
                _fail(
                    out,
                    st,
                    stage.step,
                    PortError(
                        err.type, f"{err.message} (gave up after {st.retries} retries)", err.code
                    ),
                    now,
                )
                return
            # status.retries, steps[].attempts (1 + the retries) and the message agree.
            st.retries += 1
            step.attempts += 1
            delay = _backoff(ctx, st.retries)
            step.message = f"{err.message}; retry {st.retries} in {delay:.0f}s"
            st.message = step.message
            out.events.append(Event("Warning", "Retrying", step.message))
            out.audit.append(
                AuditEntry(
                    stage.step,
                    "Retrying",
                    {"error_code": err.code, "message": err.message, "retry": st.retries},
                    step.attempts,
                )
            )
            out.requeue_after = delay
            out.exact_wait = True
            return
        except StepFailure as err:
            _fail(out, st, stage.step, err, now)
            return
        st.retries = 0
        step.message = result.message
        st.message = result.message
        if not result.done:
            out.requeue_after = _look_again(ctx, step, followed, result.wait)
            out.exact_wait = result.wait is not None
            out.waiting_reason = result.reason
            return
        index = STAGES.index(stage)
        _finish_step(
            out, st, stage, result, now, STAGES[index + 1] if index + 1 < len(STAGES) else None
        )
        if result.used_aws:
            out.requeue_after = result.wait if result.wait is not None else 0.0
            return
