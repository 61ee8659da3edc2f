"""End-to-end harness: the operator as its own process, against a real Kubernetes API server
(etcd + kube-apiserver + kube-controller-manager built from Go modules, the session fixture
`control_plane` of tests/conftest.py), the AWS stand-in (moto server) and a throwaway
PostgreSQL.

The operator process authenticates with a ServiceAccount token bound to the RBAC of deploy/
(never the admin's credentials), and a test fails on any 403 in its log. The scenarios speak
to the Kubernetes API only through the official client; between two tests the `databases`
namespace is emptied. With AURORA_RESTORE_TEST_KUBECONFIG set, that cluster is used instead
of a local control plane. A test that needs the Kubernetes API emulator itself (kmock, for
its request counters) asks for the `kube` fixture and runs against the emulator (skipped
with AURORA_RESTORE_TEST_KUBECONFIG).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.kube import KubeSandbox
from aurora_restore_sandbox.postgres import PostgresSandbox
from control_plane_support import EXTERNAL_KUBECONFIG, ROOT, ControlPlane, forbidden_lines

GROUP, VERSION, PLURAL = "dbrestore.io", "v1alpha1", "aurorarestores"
SOURCE, TARGET = "us-east-1", "us-west-2"
MASTER_PW = "e2e-master-S3ntinel"
APP_PW = "e2e-app-S3ntinel"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def aws_server() -> Iterator[AwsSandbox]:
    with AwsSandbox(delay_seconds=0) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresSandbox | None]:
    if not PostgresSandbox.available():
        yield None
        return
    with PostgresSandbox(master_password=MASTER_PW, databases=("app",)) as pg:
        yield pg


@pytest.fixture
def aws(aws_server: AwsSandbox) -> AwsSandbox:
    aws_server.reset()
    rds = aws_server.client("rds", SOURCE)
    rds.create_db_cluster(
        DBClusterIdentifier="prod",
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword="prod-source-pw",
        StorageEncrypted=True,
    )
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="prod-manual-1"
    )
    kms = aws_server.client("kms", TARGET)
    kms.create_alias(
        AliasName="alias/staging", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"]
    )
    aws_server.reset_calls()
    return aws_server


NAMESPACE = "databases"


@dataclass
class RealCluster:
    """The real API server of the session: `admin` for the tests, `operator` a token
    kubeconfig of the ServiceAccount bound to deploy/'s RBAC."""

    plane: ControlPlane
    admin: Path
    operator: Path


