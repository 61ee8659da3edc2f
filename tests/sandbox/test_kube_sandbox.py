"""The Kubernetes API stand-in, through the official client, raw HTTP, kubectl and kopf."""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import kopf.testing
import kubernetes
import pytest
import yaml

from aurora_restore_sandbox.kube import (
    KubeSandbox,
    SandboxEmulator,
    human_duration,
    jsonpath_value,
)
from support.waiting import wait_for

GROUP, VERSION, PLURAL = "dbrestore.io", "v1alpha1", "aurorarestores"
NS = "default"
BASE = f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/{PLURAL}"


def restore(name: str = "r1", **spec) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AuroraRestore",
        "metadata": {"name": name},
        "spec": {"target": {"region": "us-west-2", "clusterIdentifier": "staging", **spec}},
    }


def http(
    kube: KubeSandbox,
    method: str,
    path: str,
    body=None,
    content_type: str = "application/json",
) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        kube.url + path, data=data, method=method, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def watch_events(kube: KubeSandbox, query: str) -> list[dict]:
    """A whole (time-limited) watch stream; also checks its content type."""
    with urllib.request.urlopen(f"{kube.url}{BASE}?watch=true&{query}", timeout=10) as response:
        assert response.headers["Content-Type"] == "application/json"
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


def test_custom_objects_through_the_official_client(kube: KubeSandbox, kube_client):
    api = kubernetes.client.CustomObjectsApi(kube_client)
    created, status, _ = api.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, NS, PLURAL, {**restore(), "status": {"phase": "Forged"}}
    )
    meta = created["metadata"]
    assert status == 201
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert "status" not in created  # dropped: the status subresource owns it
    assert created["spec"]["target"]["existingCluster"] == "Fail"  # schema default

    listed = api.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)
    assert listed["apiVersion"] == f"{GROUP}/{VERSION}"
    assert listed["kind"] == "AuroraRestoreList"
    assert int(listed["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])
    assert [item["metadata"]["name"] for item in listed["items"]] == ["r1"]

    # /status changes only the status.
    patched = api.patch_namespaced_custom_object_status(
        GROUP, VERSION, NS, PLURAL, "r1", {"status": {"phase": "Pending"}, "spec": {"x": 1}}
    )
    assert patched["status"] == {"phase": "Pending"}
    assert "x" not in patched["spec"]
    assert patched["metadata"]["generation"] == 1
    assert int(patched["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])

    # The object ignores status changes; a spec change bumps the generation.
    patched = api.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "r1", {"spec": {"x": 2}, "status": {"phase": "Nope"}}
    )
    assert patched["status"] == {"phase": "Pending"}
    assert patched["spec"]["x"] == 2
    assert patched["metadata"]["generation"] == 2

    # Metadata changes keep the generation; a no-op keeps the resourceVersion.
    patched = api.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "r1", {"metadata": {"labels": {"a": "b"}}}
    )
    assert patched["metadata"]["generation"] == 2
    again = api.patch_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, "r1", {"metadata": {"labels": {"a": "b"}}}
    )
    assert again["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]

    fetched = api.get_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, "r1")
    assert fetched["status"] == {"phase": "Pending"}
    assert kube.get("ar", "r1", NS)["metadata"]["labels"] == {"a": "b"}

    api.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "r1")
    with pytest.raises(kubernetes.client.ApiException) as error:
        api.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "r1")
    assert error.value.status == 404
    assert json.loads(error.value.body)["reason"] == "NotFound"


def test_generate_name_and_conflicts(kube: KubeSandbox):
    body = restore()
    body["metadata"] = {"generateName": "nightly-"}
    status, first = http(kube, "POST", BASE, body)
    status2, second = http(kube, "POST", BASE, body)
    assert (status, status2) == (201, 201)
    assert first["metadata"]["name"].startswith("nightly-")
    assert first["metadata"]["name"] != second["metadata"]["name"]

    assert http(kube, "POST", BASE, restore("r1"))[0] == 201
    status, error = http(kube, "POST", BASE, restore("r1"))
    assert (status, error["reason"]) == (409, "AlreadyExists")

    stale = {"metadata": {"resourceVersion": "1"}, "spec": {"x": 1}}
    status, error = http(kube, "PATCH", f"{BASE}/r1", stale, "application/merge-patch+json")
    assert (status, error["reason"]) == (409, "Conflict")


