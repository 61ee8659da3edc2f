"""The one way to run the operator as a child process: its environment, its start with a
log file, the wait until it serves, and its stop. The demo (stack.py), tests/e2e,
tests/reliability, tests/tenancy and bench/ all start it through :class:`OperatorProcess`.

The operator runs exactly as in its container, ``python -m aurora_restore.cli operator``,
configured by environment variables only; :func:`operator_env` builds that environment from
scratch (or from the caller's, with every AWS, Kubernetes and operator setting removed), so
nothing of the user's can point it at a real account or cluster.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

OPERATOR_COMMAND = ("-m", "aurora_restore.cli", "operator")
ALL_NAMESPACES = ("--all-namespaces",)
# The prefixes of what may point the operator at something real; never inherited.
_NOT_INHERITED = ("AWS_", "AURORA_RESTORE_", "KUBE")

# Runs in the child before the operator: asks Linux to SIGTERM the operator if the process
# that started it dies without cleaning up (SIGKILL, OOM, a killed test run), so no orphan
# keeps polling a dead API. The flag survives exec, so the process that runs (same pid) is
# exactly `python -m aurora_restore.cli operator`. Linux ties the flag to the starting
# thread: start the operator from a thread that outlives it (the main thread, or a worker
# that stops it before it ends).
_LAUNCHER = """\
import ctypes, os, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM
except (AttributeError, OSError):
    pass  # not Linux: the parent's own cleanup is all there is
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)  # the parent died before prctl took effect
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


class StartError(RuntimeError):
    """A stand-in or the operator could not be started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def operator_env(
    *,
    kubeconfig: Path,
    aws_endpoint: str,
    region: str,
    metrics_port: int | None = None,
    home: Path | None = None,
    db_endpoint: str | None = None,
    settings: Mapping[str, str] | None = None,
    inherit: bool = False,
) -> dict[str, str]:
    """The operator's environment against the stand-ins.

    ``settings`` (``AURORA_RESTORE_*`` and anything else) come last and win. With
    ``inherit`` the caller's environment is the base (its locale, PATH, virtualenv), minus
    every AWS, Kubernetes and operator variable; otherwise only PATH (and HOME) are kept.
    ``db_endpoint`` (host:port) is where every restored cluster's endpoint is reached.
    """
    if inherit:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
    else:
        env = {"PATH": os.environ.get("PATH", "")}
    if home is not None:
        env["HOME"] = str(home)
    env.update(
        KUBECONFIG=str(kubeconfig),
        AWS_ENDPOINT_URL=aws_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AURORA_RESTORE_CREATE_TABLES="true",
        AURORA_RESTORE_METRICS_PORT=str(metrics_port or free_port()),
        AURORA_RESTORE_METRICS_HOST="127.0.0.1",
        AURORA_RESTORE_DB_SSLMODE="disable",
        PYTHONUNBUFFERED="1",
    )
    if db_endpoint is not None:
        env["AURORA_RESTORE_DB_ENDPOINT_OVERRIDE"] = db_endpoint
    env.update(settings or {})
    return env


class OperatorProcess:
    """The operator as a child process, logging to ``log_path`` (appended across restarts).

    ``stop()`` is SIGTERM (then SIGKILL after ``stop_timeout``), as a pod's shutdown;
    ``kill()`` is SIGKILL, as a crashed pod. ``start()`` may be called again after either.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        args: Sequence[str] = ALL_NAMESPACES,
        new_session: bool = False,
        start_timeout: float = 60,
        stop_timeout: float = 20,
    ) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.metrics_port = int(self.env["AURORA_RESTORE_METRICS_PORT"])
        self.cwd = cwd
        self.args = tuple(args)
        # Its own session: a Ctrl-C in the terminal then reaches only the parent, which stops
        # the operator before the stand-ins it talks to (the demo).
        self.new_session = new_session
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def __enter__(self) -> OperatorProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float | None = None) -> None:
        """Start it and wait until it serves /healthz (settings loaded, startup checks
        passed); raise :class:`StartError` with the end of its log if it exits or hangs."""
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *OPERATOR_COMMAND, *self.args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=self.new_session,
            )
        wait = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(f"the operator exited at startup:\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.1)
        raise StartError(f"the operator did not start within {wait:.0f}s:\n{self.log_tail()}")

    def healthy(self) -> bool:
        """Its /healthz answers 200 (http.client: no proxy from the environment applies)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=0.5)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise StartError("the operator was not started")
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exited(self) -> bool:
        """It was started and is no longer running (killed, crashed or stopped)."""
        return self.proc is not None and self.proc.poll() is not None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])
