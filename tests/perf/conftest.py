"""Fixtures for the call-counting tests: a moto server with RDS in-progress states (it counts
the calls it receives, server-side), a driver with a controllable clock, and many restores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from aurora_restore.api.restore import ConfigMapKeyRef, SecretKeyRef
from aurora_restore.aws.clients import Clients
from aurora_restore.driver import Driver, Resource, Tick
from aurora_restore.settings import load
from aurora_restore_sandbox.aws import AwsSandbox

SOURCE, TARGET = "us-east-1", "us-west-2"


@pytest.fixture(scope="session")
def aws_server() -> Iterator[AwsSandbox]:
    with AwsSandbox(delay_seconds=0) as sandbox:
        yield sandbox


@pytest.fixture
def aws(aws_server: AwsSandbox, monkeypatch: pytest.MonkeyPatch) -> AwsSandbox:
    aws_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", SOURCE)
    return aws_server


class NoKube:
    def kubernetes_secret(self, ref: SecretKeyRef) -> str:
        raise AssertionError("no secrets in these tests")

    def config_map(self, ref: ConfigMapKeyRef) -> str:
        raise AssertionError("no config maps in these tests")

    def write_connection_secret(self, name: str, data: Mapping[str, str]) -> None:
        raise AssertionError("no connection secrets in these tests")


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


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
            NoKube(),
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
            "AWS_REGION": SOURCE,
            "AURORA_RESTORE_CREATE_TABLES": "true",
            "AURORA_RESTORE_POLL_INTERVAL": "30s",
            "AURORA_RESTORE_POLL_FLOOR": "2s",
            # The budget is tested on its own; here it would only slow the tests down.
            "AURORA_RESTORE_AWS_RATE_LIMIT": "0",
        },
    )
    rds = aws.client("rds", SOURCE)
    rds.create_db_cluster(
        DBClusterIdentifier="prod",
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword="source-master-pw",
    )
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="prod-manual-1"
    )
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
