"""kopf handlers for AuroraRestoreSchedule: one daemon per schedule applies ``schedule.plan``.

Each look lists the schedule's runs, asks the core what to do, does it (deletions first,
then the creation, then the status patch) and sleeps until the next cron time, at most
60 s. A daemon rather than a timer, because the useful interval varies (until the next
cron time, a few seconds while a Replace waits) and a daemon can be woken early: by a
spec change, and by a run changing phase or disappearing, so that a finished run is
reported and a blocked run starts without waiting for the next poll.

Importing this module registers the handlers; the operator's startup settings are those
of ``handlers.startup`` (the schedules share its finalizer and annotation storage).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from .. import schedule as core
from ..api.names import GROUP, RESTORE_PLURAL, SCHEDULE_KIND, SCHEDULE_LABEL, VERSION
from ..api.names import SCHEDULE_PLURAL as PLURAL
from . import handlers
from .status import merge_patch

MAX_SLEEP_SECONDS = 60.0
MIN_SLEEP_SECONDS = 0.5
RETRY_SECONDS = 10.0

log = logging.getLogger(__name__)

# Per schedule uid: set to wake its daemon before its sleep ends.
_WAKEUPS: dict[str, asyncio.Event] = {}
# Per schedule uid: the generation its daemon last looked at, so a spec change wakes it once.
_GENERATIONS: dict[str, Any] = {}
# Per child uid: (phase, deleting) last seen, so that only real changes wake the schedule
# (a running restore patches its status every few seconds).
_SEEN: dict[str, tuple[Any, bool]] = {}


def clock() -> dt.datetime:
    """The time the schedules run on; tests replace it."""
    return dt.datetime.now(dt.UTC)


class ScheduleKube:
    """The blocking Kubernetes calls of one schedule's namespace (run them in a thread)."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        from kubernetes import client

        self.api = client.CustomObjectsApi(api_client)
        self.namespace = namespace

    def list_children(self, schedule: str) -> list[dict[str, Any]]:
        found = self.api.list_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            RESTORE_PLURAL,
            label_selector=f"{SCHEDULE_LABEL}={schedule}",
        )
        return list(found.get("items") or [])

    def create_child(self, body: dict[str, Any]) -> None:
        self.api.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, RESTORE_PLURAL, body
        )

    def delete_child(self, name: str) -> bool:
        """Delete a run; False when it is already gone."""
        from kubernetes.client.exceptions import ApiException

        try:
            # Background: the run's own finalizer (its deletionPolicy) still runs first.
            self.api.delete_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                RESTORE_PLURAL,
                name,
                propagation_policy="Background",
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def patch_status(self, name: str, patch: dict[str, Any]) -> None:
        self.api.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, PLURAL, name, {"status": patch}
        )


@dataclass
class Applied:
    """What one look did: the status now stored, events to post, when to look again."""

    status: dict[str, Any]
    events: list[core.Event] = field(default_factory=list)
    requeue_after: float | None = None


