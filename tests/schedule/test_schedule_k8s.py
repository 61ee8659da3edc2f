"""The schedule adapter (``k8s/schedules.reconcile``) against the Kubernetes API stand-in:
what it creates, deletes and writes through the real ``kubernetes`` client. The kopf daemon
around it is exercised end to end in tests/e2e."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from schedule_support import template

from aurora_restore import schedule as core
from aurora_restore.k8s.schedules import ScheduleKube, reconcile
from aurora_restore_sandbox.kube import KubeSandbox
from control_plane_support import api_client

ROOT = Path(__file__).resolve().parents[2]
NS = "databases"


@pytest.fixture
def kube() -> Iterator[KubeSandbox]:
    with KubeSandbox() as sandbox:
        sandbox.register_crd_dir(ROOT / "crds")
        yield sandbox
        assert sandbox.errors() == []


@pytest.fixture
def api(kube: KubeSandbox, tmp_path: Path) -> Iterator[kubernetes.client.ApiClient]:
    with api_client(kube.write_kubeconfig(tmp_path / "kubeconfig")) as client:
        yield client


class Harness:
    def __init__(self, kube: KubeSandbox, api: Any, **spec: Any) -> None:
        self.kube = kube
        self.ops = ScheduleKube(api, NS)
        body = {
            "apiVersion": "dbrestore.io/v1alpha1",
            "kind": "AuroraRestoreSchedule",
            "metadata": {"name": "nightly", "namespace": NS},
            "spec": {"schedule": "0 3 * * *", "template": template(), **spec},
        }
        self.ops.api.create_namespaced_custom_object(
            "dbrestore.io", "v1alpha1", NS, "aurorarestoreschedules", body
        )
        created = core.parse_time(self.body()["metadata"]["creationTimestamp"])
        assert created is not None
        # The first 03:00 UTC after the schedule was created: its first run.
        self.first = core.next_time("0 3 * * *", zoneinfo.ZoneInfo("UTC"), created)

    def body(self) -> dict[str, Any]:
        found = self.kube.get("aurorarestoreschedules", "nightly", NS)
        assert found is not None
        return found

    def look(self, now: dt.datetime) -> Any:
        schedule = core.ScheduleObject.from_body(self.body())
        return reconcile(self.ops, schedule, now)

    def runs(self) -> dict[str, dict[str, Any]]:
        return {o["metadata"]["name"]: o for o in self.kube.list("aurorarestores", NS)}

    def set_phase(self, name: str, phase: str) -> None:
        self.kube.patch("aurorarestores", name, {"status": {"phase": phase}}, NS, "status")


def test_a_due_run_is_created_owned_and_recorded(kube: KubeSandbox, api: Any) -> None:
    h = Harness(kube, api)
    applied = h.look(h.first - dt.timedelta(seconds=1))
    assert h.runs() == {}
    assert applied.requeue_after == pytest.approx(1.0)

    applied = h.look(h.first + dt.timedelta(seconds=2))
    name = f"nightly-{h.first:%Y%m%d%H%M}"
    assert [e.reason for e in applied.events] == ["Created"]
    run = h.runs()[name]
    owner = h.body()["metadata"]
    assert run["metadata"]["labels"] == {core.SCHEDULE_LABEL: "nightly"}
    assert run["metadata"]["annotations"][core.SCHEDULED_AT_ANNOTATION] == core.format_time(h.first)
    [ref] = run["metadata"]["ownerReferences"]
    assert (ref["uid"], ref["controller"], ref["kind"]) == (owner["uid"], True, core.KIND)
    yesterday = (h.first.date() - dt.timedelta(days=1)).isoformat()
    assert run["spec"]["source"]["date"] == yesterday
    # The CRD's defaults still apply to the child as to any AuroraRestore.
    assert run["spec"]["target"]["existingCluster"] == "Fail"

    status = h.body()["status"]
    assert status["lastScheduleTime"] == core.format_time(h.first)
    assert status["active"] == name
    assert applied.status == status

    again = h.look(h.first + dt.timedelta(seconds=30))
    assert again.events == [] and list(h.runs()) == [name]


def test_replace_deletes_then_creates_once_the_old_run_is_gone(kube: KubeSandbox, api: Any) -> None:
    h = Harness(kube, api, concurrencyPolicy="Replace", successfulRunsHistoryLimit=0)
    h.look(h.first)
    old = f"nightly-{h.first:%Y%m%d%H%M}"
    # As the restore daemon would: a finalizer, and a run in progress.
    kube.patch("aurorarestores", old, {"metadata": {"finalizers": ["dbrestore.io/finalizer"]}}, NS)
    h.set_phase(old, "RestoringCluster")

    second = h.first + dt.timedelta(days=1)
    applied = h.look(second)
    assert [e.reason for e in applied.events] == ["Replaced"]
    assert h.runs()[old]["metadata"].get("deletionTimestamp")
    assert h.look(second + dt.timedelta(seconds=5)).events == []

    kube.patch("aurorarestores", old, {"metadata": {"finalizers": None}}, NS)
    applied = h.look(second + dt.timedelta(seconds=10))
    new = f"nightly-{second:%Y%m%d%H%M}"
    assert [e.reason for e in applied.events] == ["Created"]
    assert list(h.runs()) == [new]

    h.set_phase(new, "Completed")
    applied = h.look(second + dt.timedelta(minutes=30))
    assert [e.reason for e in applied.events] == ["Pruned"]
    assert h.runs() == {}
    assert h.body()["status"]["lastResult"] == "Completed"
    assert "active" not in h.body()["status"]


def test_a_name_clash_is_reported_and_not_recorded(kube: KubeSandbox, api: Any) -> None:
    h = Harness(kube, api)
    name = f"nightly-{h.first:%Y%m%d%H%M}"
    stranger = {
        "apiVersion": "dbrestore.io/v1alpha1",
        "kind": "AuroraRestore",
        "metadata": {"name": name, "namespace": NS},
        "spec": template(),
    }
    kube.create("aurorarestores", stranger, NS)
    applied = h.look(h.first)
    [event] = applied.events
    assert (event.type, event.reason) == ("Warning", "CreateFailed")
    assert "already exists" in event.message
    assert "lastScheduleTime" not in (h.body().get("status") or {})
    assert "ownerReferences" not in h.runs()[name]["metadata"]


def test_an_invalid_spec_is_reported_in_the_status(kube: KubeSandbox, api: Any) -> None:
    # The stand-in does not validate schemas, so the core's own validation is what runs.
    h = Harness(kube, api, timeZone="Mars/Olympus_Mons")
    applied = h.look(h.first)
    assert [(e.type, e.reason) for e in applied.events] == [("Warning", "InvalidSpec")]
    status = h.body()["status"]
    assert status["conditions"][0]["reason"] == "InvalidSpec"
    assert "spec.timeZone" in status["message"]
    assert h.runs() == {}