@pytest.fixture(scope="session")
def real_cluster(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> RealCluster:
    control_plane.apply(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    )
    rendered = control_plane.kubectl("kustomize", str(ROOT / "deploy")).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    identity = tmp_path_factory.mktemp("operator-identity") / "kubeconfig"
    return RealCluster(
        control_plane, control_plane.kubeconfig, control_plane.bind_operator(docs, identity)
    )


def on_emulator(request: pytest.FixtureRequest) -> bool:
    """A test that asks for `kube` (the emulator's own counters) runs against the emulator."""
    return "kube" in request.fixturenames


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[KubeSandbox]:
    if EXTERNAL_KUBECONFIG:
        pytest.skip("needs the Kubernetes API emulator's own counters")
    with KubeSandbox(crds=sorted((ROOT / "crds").glob("*.yaml"))) as sandbox:
        yield sandbox


@pytest.fixture
def kubeconfig(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Cluster-admin credentials for the test itself (and kubectl)."""
    if on_emulator(request):
        sandbox: KubeSandbox = request.getfixturevalue("kube")
        return sandbox.write_kubeconfig(tmp_path / "kubeconfig")
    real: RealCluster = request.getfixturevalue("real_cluster")
    return real.admin


@pytest.fixture
def operator_kubeconfig(request: pytest.FixtureRequest, kubeconfig: Path) -> Path:
    """The operator's own identity: on the real server, deploy/'s ServiceAccount."""
    if on_emulator(request):
        return kubeconfig
    real: RealCluster = request.getfixturevalue("real_cluster")
    return real.operator


@dataclass
class Operator:
    """The operator process; kill() is SIGKILL, as a crashed pod."""

    env: dict[str, str]
    log_path: Path
    metrics_port: int
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aurora_restore.cli", "operator", "--all-namespaces"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"operator exited: {self.logs()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.metrics_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"operator did not start: {self.logs()[-3000:]}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def operator_env(
    aws: AwsSandbox,
    operator_kubeconfig: Path,
    postgres: PostgresSandbox | None,
    tmp_path: Path,
) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "KUBECONFIG": str(operator_kubeconfig),
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": SOURCE,
        "AWS_DEFAULT_REGION": SOURCE,
        "AURORA_RESTORE_CREATE_TABLES": "true",
        "AURORA_RESTORE_POLL_INTERVAL": "2s",
        "AURORA_RESTORE_POLL_FLOOR": "1s",
        "AURORA_RESTORE_METRICS_PORT": str(free_port()),
        "AURORA_RESTORE_METRICS_HOST": "127.0.0.1",
        "AURORA_RESTORE_LOG_LEVEL": "DEBUG",
        "AURORA_RESTORE_DB_SSLMODE": "disable",
    }
    if postgres is not None:
        env["AURORA_RESTORE_DB_ENDPOINT_OVERRIDE"] = f"{postgres.host}:{postgres.port}"
    return env


@pytest.fixture
def operator(
    request: pytest.FixtureRequest, operator_env: dict[str, str], tmp_path: Path
) -> Iterator[Operator]:
    op = Operator(
        operator_env, tmp_path / "operator.log", int(operator_env["AURORA_RESTORE_METRICS_PORT"])
    )
    op.start()
    yield op
    op.stop()
    if not on_emulator(request):
        # The RBAC of deploy/ must cover every call the operator made.
        denied = forbidden_lines(op.logs())
        assert not denied, "the operator was refused (403):\n" + "\n".join(denied[:10])


@dataclass
class Cluster:
    """The Kubernetes API as a user (or a test) sees it, through the official client."""

    api: kubernetes.client.ApiClient
    namespace: str = NAMESPACE
    created: list[str] = field(default_factory=list)

    @property
    def custom(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api)

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api)

    def apply_restore(
        self, name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None
    ) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AuroraRestore",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": spec,
        }
        self.created.append(name)
        return self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, body
        )

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name
            )
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, body
        )

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)

    def wait(
        self,
        name: str,
        check: Callable[[dict[str, Any]], bool],
        timeout: float = 60,
        seen: list[str] | None = None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        obj: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            obj = self.get(name)
            if obj is not None:
                phase = (obj.get("status") or {}).get("phase")
                if seen is not None and phase and (not seen or seen[-1] != phase):
                    seen.append(phase)
                if check(obj):
                    return obj
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {name}: {(obj or {}).get('status')}")

    def wait_phase(
        self, name: str, *phases: str, timeout: float = 60, seen: list[str] | None = None
    ) -> dict[str, Any]:
        return self.wait(
            name, lambda o: (o.get("status") or {}).get("phase") in phases, timeout, seen
        )

    def events(self, name: str) -> list[Any]:
        items = self.core.list_namespaced_event(self.namespace).items
        return [e for e in items if e.involved_object and e.involved_object.name == name]

    def wait_events(self, name: str, *reasons: str, timeout: float = 10) -> list[str]:
        """The reasons of the object's events, once all of `reasons` are among them."""
        deadline = time.monotonic() + timeout
        while True:
            seen = [e.reason for e in self.events(name)]
            missing = [r for r in reasons if r not in seen]
            if not missing:
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"events {missing} of {name} not posted; seen {seen}")
            time.sleep(0.2)

    def secret(self, name: str, data: dict[str, str]) -> None:
        self.core.create_namespaced_secret(
            self.namespace,
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data},
        )

    def config_map(self, name: str, data: dict[str, str]) -> None:
        self.core.create_namespaced_config_map(
            self.namespace,
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data},
        )


@pytest.fixture
def cluster(request: pytest.FixtureRequest, kubeconfig: Path) -> Iterator[Cluster]:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(kubeconfig), client_configuration=configuration
    )
    with kubernetes.client.ApiClient(configuration) as api:
        cluster = Cluster(api)
        yield cluster
        if not on_emulator(request):
            # A real cluster outlives the test: leave nothing for the next one's operator.
            empty_namespace(cluster)


def empty_namespace(cluster: Cluster, timeout: float = 30) -> None:
    """Delete every restore and schedule (finalizers dropped: the next test's AWS is new),
    Secret, ConfigMap and Event the tests made in the namespace."""
    ns, custom, core = cluster.namespace, cluster.custom, cluster.core
    deadline = time.monotonic() + timeout
    while True:
        left = 0
        for plural in (PLURAL, "aurorarestoreschedules"):
            for item in custom.list_namespaced_custom_object(GROUP, VERSION, ns, plural)["items"]:
                left += 1
                name = item["metadata"]["name"]
                try:
                    custom.patch_namespaced_custom_object(
                        GROUP, VERSION, ns, plural, name, {"metadata": {"finalizers": None}}
                    )
                    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
                except kubernetes.client.ApiException as exc:
                    if exc.status != 404:
                        raise
        if not left:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{left} restores or schedules left in {ns}")
        time.sleep(0.2)
    core.delete_collection_namespaced_secret(ns)
    core.delete_collection_namespaced_config_map(ns)
    core.delete_collection_namespaced_event(ns)


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def cross_region(**target: Any) -> dict[str, Any]:
    return {
        "source": {"region": SOURCE, "snapshotIdentifier": "prod-manual-1"},
        "copy": {"kmsKeyId": "alias/staging"},
        "target": {"region": TARGET, "clusterIdentifier": "staging", **target},
    }
