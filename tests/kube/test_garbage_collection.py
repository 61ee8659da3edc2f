"""kube-controller-manager's garbage collector acts on the owner references the operator
writes: deleting a schedule deletes its runs, deleting a restore its connection Secret.
The objects are built by the operator's own code (schedule.child_body, KubeObjects and
handlers.owner_reference), so a wrong reference fails here."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes
import pytest

from aurora_restore.api.schedule import validate_schedule_spec
from aurora_restore.k8s.handlers import owner_reference
from aurora_restore.k8s.objects import KubeObjects
from aurora_restore.schedule import ScheduleObject, child_body, child_spec
from control_plane_support import ControlPlane, api_client

from .conftest import NAMESPACE

GROUP, VERSION = "dbrestore.io", "v1alpha1"
TEMPLATE = {
    "source": {"region": "us-east-1", "clusterIdentifier": "prod"},
    "target": {"region": "us-east-1", "clusterIdentifier": "staging"},
}


@pytest.fixture
def api(plane: ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    with api_client(plane.kubeconfig) as client:
        yield client


def gone(read: Callable[[], Any], timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            read()
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return True
            raise
        time.sleep(0.25)
    return False


def test_deleting_a_schedule_deletes_its_runs(api: kubernetes.client.ApiClient) -> None:
    custom = kubernetes.client.CustomObjectsApi(api)
    spec = {"schedule": "0 3 * * *", "template": TEMPLATE}
    schedule = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        "aurorarestoreschedules",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AuroraRestoreSchedule",
            "metadata": {"name": "gc-nightly"},
            "spec": spec,
        },
    )
    owner = ScheduleObject.from_body(schedule)
    scheduled = dt.datetime(2026, 11, 27, 3, tzinfo=dt.UTC)
    parsed = validate_schedule_spec(spec)
    run = child_body(
        owner,
        "gc-nightly-202611270300",
        scheduled,
        child_spec(TEMPLATE, parsed, scheduled, zoneinfo.ZoneInfo("UTC")),
    )
    custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "aurorarestores", run)

    custom.delete_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "aurorarestoreschedules", "gc-nightly"
    )
    assert gone(
        lambda: custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "aurorarestores", "gc-nightly-202611270300"
        )
    ), "the schedule's run outlived the schedule"


def test_deleting_a_restore_deletes_its_connection_secret(
    api: kubernetes.client.ApiClient,
) -> None:
    custom = kubernetes.client.CustomObjectsApi(api)
    core = kubernetes.client.CoreV1Api(api)
    restore = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        "aurorarestores",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AuroraRestore",
            "metadata": {"name": "gc-restore"},
            "spec": TEMPLATE,
        },
    )
    objects = KubeObjects(api, NAMESPACE, owner=owner_reference(restore))
    objects.write_connection_secret("gc-restore-db", {"host": "h", "password": "pw"})
    secret = core.read_namespaced_secret("gc-restore-db", NAMESPACE)
    assert secret.metadata.owner_references[0].uid == restore["metadata"]["uid"]

    custom.delete_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, "aurorarestores", "gc-restore"
    )
    assert gone(lambda: core.read_namespaced_secret("gc-restore-db", NAMESPACE)), (
        "the connection Secret outlived its restore"
    )
