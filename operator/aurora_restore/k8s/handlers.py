"""kopf handlers for AuroraRestore: one daemon per resource in flight drives its pipeline.

Why a daemon and not a fixed-interval timer: each tick tells when the next one is useful
("look again in 2 s" right after a start, "in 30 s" while AWS copies), and a daemon can
sleep exactly that long, wake at once on a spec change, and stop cleanly on deletion.

A finished restore holds nothing: the daemon's ``when`` filter (``daemon_wanted``) is False
for a run that ended with nothing pending, so kopf stops the daemon once the watch shows
the final status, and starts one again when a spec change, a new rerun token or a forged
status makes the filter True. Deletion is the ``on.delete`` handler's, with the finalizer.
After a restart, kopf starts daemons only for the restores that still have work.

The daemon keeps the status it last wrote in memory and treats it as the truth, because the
object kopf hands it may lag behind our own patch. After a restart it resumes from the
object's status alone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import random
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from ..api.names import (
    ABANDON_ANNOTATION,
    COMPONENT,
    FINALIZER,
    GROUP,
    RERUN_ANNOTATION,
    SCHEDULE_LABEL,
    VERSION,
)
from ..api.names import RESTORE_KIND as KIND
from ..api.names import RESTORE_PLURAL as PLURAL
from ..api.status import Phase
from ..aws import batching
from ..driver import Driver, Resource
from ..pipeline.steps import sns_notification
from ..settings import Settings
from . import metrics
from .objects import KubeObjects
from .status import merge_patch, send_status_patch

FINISHED = (Phase.Completed.value, Phase.Failed.value)
# How long one call of the delete handler waits for AWS deletions before handing back.
CLEANUP_WAIT_SECONDS = 600.0

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What the handlers share; set by ``configure`` before kopf starts."""

    settings: Settings
    driver: Driver
    api_client: Any
    heartbeat: metrics.Heartbeat = field(default_factory=metrics.Heartbeat)
    refresher: threading.Event | None = None
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    written: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Per daemon: the generation it last looked at, so a spec change wakes it once.
    generations: dict[str, int | None] = field(default_factory=dict)
    # Daemons whose run ended with nothing pending, waiting for kopf to stop them.
    resting: set[str] = field(default_factory=set)
    # Restores whose timestamps the metrics have seen since this process started.
    seen: set[str] = field(default_factory=set)
    metrics_runner: Any = None
    # kopf's settings (set at startup): its API client sends the status patches.
    kopf_settings: Any = None


RUNTIME: Runtime | None = None


def configure(runtime: Runtime) -> None:
    global RUNTIME
    RUNTIME = runtime
    runtime.driver.clients.observers.append(metrics.observe_aws)


def _rt() -> Runtime:
    if RUNTIME is None:
        raise RuntimeError("aurora_restore.k8s.handlers.configure() was not called")
    return RUNTIME


def resource_of(body: Mapping[str, Any], status: Mapping[str, Any] | None) -> Resource:
    meta = body.get("metadata", {})
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    schedule = labels.get(SCHEDULE_LABEL)
    return Resource(
        name=meta["name"],
        namespace=meta["namespace"],
        uid=meta.get("uid", ""),
        generation=meta.get("generation"),
        spec=body.get("spec") or {},
        status=status,
        rerun_token=annotations.get(RERUN_ANNOTATION) or None,
        owner=f"{meta['namespace']}/{schedule}" if schedule else None,
    )


def schedule_of(body: Mapping[str, Any]) -> str | None:
    return (body.get("metadata", {}).get("labels") or {}).get(SCHEDULE_LABEL) or None


def owner_reference(body: Mapping[str, Any]) -> dict[str, str]:
    meta = body["metadata"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": meta["name"],
        "uid": meta.get("uid", ""),
    }


def daemon_wanted(body: Mapping[str, Any], **_: Any) -> bool:
    """Whether a restore has work for a daemon: no run yet, a run in flight, its final
    notification still to send, or a new run asked for (a new spec generation or rerun
    token). The same questions as ``Driver.tick`` asks before it acts (``needs_new_run``
    and the notification check), on the raw object, because kopf asks on every watch event.
    A status that does not look like ours (edited by hand) is handed to a daemon, whose
    tick checks it."""
    status = body.get("status") or {}
    meta = body.get("metadata") or {}
    if not status.get("operationId") or status.get("phase") not in FINISHED:
        return True
    if status.get("observedGeneration") != meta.get("generation"):
        return True
    asked = (meta.get("annotations") or {}).get(RERUN_ANNOTATION) or None
    if asked != (status.get("rerunToken") or None):
        return True
    steps = status.get("steps")
    if not isinstance(steps, list):
        return True
    final = [s for s in steps if isinstance(s, Mapping) and s.get("name") == sns_notification.NAME]
    return not final or final[0].get("state") == "Pending"