def test_json_patch_with_a_failed_test_is_422(kube: KubeSandbox):
    http(kube, "POST", BASE, restore())
    ops = [
        {"op": "test", "path": "/spec/target/region", "value": "eu-west-1"},
        {"op": "replace", "path": "/spec/target/region", "value": "eu-central-1"},
    ]
    status, error = http(kube, "PATCH", f"{BASE}/r1", ops, "application/json-patch+json")
    assert (status, error["kind"], error["reason"]) == (422, "Status", "Invalid")
    assert kube.get("ar", "r1", NS)["spec"]["target"]["region"] == "us-west-2"

    ops[0]["value"] = "us-west-2"
    status, patched = http(kube, "PATCH", f"{BASE}/r1", ops, "application/json-patch+json")
    assert (status, patched["spec"]["target"]["region"]) == (200, "eu-central-1")

    status_ops = [{"op": "add", "path": "/status", "value": {"phase": "Pending"}}]
    status, patched = http(
        kube, "PATCH", f"{BASE}/r1/status", status_ops, "application/json-patch+json"
    )
    assert (status, patched["status"]) == (200, {"phase": "Pending"})


def test_finalizers_hold_the_object_until_emptied(kube: KubeSandbox):
    _, created = http(kube, "POST", BASE, restore())
    since = created["metadata"]["resourceVersion"]
    finalizers = {"metadata": {"finalizers": ["dbrestore.io/cleanup"]}}
    http(kube, "PATCH", f"{BASE}/r1", finalizers, "application/merge-patch+json")

    status, deleting = http(kube, "DELETE", f"{BASE}/r1")
    assert status == 200
    assert deleting["metadata"]["deletionTimestamp"]
    assert kube.get("ar", "r1", NS)["metadata"]["deletionTimestamp"]
    more = {"metadata": {"finalizers": ["dbrestore.io/cleanup", "another"]}}
    status, _ = http(kube, "PATCH", f"{BASE}/r1", more, "application/merge-patch+json")
    assert status == 422  # no new finalizers on an object being deleted

    release = {"metadata": {"finalizers": None}}
    status, _ = http(kube, "PATCH", f"{BASE}/r1", release, "application/merge-patch+json")
    assert status == 200
    assert kube.get("ar", "r1", NS) is None

    events = watch_events(kube, f"resourceVersion={since}&timeoutSeconds=0.3")
    assert [event["type"] for event in events] == ["MODIFIED", "MODIFIED", "DELETED"]
    assert events[-1]["object"]["metadata"]["deletionTimestamp"]


def test_watch_streams_and_resumes_from_a_resource_version(kube: KubeSandbox):
    _, listed = http(kube, "GET", BASE)
    since = listed["metadata"]["resourceVersion"]
    received: list[dict] = []

    def watch() -> None:
        received.extend(watch_events(kube, "timeoutSeconds=1"))

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.2)
    http(kube, "POST", BASE, restore("r1"))
    http(
        kube,
        "PATCH",
        f"{BASE}/r1/status",
        {"status": {"phase": "Pending"}},
        "application/merge-patch+json",
    )
    http(kube, "DELETE", f"{BASE}/r1")
    watcher.join()
    assert [event["type"] for event in received] == ["ADDED", "MODIFIED", "DELETED"]

    # Resuming replays exactly what happened after the given version.
    replayed = watch_events(kube, f"resourceVersion={since}&timeoutSeconds=0.2")
    assert [event["object"]["metadata"]["resourceVersion"] for event in replayed] == [
        event["object"]["metadata"]["resourceVersion"] for event in received
    ]
    # Without a version, a watch starts with the current objects.
    http(kube, "POST", BASE, restore("r2"))
    current = watch_events(kube, "timeoutSeconds=0.2")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in current] == [("ADDED", "r2")]
    # The initial events of a watch-list end with a bookmark.
    initial = watch_events(
        kube, "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=0.2"
    )
    assert [event["type"] for event in initial] == ["ADDED", "BOOKMARK"]


