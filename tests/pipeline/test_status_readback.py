"""Every field the operator writes to status survives a real API server: the statuses of a
completed cross-region run (with a second run in its history) and of a failed run are written
through the status subresource of a real kube-apiserver and read back unchanged (nothing
pruned, no type or format refused), and `kubectl get ar` renders the CRD's printer columns
from them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
import yaml

from control_plane_support import ROOT, ControlPlane, api_client
from support.world import World, cross_region_spec

GROUP, VERSION, PLURAL = "dbrestore.io", "v1alpha1", "aurorarestores"
NAMESPACE = "status-readback"


@pytest.fixture(scope="module")
def server(control_plane: ControlPlane) -> ControlPlane:
    return control_plane.create_namespace(NAMESPACE)


@pytest.fixture
def custom(server: ControlPlane) -> Iterator[kubernetes.client.CustomObjectsApi]:
    with api_client(server.kubeconfig) as api:
        yield kubernetes.client.CustomObjectsApi(api)


def write_and_read(
    custom: kubernetes.client.CustomObjectsApi, name: str, spec: dict[str, Any], status: Any
) -> dict[str, Any]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AuroraRestore",
        "metadata": {"name": name},
        "spec": spec,
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, NAMESPACE, PLURAL, name, {"status": status}
    )
    return custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)


def differences(wrote: Any, read: Any, path: str = "status") -> list[str]:
    if isinstance(wrote, dict) and isinstance(read, dict):
        out = [f"{path}.{k}: pruned" for k in wrote if k not in read]
        out += [f"{path}.{k}: added" for k in read if k not in wrote]
        for key in wrote.keys() & read.keys():
            out += differences(wrote[key], read[key], f"{path}.{key}")
        return out
    if isinstance(wrote, list) and isinstance(read, list) and len(wrote) == len(read):
        return [
            d
            for i, (w, r) in enumerate(zip(wrote, read, strict=True))
            for d in differences(w, r, f"{path}[{i}]")
        ]
    return [] if wrote == read else [f"{path}: wrote {wrote!r}, read {read!r}"]


def test_completed_status_with_history_survives_read_back(
    world: World, custom: kubernetes.client.CustomObjectsApi
) -> None:
    spec = cross_region_spec(instances=1)
    first, _ = world.run(spec, name="readback")
    assert first["phase"] == "Completed", first.get("error")
    second_spec = cross_region_spec(instances=1, existingCluster="Replace")
    status, _ = world.run(second_spec, status=first, generation=2, name="readback")
    assert status["phase"] == "Completed", status.get("error")
    assert status["history"] and status["copy"] and status["cluster"]["instances"]
    obj = write_and_read(custom, "readback", second_spec, status)
    assert differences(status, obj["status"]) == []


def test_failed_status_survives_read_back(
    world: World, custom: kubernetes.client.CustomObjectsApi
) -> None:
    spec = cross_region_spec()
    spec["source"]["snapshotIdentifier"] = "no-such-snapshot"
    spec["source"]["waitTimeout"] = "1m"
    status, _ = world.run(spec, name="readback-failed")
    assert status["phase"] == "Failed" and status["error"]["type"] == "SnapshotNotFound"
    obj = write_and_read(custom, "readback-failed", spec, status)
    assert differences(status, obj["status"]) == []


def _json_path(obj: dict[str, Any], path: str) -> Any:
    """The two shapes of JSONPath our printer columns use: a dotted path, and a condition's
    status by type (``.status.conditions[?(@.type=="Ready")].status``)."""
    wanted = re.fullmatch(r'\.status\.conditions\[\?\(@\.type=="(\w+)"\)\]\.status', path)
    if wanted:
        conditions = (obj.get("status") or {}).get("conditions") or []
        return next((c["status"] for c in conditions if c["type"] == wanted[1]), None)
    value: Any = obj
    for part in path.lstrip(".").split("."):
        value = (value or {}).get(part)
    return value


def test_kubectl_get_shows_the_printer_columns(
    world: World, server: ControlPlane, custom: kubernetes.client.CustomObjectsApi
) -> None:
    spec = cross_region_spec()
    status, _ = world.run(spec, name="columns")
    obj = write_and_read(custom, "columns", spec, status)
    crd = yaml.safe_load((ROOT / "crds" / "aurorarestores.dbrestore.io.yaml").read_text())
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    out = server.kubectl("-n", NAMESPACE, "get", "ar", "columns", "-o", "wide").stdout
    header, row = out.splitlines()[:2]
    names = ["NAME"] + [c["name"].upper() for c in columns]
    assert header.split() == names, header
    starts = [header.index(n) for n in names] + [None]
    cells = [row[a:b].strip() for a, b in zip(starts[:-1], starts[1:], strict=True)]
    for column, cell in zip(columns, cells[1:], strict=True):
        if column["type"] == "date":
            continue
        value = _json_path(obj, column["jsonPath"])
        assert cell == str(value if value is not None else "<none>"), (column["name"], cell)
    assert cells[0] == "columns"
    assert cells[names.index("PHASE")] == "Completed"
