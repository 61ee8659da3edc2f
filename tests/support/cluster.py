"""The operator as its own process, against a real Kubernetes API server (etcd +
kube-apiserver + kube-controller-manager built from Go modules, the session fixture
`control_plane` of tests/conftest.py), the AWS stand-in (moto server) and a throwaway
PostgreSQL: the harness of tests/e2e, tests/reliability/process and tests/tenancy.

The operator process authenticates with a ServiceAccount token bound to the RBAC of deploy/
(never the admin's credentials), and a test fails on any 403 in its log. The scenarios speak
to the Kubernetes API only through the official client; between two tests the `databases`
namespace is emptied. With AURORA_RESTORE_TEST_KUBECONFIG set, that cluster is used instead
of a local control plane. A test that needs the Kubernetes API emulator itself (kmock, for
its request counters) asks for the `kube` fixture and runs against the emulator (skipped
with AURORA_RESTORE_TEST_KUBECONFIG).

The AWS world and PostgreSQL these suites need differ from the driver-level ones: their
folders take `aws` and `postgres` from support/operator_world.py.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.harness import OperatorProcess as Operator
from aurora_restore_sandbox.harness import operator_env as operator_env_for
from aurora_restore_sandbox.kube import KubeSandbox
from aurora_restore_sandbox.postgres import PostgresSandbox
from control_plane_support import (
    EXTERNAL_KUBECONFIG,
    ROOT,
    ControlPlane,
    api_client,
    forbidden_lines,
)

from .aws import (
    SOURCE,
    TARGET,
    audit_items,
    create_staging,
    sns_messages,
    state_item,
    subscribed_queue,
)
from .world import MANAGED
from .world import cross_region_spec as cross_region

# cross_region: the e2e suites restore the same snapshot as the driver-level ones.
__all__ = ["SOURCE", "TARGET", "Operator", "cross_region"]

GROUP, VERSION, PLURAL = "dbrestore.io", "v1alpha1", "aurorarestores"
NAMESPACE = "databases"
MASTER_PW = "e2e-master-S3ntinel"
APP_PW = "e2e-app-S3ntinel"


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
    control_plane.create_namespace(NAMESPACE)
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


@pytest.fixture
def operator_env(
    aws: AwsSandbox,
    operator_kubeconfig: Path,
    postgres: PostgresSandbox | None,
    tmp_path: Path,
) -> dict[str, str]:
    """The operator's environment; a test or folder overrides this fixture to change it."""
    return operator_env_for(
        kubeconfig=operator_kubeconfig,
        aws_endpoint=aws.endpoint_url,
        region=SOURCE,
        home=tmp_path,
        db_endpoint=f"{postgres.host}:{postgres.port}" if postgres is not None else None,
        settings={
            "AURORA_RESTORE_POLL_INTERVAL": "2s",
            "AURORA_RESTORE_POLL_FLOOR": "1s",
            "AURORA_RESTORE_LOG_LEVEL": "DEBUG",
        },
    )


@pytest.fixture
def operator(
    request: pytest.FixtureRequest, operator_env: dict[str, str], tmp_path: Path
) -> Iterator[Operator]:
    op = Operator(operator_env, tmp_path / "operator.log", cwd=ROOT, start_timeout=30)
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
    with api_client(kubeconfig) as api:
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


# The events of a cross-region run onto a new target cluster, in the order they are posted.
RUN_EVENTS = (
    "RestoreStarted",
    "SnapshotFound",
    "CopyStarted",
    "CopyCompleted",
    "ClusterRestoreStarted",
    "ClusterAvailable",
    "InstancesAvailable",
    "DatabaseConfigured",
    "SnapshotArchived",
    "RestoreCompleted",
)


