"""Shared helpers: a full restore that makes every mutating AWS call, crash and fault
injection through botocore's event hooks, and the checks every scenario ends with."""

from __future__ import annotations

import base64
import dataclasses
import json
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from aurora_restore.aws.clients import Clients
from aurora_restore.driver import Driver, Resource, Tick
from aurora_restore.settings import load
from support.faults import error_response
from support.world import MANAGED, TARGET, World, cross_region_spec, existing_staging

# Every AWS call that changes something, as in issue 9.
MUTATING: tuple[str, ...] = (
    "CopyDBClusterSnapshot",
    "DeleteDBInstance",
    "DeleteDBCluster",
    "RestoreDBClusterFromSnapshot",
    "CreateDBInstance",
    "ModifyDBCluster",
    "DeleteDBClusterSnapshot",
    "Publish",
)
SERVICE = {op: ("sns" if op == "Publish" else "rds") for op in MUTATING}
# What one undisturbed run of full_spec() calls (two old instances, two new ones).
BASELINE: dict[str, int] = {
    "CopyDBClusterSnapshot": 1,
    "DeleteDBInstance": 2,
    "DeleteDBCluster": 1,
    "RestoreDBClusterFromSnapshot": 1,
    "CreateDBInstance": 2,
    "ModifyDBCluster": 1,
    "DeleteDBClusterSnapshot": 1,
    "Publish": 1,
}
# One undisturbed Swap of full_spec(): two old instances deleted, two new ones created; the
# three ModifyDBCluster are the temporary cluster's password reset and the two renames.
SWAP_BASELINE: dict[str, int] = {
    "CopyDBClusterSnapshot": 1,
    "DeleteDBInstance": 2,
    "DeleteDBCluster": 1,
    "RestoreDBClusterFromSnapshot": 1,
    "CreateDBInstance": 2,
    "ModifyDBCluster": 3,
    "DeleteDBClusterSnapshot": 1,
    "Publish": 1,
}
MASTER_SECRET = "staging-master"
NAME, NAMESPACE, UID = "staging-refresh", "databases", "uid-1"


def full_spec(world: World, instances: int = 2) -> dict[str, Any]:
    """Cross-region, replacing a managed cluster, master password reset, copy archived
    (deleted), notification: one run makes every mutating call."""
    spec = cross_region_spec(existingCluster="Replace", instances=instances)
    spec["masterPassword"] = {"secretRef": {"name": MASTER_SECRET}}
    spec["notification"] = {"snsTopicArn": world.topic_arn}
    return spec


def prepare_full(
    world: World, master_password: str = "new-master-pw", instances: int = 2
) -> dict[str, Any]:
    """The world and spec of the full restore: ``instances`` old ones, as many new ones."""
    existing_staging(world, MANAGED, instances=instances, region=TARGET)
    world.kube.secrets[MASTER_SECRET] = {"password": master_password}
    return full_spec(world, instances)


def baseline(instances: int) -> dict[str, int]:
    return {**BASELINE, "DeleteDBInstance": instances, "CreateDBInstance": instances}


def counts(world: World) -> dict[str, int]:
    return {op: world.aws.count(op) for op in MUTATING}


def resource(spec: dict[str, Any], status: dict[str, Any] | None) -> Resource:
    return Resource(NAME, NAMESPACE, UID, 1, spec, status)


def fast_driver(world: World, **env: str) -> Driver:
    """One botocore attempt per call (``max_attempts`` counts retries), so injected faults
    reach the pipeline at once and botocore's backoff sleeps stay out of the run time."""
    settings = load({**world.env, **env})
    return Driver(settings, clients=Clients(world.session, max_retries=0), clock=world.clock)


# Every hook this suite registered on a session: (session, event, handler).
_HOOKS: list[tuple[boto3.Session, str, Any]] = []


def register(session: boto3.Session, event: str, handler: Any) -> None:
    session.events.register(event, handler)
    _HOOKS.append((session, event, handler))


def unregister(session: boto3.Session, event: str, handler: Any) -> None:
    session.events.unregister(event, handler)
    if (session, event, handler) in _HOOKS:
        _HOOKS.remove((session, event, handler))


def unregister_all(session: boto3.Session) -> None:
    for hooked, event, handler in list(_HOOKS):
        if hooked is session:
            unregister(session, event, handler)


# --- crashes ------------------------------------------------------------------------------


class Crash(BaseException):
    """The process dies here: nothing after it runs, not even ``except Exception``."""


@contextmanager
def crash_at(session: boto3.Session, operation: str, when: str) -> Iterator[list[str]]:
    """Kill the "process" once, just before ``operation`` is sent (``before``) or just after
    AWS answered it (``after``). Yields a list that gets one entry when it fired."""
    fired: list[str] = []
    service = SERVICE.get(operation, "rds")
    stage = "before-send" if when == "before" else "after-call"
    event = f"{stage}.{service}.{operation}"

    def hook(**_: Any) -> None:
        if not fired:
            fired.append(f"{when} {operation}")
            raise Crash(f"{when} {operation}")

    register(session, event, hook)
    try:
        yield fired
    finally:
        unregister(session, event, hook)


def run_resuming(
    world: World,
    spec: dict[str, Any],
    driver_factory: Callable[[], Driver] | None = None,
    max_ticks: int = 200,
    status: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[Tick], int]:
    """Tick to the end; a Crash loses the tick (status and records) and a new "process"
    (a new Driver) resumes from the last saved status. Returns (status, ticks, crashes)."""
    make = driver_factory or world.driver
    driver = make()
    ticks: list[Tick] = []
    crashes = 0
    for _ in range(max_ticks):
        try:
            tick = driver.tick(resource(spec, status), world.kube)
        except Crash:
            crashes += 1
            driver = make()
            world.clock.advance(1.0)
            continue
        ticks.append(tick)
        status = tick.status.to_dict()
        if tick.requeue_after is None:
            assert status is not None
            return status, ticks, crashes
        world.clock.advance(max(tick.requeue_after, 1.0))
    raise AssertionError(f"restore did not finish in {max_ticks} ticks: {status}")


