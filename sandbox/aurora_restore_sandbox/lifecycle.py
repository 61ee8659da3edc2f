"""How a stand-in runs: as a context manager around its ``start`` and ``stop``, or in the
foreground of ``python -m aurora_restore_sandbox.aws`` (or ``.kube``) until SIGINT or
SIGTERM."""

from __future__ import annotations

import signal
import threading
from types import TracebackType
from typing import Any, Self, TypeVar

T = TypeVar("T")


class Service:
    """A stand-in that is started and stopped; ``with`` does both."""

    what = "The stand-in"  # how errors name it

    def _started(self, value: T | None) -> T:
        """``value``, which is set once the stand-in runs; before, an error that says so."""
        if value is None:
            raise RuntimeError(f"{self.what} is not started.")
        return value

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_until_signal(service: Service) -> None:
    """Block until SIGINT or SIGTERM, then stop ``service`` (already started)."""
    stopped = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stopped.wait()
    finally:
        service.stop()
