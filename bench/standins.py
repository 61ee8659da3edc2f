"""What every bench run stands on: the AWS sandbox in its own process, the source data it
is seeded with, and the operator started against it and a fresh Kubernetes API emulator.

``bench/scale.py`` and ``bench/downtime.py`` both run this way, so that their numbers come
from the same set-up.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aurora_restore_sandbox.aws import AwsSandbox, create_cluster
from aurora_restore_sandbox.harness import OperatorProcess, free_port, operator_env
from aurora_restore_sandbox.kube import KubeSandbox

ROOT = Path(__file__).resolve().parents[1]
SOURCE, TARGET = "us-east-1", "us-west-2"


class AwsProcess:
    """The AWS sandbox in its own process, so that it does not share our interpreter."""

    def __init__(self, log_path: Path) -> None:
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.aws_server", "--port", str(free_port())],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=ROOT,
            )
        assert self.proc.stdout is not None
        url = ""
        for line in self.proc.stdout:
            if line.startswith("AWS_ENDPOINT_URL="):
                url = line.strip().split("=", 1)[1]
                break
        if not url:
            raise RuntimeError("the AWS sandbox did not start")
        self.sandbox = AwsSandbox.attach(url)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def source_cluster(aws: AwsSandbox, identifier: str, password: str, **params: Any) -> Any:
    """A cluster in the source region; returns the RDS client it was created with."""
    rds = aws.client("rds", SOURCE)
    create_cluster(rds, identifier, password, **params)
    return rds


def seed_aws(aws: AwsSandbox, delay: float) -> None:
    """Nothing but the source cluster ``prod`` and its snapshot ``prod-manual-1``, settled;
    then every RDS state lasts ``delay`` seconds and the call count starts at zero."""
    aws.reset()
    rds = source_cluster(aws, "prod", "bench-source-pw")
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="prod-manual-1"
    )
    aws.settle()
    aws.set_delays(delay)
    aws.reset_calls()


@contextmanager
def operator_running(
    aws: AwsSandbox, workdir: Path, name: str, settings: Mapping[str, str]
) -> Iterator[tuple[KubeSandbox, OperatorProcess]]:
    """A fresh Kubernetes API emulator with the CRDs, and the operator against it and
    ``aws`` (logging to ``operator-<name>.log`` in ``workdir``), stopped on the way out."""
    with KubeSandbox(crds=sorted((ROOT / "crds").glob("*.yaml"))) as kube:
        env = operator_env(
            kubeconfig=kube.write_kubeconfig(workdir / f"kubeconfig-{name}"),
            aws_endpoint=aws.endpoint_url,
            region=SOURCE,
            home=workdir,
            settings={"AURORA_RESTORE_LOG_LEVEL": "INFO", **settings},
        )
        operator = OperatorProcess(env, workdir / f"operator-{name}.log", cwd=ROOT, stop_timeout=30)
        operator.start()
        try:
            yield kube, operator
        finally:
            operator.stop()