def run_ticks(
    world: World,
    spec: dict[str, Any],
    between: Callable[[Driver, dict[str, Any]], None] | None = None,
    driver: Driver | None = None,
    max_ticks: int = 300,
) -> tuple[dict[str, Any], list[Tick]]:
    """Tick to the end; ``between(driver, status)`` may change the world after each tick."""
    driver = driver or world.driver()
    status: dict[str, Any] | None = None
    ticks: list[Tick] = []
    for _ in range(max_ticks):
        tick = driver.tick(resource(spec, status), world.kube)
        ticks.append(tick)
        status = tick.status.to_dict()
        if tick.requeue_after is None:
            return status, ticks
        if between is not None:
            between(driver, status)
        world.clock.advance(max(tick.requeue_after, 1.0))
    raise AssertionError(f"restore did not finish in {max_ticks} ticks: {status}")


# --- faults -------------------------------------------------------------------------------


class StepTracker:
    """Which step's action is running, exactly (also when one tick runs several steps):
    the engine's stage table is wrapped so that each action announces its step."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from aurora_restore.pipeline import engine
        from aurora_restore.pipeline.table import Stage

        self.step: str | None = None

        def wrap(stage: Stage) -> Stage:
            def action(ctx: Any) -> Any:
                self.step = stage.step
                try:
                    return stage.action(ctx)
                finally:
                    self.step = None

            return dataclasses.replace(stage, action=action)

        stages = tuple(wrap(s) for s in engine.STAGES)
        monkeypatch.setattr(engine, "STAGES", stages)
        monkeypatch.setattr(engine, "FINAL", wrap(engine.FINAL))

    def at(self, step: str) -> Callable[[], bool]:
        return lambda: self.step == step


class Inject:
    """Make ``service.operation`` fail ``times`` times (None: always) with an AWS error
    (``code``, ``status``) or a network failure (``network``: reset or timeout), while
    ``when()`` holds."""

    def __init__(
        self,
        session: boto3.Session,
        service: str,
        operation: str,
        code: str = "",
        status: int = 400,
        times: int | None = 1,
        network: str | None = None,
        message: str = "injected fault",
        when: Callable[[], bool] = lambda: True,
    ) -> None:
        self.when = when
        self.service, self.operation = service, operation
        self.code, self.status, self.remaining = code, status, times
        self.network, self.message = network, message
        self.hits = 0
        self.session = session
        self.event = f"before-send.{service}.{operation}"
        register(session, self.event, self)

    def remove(self) -> None:
        unregister(self.session, self.event, self)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.remaining == 0 or not self.when():
            return None
        if self.remaining is not None:
            self.remaining -= 1
        self.hits += 1
        if self.network == "reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        if self.network == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        return error_response(request.url, self.service, self.code, self.message, self.status)


# --- checks -------------------------------------------------------------------------------

FINISHED = ("Succeeded", "Skipped", "Failed")


def assert_audit_complete(world: Any, status: dict[str, Any]) -> list[dict[str, Any]]:
    """No gap: every finished step has its Started item and an item for how it ended, and
    the run has its Started and Completed/Failed items. ``world`` has ``audit(op)``."""
    audit = world.audit(status["operationId"])
    seen: dict[str, list[str]] = {}
    for item in audit:
        seen.setdefault(item["step"], []).append(item["status"])
    rejected = (status.get("error") or {}).get("code") == "InvalidSpec"  # never started
    for step in status["steps"]:
        if step["state"] not in FINISHED:
            continue
        got = seen.get(step["name"], [])
        # The notification runs after the run ended and records only its outcome.
        if step["name"] != "sns-notification" and not rejected:
            assert "Started" in got, (step["name"], got)
        assert step["state"] in got, (step["name"], step["state"], got)
    if rejected:
        return audit
    assert "Started" in seen.get("restore", []), seen.get("restore")
    if status["phase"] == "Completed":
        assert "Completed" in seen["restore"], seen["restore"]
    else:
        assert "Failed" in seen.get(status["error"]["step"], []), seen
    return audit


def events_of(ticks: list[Tick]) -> list[tuple[str, str, str]]:
    return [(e.type, e.reason, e.message) for t in ticks for e in t.events]


# Sentinel passwords in every secret source: none may appear in any output.
MASTER_K8S = "K8sMaster-S3ntinel-7f3a"
MASTER_SM = "SmMaster-S3ntinel-91bc"
APP_K8S = "App'K8s%S3ntinel\"2d4e"  # quotes and % too: SQL, URI and JSON escaping
REPORTING_SM = "ReportingJson-S3ntinel-5a6b"
AUDITOR_SM = "AuditorText-S3ntinel-c8d9"
SENTINELS = (MASTER_K8S, MASTER_SM, APP_K8S, REPORTING_SM, AUDITOR_SM)


def forms(secret: str) -> list[str]:
    """How a secret could leak: as is, base64 (Kubernetes Secret data), URL-encoded (a
    connection URI), JSON-escaped."""
    return [
        secret,
        base64.b64encode(secret.encode()).decode(),
        urllib.parse.quote(secret, safe=""),
        json.dumps(secret)[1:-1],
    ]


def assert_no_secret(text: str, secrets: Sequence[str] = SENTINELS) -> None:
    assert "S3ntinel" not in text
    for secret in secrets:
        for form in forms(secret):
            assert form not in text, form