def test_watch_from_a_forgotten_version_is_gone(crd_path: Path):
    with KubeSandbox(crds=[crd_path], watch_log_limit=2) as kube:
        for name in ("a", "b", "c", "d"):
            http(kube, "POST", BASE, restore(name))
        events = watch_events(kube, "resourceVersion=1&timeoutSeconds=1")
        assert len(events) == 1
        assert events[0]["type"] == "ERROR"
        assert events[0]["object"]["code"] == 410


def test_selectors(kube: KubeSandbox):
    for name, team in (("a", "blue"), ("b", "green"), ("c", "blue")):
        body = restore(name)
        body["metadata"]["labels"] = {"team": team}
        http(kube, "POST", BASE, body)

    def names(query: str) -> list[str]:
        return [
            item["metadata"]["name"] for item in http(kube, "GET", f"{BASE}?{query}")[1]["items"]
        ]

    assert names("labelSelector=team%3Dblue") == ["a", "c"]
    assert names("labelSelector=team%20in%20(green,red)") == ["b"]
    assert names("labelSelector=team!%3Dblue") == ["b"]
    assert names("fieldSelector=metadata.name%3Dc") == ["c"]


def test_core_resources(kube: KubeSandbox, kube_client):
    core = kubernetes.client.CoreV1Api(kube_client)
    assert {ns.metadata.name for ns in core.list_namespace().items} >= {"default", "kube-system"}
    core.create_namespace({"metadata": {"name": "databases"}})
    assert core.read_namespace("databases").status.phase == "Active"

    secret = core.create_namespaced_secret(
        "databases", {"metadata": {"name": "staging-master"}, "stringData": {"password": "pw"}}
    )
    assert secret.data == {"password": "cHc="} and secret.type == "Opaque"
    core.create_namespaced_config_map(
        "databases", {"metadata": {"name": "mask-pii"}, "data": {"mask.sql": "select 1;"}}
    )
    assert core.read_namespaced_config_map("mask-pii", "databases").data["mask.sql"] == "select 1;"

    event = core.create_namespaced_event(
        "databases",
        {
            "metadata": {"generateName": "staging-refresh."},
            "involvedObject": {
                "kind": "AuroraRestore",
                "name": "staging-refresh",
                "namespace": "databases",
            },
            "reason": "PhaseChanged",
            "message": "Restoring the cluster.",
            "type": "Normal",
        },
    )
    assert event.metadata.name.startswith("staging-refresh.")
    found = core.list_namespaced_event(
        "databases", field_selector="involvedObject.name=staging-refresh"
    )
    assert [item.reason for item in found.items] == ["PhaseChanged"]

    # A namespace takes its objects with it.
    core.delete_namespace("databases")
    assert kube.list("secrets", "databases") == []


def test_owner_references_are_garbage_collected(kube: KubeSandbox):
    _, owner = http(kube, "POST", BASE, restore("owner"))
    child = restore("child")
    child["metadata"]["ownerReferences"] = [
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AuroraRestore",
            "name": "owner",
            "uid": owner["metadata"]["uid"],
        }
    ]
    http(kube, "POST", BASE, child)
    http(kube, "DELETE", f"{BASE}/owner")
    assert kube.list("ar", NS) == []


