"""The AWS stand-in for the benchmark: ``python -m aurora_restore_sandbox.aws``, with calls
into moto's RDS backend made one at a time.

moto's RDS backend is not thread-safe: under hundreds of concurrent restores a describe
iterates a dict that a concurrent copy or restore is changing, and the threaded server
answers 500 ("OrderedDict mutated during iteration"), which botocore cannot parse. AWS
has no such failure, so the benchmark serializes the backend rather than measure retries of
a stand-in bug. Run as ``python -m bench.aws_server [--port N]``.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

LOCK = threading.RLock()


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return method(*args, **kwargs)

    return wrapper


def serialize_rds() -> int:
    """Wrap every public method of moto's RDSBackend in one lock; returns how many."""
    from moto.rds.models import RDSBackend

    from aurora_restore_sandbox.aws import install_rds_states

    install_rds_states()  # first, so that its wrappers run inside the lock too
    wrapped = 0
    for name in dir(RDSBackend):
        if name.startswith("_"):
            continue
        static = inspect.getattr_static(RDSBackend, name)
        if not inspect.isfunction(static):
            continue  # properties, staticmethods and classmethods
        setattr(RDSBackend, name, _locked(static))
        wrapped += 1
    return wrapped


def main() -> None:
    from aurora_restore_sandbox import aws

    serialize_rds()
    aws.main()


if __name__ == "__main__":
    main()