def master_password(
    postgres: PostgresSandbox | None, api: Cluster, password: str, secret: str = "staging-master"
) -> None:
    """The throwaway PostgreSQL's master password set to ``password``, and the Secret
    ``secret`` holding it; without PostgreSQL the test is skipped."""
    if postgres is None:
        pytest.skip(PostgresSandbox.install_hint())
    postgres.set_master_password(password)
    api.secret(secret, {"password": password})


def database_restore(postgres: PostgresSandbox | None, api: Cluster) -> dict[str, Any]:
    """A cross-region restore that configures the database (its master password, a user
    ``app`` and the connection Secret ``staging-db``), with its Secrets made."""
    master_password(postgres, api, MASTER_PW)
    api.secret("app-db", {"password": APP_PW})
    spec = cross_region(instances=1)
    spec.update(
        masterPassword={"secretRef": {"name": "staging-master"}},
        users=[{"name": "app", "passwordSecretRef": {"name": "app-db"}, "privileges": "readwrite"}],
        connectionSecret={"name": "staging-db"},
    )
    return spec


@dataclass
class AwsWorld:
    """The operator-process world (support/operator_world.py's ``aws``) plus what the full
    restore needs: a managed cluster to replace in the target region, and an SNS topic with
    an SQS queue to read the notifications from."""

    sandbox: AwsSandbox
    topic_arn: str
    queue_url: str

    def sns_messages(self, expect: int = 1, timeout: float = 5) -> list[dict[str, Any]]:
        """What reached the topic's queue: waits (a little) for ``expect`` messages."""
        return sns_messages(self.sandbox, self.queue_url, expect, timeout)

    def audit(self, operation_id: str) -> list[dict[str, Any]]:
        return audit_items(self.sandbox, operation_id)

    def state(self, operation_id: str) -> dict[str, Any]:
        return state_item(self.sandbox, operation_id)


@pytest.fixture
def aws_world(aws: AwsSandbox) -> AwsWorld:
    rds = aws.client("rds", TARGET)
    create_staging(rds, 2, MANAGED)
    aws.settle()
    topic, queue = subscribed_queue(aws)
    aws.reset_calls()
    return AwsWorld(aws, topic, queue)


def faster(env: dict[str, str]) -> dict[str, str]:
    """The e2e operator settings, polling every second (these tests wait on retries)."""
    return {**env, "AURORA_RESTORE_POLL_INTERVAL": "1s", "AURORA_RESTORE_POLL_FLOOR": "1s"}


def full_spec(world: AwsWorld, **extra: Any) -> dict[str, Any]:
    """Every mutating call in one run (as reliability/helpers.full_spec, for the operator)."""
    return {
        "source": {"region": SOURCE, "snapshotIdentifier": "prod-manual-1"},
        "copy": {"kmsKeyId": "alias/staging"},
        "target": {
            "region": TARGET,
            "clusterIdentifier": "staging",
            "existingCluster": "Replace",
            "instances": 2,
        },
        "masterPassword": {"secretRef": {"name": "staging-master"}},
        "notification": {"snsTopicArn": world.topic_arn},
        **extra,
    }


def finished(api: Cluster, name: str) -> dict[str, Any] | None:
    """The object once its run ended and its notification step did too; None until then."""
    obj = api.get(name)
    status = (obj or {}).get("status") or {}
    if status.get("phase") not in ("Completed", "Failed"):
        return None
    steps = {s["name"]: s["state"] for s in status.get("steps", [])}
    if steps.get("sns-notification") in ("Pending", "Running"):
        return None
    return obj


def wait_finished(
    api: Cluster, name: str, timeout: float = 120, operator: Operator | None = None
) -> dict[str, Any]:
    """Wait until :func:`finished`; with ``operator``, start it again whenever it exited
    (the pod restarts after a SIGKILL)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if operator is not None and operator.exited():
            operator.start()
        obj = finished(api, name)
        if obj is not None:
            return obj
        time.sleep(0.1)
    raise AssertionError(
        f"{api.namespace}/{name} did not finish: {(api.get(name) or {}).get('status')}"
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
