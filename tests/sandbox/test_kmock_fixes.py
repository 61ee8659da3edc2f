"""The general kmock fixes of the Kubernetes stand-in, each on its own (no server), and the
Status answers the emulator gives for what they refuse."""

import base64
import json
import urllib.error
import urllib.request

import kmock
import pytest

from aurora_restore_sandbox.kube import KubeSandbox
from aurora_restore_sandbox.kube.crds import established_status, served_versions
from aurora_restore_sandbox.kube.objects import ApiError, apply_patch
from aurora_restore_sandbox.kube.protobuf import (
    ProtobufDecodeError,
    UnsupportedProtobuf,
    decode_k8s_protobuf,
)
from aurora_restore_sandbox.kube.selectors import SelectorError, field_selector, label_selector
from aurora_restore_sandbox.kube.tables import render_table
from aurora_restore_sandbox.kube.watch import Watcher, WatchHub

# --- a protobuf writer, the inverse of the decoder under test -----------------------------


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def _bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _text(number: int, value: str) -> bytes:
    return _bytes(number, value.encode())


def _entry(number: int, key: str, value: bytes) -> bytes:
    return _bytes(number, _text(1, key) + _bytes(2, value))


def _envelope(api: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + _bytes(1, _text(1, api) + _text(2, kind)) + _bytes(2, raw)


def test_protobuf_secret_and_namespace():
    meta = _text(1, "db") + _text(3, "team-a") + _entry(11, "app", b"shop")
    secret = _bytes(1, meta) + _entry(2, "password", b"\x00s3cret") + _text(3, "Opaque")
    secret += _entry(4, "user", b"app")
    assert decode_k8s_protobuf(_envelope("v1", "Secret", secret)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "team-a", "labels": {"app": "shop"}},
        "data": {"password": base64.b64encode(b"\x00s3cret").decode()},
        "type": "Opaque",
        "stringData": {"user": "app"},
    }
    owner = _text(1, "Thing") + _text(3, "t") + _text(4, "u-1") + _text(5, "x.io/v1")
    owner += _varint(6 << 3 | 0) + _varint(1)
    meta = _text(1, "ns") + _text(2, "") + _bytes(13, owner) + _text(14, "f1")
    namespace = _bytes(1, meta) + _bytes(2, _text(1, "kubernetes"))
    assert decode_k8s_protobuf(_envelope("v1", "Namespace", namespace)) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "ns",  # the empty generateName is left out
            "ownerReferences": [
                {
                    "apiVersion": "x.io/v1",
                    "kind": "Thing",
                    "name": "t",
                    "uid": "u-1",
                    "controller": True,
                }
            ],
            "finalizers": ["f1"],
        },
        "spec": {"finalizers": ["kubernetes"]},
    }


def test_protobuf_refusals():
    with pytest.raises(UnsupportedProtobuf, match="not a Kubernetes protobuf envelope"):
        decode_k8s_protobuf(b'{"kind": "Secret"}')
    with pytest.raises(UnsupportedProtobuf, match="apps/v1 Deployment"):
        decode_k8s_protobuf(_envelope("apps/v1", "Deployment", b""))
    whole = _envelope("v1", "ConfigMap", _bytes(1, _text(1, "cm")))
    for broken in (
        whole[:-2],  # ends inside a field
        _envelope("v1", "ConfigMap", _bytes(1, _bytes(1, b"\xff"))),  # a name not UTF-8
        _envelope("v1", "ConfigMap", _varint(1 << 3 | 3)),  # a group: wire type 3
    ):
        with pytest.raises(ProtobufDecodeError, match="cannot decode"):
            decode_k8s_protobuf(broken)


def test_label_selector_operators():
    labels = {"team": "blue", "tier": "db"}
    cases = {
        "team=blue": True,
        "team==blue": True,
        "team!=blue": False,
        "team in (green, blue)": True,
        "team notin (green,blue)": False,
        "tier": True,
        "!tier": False,
        "!owner": True,
        "team=blue,tier=web": False,
        "team in (blue),tier notin (web)": True,
    }
    assert {selector: label_selector(selector)(labels) for selector in cases} == cases
    with pytest.raises(SelectorError, match="unable to parse requirement"):
        label_selector("team=(blue")


def test_field_selector():
    obj = {"metadata": {"name": "a", "namespace": "n"}, "involvedObject": {"name": "x"}}
    assert field_selector("metadata.name=a,involvedObject.name==x")(obj)
    assert not field_selector("metadata.namespace!=n")(obj)
    assert field_selector("spec.missing=")(obj)
    with pytest.raises(SelectorError, match="invalid field selector"):
        field_selector("metadata.name")