def test_crds_come_and_go_through_the_api(kube: KubeSandbox, crd_path: Path):
    crd = yaml.safe_load(crd_path.read_text())
    crd["metadata"]["name"] = "widgets.example.com"
    crd["spec"]["group"] = "example.com"
    crd["spec"]["names"] = {"kind": "Widget", "plural": "widgets", "singular": "widget"}
    assert http(kube, "GET", "/apis/example.com/v1alpha1/namespaces/default/widgets")[0] == 404

    status, created = http(
        kube, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd
    )
    assert status == 201
    assert {c["type"]: c["status"] for c in created["status"]["conditions"]}[
        "Established"
    ] == "True"
    _, discovery = http(kube, "GET", "/apis/example.com/v1alpha1")
    assert [r["name"] for r in discovery["resources"]] == ["widgets", "widgets/status"]
    widget = {"apiVersion": "example.com/v1alpha1", "kind": "Widget", "metadata": {"name": "w"}}
    assert (
        http(kube, "POST", "/apis/example.com/v1alpha1/namespaces/default/widgets", widget)[0]
        == 201
    )

    http(
        kube,
        "DELETE",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
    )
    assert http(kube, "GET", "/apis/example.com/v1alpha1/namespaces/default/widgets")[0] == 404


def test_injected_errors_leave_the_state_alone(kube: KubeSandbox):
    http(kube, "POST", BASE, restore())
    undo = kube.inject_error(503, method="PATCH", path_prefix=BASE, times=1)
    merge = "application/merge-patch+json"
    status, error = http(kube, "PATCH", f"{BASE}/r1", {"spec": {"x": 1}}, merge)
    assert (status, error["code"]) == (503, 503)
    assert "x" not in kube.get("ar", "r1", NS)["spec"]
    assert http(kube, "PATCH", f"{BASE}/r1", {"spec": {"x": 2}}, merge)[0] == 200
    undo()
    assert kube.get("ar", "r1", NS)["spec"]["x"] == 2


def test_the_request_log_does_not_grow(kube: KubeSandbox):
    for _ in range(20):
        http(kube, "GET", BASE)
    assert kube.call(lambda emulator: len(emulator._requests)) == 0
    assert kube.api_calls()[("list", PLURAL)] == 20


def test_kubectl_get_apply_and_wait(
    kube: KubeSandbox, kubeconfig: Path, kubectl: str, tmp_path: Path
):
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [kubectl, *args], env=env, input=stdin, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    manifest = yaml.safe_dump(restore("staging-refresh"))
    assert "created" in run("apply", "-f", "-", stdin=manifest)
    assert "unchanged" in run("apply", "-f", "-", stdin=manifest)
    secret = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "staging-master"},
            "stringData": {"password": "pw"},
        }
    )
    assert "created" in run("apply", "-f", "-", stdin=secret)

    # Typed commands send protobuf.
    assert "created" in run("create", "namespace", "databases")
    assert "created" in run(
        "create", "secret", "generic", "app-db", "-n", "databases", "--from-literal=password=pw"
    )
    assert kube.get("secrets", "app-db", "databases")["data"] == {"password": "cHc="}

    table = run("get", "ar")
    assert table.split("\n")[0].split() == ["NAME", "PHASE", "TARGET", "AGE"]
    assert "staging-refresh" in table and "staging" in table
    assert "us-west-2" in run("get", "aurorarestores", "-o", "wide")
    assert (
        run("get", "ar", "staging-refresh", "-o", "jsonpath={.spec.target.region}") == "us-west-2"
    )

    def complete() -> None:
        time.sleep(0.5)
        ready = {"phase": "Completed", "conditions": [{"type": "Ready", "status": "True"}]}
        kube.patch_status("ar", "staging-refresh", ready, NS)

    threading.Thread(target=complete).start()
    assert "condition met" in run(
        "wait", "--for=condition=Ready", "ar/staging-refresh", "--timeout=10s"
    )
    assert "Completed" in run("get", "ar")
    assert "deleted" in run("delete", "ar", "staging-refresh")


