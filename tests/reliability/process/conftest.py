"""The operator as its own process (SIGKILL, Kubernetes API faults, secrets in its logs),
with the e2e harness of tests/support/cluster.py: the real API server (the Kubernetes API
emulator for the fault tests, which inject 409s, 500s and dropped watches through it), the
moto server and PostgreSQL; ``aws_world`` adds a managed cluster to replace and an SNS topic
read through SQS."""

import pytest

from support.cluster import faster
from support.operator_world import operator_aws, operator_postgres  # noqa: F401  (fixtures)


@pytest.fixture
def operator_env(operator_env: dict[str, str]) -> dict[str, str]:
    # These tests wait on retries and restarts: the operator polls every second.
    return faster(operator_env)