def test_table_with_printer_columns_and_without():
    obj = {
        "metadata": {"name": "r1", "creationTimestamp": "2000-01-01T00:00:00Z"},
        "status": {"phase": "Ready", "steps": ["a"]},
    }
    columns = [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Steps", "type": "string", "jsonPath": ".status.steps", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    table = render_table([obj], columns, "7")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Phase", "Steps", "Age"]
    assert all("jsonPath" not in c for c in table["columnDefinitions"])
    name, phase, steps, age = table["rows"][0]["cells"]
    assert (name, phase, steps) == ("r1", "Ready", '["a"]')
    assert age.endswith("y")  # decades ago, in kubectl's units
    assert table["metadata"] == {"resourceVersion": "7"}
    plain = render_table([obj])
    assert [c["name"] for c in plain["columnDefinitions"]] == ["Name", "Age"]


def _change(rv: int, name: str) -> dict:
    return {"metadata": {"name": name, "namespace": "n", "resourceVersion": str(rv)}}


def test_watch_hub_replays_and_expires():
    hub = WatchHub(log_limit=2)
    watcher = Watcher("n", None, None, None)
    for rv, name in ((1, "a"), (2, "b"), (3, "c")):
        hub.publish("things", "ADDED", _change(rv, name))
    assert [e["object"]["metadata"]["name"] for e in hub.since("things", 1, watcher)] == ["b", "c"]
    assert hub.since("things", 0, watcher) is None  # version 1 has left the log
    only_c = Watcher("n", "c", None, None)
    assert [e["object"]["metadata"]["name"] for e in hub.since("things", 1, only_c)] == ["c"]
    hub.watchers["things"].add(watcher)
    hub.publish("things", "MODIFIED", _change(4, "a"))
    assert watcher.queue.get_nowait()["type"] == "MODIFIED"
    assert hub.drop() == 1 and watcher.queue.get_nowait() is None
    assert not hub.closing


def test_crd_versions_and_status():
    crd = {
        "metadata": {"name": "things.x.io"},
        "spec": {
            "group": "x.io",
            "scope": "Cluster",
            "names": {"plural": "things", "kind": "Thing", "shortNames": ["th"]},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "subresources": {"status": {}}},
                {"name": "v0", "served": False},
            ],
        },
    }
    served, storage = served_versions(crd)
    assert storage == ["v1"]
    [(resource, info, version)] = served
    assert resource == kmock.resource("x.io", "v1", "things")
    assert (info.namespaced, info.kind, info.singular) == (False, "Thing", "thing")
    assert info.shortnames == {"th"} and info.subresources == {"status"}
    assert version.crd_name == "things.x.io"
    status = established_status(crd, storage)
    assert [c["type"] for c in status["conditions"]] == ["NamesAccepted", "Established"]
    crd["status"] = status
    assert established_status(crd, storage) == status  # re-applied: the same times
    with pytest.raises(ApiError) as refused:
        served_versions({"metadata": {"name": "x"}, "spec": {"group": "x.io"}})
    assert refused.value.code == 422


def test_patches_by_content_type():
    current = {"spec": {"a": 1, "b": {"c": 2}}}
    merged = apply_patch(current, {"spec": {"b": 3, "a": None}}, "application/merge-patch+json")
    assert merged == {"spec": {"b": 3}} and current == {"spec": {"a": 1, "b": {"c": 2}}}
    ops = [{"op": "replace", "path": "/spec/a", "value": 5}]
    assert apply_patch(current, ops, "application/json-patch+json")["spec"]["a"] == 5
    for body, content_type, code in (
        ([{"op": "test", "path": "/spec/a", "value": 9}], "application/json-patch+json", 422),
        ({"op": "add"}, "application/json-patch+json", 400),
        ([], "application/merge-patch+json", 400),
        ({}, "text/plain", 415),
    ):
        with pytest.raises(ApiError) as refused:
            apply_patch(current, body, content_type)
        assert refused.value.code == code, (body, content_type)


def _post(kube: KubeSandbox, path: str, data: bytes, content_type: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        kube.url + path, data=data, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_emulator_answers_refusals_as_status(kube: KubeSandbox):
    protobuf = "application/vnd.kubernetes.protobuf"
    deployment = _envelope("apps/v1", "Deployment", b"")
    code, status = _post(kube, "/api/v1/namespaces/default/secrets", deployment, protobuf)
    assert (code, status["reason"]) == (415, "UnsupportedMediaType")
    broken = _envelope("v1", "Secret", _bytes(1, _text(1, "s")))[:-2]
    code, status = _post(kube, "/api/v1/namespaces/default/secrets", broken, protobuf)
    assert (code, status["reason"], status["kind"]) == (400, "BadRequest", "Status")
    good = _envelope("v1", "Secret", _bytes(1, _text(1, "s")) + _entry(4, "k", b"v"))
    code, created = _post(kube, "/api/v1/namespaces/default/secrets", good, protobuf)
    assert code == 201 and created["data"] == {"k": base64.b64encode(b"v").decode()}
    for query in ("labelSelector=team%3D(blue", "fieldSelector=metadata.name"):
        try:
            urllib.request.urlopen(f"{kube.url}/api/v1/namespaces/default/secrets?{query}")
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
            assert json.loads(exc.read())["reason"] == "BadRequest"
        else:
            raise AssertionError(f"{query} was accepted")
