"""Drive one restore by one tick with the real adapters, and write its records.

The CLI and the kopf operator both call ``Driver.tick``: it decides whether a new run
starts, validates the spec, advances the pipeline and writes the audit, state and metric
records. It blocks (boto3, psycopg2); the operator calls it in a worker thread. The
adapters and the settings the pipeline sees are wired in wiring.py; what the deletion of
a resource removes is decided in pipeline/cleanup.py, the notification of a rejected spec
in pipeline/steps/sns_notification.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import logs
from .api.restore import AuroraRestoreSpec, SpecError, validate_spec
from .api.status import AuroraRestoreStatus, Phase, StepState
from .aws.clients import Clients
from .aws.record_writer import RecordWriter
from .pipeline import cleanup, guards
from .pipeline import records as audit_keys
from .pipeline.conditions import update_conditions
from .pipeline.context import Context, StepResult, iso, operation_id
from .pipeline.engine import AuditEntry, Event, Outcome, advance, begin, refuse, reject
from .pipeline.errors import PortError, StepFailure
from .pipeline.ports import Database
from .pipeline.steps import sns_notification
from .settings import Settings
from .wiring import Adapters, KubeSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resource:
    """What the driver needs to know of an AuroraRestore object."""

    name: str
    namespace: str
    uid: str
    generation: int | None
    spec: Mapping[str, Any]
    status: Mapping[str, Any] | None
    rerun_token: str | None = None
    # "namespace/name" tagged on AWS resources; a schedule's children share the schedule's.
    owner: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class Tick:
    status: AuroraRestoreStatus
    requeue_after: float | None
    events: list[Event] = field(default_factory=list)
    # A spec change that waits for the current run to end.
    pending_change: bool = False
    # requeue_after was announced (a retry's backoff): sleep exactly that, not capped.
    exact_wait: bool = False


def needs_new_run(status: AuroraRestoreStatus, generation: int | None, token: str | None) -> bool:
    if status.operation_id is None:
        return True
    if not status.phase.finished:
        return False
    return status.observed_generation != generation or (token or None) != status.rerun_token


class Driver(Adapters):
    """One tick of a restore (``tick``), one step of its deletion (``cleanup``), and the
    records of both. The adapters behind the ports come from wiring.py."""

    def __init__(
        self,
        settings: Settings,
        clients: Clients | None = None,
        database: Database | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        super().__init__(settings, clients, database, clock)
        # Ticks hand their records to the writer; the operator runs it in a thread of its
        # own (start()), the CLI and driver-level tests let each tick flush it.
        self.writer = RecordWriter(
            self.records, lambda: self.clock(), self._records_failed, settings.records_interval
        )
        self._failures: dict[str, str] = {}
        self._failures_lock = threading.Lock()
        # Operations whose records this process has reconciled with their state item.
        self._seen: set[str] = set()
        self._local = threading.local()

    def tick(self, resource: Resource, kube: KubeSource) -> Tick:
        with logs.about(resource.key):
            self._local.recorded = False
            tick = self._tick(resource, kube)
            if not self.writer.running or (tick.requeue_after is None and self._local.recorded):
                # No writer thread (the CLI, driver-level tests): the tick writes its records.
                # With one, the run's last tick still writes what is queued before its status
                # says it ended, so whoever reads that status finds the whole trail (once a
                # run, and bounded: under throttling the writer thread takes over).
                self.writer.flush()
        # Records of this resource that the writer could not write (this tick's, inline, or
        # an earlier one's in the background).
        with self._failures_lock:
            failure = self._failures.pop(resource.key, None)
        if failure:
            tick.events.append(Event("Warning", "RecordsFailed", failure))
        return tick

    def _records_failed(self, resource: str, message: str) -> None:
        with self._failures_lock:
            self._failures[resource] = message

    def _reconcile(self, resource: Resource) -> None:
        """The first look at an operation in this process: write the audit items its status
        implies and its state item does not (a crash before the writer wrote them)."""
        status = dict(resource.status or {})
        op = status.get("operationId")
        if op and op not in self._seen:
            self._seen.add(op)
            self.writer.reconcile(op, resource.key, status)

    def _tick(self, resource: Resource, kube: KubeSource) -> Tick:
        now = self.clock()
        status = AuroraRestoreStatus.model_validate(dict(resource.status or {}))
        self._reconcile(resource)
        pending_change = False
        if needs_new_run(status, resource.generation, resource.rerun_token):
            previous = status if status.operation_id else None
            try:
                spec = validate_spec(resource.spec)
            except SpecError as exc:
                fresh = self._begin(resource, previous, None, now)
                outcome = reject(fresh, exc.problems, resource.generation, now)
                self._notify_rejected(resource, outcome)
                self._write(resource, outcome, now)
                return Tick(outcome.status, None, outcome.events)
            status = self._begin(resource, previous, spec, now)
            status.run_spec = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
            try:
                guards.sign(status, self.leases.signing_key(), resource.uid)
            except PortError as err:
                return self._unsigned(resource, err)
        else:
            if guards.stopped_as_tampered(status):
                return Tick(status, None)
            try:
                # Every tick: the status is a cache that anyone with status access can edit.
                guards.check_operation(status, resource.uid, resource.generation)
                pending_change = (
                    not status.phase.finished and status.observed_generation != resource.generation
                )
                if (
                    status.phase.finished
                    and status.step(sns_notification.NAME).state.value != "Pending"
                ):
                    return Tick(status, None, [], pending_change)
                spec = guards.verified_spec(
                    status, resource.uid, resource.generation, resource.spec, self._key()
                )
            except PortError as err:
                return self._unsigned(resource, err)
            except StepFailure as err:
                # A clean status of this resource's own, Failed: nothing of the forged one
                # is kept, and only a spec change or a rerun starts again.
                fresh = self._begin(resource, None, None, now)
                outcome = refuse(fresh, err, resource.generation, now)
                self._write(resource, outcome, now)
                return Tick(outcome.status, None, outcome.events)

        ctx = Context(
            spec=spec,
            status=status,
            ports=self.ports(kube, resource.namespace),
            config=self.config,
            now=now,
            owner=resource.owner or resource.key,
        )
        outcome = advance(ctx, status.observed_generation)
        if pending_change:
            update_conditions(
                outcome.status,
                status.observed_generation,
                iso(now),
                waiting_for="the spec changed; the new spec runs when this run ends",
                waiting_reason=outcome.waiting_reason,
            )
        self._write(resource, outcome, now)
        return Tick(
            outcome.status,
            outcome.requeue_after,
            outcome.events,
            pending_change,
            outcome.exact_wait,
        )

    def _begin(
        self,
        resource: Resource,
        previous: AuroraRestoreStatus | None,
        spec: AuroraRestoreSpec | None,
        now: dt.datetime,
    ) -> AuroraRestoreStatus:
        """A fresh status for the run of the resource's generation and rerun token."""
        return begin(
            previous,
            spec,
            operation_id(resource.uid, resource.generation or 0, resource.rerun_token),
            resource.generation,
            now,
            self.config.history_limit,
            resource.rerun_token,
        )

    def _notify_rejected(self, resource: Resource, outcome: Outcome) -> None:
        """A spec that fails validation still tells the team, when its notification block
        (or the operator's default topic) says so: it is a failed run like any other."""
        raw = resource.spec if isinstance(resource.spec, Mapping) else {}
        final = outcome.status.step(sns_notification.NAME)
        try:
            result = sns_notification.run_rejected(
                raw,
                outcome.status,
                (resource.key, resource.name),
                self.config.default_topic_arn,
                self.notifier,
                iso(self.clock()),
            )
        except PortError as err:
            final.state = StepState.Failed
            final.message = err.message
            outcome.events.append(Event("Warning", "NotificationFailed", err.message))
            outcome.audit.append(AuditEntry(final.name, "Failed", {"message": err.message}))
            return
        final.message = result.message
        if result.skipped:
            return
        final.state = StepState.Succeeded
        outcome.events.append(Event("Normal", "NotificationSent", final.message))
        outcome.audit.append(AuditEntry(final.name, "Succeeded", dict(result.details)))

    def cleanup(self, resource: Resource, kube: KubeSource) -> StepResult:
        """One step of deletionPolicy: Delete; call again until ``done``."""
        with logs.about(resource.key):
            return self._cleanup(resource, kube)

    def _cleanup(self, resource: Resource, kube: KubeSource) -> StepResult:
        status = AuroraRestoreStatus.model_validate(dict(resource.status or {}))
        if not status.operation_id or not status.run_spec:
            return StepResult.finished("Nothing was restored", used_aws=False)
        try:
            spec = guards.verified_spec(
                status, resource.uid, resource.generation, resource.spec, self._key()
            )
        except StepFailure as err:
            if isinstance(err, PortError):
                raise
            # Nothing is deleted on the word of a forged status; the AWS objects stay. The
            # audit item goes under the object's own operation id, not the forged one.
            own = operation_id(resource.uid, resource.generation or 0, resource.rerun_token)
            entry = AuditEntry(
                "cleanup", "Refused", {"error_code": err.code, "message": err.message}
            )
            try:
                self.records.audit(own, [entry], resource.key, self.clock())
            except PortError as record_err:
                log.warning("could not write records: %s", record_err.message)
            return StepResult.finished(
                f"Nothing deleted: {err.message}", reason=guards.TAMPERED, used_aws=False
            )
        ctx = Context(
            spec,
            status,
            self.ports(kube, resource.namespace),
            self.config,
            self.clock(),
            resource.owner or resource.key,
        )
        return cleanup.on_deletion(ctx)

    def _key(self) -> bytes:
        return self.leases.signing_key()

    def _unsigned(self, resource: Resource, err: PortError) -> Tick:
        """The signing key could not be read (DynamoDB): no step runs without the check."""
        status = AuroraRestoreStatus.model_validate(dict(resource.status or {}))
        message = f"Cannot check the status against the operator's key: {err.message}"
        log.warning(message, extra={"resource": resource.key})
        return Tick(
            status, self.config.poll_interval, [Event("Warning", "StatusKeyUnavailable", message)]
        )

    def audit(self, resource: Resource, step: str, state: str, details: dict[str, object]) -> None:
        status = AuroraRestoreStatus.model_validate(dict(resource.status or {}))
        outcome = Outcome(status, audit=[AuditEntry(step, state, details)])
        self._write(resource, outcome, self.clock())
        # Called at a resource's end (cleanup, a cancelled run): once its finalizer is gone no
        # status is left to re-derive these from, so they are written now, like a run's last
        # tick (bounded: under throttling the writer thread takes over).
        self.writer.flush()

    def _write(self, resource: Resource, outcome: Outcome, now: dt.datetime) -> None:
        """Hand the tick's records to the writer: records never block the restore (the
        status is the source of truth, and what it implies is re-derived after a crash)."""
        status = outcome.status
        op = status.operation_id or "unknown"
        self._seen.add(op)
        second = iso(now)
        phase = status.phase.value
        error_step = status.error.step if status.error else None
        keyed = [
            (
                audit_keys.audit_key(
                    second,
                    audit_keys.rank(
                        e.step,
                        e.status,
                        e.seq,
                        audit_keys.after_failure(e.step, phase, error_step),
                    ),
                ),
                e,
            )
            for e in outcome.audit
        ]
        # The state item moves with the audit items: it is their watermark.
        changed = outcome.phase_changed or status.phase is Phase.Pending
        state = status.to_dict() if keyed or changed or outcome.metrics else None
        self.writer.submit(op, resource.key, keyed, state, outcome.metrics, now)
        self._local.recorded = True