def _clamp(delay: float | None, rt: Runtime) -> float:
    interval = rt.settings.poll_seconds
    if delay is None:
        return interval
    return max(
        min(delay, interval), 0.0 if delay == 0 else min(rt.settings.poll_floor_seconds, interval)
    )


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    rt = _rt()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    # No create/update handlers: the daemons decide from the object itself (generation
    # against observedGeneration, the rerun token against the status), so kopf needs no
    # last-handled-configuration annotation, which would cost one patch per object.
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.peering.standalone = True
    # Our own events say what happened; kopf's per-handler log events would only add noise.
    settings.posting.level = logging.WARNING
    configure_posting(settings)
    settings.watching.server_timeout = 300
    rt.kopf_settings = settings
    if rt.settings.metrics_port and rt.metrics_runner is None:
        rt.metrics_runner = await metrics.serve(
            rt.settings.metrics_port, rt.heartbeat, rt.settings.metrics_host
        )
    if rt.refresher is None:
        # Batched status checks of every region, shared by the restores (aws/batching.py).
        rt.refresher = rt.driver.rds.start_refresher()
    # Every tick runs in a thread that mostly waits on AWS or the API server: asyncio's
    # default (CPUs + 4) would queue hundreds of restores behind a handful of calls.
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(rt.settings.workers, "aurora-restore")
    )


class NoDiffBase(kopf.DiffBaseStorage):
    """A diff base that is always the object itself: kopf sees no change to hand to
    update handlers (there are none) and writes nothing."""

    def fetch(self, *, body: kopf.Body) -> Any:
        return self.build(body=body)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        pass


def reporting_instance(env: Mapping[str, str] = os.environ) -> str:
    """The pod's name (downward API: env POD_NAME), else the host name, which is the pod's
    name too unless the pod sets another; at most 128 characters, as events.k8s.io allows."""
    return (env.get("POD_NAME") or socket.gethostname() or "unknown")[:128]


def configure_posting(settings: kopf.OperatorSettings) -> None:
    """Events say they come from the operator (reportingComponent, source.component, the
    "From" column of kubectl describe) and from which pod, not from "kopf"/"dev"."""
    settings.posting.reporting_component = COMPONENT
    settings.posting.reporting_instance = reporting_instance()
    settings.posting.event_name_prefix = f"{COMPONENT}-"


@kopf.on.cleanup()
async def shutdown(**_: Any) -> None:
    rt = _rt()
    if rt.metrics_runner is not None:
        await rt.metrics_runner.cleanup()
        rt.metrics_runner = None
    if rt.refresher is not None:
        rt.refresher.set()
        rt.refresher = None