def test_kopf_operator_in_process(kube: KubeSandbox, kopf_operator_path: Path, monkeypatch):
    monkeypatch.setenv("SANDBOX_KUBE_URL", kube.url)
    args = ["run", "--standalone", "--namespace", NS, str(kopf_operator_path)]
    # kopf makes the runner's registry the process-wide default: keep these test
    # handlers away from whatever runs kopf in this process later.
    previous = kopf.get_default_registry()
    try:
        with kopf.testing.KopfRunner(args, timeout=30, registry=kopf.OperatorRegistry()) as runner:
            kube.create("ar", restore("r1"), NS)
            wait_for(
                lambda: (kube.get("ar", "r1", NS).get("status") or {}).get("phase") == "Completed"
            )
            obj = kube.get("ar", "r1", NS)
            assert obj["status"]["created"] == {"region": "us-west-2"}
            assert obj["status"]["ticks"] >= 2
            assert obj["metadata"]["finalizers"] == ["sandbox.dbrestore.io/finalizer"]
            assert "Accepted" in {event["reason"] for event in kube.list("events", NS)}

            kube.delete("ar", "r1", NS)
            wait_for(lambda: kube.get("ar", "r1", NS) is None)
    finally:
        kopf.set_default_registry(previous)
    assert runner.exit_code == 0
    assert runner.exception is None


def test_kopf_operator_as_a_process_with_a_kubeconfig(
    kube: KubeSandbox, kubeconfig: Path, kopf_operator_path: Path
):
    env = {key: value for key, value in os.environ.items() if key != "SANDBOX_KUBE_URL"}
    env["KUBECONFIG"] = str(kubeconfig)
    command = [
        sys.executable,
        "-m",
        "kopf",
        "run",
        "--standalone",
        "--namespace",
        NS,
        str(kopf_operator_path),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        kube.create("ar", restore("r1"), NS)
        wait_for(
            lambda: (kube.get("ar", "r1", NS).get("status") or {}).get("phase") == "Completed",
            timeout=20,
        )
        kube.delete("ar", "r1", NS)
        wait_for(lambda: kube.get("ar", "r1", NS) is None)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert "Traceback" not in stderr


def test_runs_in_the_foreground(tmp_path: Path, crd_path: Path, kubectl: str):
    crds = tmp_path / "crds"
    crds.mkdir()
    (crds / "aurorarestore.yaml").write_text(crd_path.read_text())
    kubeconfig = tmp_path / "kubeconfig"
    command = [
        sys.executable,
        "-m",
        "aurora_restore_sandbox.kube",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
        "--crds",
        str(crds),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(2)]
        assert lines[0] == f"KUBECONFIG={kubeconfig}"
        assert lines[1].startswith("KUBE_API_URL=http://127.0.0.1:")
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
        done = subprocess.run(
            [kubectl, "get", "ar"], env=env, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        assert "No resources found" in done.stderr
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_printer_column_helpers():
    obj = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "Failed", "status": "False"},
            ]
        }
    }
    assert jsonpath_value(obj, '.status.conditions[?(@.type=="Failed")].status') == "False"
    assert jsonpath_value(obj, ".status.conditions[0].type") == "Ready"
    assert jsonpath_value(obj, ".spec.missing") is None
    assert [human_duration(s) for s in (5, 150, 3600 * 5 + 60 * 7, 3600 * 30, 86400 * 3)] == [
        "5s",
        "2m30s",
        "5h7m",
        "30h",
        "3d",
    ]


@pytest.mark.kmock(cls=SandboxEmulator)
async def test_works_as_the_kmock_pytest_fixture(kmock: SandboxEmulator, crd_path: Path):
    # kmock's own fixture serves the subclass in the test's event loop.
    kmock.register_crd(yaml.safe_load(crd_path.read_text()))
    response = await kmock.post(BASE, json=restore())
    assert response.status == 201
    response = await kmock.get(f"/api/v1/namespaces/{NS}")
    assert (await response.json())["metadata"]["name"] == NS
    assert kmock.get_object(kmock.resolve("ar"), NS, "r1")["metadata"]["generation"] == 1
