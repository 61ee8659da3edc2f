"""Fixtures of the reliability suite.

Driver-level tests (the wide matrices) use the driver-level world of tests/support/world.py:
a moto server with RDS in-progress states, an in-memory Kubernetes, a controllable clock and
``World.run``. The only difference is one boto3 session for the whole suite (loading service
models for every test costs more than many of the tests). The operator-process tests
(SIGKILL, Kubernetes API faults) live in ``process/`` with the e2e harness.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from aurora_restore_sandbox.aws import AwsSandbox
from support.world import World, build_world

from .helpers import unregister_all


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    return boto3.Session()


@pytest.fixture
def world(aws: AwsSandbox, boto_session: boto3.Session) -> Iterator[World]:
    """support's ``world``, on the shared session."""
    world = build_world(aws, boto_session)
    yield world
    # Hooks a failed test left behind must not fire in the next one.
    unregister_all(boto_session)