@kopf.on.probe(id="heartbeat")
def probe(**_: Any) -> bool:
    return _rt().heartbeat.alive()


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=30.0, when=daemon_wanted)
async def restore_daemon(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    name: str,
    namespace: str,
    uid: str,
    logger: logging.Logger,
    **_: Any,
) -> None:
    rt = _rt()
    wake = rt.wakeups.setdefault(uid, asyncio.Event())
    # A batched Describe made for another restore may see this one's AWS objects change:
    # it wakes this daemon then, from a worker thread (aws/batching.py).
    batching.WATCHER.set(
        functools.partial(asyncio.get_running_loop().call_soon_threadsafe, wake.set)
    )
    status: dict[str, Any] = dict(body.get("status") or {})
    rt.written[uid] = status
    schedule = schedule_of(body)
    phase_since = asyncio.get_running_loop().time()
    counted_in_flight = False
    kube = KubeObjects(rt.api_client, namespace, owner_reference(body))
    metrics.DAEMONS.inc()
    try:
        while not stopped:
            # Cleared before the tick, not before the sleep: a wake-up during the tick counts.
            wake.clear()
            rt.resting.discard(uid)
            rt.generations[uid] = (body.get("metadata") or {}).get("generation")
            rt.heartbeat.beat()
            resource = resource_of(body, status)
            try:
                tick = await asyncio.to_thread(rt.driver.tick, resource, kube)
            except Exception as exc:  # an adapter bug must not kill the daemon silently
                logger.exception("tick failed", extra={"resource": resource.key})
                kopf.warn(body, reason="InternalError", message=f"{type(exc).__name__}: {exc}")
                await sleep_or_wake(stopped, wake, rt.settings.poll_seconds)
                continue
            metrics.TICKS.inc()
            new = tick.status.to_dict()
            phase = new.get("phase")
            patch = merge_patch(status, new)
            if patch:
                if not await _write_status(rt, stopped, namespace, name, patch, logger):
                    break
                if new.get("phase") != status.get("phase"):
                    now = asyncio.get_running_loop().time()
                    if status.get("phase"):
                        metrics.PHASE_SECONDS.labels(status["phase"]).observe(now - phase_since)
                    phase_since = now
                # A run that ends in this process (also on its first tick, or a new run of an
                # invalid spec after a failed one) is counted once; one that had ended before
                # a restart is not.
                run = (new.get("operationId"), phase)
                if phase in FINISHED and run != (status.get("operationId"), status.get("phase")):
                    metrics.run_ended(namespace, name, schedule, new)
                status = new
                rt.written[uid] = status
            running = phase not in FINISHED
            if running != counted_in_flight:
                metrics.IN_FLIGHT.inc() if running else metrics.IN_FLIGHT.dec()
                counted_in_flight = running
            for event in tick.events:
                kopf.event(body, type=event.type, reason=event.reason, message=event.message)
                logger.log(
                    logging.WARNING if event.type == "Warning" else logging.INFO,
                    event.message,
                    extra={
                        "resource": resource.key,
                        "operation_id": new.get("operationId"),
                        "phase": phase,
                        "step": event.reason,
                    },
                )
            if not daemon_wanted({"metadata": body.get("metadata") or {}, "status": status}):
                # Nothing left to do: no timer. kopf stops this daemon when the watch brings
                # the final status (the filter turns False); until then only a change that
                # makes the filter True again wakes it (wake_on_change).
                rt.resting.add(uid)
                await sleep_or_wake(stopped, wake, None)
                continue
            # An announced wait (a retry's backoff) is kept exactly, not capped.
            delay = (
                tick.requeue_after
                if tick.exact_wait and tick.requeue_after is not None
                else _clamp(tick.requeue_after, rt)
            )
            await sleep_or_wake(stopped, wake, delay)
    finally:
        metrics.DAEMONS.dec()
        if counted_in_flight:
            metrics.IN_FLIGHT.dec()
        rt.wakeups.pop(uid, None)
        rt.generations.pop(uid, None)
        rt.resting.discard(uid)


async def _write_status(
    rt: Runtime,
    stopped: kopf.DaemonStopped,
    namespace: str,
    name: str,
    patch: dict[str, Any],
    logger: logging.Logger,
) -> bool:
    """Write this tick's status, retrying the write itself rather than the tick: a repeated
    tick could repeat an AWS call that leaves no trace to adopt (ModifyDBCluster, Publish).
    Sent on the event loop (k8s/status.py), so no worker thread waits for the API server.
    False when the daemon stops first."""
    delay = 1.0
    while not stopped:
        try:
            await send_status_patch(rt.kopf_settings, PLURAL, namespace, name, patch, logger)
            return True
        except Exception as exc:
            logger.warning(
                "status patch failed, retrying in %.0fs: %s",
                delay,
                exc,
                extra={"resource": f"{namespace}/{name}"},
            )
            await stopped.wait(delay)
            delay = min(delay * 2, rt.settings.poll_seconds)
    return False


async def sleep_or_wake(
    stopped: kopf.DaemonStopped, wake: asyncio.Event, seconds: float | None
) -> None:
    """Sleep until the time is up (never, for None), the event is set (a change), or the
    daemon is stopped."""
    if seconds is not None and seconds <= 0:
        await asyncio.sleep(0)
        return
    waiter = asyncio.ensure_future(wake.wait())
    stopper = asyncio.ensure_future(stopped.wait(seconds))
    try:
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        stopper.cancel()


def _wake_wanted(body: Mapping[str, Any], uid: str, **_: Any) -> bool:
    """A running daemon should look now: the spec changed since it last looked (during a
    run, to say the new spec waits), or it rests and a rerun, a spec change or a status
    edit gives it work again. Never for restores without a daemon (kopf starts one when
    ``daemon_wanted`` turns True), and never on the daemon's own status patches."""
    rt = RUNTIME
    if rt is None or uid not in rt.wakeups:
        return False
    if (body.get("metadata") or {}).get("generation") != rt.generations.get(uid):
        return True
    return uid in rt.resting and daemon_wanted(body)


