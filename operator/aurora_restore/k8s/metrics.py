"""Prometheus metrics and the liveness endpoint, served on the metrics port."""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

RESTORES = Counter("aurora_restore_restores_total", "Restores that ended, by result", ["result"])
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
