"""The records writer: audit, state and metric records leave the tick path.

A tick only hands its records over (``submit``); a thread of its own writes them in batches:
audit and state items with ``BatchWriteItem`` (25 a call, across restores and tables),
metrics with ``PutMetricData`` (up to 1000 points a call). A throttled table slows this
thread, never a tick: unprocessed items and throttled calls are retried here with backoff.

Nothing is lost across a crash: the audit keys are deterministic (pipeline/records.py), and
the state item of an operation is written only after every audit item submitted before it,
so it is the watermark of what was written. The first time this process sees an operation
(``reconcile``), the writer reads its state item (``BatchGetItem``, 100 a call) and writes
the audit items the resource's status implies beyond it.

Without ``start()`` (the CLI, the driver-level tests) the caller drains the queue itself
with ``flush()``, at the end of each tick.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..pipeline import records as core
from ..pipeline.engine import AuditEntry, MetricPoint
from ..pipeline.errors import PortError
from .records import BATCH_GET_MAX, BATCH_WRITE_MAX, METRIC_POINTS_MAX, Put, Records

log = logging.getLogger(__name__)

# (resource "namespace/name", one sentence): a record could not be written after retries.
FailureSink = Callable[[str, str], None]


@dataclass(frozen=True)
class Retry:
    """How hard the writer tries before it reports RecordsFailed."""

    attempts: int = 8
    base: float = 0.1
    ceiling: float = 5.0

    def delay(self, attempt: int) -> float:
        top = min(self.ceiling, self.base * 2**attempt)
        return random.uniform(top / 2, top)


# The background writer can afford patience; a caller that flushes inside its tick cannot.
BACKGROUND = Retry()
INLINE = Retry(attempts=1, base=0.05, ceiling=0.2)
BARRIER = Retry(attempts=0)
# How long the end of a run waits for a flush of the writer thread in progress (normally
# milliseconds; under throttling the run ends without waiting for the writer's backoff).
BARRIER_WAIT = 1.0
# A row that failed this many flushes in a row is given up (re-derived on the next start).
FLUSHES_PER_ROW = 3


@dataclass
class _Row:
    op: str
    resource: str
    put: Put
    failures: int = 0


@dataclass
class _State:
    resource: str
    state: dict[str, Any]
    at: dt.datetime


@dataclass
class _Pending:
    rows: list[_Row] = field(default_factory=list)
    states: dict[str, _State] = field(default_factory=dict)
    metrics: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    reconcile: dict[str, _State] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rows or self.states or self.metrics or self.reconcile)


@dataclass(eq=False)
class RecordWriter:
    records: Records
    clock: Callable[[], dt.datetime]
    on_failed: FailureSink
    # How long the writer lets records gather before it writes them: fewer, fuller calls.
    interval: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    _pending: _Pending = field(default_factory=_Pending, init=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False)
    _flushing: threading.Lock = field(default_factory=threading.Lock, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _stop: bool = field(default=False, init=False)
    # Operations whose records failed: reported once until a write of theirs succeeds.
    _reported: set[str] = field(default_factory=set, init=False)
    # Calls made, by operation (BatchWriteItem, BatchGetItem, PutMetricData): the bench.
    calls: dict[str, int] = field(default_factory=dict, init=False)

    # --- the tick's side -----------------------------------------------------------------

    def submit(
        self,
        op: str,
        resource: str,
        audit: list[tuple[str, AuditEntry]],
        state: dict[str, Any] | None,
        metrics: list[MetricPoint],
        now: dt.datetime,
    ) -> None:
        """Queue a tick's records: (key, entry) audit items, the state (newest wins)."""
        rows = [_Row(op, resource, self.records.audit_put(op, k, e, resource)) for k, e in audit]
        data = self.records.metric_data(metrics, now)
        with self._cond:
            self._pending.rows.extend(rows)
            if state is not None:
                self._pending.states[op] = _State(resource, state, now)
            self._pending.metrics.extend((resource, d) for d in data)
            self._cond.notify()

    def reconcile(self, op: str, resource: str, status: dict[str, Any]) -> None:
        """Write what ``status`` implies and the state item does not (after a restart)."""
        with self._cond:
            self._pending.reconcile[op] = _State(resource, status, self.clock())
            self._cond.notify()

    # --- the writer's side ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="aurora-restore-records")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the thread (a clean shutdown loses nothing)."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop and not self._pending:
                    return
                # Let a batch fill up, unless it already has a call's worth.
                deadline = time.monotonic() + self.interval
                while (
                    not self._stop
                    and len(self._pending.rows) < BATCH_WRITE_MAX
                    and (left := deadline - time.monotonic()) > 0
                ):
                    self._cond.wait(left)
            try:
                self._drain(BACKGROUND)
            except Exception:  # a bug here must not end the writer: the next flush retries
                log.exception("records writer failed")
                self.sleep(1.0)

    def flush(self) -> None:
        """Write everything queued now, in the caller's thread: with no background writer
        (then what fails is reported), or at the end of a run (one try, no sleep: what fails
        stays queued for the writer thread, which retries and reports)."""
        if self.running:
            self._drain(BARRIER, report=False, wait=BARRIER_WAIT)
        else:
            self._drain(INLINE)

    def _take(self) -> _Pending:
        with self._cond:
            taken, self._pending = self._pending, _Pending()
            return taken

    def _give_back(self, back: _Pending) -> None:
        """Put what could not be written yet in front of what came meanwhile."""
        with self._cond:
            now = self._pending
            merged = _Pending(
                rows=back.rows + now.rows,
                states={**back.states, **now.states},
                metrics=back.metrics + now.metrics,
                reconcile={**back.reconcile, **now.reconcile},
            )
            self._pending = merged

    def _drain(self, retry: Retry, report: bool = True, wait: float = -1) -> None:
        if not self._flushing.acquire(timeout=wait):
            return
        try:
            self._drain_locked(retry, report)
        finally:
            self._flushing.release()

    def _drain_locked(self, retry: Retry, report: bool) -> None:
        work = self._take()
        if not work:
            return
        back = _Pending()
        failed: dict[str, str] = {}  # op -> message
        resources = {r.op: r.resource for r in work.rows}
        resources.update({op: s.resource for op, s in work.states.items()})
        resources.update({op: s.resource for op, s in work.reconcile.items()})
        self._resolve(work, back, failed, retry)
        self._write_rows(work.rows, work.states, back, failed, retry)
        # The watermark: a state item only once its operation's audit items are in.
        blocked = failed.keys() | {r.op for r in back.rows} | back.reconcile.keys()
        states = {op: s for op, s in work.states.items() if op not in blocked}
        back.states.update({op: s for op, s in work.states.items() if op in blocked})
        self._write_states(states, back, failed, retry)
        self._write_metrics(work.metrics, resources, back if not report else None, failed, retry)
        if back:
            self._give_back(back)
        for op, message in failed.items() if report else ():
            if op not in self._reported:
                self._reported.add(op)
                log.warning(
                    "could not write records: %s",
                    message,
                    extra={"operation_id": op, "resource": resources.get(op, "")},
                )
                self.on_failed(resources.get(op, ""), message)
        if report:
            self._reported -= {op for op in resources if op not in failed}

    def _call(self, operation: str, fn: Callable[[], Any], retry: Retry) -> Any:
        """One call, retried with backoff while AWS says try again."""
        attempt = 0
        while True:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            try:
                return fn()
            except PortError as err:
                if not err.retryable or attempt >= retry.attempts:
                    raise
            self.sleep(retry.delay(attempt))
            attempt += 1

    def _resolve(
        self, work: _Pending, back: _Pending, failed: dict[str, str], retry: Retry
    ) -> None:
        """Turn reconciles into the audit items that their state items do not cover."""
        ops = list(work.reconcile)
        confirmed: dict[str, dict[str, Any]] = {}
        unread: list[str] = []
        for start in range(0, len(ops), BATCH_GET_MAX):
            chunk = ops[start : start + BATCH_GET_MAX]
            try:
                found, left = self._call(
                    "BatchGetItem", lambda c=chunk: self.records.read_states(c), retry
                )
            except PortError as err:
                for op in chunk:
                    failed[op] = err.message
                unread.extend(chunk)
                continue
            confirmed.update(found)
            unread.extend(left)
        for op in unread:
            back.reconcile[op] = work.reconcile[op]
        for op in ops:
            if op in unread:
                continue
            wanted, known = work.reconcile[op], confirmed.get(op)
            lost = core.missing(wanted.state, known)
            if lost:
                # The state item is behind: a crash came before the writer caught up. Those
                # already written (the crash fell between the audit and the state writes)
                # keep their richer details.
                try:
                    written = self._call("Query", lambda o=op: self.records.audit_keys(o), retry)
                except PortError as err:
                    failed[op] = err.message
                    back.reconcile[op] = wanted
                    continue
                for item in lost:
                    if item.key not in written:
                        put = self.records.audit_put(op, item.key, item, wanted.resource)
                        work.rows.append(_Row(op, wanted.resource, put))
            if lost or known is None or known.get("phase") != wanted.state.get("phase"):
                # The watermark moves to what was reconciled (or to a newer state of it).
                work.states.setdefault(op, wanted)

    def _write_rows(
        self,
        rows: list[_Row],
        states: dict[str, _State],
        back: _Pending,
        failed: dict[str, str],
        retry: Retry,
    ) -> None:
        # The same key twice (a tick repeated after a lost status): the last one is written.
        unique: dict[tuple[str, str], _Row] = {}
        for row in rows:
            unique[(row.op, row.put[1]["timestamp"]["S"])] = row
        todo = list(unique.values())
        for start in range(0, len(todo), BATCH_WRITE_MAX):
            chunk = todo[start : start + BATCH_WRITE_MAX]
            left, message = self._put_all([r.put for r in chunk], retry)
            for row in chunk:
                if id(row.put[1]) not in left:
                    continue
                row.failures += 1
                failed[row.op] = message
                if row.failures < FLUSHES_PER_ROW:
                    back.rows.append(row)
                elif row.op in states:
                    # Given up on this row: what the status implies is derived again from
                    # the operation's state item, which stays behind until then.
                    back.reconcile[row.op] = states[row.op]

    def _put_all(self, puts: list[Put], retry: Retry) -> tuple[set[int], str]:
        """BatchWriteItem with the unprocessed items retried; ids of those still left."""
        attempt = 0
        while True:
            try:
                left = self._call(
                    "BatchWriteItem", lambda p=puts: self.records.write_batch(p), retry
                )
            except PortError as err:
                return {id(item) for _, item in puts}, err.message
            if not left:
                return set(), ""
            if attempt >= retry.attempts:
                return (
                    {id(item) for _, item in left},
                    f"DynamoDB left {len(left)} items unprocessed after {attempt + 1} tries",
                )
            # Unprocessed items are DynamoDB's throttling: back off, then send only them.
            self.sleep(retry.delay(attempt))
            attempt += 1
            puts = left

    def _write_states(
        self, states: dict[str, _State], back: _Pending, failed: dict[str, str], retry: Retry
    ) -> None:
        puts = {
            op: self.records.state_put(op, s.state, s.resource, s.at) for op, s in states.items()
        }
        ops = list(puts)
        for start in range(0, len(ops), BATCH_WRITE_MAX):
            chunk = ops[start : start + BATCH_WRITE_MAX]
            left, message = self._put_all([puts[op] for op in chunk], retry)
            for op in chunk:
                if id(puts[op][1]) in left:
                    failed[op] = message
                    # Last writer wins: a newer state queued meanwhile replaces this one.
                    back.states[op] = states[op]

    def _write_metrics(
        self,
        metrics: list[tuple[str, dict[str, Any]]],
        resources: dict[str, str],
        back: _Pending | None,
        failed: dict[str, str],
        retry: Retry,
    ) -> None:
        by_resource = {resource: op for op, resource in resources.items()}
        for start in range(0, len(metrics), METRIC_POINTS_MAX):
            chunk = metrics[start : start + METRIC_POINTS_MAX]
            data = [d for _, d in chunk]
            try:
                self._call("PutMetricData", lambda d=data: self.records.put_metric_data(d), retry)
            except PortError as err:
                if back is not None:  # one quick try at the end of a run: the writer retries
                    back.metrics.extend(chunk)
                    continue
                # Metrics are not re-derived: a lost point is only reported.
                for resource, _ in chunk:
                    failed.setdefault(by_resource.get(resource, resource), err.message)