# A raw watch event rather than an update handler: kopf keeps no diff base here (see
# NoDiffBase), and it leaves the annotations of its own storage prefix (dbrestore.io/, the
# rerun token's) out of any diff anyway.
@kopf.on.event(GROUP, VERSION, PLURAL, when=_wake_wanted)
async def wake_on_change(body: kopf.Body, uid: str, **_: Any) -> None:
    rt = _rt()
    rt.generations[uid] = (body.get("metadata") or {}).get("generation")
    event = rt.wakeups.get(uid)
    if event is not None:
        event.set()


def _not_seen(event: Mapping[str, Any], uid: str, **_: Any) -> bool:
    rt = RUNTIME
    if rt is None:
        return False
    return (uid in rt.seen) == (event.get("type") == "DELETED")


@kopf.on.event(GROUP, VERSION, PLURAL, when=_not_seen)
async def seen_once(
    event: Mapping[str, Any], body: kopf.Body, name: str, namespace: str, uid: str, **_: Any
) -> None:
    """The timestamp gauges learn each restore's ended runs once per process (a finished
    restore has no daemon to tell them after a restart); a gone restore is forgotten."""
    rt = _rt()
    if event.get("type") == "DELETED":
        rt.seen.discard(uid)
        return
    rt.seen.add(uid)
    metrics.seen(namespace, name, schedule_of(body), body.get("status") or {})


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def on_delete(
    body: kopf.Body, name: str, namespace: str, uid: str, retry: int, **_: Any
) -> None:
    rt = _rt()
    status = rt.written.pop(uid, None) or dict(body.get("status") or {})
    metrics.forget(namespace, name, schedule_of(body))
    resource = resource_of(body, status)
    kube = KubeObjects(rt.api_client, namespace, owner_reference(body))
    phase = status.get("phase")
    if retry == 0 and status.get("operationId") and phase not in ("Completed", "Failed"):
        # The daemon has stopped, so no new AWS action starts; say so in the record.
        await asyncio.to_thread(
            rt.driver.audit,
            resource,
            "restore",
            "Cancelled",
            {"message": f"Resource deleted during {phase}; the run was stopped"},
        )
        kopf.event(
            body,
            type="Warning",
            reason="RestoreCancelled",
            message=f"Deleted during {phase}: the run was stopped",
        )
    annotations = body.get("metadata", {}).get("annotations") or {}
    if annotations.get(ABANDON_ANNOTATION, "").lower() == "true":
        kopf.event(
            body,
            type="Warning",
            reason="CleanupAbandoned",
            message=f"{ABANDON_ANNOTATION} is set: AWS resources are left as they are",
        )
        return
    # Expected waits (instances and the cluster being deleted) are waited for here, logged
    # at INFO; only a real error goes back to kopf as a TemporaryError (its retry with
    # backoff, logged as an error). Bounded, so that kopf sees the handler return.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLEANUP_WAIT_SECONDS
    while True:
        try:
            result = await asyncio.to_thread(rt.driver.cleanup, resource, kube)
        except Exception as exc:
            delay = min(300.0, 5.0 * 2 ** min(retry, 6)) * random.uniform(0.75, 1.0)
            message = getattr(exc, "message", None) or f"{type(exc).__name__}"
            kopf.event(
                body,
                type="Warning",
                reason="CleanupFailed",
                message=f"{message}; retrying in {delay:.0f}s (set the annotation "
                f"{ABANDON_ANNOTATION}=true to give up)",
            )
            raise kopf.TemporaryError(message, delay=delay) from None
        if result.done:
            break
        wait = _clamp(result.wait, rt) or 1.0
        if loop.time() + wait > deadline:
            # Still deleting after a long while: let kopf call again (it logs that).
            raise kopf.TemporaryError(result.message, delay=wait)
        log.info("%s", result.message, extra={"resource": resource.key})
        await asyncio.sleep(wait)
    if result.reason == "StatusTampered":
        kopf.warn(body, reason="StatusTampered", message=result.message)
    elif not result.skipped:
        # What was removed and kept, in the audit trail too.
        await asyncio.to_thread(
            rt.driver.audit, resource, "cleanup", "Completed", {"message": result.message}
        )
        # An event of type Normal: kopf.info() posts at INFO, below settings.posting.level.
        kopf.event(body, type="Normal", reason="CleanupCompleted", message=result.message)
