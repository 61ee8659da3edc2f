"""Prometheus metrics and the liveness endpoint, served on the metrics port.

Labels are bounded: namespace, the restore's name and its schedule, never an operation id.
A run of a schedule is counted under the schedule's name (``name`` = ``schedule``), so a
nightly schedule is one series however many runs it makes, and an alert on
``aurora_restore_last_success_timestamp_seconds`` does not fire for yesterday's run.

After a restart the counters start again from 0 (Prometheus's ``rate``/``increase``
handle a reset); the two timestamp gauges are rebuilt from the statuses of the resources
still present (their ``completedAt`` and ``history``), so "when did staging last refresh"
survives a restart.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from ..pipeline.context import parse_time

# The ``_created`` series double every counter for a value nobody alerts on.
disable_created_metrics()

RESTORES = Counter(
    "aurora_restore_restores_total",
    "Restores that ended, by result (Completed or Failed) and error type",
    ["namespace", "schedule", "result", "error_type"],
)
LAST_SUCCESS = Gauge(
    "aurora_restore_last_success_timestamp_seconds",
    "When the last restore of this resource (or of this schedule's runs) completed, Unix time",
    ["namespace", "name", "schedule"],
)
LAST_FAILURE = Gauge(
    "aurora_restore_last_failure_timestamp_seconds",
    "When the last restore of this resource (or of this schedule's runs) failed, Unix time",
    ["namespace", "name", "schedule"],
)
PHASE_SECONDS = Histogram(
    "aurora_restore_phase_duration_seconds",
    "Time spent in each phase",
    ["phase"],
    buckets=(1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21600),
)
AWS_CALLS = Counter(
    "aurora_restore_aws_calls_total", "AWS API calls", ["service", "operation", "outcome"]
)
IN_FLIGHT = Gauge("aurora_restore_in_flight", "Restores currently running")
TICKS = Counter("aurora_restore_ticks_total", "Pipeline ticks run")
DAEMONS = Gauge("aurora_restore_daemons", "Restore daemons running (a finished restore holds none)")

_ENDED = {"Completed": LAST_SUCCESS, "Failed": LAST_FAILURE}


def _epoch(value: object) -> float | None:
    moment = parse_time(value)
    return moment.timestamp() if moment else None


def _labels(namespace: str, name: str, schedule: str | None) -> tuple[str, str, str]:
    return (namespace, schedule or name, schedule or "")


# The newest timestamp set per (phase, labels): gauges only move forward, so that an older
# run of the same schedule seen later (at startup, say) does not hide a newer one.
_LAST: dict[tuple[str, tuple[str, str, str]], float] = {}


def _advance(phase: str, labels: tuple[str, str, str], when: float) -> None:
    if when > _LAST.get((phase, labels), float("-inf")):
        _LAST[(phase, labels)] = when
        _ENDED[phase].labels(*labels).set(when)


def run_ended(namespace: str, name: str, schedule: str | None, status: Mapping[str, Any]) -> None:
    """A run this process watched end: count it and move its timestamp."""
    phase = status.get("phase")
    if phase not in _ENDED:
        return
    error = status.get("error") or {}
    error_type = error.get("type", "") if phase == "Failed" else ""
    RESTORES.labels(namespace, schedule or "", phase, error_type).inc()
    when = _epoch(status.get("completedAt")) or time.time()
    _advance(phase, _labels(namespace, name, schedule), when)


def seen(namespace: str, name: str, schedule: str | None, status: Mapping[str, Any]) -> None:
    """Rebuild the timestamp gauges from a status (after a restart): the current run when it
    has ended, and the ended runs in its history. Counts nothing."""
    labels = _labels(namespace, name, schedule)
    runs = [status, *(status.get("history") or [])]
    for run in runs:
        phase = str(run.get("phase"))
        when = _epoch(run.get("completedAt"))
        if phase in _ENDED and when is not None:
            _advance(phase, labels, when)


def forget(namespace: str, name: str, schedule: str | None) -> None:
    """A deleted plain restore takes its series with it; a schedule's series stays with the
    schedule (its other runs share it)."""
    if schedule:
        return
    labels = _labels(namespace, name, schedule)
    for phase, gauge in _ENDED.items():
        if _LAST.pop((phase, labels), None) is not None:
            gauge.remove(*labels)


def observe_aws(service: str, operation: str, region: str, outcome: str) -> None:
    AWS_CALLS.labels(service, operation, outcome).inc()


class Heartbeat:
    """The liveness probe fails when the operator's loop stops beating."""

    def __init__(self, stale_after: float = 120.0) -> None:
        self.last = time.monotonic()
        self.stale_after = stale_after

    def beat(self) -> None:
        self.last = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self.last < self.stale_after


async def serve(port: int, heartbeat: Heartbeat, host: str = "0.0.0.0") -> web.AppRunner:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        if heartbeat.alive():
            return web.Response(text="ok")
        return web.Response(status=503, text="stale")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
