"""Tenancy: one operator process watching several namespaces (team-a, team-b, evil), with
the e2e harness of tests/support/cluster.py (the Kubernetes API emulator over HTTP, the
moto server, PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import kubernetes
import pytest

from support.aws import audit_items
from support.cluster import GROUP, PLURAL, SOURCE, VERSION, Cluster, empty_namespace, faster
from support.operator_world import operator_aws, operator_postgres  # noqa: F401  (fixtures)

MANAGED_BY = "dbrestore.io/managed-by"
OPERATION = "dbrestore.io/operation-id"
OWNER = "dbrestore.io/owner"


@pytest.fixture
def operator_env(operator_env: dict[str, str]) -> dict[str, str]:
    # The tenancy tests wait on leases, retries and restarts: the operator polls every second.
    return faster(operator_env)


def team(api: Cluster, namespace: str) -> Cluster:
    """The same API as seen by (and written to) one namespace. On a real API server the
    namespace must exist, and is emptied first: it outlives the test that made it, and
    what an earlier test left in it would be picked up by this test's operator."""
    seen: set[str] = api.__dict__.setdefault("_teams", set())
    other = Cluster(api.api, namespace)
    if namespace not in seen and namespace != api.namespace:
        seen.add(namespace)
        try:
            other.core.create_namespace({"metadata": {"name": namespace}})
        except kubernetes.client.ApiException as err:
            if err.status != 409:  # the emulator has no namespaces to create: 404 / 405
                if err.status not in (404, 405):
                    raise
            else:
                empty_namespace(other)
    return other


def spec(identifier: str, **extra: Any) -> dict[str, Any]:
    """A same-region restore of the e2e snapshot (no copy: quick), one instance."""
    body: dict[str, Any] = {
        "source": {"region": SOURCE, "snapshotIdentifier": "prod-manual-1"},
        "target": {"region": SOURCE, "clusterIdentifier": identifier, "instances": 1},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


def wait_until(check: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def patch_status(api: Cluster, name: str, status: dict[str, Any]) -> None:
    """What a user with ``patch aurorarestores/status`` in that namespace can do."""
    api.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, api.namespace, PLURAL, name, {"status": status}
    )


def cluster_tags(aws_sandbox: Any, identifier: str, region: str = SOURCE) -> dict[str, str] | None:
    rds = aws_sandbox.client("rds", region)
    found = rds.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": [identifier]}])
    clusters = found["DBClusters"]
    if not clusters:
        return None
    return {t["Key"]: t["Value"] for t in clusters[0].get("TagList") or []}


def tampered_audit(aws_sandbox: Any, operation_id: str) -> bool:
    return any(
        (item.get("details") or {}).get("error_code") == "StatusTampered"
        for item in audit_items(aws_sandbox, operation_id)
    )


def events(api: Cluster, name: str) -> list[tuple[str, str, str]]:
    return [(e.type, e.reason, e.message) for e in api.events(name)]


def gone(api: Cluster, name: str) -> bool:
    try:
        return api.get(name) is None
    except kubernetes.client.ApiException:
        return False


@pytest.fixture(autouse=True)
def _on_the_emulator(kube: object) -> None:
    """These scenarios run against the Kubernetes API emulator (asking for ``kube`` selects
    it, see tests/support/cluster.py). On a real cluster the garbage collector removes the
    test's Secret owned by a restore that does not exist before the operator sees it, and
    the forged-delete scenarios' audit assertions have not been made to hold there yet;
    the safety assertions (no Delete*/ModifyDBCluster on a foreign cluster) do hold."""
