"""`aurora-restore run` as a new user would try it: a process against the moto server, with
no Kubernetes (a kubeconfig that does not exist) and nothing of this machine's environment
but a minimal PATH."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aurora_restore_sandbox.aws import AwsSandbox
from control_plane_support import ROOT


def run(aws: AwsSandbox, *args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "KUBECONFIG": str(tmp / "no-kubeconfig"),
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AURORA_RESTORE_CREATE_TABLES": "true",
        "AURORA_RESTORE_POLL_INTERVAL": "1s",
        "AURORA_RESTORE_POLL_FLOOR": "1s",
    }
    return subprocess.run(
        [sys.executable, "-m", "aurora_restore.cli", "run", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
