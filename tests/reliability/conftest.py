"""Fixtures of the reliability suite.

Driver-level tests (the wide matrices) reuse the pipeline harness: a moto server with RDS
in-progress states, an in-memory Kubernetes, a controllable clock and ``World.run``. The
operator-process tests (SIGKILL, Kubernetes API faults) live in ``process/`` with the e2e
harness.
"""

from __future__ import annotations

from pipeline.conftest import (  # noqa: F401  (fixtures, re-registered for this directory)
    aws,
    aws_server,
    postgres,
    world,
)
