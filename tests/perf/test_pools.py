"""The AWS clients keep as many connections as the operator has workers: a concurrent run
opens no connection beyond the pool (urllib3's "Connection pool is full" warning)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from aurora_restore.aws.clients import Clients
from aurora_restore.driver import Driver
from aurora_restore.settings import load
from aurora_restore_sandbox.aws import AwsSandbox

from .conftest import SOURCE

WORKERS = 24
CALLS = 8


def pool_warnings(clients: Clients, caplog: pytest.LogCaptureFixture) -> int:
    """WORKERS threads calling RDS at once, CALLS each, as the operator's workers do."""
    start = threading.Barrier(WORKERS)

    def work(_: int) -> None:
        start.wait(10)
        for _ in range(CALLS):
            clients.call("rds", SOURCE, "DescribeDBClusters")

    clients.client("rds", SOURCE)  # made once, before the threads share it
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(work, range(WORKERS)))
    return sum(1 for r in caplog.records if "Connection pool is full" in r.getMessage())


def test_the_pool_holds_a_connection_per_worker(
    aws: AwsSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    driver = Driver(load({"AWS_REGION": SOURCE, "AURORA_RESTORE_WORKERS": str(WORKERS)}))
    config = driver.clients.client("rds", SOURCE).meta.config
    assert config.max_pool_connections >= WORKERS
    assert pool_warnings(driver.clients, caplog) == 0


def test_a_pool_smaller_than_the_workers_discards_connections(
    aws: AwsSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # The control: botocore's default pool (10) under the same load warns, so the test
    # above can fail.
    assert pool_warnings(Clients(boto3.Session()), caplog) > 0