def _api_reason(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    return f"{status} {reason}" if status else f"{type(exc).__name__}: {exc}"


def reconcile(kube: ScheduleKube, schedule: core.ScheduleObject, now: dt.datetime) -> Applied:
    """One look at a schedule: list its runs, plan, apply. Blocking."""
    children = core.children_of(kube.list_children(schedule.name), schedule.uid)
    plan = core.plan(schedule, children, now)
    events = list(plan.events)
    requeue = plan.requeue_after
    for deletion in plan.delete:
        try:
            if kube.delete_child(deletion.name):
                events.append(deletion.event)
        except Exception as exc:
            # The next look plans the same deletion again.
            events.append(
                core.Event(
                    "Warning",
                    "DeleteFailed",
                    f"Could not delete {deletion.name}: {_api_reason(exc)}",
                )
            )
            requeue = min(requeue or RETRY_SECONDS, RETRY_SECONDS)
    if plan.create is not None:
        try:
            kube.create_child(plan.create.body)
        except Exception as exc:
            # Without the run, the status must not claim it: keep the old one, try again.
            # A 409 is an AuroraRestore of that name that is not this schedule's run.
            clash = getattr(exc, "status", None) == 409
            why = "an AuroraRestore of that name already exists" if clash else _api_reason(exc)
            events.append(
                core.Event("Warning", "CreateFailed", f"Could not create {plan.create.name}: {why}")
            )
            return Applied(
                dict(schedule.status), events, MAX_SLEEP_SECONDS if clash else RETRY_SECONDS
            )
        events.append(plan.create.event)
    status = dict(schedule.status)
    patch = merge_patch(status, plan.status)
    if patch:
        try:
            kube.patch_status(schedule.name, patch)
            status = plan.status
        except Exception as exc:
            # A lost write is safe: the next look adopts a run it created from its
            # annotation instead of creating it again.
            log.warning("status patch of schedule %s failed: %s", schedule.name, exc)
            requeue = min(requeue or RETRY_SECONDS, RETRY_SECONDS)
    return Applied(status, events, requeue)


def _sleep_seconds(requeue: float | None) -> float:
    if requeue is None:
        return MAX_SLEEP_SECONDS
    return max(MIN_SLEEP_SECONDS, min(MAX_SLEEP_SECONDS, requeue))


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def schedule_daemon(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    name: str,
    namespace: str,
    uid: str,
    logger: logging.Logger,
    **_: Any,
) -> None:
    rt = handlers._rt()
    wake = _WAKEUPS.setdefault(uid, asyncio.Event())
    kube = ScheduleKube(rt.api_client, namespace)
    # Our last write is the truth: the body kopf hands over may lag behind it.
    status: dict[str, Any] = dict(body.get("status") or {})
    try:
        while not stopped:
            rt.heartbeat.beat()
            _GENERATIONS[uid] = (body.get("metadata") or {}).get("generation")
            schedule = core.ScheduleObject.from_body(body, status)
            try:
                applied = await asyncio.to_thread(reconcile, kube, schedule, clock())
            except Exception as exc:  # listing failed, or a bug: keep the daemon alive
                logger.exception("schedule %s/%s: look failed", namespace, name)
                kopf.warn(body, reason="InternalError", message=f"{type(exc).__name__}: {exc}")
                await handlers.sleep_or_wake(stopped, wake, RETRY_SECONDS)
                continue
            status = applied.status
            for event in applied.events:
                kopf.event(body, type=event.type, reason=event.reason, message=event.message)
                logger.log(
                    logging.WARNING if event.type == "Warning" else logging.INFO,
                    event.message,
                    extra={"resource": f"{namespace}/{name}", "step": event.reason},
                )
            await handlers.sleep_or_wake(stopped, wake, _sleep_seconds(applied.requeue_after))
    finally:
        _WAKEUPS.pop(uid, None)
        _GENERATIONS.pop(uid, None)


def _wake(uid: str | None) -> None:
    event = _WAKEUPS.get(uid or "")
    if event is not None:
        event.set()


def _spec_changed(body: Mapping[str, Any], uid: str, **_: Any) -> bool:
    return uid in _WAKEUPS and (body.get("metadata") or {}).get("generation") != _GENERATIONS.get(
        uid
    )


# A raw watch event, not an update handler: the operator keeps no diff base (handlers.py,
# NoDiffBase); a new generation is a spec change.
@kopf.on.event(GROUP, VERSION, PLURAL, when=_spec_changed)
async def wake_on_spec_change(body: kopf.Body, uid: str, **_: Any) -> None:
    _GENERATIONS[uid] = (body.get("metadata") or {}).get("generation")
    _wake(uid)


def _run_now_pending(body: Mapping[str, Any], **_: Any) -> bool:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    asked = annotations.get(core.RUN_NOW_ANNOTATION)
    return bool(asked) and asked != (body.get("status") or {}).get("runNowToken")


# A raw watch event, not an update handler: kopf leaves annotations of its own storage
# prefix (dbrestore.io/) out of the diff, so an update handler would never see this one.
@kopf.on.event(GROUP, VERSION, PLURAL, when=_run_now_pending)
async def wake_on_run_now(uid: str, **_: Any) -> None:
    _wake(uid)


def _run_state(body: Mapping[str, Any]) -> tuple[Any, bool]:
    return (
        (body.get("status") or {}).get("phase"),
        bool((body.get("metadata") or {}).get("deletionTimestamp")),
    )


def _run_changed(event: Mapping[str, Any], body: Mapping[str, Any], uid: str, **_: Any) -> bool:
    # A filter, so that the many status patches of a running restore do not even call (and
    # log) the handler below: only a new phase, a deletion or a disappearance does.
    return event.get("type") == "DELETED" or _SEEN.get(uid) != _run_state(body)


@kopf.on.event(
    GROUP,
    VERSION,
    RESTORE_PLURAL,
    labels={SCHEDULE_LABEL: kopf.PRESENT},
    when=_run_changed,
)
async def wake_on_run_change(event: Mapping[str, Any], body: kopf.Body, uid: str, **_: Any) -> None:
    """A run started, finished, is being deleted or is gone: its schedule looks again."""
    if event.get("type") == "DELETED":
        _SEEN.pop(uid, None)
    else:
        _SEEN[uid] = _run_state(body)
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == SCHEDULE_KIND and ref.get("controller"):
            _wake(ref.get("uid"))
