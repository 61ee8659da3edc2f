"""Fixtures for the call-counting tests: the moto server of tests/support (it counts the calls
it receives, server-side), a driver with a controllable clock, and many restores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from aurora_restore.aws.batching import WATCHER, Describer
from aurora_restore.aws.clients import Clients
from aurora_restore.driver import Driver, Resource, Tick
from aurora_restore.settings import load
from aurora_restore_sandbox.aws import AwsSandbox
from support.aws import SOURCE, TARGET, create_source
from support.fakes import FakeKube
from support.world import DRIVER_ENV, Clock


@dataclass
class Fleet:
    """N AuroraRestore resources driven by one driver, as the operator drives them."""

    aws: AwsSandbox
    clock: Clock
    session: boto3.Session
    env: dict[str, str]
    statuses: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    driver: Driver | None = None

    def make_driver(self, **env: str) -> Driver:
        self.driver = Driver(
            load({**self.env, **env}), clients=Clients(self.session), clock=self.clock
        )
        return self.driver

    def add(self, name: str, spec: dict[str, Any]) -> None:
        self.specs[name] = spec
        self.statuses[name] = None

    def tick(self, name: str) -> Tick:
        assert self.driver is not None
        tick = self.driver.tick(
            Resource(name, "databases", f"uid-{name}", 1, self.specs[name], self.statuses[name]),
            FakeKube(forbidden=True),
        )
        self.statuses[name] = tick.status.to_dict()
        return tick

    def round(self, concurrent: bool = False) -> list[Tick]:
        """Every restore ticks once, at the same moment (as daemons woken together)."""
        names = list(self.specs)
        if not concurrent:
            return [self.tick(n) for n in names]
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            return list(pool.map(self.tick, names))

    def phase(self, name: str) -> str | None:
        status = self.statuses[name]
        return status.get("phase") if status else None

    def run_until(self, done: Any, rounds: int = 40, step: float = 3.0) -> None:
        for _ in range(rounds):
            if all(done(self.statuses[n] or {}) for n in self.specs):
                return
            self.round()
            self.clock.advance(step)
        raise AssertionError(f"not there after {rounds} rounds: {self.statuses}")


@pytest.fixture
def fleet(aws: AwsSandbox) -> Fleet:
    session = boto3.Session()
    fleet = Fleet(
        aws=aws,
        clock=Clock(),
        session=session,
        env={
            **DRIVER_ENV,
            "AURORA_RESTORE_POLL_FLOOR": "2s",
            # The budget is tested on its own; here it would only slow the tests down.
            "AURORA_RESTORE_AWS_RATE_LIMIT": "0",
        },
    )
    create_source(aws)
    aws.settle()
    fleet.make_driver().records.check_tables(create=True)
    aws.reset_calls()
    return fleet


def cross_region(cluster: str) -> dict[str, Any]:
    return {
        "source": {"region": SOURCE, "snapshotIdentifier": "prod-manual-1"},
        "target": {"region": TARGET, "clusterIdentifier": cluster},
    }


def same_region(cluster: str) -> dict[str, Any]:
    return {
        "source": {"region": SOURCE, "snapshotIdentifier": "prod-manual-1"},
        "target": {"region": SOURCE, "clusterIdentifier": cluster},
    }


class FakeTime:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def watching(callback: Callable[[], None] | None) -> Iterator[None]:
    """Calls made inside carry ``callback``, as each restore's daemon's calls carry its own
    wake-up callback in the operator (aws/batching.py)."""
    token = WATCHER.set(callback)
    try:
        yield
    finally:
        WATCHER.reset(token)


def status_describer(state: dict[str, dict[str, Any]], clock: FakeTime) -> Describer:
    """A Describer over ``state`` (identifier -> item with a ``Status``), each status
    followed for 1 s, with no batching window."""
    return Describer(
        lambda ids: {i: dict(state[i]) for i in ids if i in state},
        lambda item: item["Status"],
        lambda: 1.0,
        window=0,
        clock=clock,
    )
