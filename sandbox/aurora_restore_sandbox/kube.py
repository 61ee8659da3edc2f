"""Kubernetes API stand-in: kmock's KubernetesEmulator, made stateful enough
for kopf, the ``kubernetes`` client and kubectl, served over real HTTP on
127.0.0.1.

kmock 0.8 (pinned in pyproject.toml) brings the HTTP plumbing, request
parsing, API discovery and the bundled list of built-in resources. Its
emulator merges dicts and little more, so :class:`SandboxEmulator` serves
every resource request itself, the way a real API server would:

- create: ``uid``, ``resourceVersion``, ``generation``, ``creationTimestamp``,
  ``generateName``, 201, 409 on a clash; status is dropped when the
  resource has a status subresource;
- patch (merge, strategic-merge treated as merge, JSON-patch with 422 on a
  failed ``test``, apply treated as merge) and replace, on the object and on
  ``/status``: the object ignores status changes and ``/status`` ignores the
  rest; ``resourceVersion`` moves on every real change and not on no-ops;
  ``generation`` moves on changes outside metadata and status;
- delete: finalizers hold the object with a ``deletionTimestamp`` until a
  patch empties them; owner references are garbage-collected in the
  background; deleting a CRD deletes its objects; deleting a namespace
  deletes what is in it;
- list with ``apiVersion``, ``kind``, ``metadata.resourceVersion``, label and
  field selectors, and ``as=Table`` for kubectl (with the CRD's printer
  columns);
- watch as ``application/json`` lines, resuming from ``resourceVersion``
  (410 Gone when too old), ``sendInitialEvents``, ``timeoutSeconds``;
- CRDs (registered directly or created through the API) become discoverable
  and ``Established``, and get their schema's defaults applied;
- Secrets fold ``stringData`` into ``data``;
- kubectl's typed commands (``create namespace|secret|configmap``) send
  protobuf, which is decoded for those three kinds;
- ``/openapi/v2`` is an empty document, enough for kubectl's validation.

It checks no schemas and no permissions, and namespaces need not exist.
The request log that kmock keeps for assertions is dropped after each
request (``keep_requests=True`` keeps it), because kmock re-filters the whole
log on every request and a long run slows down quadratically. Core Events
are capped at ``event_limit``, the oldest dropped first, as a real cluster
expires them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import copy
import gzip
import importlib.resources
import json
import math
import pathlib
import random
import re
import signal
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp.web
import attrs
import jsonpatch
import kmock
import yaml
from kmock._internal import parsing as kmock_parsing

T = TypeVar("T")
Obj = dict[str, Any]
Key = tuple[kmock.resource, str | None, str]

CRD_RESOURCE = kmock.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
NAMESPACES = kmock.resource("", "v1", "namespaces")
SECRETS = kmock.resource("", "v1", "secrets")
CORE_EVENTS = kmock.resource("", "v1", "events")
EVENTS = kmock.resource("events.k8s.io", "v1", "events")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CRD_VERBS = ("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")
# The alphabet Kubernetes uses for generateName suffixes (no vowels, no look-alikes).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_parse_path_original = kmock_parsing.parse_path


def _parse_path(path: str) -> kmock_parsing.ParsedPath:
    """kmock's parser, except for namespaces themselves.

    kmock reads ``/api/v1/namespaces/x`` as "namespace x, no resource" and
    fails on ``/api/v1/namespaces``.
    """
    parts = path.strip("/").split("/")
    if len(parts) in (3, 4, 5) and parts[0] == "api" and parts[2] == "namespaces":
        if len(parts) < 5 or parts[4] in ("status", "finalize"):
            name = parts[3] if len(parts) >= 4 else None
            sub = parts[4] if len(parts) == 5 else None
            return kmock_parsing.ParsedPath("", parts[1], "namespaces", None, name, sub)
    return _parse_path_original(path)


def _install_parsing_fix() -> None:
    # kmock's Request looks the function up in its module on every request.
    kmock_parsing.parse_path = _parse_path


class ApiError(Exception):
    """An error answered as a Kubernetes ``Status``."""

    def __init__(
        self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})

    def status(self) -> Obj:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def now_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_version(resource: kmock.resource) -> str:
    return f"{resource.group}/{resource.version}" if resource.group else str(resource.version)


def _qualified(resource: kmock.resource) -> str:
    return f"{resource.plural}.{resource.group}" if resource.group else str(resource.plural)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (kmock's refuses to replace a dict by a scalar)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_schema_defaults(value: Any, schema: Mapping[str, Any]) -> None:
    """Fill in ``default`` values of a structural schema, in place."""
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name, subschema in properties.items():
            if name not in value and "default" in subschema:
                value[name] = copy.deepcopy(subschema["default"])
            if name in value:
                apply_schema_defaults(value[name], subschema)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if name not in properties:
                    apply_schema_defaults(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_schema_defaults(item, schema["items"])


_LABEL_TERM = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_./-]+)\s*"
    r"(?:(?P<op>==|!=|=|\s+in\s+|\s+notin\s+)\s*(?P<value>\([^)]*\)|[A-Za-z0-9_.-]*))?\s*$"
)


def _split_selector(selector: str) -> list[str]:
    terms: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return terms


def label_selector(selector: str) -> Callable[[Mapping[str, str]], bool]:
    """A predicate over labels for a ``labelSelector`` query parameter."""
    checks: list[Callable[[Mapping[str, str]], bool]] = []
    for term in _split_selector(selector):
        match = _LABEL_TERM.match(term)
        if match is None:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
        key, op, raw = match["key"], (match["op"] or "").strip(), match["value"]
        if match["neg"]:
            checks.append(lambda labels, key=key: key not in labels)
        elif not op:
            checks.append(lambda labels, key=key: key in labels)
        elif op in ("=", "=="):
            checks.append(lambda labels, key=key, raw=raw: labels.get(key) == raw)
        elif op == "!=":
            checks.append(lambda labels, key=key, raw=raw: labels.get(key) != raw)
        else:
            values = {item.strip() for item in (raw or "").strip("()").split(",")}
            if op == "in":
                checks.append(lambda labels, key=key, values=values: labels.get(key) in values)
            else:
                checks.append(lambda labels, key=key, values=values: labels.get(key) not in values)
    return lambda labels: all(check(labels) for check in checks)


def _dotted(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def field_selector(selector: str) -> Callable[[Obj], bool]:
    """A predicate over objects for a ``fieldSelector`` query parameter."""
    checks: list[Callable[[Obj], bool]] = []
    for term in _split_selector(selector):
        if "!=" in term:
            path, value = term.split("!=", 1)
            checks.append(
                lambda obj, path=path.strip(), value=value.strip(): (
                    str(_dotted(obj, path) or "") != value
                )
            )
        elif "=" in term:
            path, value = term.replace("==", "=").split("=", 1)
            checks.append(
                lambda obj, path=path.strip(), value=value.strip(): (
                    str(_dotted(obj, path) or "") == value
                )
            )
        else:
            raise ApiError(400, "BadRequest", f"invalid field selector: {term!r}")
    return lambda obj: all(check(obj) for check in checks)


_JSONPATH_TOKEN = re.compile(
    r"\.(?P<field>[A-Za-z0-9_-]+)"
    r"|\[(?P<index>\d+)\]"
    r"|\[\?\(@\.(?P<fkey>[A-Za-z0-9_.-]+)\s*==\s*[\"'](?P<fvalue>[^\"']*)[\"']\)\]"
)


def jsonpath_value(obj: Obj, path: str) -> Any:
    """The first match of the simple JSONPath of a CRD printer column."""
    values: list[Any] = [obj]
    position = 0
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    while position < len(path):
        token = _JSONPATH_TOKEN.match(path, position)
        if token is None:
            return None
        position = token.end()
        found: list[Any] = []
        for value in values:
            if token["field"] is not None and isinstance(value, dict):
                if token["field"] in value:
                    found.append(value[token["field"]])
            elif token["index"] is not None and isinstance(value, list):
                index = int(token["index"])
                if index < len(value):
                    found.append(value[index])
            elif token["fkey"] is not None and isinstance(value, list):
                found.extend(
                    item for item in value if str(_dotted(item, token["fkey"])) == token["fvalue"]
                )
        values = found
    return values[0] if values else None


def human_duration(seconds: float) -> str:
    """How kubectl and the API server print ages (k8s.io/apimachinery duration)."""
    s = int(seconds)
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = divmod(hours // 24, 365)
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def _version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes' order of versions: GA before beta before alpha, newest first."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if match is None:
        return (3, 0, 0, version)
    stability = {None: 0, "beta": 1, "alpha": 2}[match[2]]
    return (stability, -int(match[1]), -int(match[3] or 0), version)


def _age(timestamp: Any) -> str:
    if not isinstance(timestamp, str):
        return "<unknown>"
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    return human_duration((datetime.now(UTC) - moment).total_seconds())


# --- protobuf ---------------------------------------------------------------
# kubectl's typed commands (create namespace/secret/configmap) send protobuf,
# not JSON. These few kinds are decoded by hand from their generated.proto
# field numbers; anything else is answered 415.

_ProtoFields = dict[int, list[Any]]


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _proto_fields(data: bytes) -> _ProtoFields:
    fields: _ProtoFields = collections.defaultdict(list)
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 2:
            length, position = _varint(data, position)
            value, position = data[position : position + length], position + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, position = data[position : position + size], position + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields[number].append(value)
    return fields


def _text(fields: _ProtoFields, number: int) -> str | None:
    return fields[number][-1].decode() if fields.get(number) else None


def _texts(fields: _ProtoFields, number: int) -> list[str]:
    return [value.decode() for value in fields.get(number, [])]


def _proto_map(fields: _ProtoFields, number: int, binary: bool = False) -> dict[str, str]:
    result: dict[str, str] = {}
    for entry in fields.get(number, []):
        item = _proto_fields(entry)
        value = item[2][-1] if item.get(2) else b""
        key = _text(item, 1) or ""
        result[key] = base64.b64encode(value).decode() if binary else value.decode()
    return result


def _proto_meta(data: bytes) -> Obj:
    fields = _proto_fields(data)
    meta: Obj = {}
    for number, name in ((1, "name"), (2, "generateName"), (3, "namespace")):
        if value := _text(fields, number):  # protobuf sends empty strings too
            meta[name] = value
    for number, name in ((11, "labels"), (12, "annotations")):
        if fields.get(number):
            meta[name] = _proto_map(fields, number)
    if fields.get(13):
        meta["ownerReferences"] = [
            {
                "apiVersion": _text(ref, 5),
                "kind": _text(ref, 1),
                "name": _text(ref, 3),
                "uid": _text(ref, 4),
                **({"controller": bool(ref[6][-1])} if ref.get(6) else {}),
            }
            for ref in map(_proto_fields, fields[13])
        ]
    if fields.get(14):
        meta["finalizers"] = _texts(fields, 14)
    return meta


def decode_k8s_protobuf(body: bytes) -> Obj:
    """A Namespace, Secret or ConfigMap from Kubernetes' protobuf envelope, as JSON."""
    if not body.startswith(b"k8s\x00"):
        raise ApiError(415, "UnsupportedMediaType", "not a Kubernetes protobuf envelope")
    try:
        unknown = _proto_fields(body[4:])
        type_meta = _proto_fields(unknown[1][-1]) if unknown.get(1) else {}
        api, kind = _text(type_meta, 1), _text(type_meta, 2)
        raw = _proto_fields(unknown[2][-1]) if unknown.get(2) else {}
        obj: Obj = {"apiVersion": api, "kind": kind}
        if raw.get(1):
            obj["metadata"] = _proto_meta(raw[1][-1])
        if (api, kind) == ("v1", "Namespace"):
            spec = _proto_fields(raw[2][-1]) if raw.get(2) else {}
            if spec.get(1):
                obj["spec"] = {"finalizers": _texts(spec, 1)}
        elif (api, kind) == ("v1", "Secret"):
            obj["data"] = _proto_map(raw, 2, binary=True)
            obj["type"] = _text(raw, 3) or "Opaque"
            if raw.get(4):
                obj["stringData"] = _proto_map(raw, 4)
        elif (api, kind) == ("v1", "ConfigMap"):
            obj["data"] = _proto_map(raw, 2)
            if raw.get(4):
                obj["binaryData"] = _proto_map(raw, 4, binary=True)
        else:
            raise ApiError(415, "UnsupportedMediaType", f"protobuf {api} {kind} is not supported")
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequest", f"cannot decode the protobuf body: {exc}") from exc
    return obj


@attrs.define(eq=False)
class _CrdVersion:
    crd_name: str
    schema: Mapping[str, Any]
    columns: list[Mapping[str, Any]]


@attrs.define(eq=False)
class _Watcher:
    namespace: str | None
    name: str | None
    labels: Callable[[Mapping[str, str]], bool] | None
    fields: Callable[[Obj], bool] | None
    queue: asyncio.Queue[Obj | None] = attrs.field(factory=asyncio.Queue)

    def matches(self, obj: Obj) -> bool:
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if self.name is not None and meta.get("name") != self.name:
            return False
        if self.labels is not None and not self.labels(meta.get("labels") or {}):
            return False
        return self.fields is None or self.fields(obj)


@attrs.define(kw_only=True)
class SandboxEmulator(kmock.KubernetesEmulator):
    """A KubernetesEmulator that keeps objects the way an API server does.

    Use it inside a running event loop (``async with`` + an aiohttp server),
    or through :class:`KubeSandbox`, which runs it in a thread. Requests that
    match a user-defined kmock reaction (``emulator['patch', ...] << 500``)
    are served by that reaction instead, without touching the stored state.
    """

    history_limit: int = 5
    event_limit: int = 1000
    watch_log_limit: int = 2000
    keep_requests: bool = False

    api_calls: collections.Counter[tuple[str, str]] = attrs.field(
        factory=collections.Counter, init=False
    )
    _rv: int = attrs.field(default=0, init=False)
    _crd_versions: dict[kmock.resource, _CrdVersion] = attrs.field(factory=dict, init=False)
    _watchers: dict[kmock.resource, set[_Watcher]] = attrs.field(
        factory=lambda: collections.defaultdict(set), init=False
    )
    _watch_log: dict[kmock.resource, collections.deque[tuple[int, Obj]]] = attrs.field(
        factory=dict, init=False
    )
    _watch_floor: dict[kmock.resource, int] = attrs.field(factory=dict, init=False)
    _event_keys: collections.deque[Key] = attrs.field(factory=collections.deque, init=False)
    _closing: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        _install_parsing_fix()
        # kmock's load_bundled(), minus its deprecated importlib.resources call.
        bundled = importlib.resources.files("kmock._internal") / "resources.json.gz"
        self.resources.load_data(gzip.decompress(bundled.read_bytes()))
        for namespace in DEFAULT_NAMESPACES:
            self.create_object(NAMESPACES, {"metadata": {"name": namespace}})

    # --- direct access (call on the emulator's event loop) -----------------

    def register_crd(self, crd: Mapping[str, Any]) -> Obj:
        """Create or replace a CustomResourceDefinition, as ``kubectl apply`` would."""
        name = crd.get("metadata", {}).get("name")
        if not name:
            raise ValueError("A CRD needs metadata.name.")
        current = self._get((CRD_RESOURCE, None, name))
        if current is None:
            return self.create_object(CRD_RESOURCE, dict(crd))
        body = copy.deepcopy(dict(crd))
        body.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self._update(CRD_RESOURCE, current, body, subresource=None)

    def resolve(self, name: str) -> kmock.resource:
        """A registered resource by ``group/version/plural``, plural, short name or kind."""
        if "/" in name:
            resource = kmock.resource(name)
            if resource.plural and self._info(resource) is not None:
                return resource
            raise KeyError(name)
        lowered = name.lower()
        # Custom resources win, then the core group: as kubectl resolves short names.
        ranked = sorted(
            self.resources,
            key=lambda res: (res not in self._crd_versions, res.group != "", str(res.group)),
        )
        for resource in ranked:
            info = self.resources[resource]
            names = {resource.plural, info.singular, (info.kind or "").lower(), *info.shortnames}
            if lowered in names:
                return resource
        raise KeyError(name)

    def get_object(self, resource: kmock.resource, namespace: str | None, name: str) -> Obj | None:
        found = self._get((resource, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def list_objects(self, resource: kmock.resource, namespace: str | None = None) -> list[Obj]:
        return [copy.deepcopy(obj) for obj in self._live(resource, namespace)]

    def create_object(
        self, resource: kmock.resource, body: Obj, namespace: str | None = None
    ) -> Obj:
        info = self._require_info(resource)
        return self._create(resource, info, namespace, body, dry_run=False)

    def patch_object(
        self,
        resource: kmock.resource,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        subresource: str | None = None,
    ) -> Obj:
        """A merge patch, as ``PATCH`` with ``application/merge-patch+json`` does."""
        current = self._get((resource, namespace, name))
        if current is None:
            raise self._not_found(resource, name)
        return self._update(resource, current, merge_patch(current, dict(patch)), subresource)

    def patch_status(
        self, resource: kmock.resource, namespace: str | None, name: str, status: Mapping[str, Any]
    ) -> Obj:
        return self.patch_object(resource, namespace, name, {"status": dict(status)}, "status")

    def delete_object(self, resource: kmock.resource, namespace: str | None, name: str) -> Obj:
        """Delete as ``DELETE`` does: finalizers hold it, dependents follow it."""
        return self._delete(resource, namespace, name, {})

    def shutdown_watches(self) -> None:
        """End every open watch stream, so that the server can stop at once."""
        self._closing = True
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.queue.put_nowait(None)

    # --- discovery (kmock's says "/v1" for the core group and gives subresources
    # the short names of their resource, which kubectl then finds ambiguous) --

    def _group_versions(self) -> dict[str, list[str]]:
        groups: dict[str, set[str]] = collections.defaultdict(set)
        for resource in self.resources:
            if resource.plural and resource.version is not None and resource.group is not None:
                groups[resource.group].add(resource.version)
        return {
            group: sorted(versions, key=_version_priority) for group, versions in groups.items()
        }

    def _api_group(self, group: str, versions: list[str]) -> Obj:
        listed = [
            {"groupVersion": f"{group}/{version}", "version": version} for version in versions
        ]
        return {"name": group, "versions": listed, "preferredVersion": listed[0]}

    async def _serve_apis(self, request: kmock.Request) -> Any:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                self._api_group(group, versions)
                for group, versions in sorted(self._group_versions().items())
                if group
            ],
        }

    async def _serve_group(self, request: kmock.Request) -> Any:
        assert request.resource is not None
        versions = self._group_versions().get(str(request.resource.group))
        if not versions or not request.resource.group:
            raise kmock.KubernetesResourceNotFoundError()
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            **self._api_group(request.resource.group, versions),
        }

    async def _serve_version(self, request: kmock.Request) -> Any:
        assert request.resource is not None
        group, version = request.resource.group, request.resource.version
        found = sorted(
            (res for res in self.resources if res.group == group and res.version == version),
            key=lambda res: str(res.plural),
        )
        if not found and group != "":
            raise kmock.KubernetesResourceNotFoundError()
        entries: list[Obj] = []
        for resource in found:
            info = self.resources[resource]
            entries.append(
                {
                    "name": resource.plural,
                    "singularName": info.singular or "",
                    "namespaced": bool(info.namespaced),
                    "kind": info.kind,
                    "verbs": sorted(info.verbs),
                    "shortNames": sorted(info.shortnames),
                    "categories": sorted(info.categories),
                }
            )
            for sub in sorted(info.subresources):
                entries.append(
                    {
                        "name": f"{resource.plural}/{sub}",
                        "singularName": "",
                        "namespaced": bool(info.namespaced),
                        "kind": info.kind if sub == "status" else sub.capitalize(),
                        "verbs": ["get", "patch", "update"]
                        if sub in ("status", "scale")
                        else ["get"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": entries,
        }

    # --- request dispatch ---------------------------------------------------

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        try:
            if request.url.path in ("/openapi/v2", "/swagger-2.0.0.pb-v1"):
                # An empty protobuf document: kubectl needs one to validate (and skips
                # the kinds it does not describe).
                return aiohttp.web.Response(
                    body=b"",
                    content_type="application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                )
            if request.url.path == "/openapi/v3":
                return self._json({"paths": {}})
            resource = request.resource
            if resource is None or not resource.plural or self._user_reaction_matches(request):
                # Discovery, non-API paths and user reactions: kmock's own machinery.
                return await super(kmock.KubernetesEmulator, self)._handle(request)
            return await self._serve(request, resource)
        finally:
            if not self.keep_requests:
                try:
                    self._requests.remove(request)
                except ValueError:
                    pass

    def _user_reaction_matches(self, request: kmock.Request) -> bool:
        for payload in self._payloads:
            if any(priority == -math.inf for priority in payload.priorities):
                continue  # kmock's fallbacks, which this class replaces for resources
            if not payload._disabled.is_set() and request in payload._source:
                return True
        return False

    async def _serve(
        self, request: kmock.Request, resource: kmock.resource
    ) -> aiohttp.web.StreamResponse:
        try:
            info = self._require_info(resource)
            namespace = request.namespace
            if info.namespaced is False and namespace is not None:
                raise self._not_found_resource()
            sub = request.subresource
            if sub not in (None, "status"):
                raise self._not_found_resource()
            method = str(request.method.value).upper()
            verb = self._verb(request, method)
            self.api_calls[(verb, f"{resource.plural}/{sub}" if sub else str(resource.plural))] += 1
            params = request.params
            if verb == "watch":
                return await self._watch(request, resource, info)
            if verb == "list":
                return self._list_response(request, resource, info, namespace)
            if verb == "get":
                assert request.name is not None
                obj = self._get((resource, namespace, request.name))
                if obj is None:
                    raise self._not_found(resource, request.name)
                return self._json(self._maybe_table(request, resource, [obj], single=True))
            if verb == "create":
                body = self._body(request)
                obj = self._create(resource, info, namespace, body, dry_run="dryRun" in params)
                return self._json(obj, status=201)
            if verb in ("patch", "update"):
                assert request.name is not None
                obj = self._modify(request, resource, info, namespace, request.name, verb, sub)
                return self._json(obj)
            if verb == "delete":
                assert request.name is not None
                options = self._body(request, optional=True) or {}
                return self._json(self._delete(resource, namespace, request.name, options))
            if verb == "deletecollection":
                return self._json(self._delete_collection(request, resource, info, namespace))
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow {method} here")
        except ApiError as exc:
            return self._json(exc.status(), status=exc.code)

    @staticmethod
    def _verb(request: kmock.Request, method: str) -> str:
        if request.action == kmock.action.WATCH:
            return "watch"
        if method == "GET":
            return "get" if request.name else "list"
        if method == "POST" and not request.name:
            return "create"
        if method == "PATCH" and request.name:
            return "patch"
        if method == "PUT" and request.name:
            return "update"
        if method == "DELETE":
            return "delete" if request.name else "deletecollection"
        return method.lower()

    # --- helpers ------------------------------------------------------------

    @staticmethod
    def _json(payload: Any, status: int = 200) -> aiohttp.web.Response:
        return aiohttp.web.json_response(payload, status=status)

    @staticmethod
    def _header(request: kmock.Request, name: str) -> str:
        for key, value in request.headers.items():
            if key.lower() == name.lower():
                return str(value)
        return ""

    def _body(self, request: kmock.Request, optional: bool = False) -> Any:
        if not request.body:
            if optional:
                return None
            raise ApiError(400, "BadRequest", "the request body is empty")
        content_type = self._header(request, "Content-Type")
        if "protobuf" in content_type:
            return decode_k8s_protobuf(request.body)
        if "cbor" in content_type:
            # client-go falls back to JSON on 415.
            raise ApiError(415, "UnsupportedMediaType", f"unsupported media type {content_type}")
        try:
            if "yaml" in content_type:
                return yaml.safe_load(request.body)
            return json.loads(request.body)
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError(400, "BadRequest", f"cannot decode the request body: {exc}") from exc

    def _info(self, resource: kmock.resource) -> kmock.ResourceInfo | None:
        return self.resources[resource] if resource in self.resources else None

    def _require_info(self, resource: kmock.resource) -> kmock.ResourceInfo:
        info = self._info(resource)
        if info is None:
            raise self._not_found_resource()
        return info

    @staticmethod
    def _not_found_resource() -> ApiError:
        return ApiError(404, "NotFound", "the server could not find the requested resource")

    @staticmethod
    def _not_found(resource: kmock.resource, name: str) -> ApiError:
        return ApiError(
            404,
            "NotFound",
            f'{_qualified(resource)} "{name}" not found',
            {"name": name, "group": resource.group, "kind": resource.plural},
        )

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _get(self, key: Key) -> Obj | None:
        if key not in self._objects:
            return None
        stored = self._objects[key]
        return None if stored.deleted else stored.last.raw

    def _live(self, resource: kmock.resource, namespace: str | None = None) -> Iterator[Obj]:
        for (res, ns, _), stored in self._objects.items():
            if res == resource and not stored.deleted and (namespace is None or ns == namespace):
                yield stored.last.raw

    def _store(self, key: Key, obj: Obj) -> None:
        if key not in self._objects:
            self._objects[key] = obj
            return
        stored = self._objects[key]
        if stored.deleted:
            stored.create(obj)
        else:
            stored.history.append(obj)
        self._trim(stored)

    def _trim(self, stored: kmock.Object) -> None:
        excess = len(stored.history) - self.history_limit
        if excess > 0:
            del stored.history[:excess]

    def _notify(self, resource: kmock.resource, kind: str, obj: Obj) -> None:
        rv = int(obj["metadata"]["resourceVersion"])
        event = {"type": kind, "object": obj}
        log = self._watch_log.setdefault(resource, collections.deque())
        log.append((rv, event))
        while len(log) > self.watch_log_limit:
            dropped_rv, _ = log.popleft()
            self._watch_floor[resource] = dropped_rv
        for watcher in self._watchers.get(resource, ()):
            if watcher.matches(obj):
                watcher.queue.put_nowait(event)

    def _tracks_generation(self, resource: kmock.resource, obj: Obj) -> bool:
        return resource in self._crd_versions or "spec" in obj

    @staticmethod
    def _spec_part(obj: Obj, has_status: bool) -> Obj:
        ignored = {"metadata", "status"} if has_status else {"metadata"}
        return {key: value for key, value in obj.items() if key not in ignored}

    def _normalise(self, resource: kmock.resource, obj: Obj) -> None:
        """What the API server adds or rewrites on every write."""
        if resource == SECRETS:
            string_data = obj.pop("stringData", None) or {}
            if string_data:
                data = dict(obj.get("data") or {})
                for key, value in string_data.items():
                    data[key] = base64.b64encode(str(value).encode()).decode()
                obj["data"] = data
            obj.setdefault("type", "Opaque")
        crd_version = self._crd_versions.get(resource)
        if crd_version is not None and crd_version.schema:
            apply_schema_defaults(obj, crd_version.schema)

    # --- create -------------------------------------------------------------

    def _create(
        self,
        resource: kmock.resource,
        info: kmock.ResourceInfo,
        namespace: str | None,
        body: Any,
        dry_run: bool,
    ) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the object must be a JSON/YAML mapping")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if info.namespaced:
            body_namespace = meta.get("namespace")
            if namespace and body_namespace and namespace != body_namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match "
                    "the namespace sent on the request",
                )
            meta["namespace"] = namespace or body_namespace or "default"
        else:
            meta.pop("namespace", None)
        name = meta.get("name")
        if not name and meta.get("generateName"):
            for _ in range(100):
                suffix = "".join(random.choices(_NAME_ALPHABET, k=5))
                candidate = f"{meta['generateName']}{suffix}"
                if self._get((resource, meta.get("namespace"), candidate)) is None:
                    name = candidate
                    break
        if not name:
            raise ApiError(
                422,
                "Invalid",
                f"{info.kind} is invalid: metadata.name: Required value: "
                "name or generateName is required",
            )
        meta["name"] = name
        key: Key = (resource, meta.get("namespace"), name)
        if self._get(key) is not None:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{_qualified(resource)} "{name}" already exists',
                {"name": name, "group": resource.group, "kind": resource.plural},
            )
        obj["apiVersion"] = api_version(resource)
        obj["kind"] = info.kind or obj.get("kind")
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_timestamp()
        if "status" in info.subresources:
            obj.pop("status", None)
        if self._tracks_generation(resource, obj):
            meta["generation"] = 1
        self._normalise(resource, obj)
        if resource == NAMESPACES:
            obj["status"] = {"phase": "Active"}
        if dry_run:
            return obj
        if resource == CRD_RESOURCE:
            self._activate_crd(obj)
        meta["resourceVersion"] = self._next_rv()
        self._store(key, obj)
        if resource in (CORE_EVENTS, EVENTS):
            self._cap_events(key)
        self._notify(resource, "ADDED", obj)
        return obj

    def _cap_events(self, key: Key) -> None:
        self._event_keys.append(key)
        while len(self._event_keys) > self.event_limit:
            old = self._event_keys.popleft()
            if old in self._objects:
                del self._objects[old]

    # --- patch and replace --------------------------------------------------

    def _modify(
        self,
        request: kmock.Request,
        resource: kmock.resource,
        info: kmock.ResourceInfo,
        namespace: str | None,
        name: str,
        verb: str,
        sub: str | None,
    ) -> Obj:
        key: Key = (resource, namespace, name)
        current = self._get(key)
        content_type = self._header(request, "Content-Type").split(";")[0].strip()
        body = self._body(request)
        if current is None:
            if verb == "patch" and content_type == "application/apply-patch+yaml" and not sub:
                body = dict(body or {})
                body.setdefault("metadata", {})["name"] = name
                return self._create(resource, info, namespace, body, dry_run=False)
            raise self._not_found(resource, name)
        if verb == "update":
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "the object must be a JSON/YAML mapping")
            desired = copy.deepcopy(body)
        elif content_type == "application/json-patch+json":
            if not isinstance(body, list):
                raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
            try:
                desired = jsonpatch.apply_patch(copy.deepcopy(current), body)
            except jsonpatch.JsonPatchTestFailed as exc:
                raise ApiError(422, "Invalid", f"the server rejected our request: {exc}") from exc
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise ApiError(422, "Invalid", f"the JSON patch cannot be applied: {exc}") from exc
        elif content_type in (
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ):
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "a merge patch must be a mapping")
            desired = merge_patch(current, body)
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format: {content_type}",
            )
        return self._update(resource, current, desired, subresource=sub)

    def _update(
        self, resource: kmock.resource, current: Obj, desired: Obj, subresource: str | None
    ) -> Obj:
        info = self._require_info(resource)
        desired = copy.deepcopy(desired)  # merge patches share untouched parts with `current`
        cur_meta = current["metadata"]
        wanted_rv = (desired.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != cur_meta.get("resourceVersion"):
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {_qualified(resource)} "{cur_meta["name"]}": '
                "the object has been modified; please apply your changes to the latest version "
                "and try again",
                {"name": cur_meta["name"], "group": resource.group, "kind": resource.plural},
            )
        has_status = "status" in info.subresources
        if subresource == "status":
            result = copy.deepcopy(current)
            if "status" in desired:
                result["status"] = desired["status"]
            else:
                result.pop("status", None)
        else:
            result = desired
            if has_status:
                if "status" in current:
                    result["status"] = copy.deepcopy(current["status"])
                else:
                    result.pop("status", None)
            meta = result.setdefault("metadata", {})
            for field in (
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ):
                if field in cur_meta:
                    meta[field] = cur_meta[field]
                else:
                    meta.pop(field, None)
            result["apiVersion"] = current.get("apiVersion")
            result["kind"] = current.get("kind")
            if cur_meta.get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(cur_meta.get("finalizers") or [])
                if added:
                    raise ApiError(
                        422,
                        "Invalid",
                        "metadata.finalizers: Forbidden: no new finalizers can be added "
                        "if the object is being deleted",
                    )
        result["metadata"]["resourceVersion"] = cur_meta.get("resourceVersion")
        self._normalise(resource, result)
        if resource == CRD_RESOURCE and subresource is None:
            self._activate_crd(result)
        if result == current:
            return current  # a no-op write: no new resourceVersion, no watch event
        if "generation" in cur_meta and self._spec_part(result, has_status) != self._spec_part(
            current, has_status
        ):
            result["metadata"]["generation"] = int(cur_meta["generation"]) + 1
        key: Key = (resource, cur_meta.get("namespace"), cur_meta["name"])
        if result["metadata"].get("deletionTimestamp") and not result["metadata"].get("finalizers"):
            # As the API server does: the write that empties the finalizers is the deletion.
            return self._remove(resource, key, result, cascade=True)
        result["metadata"]["resourceVersion"] = self._next_rv()
        self._store(key, result)
        self._notify(resource, "MODIFIED", result)
        return result

    # --- delete -------------------------------------------------------------

    def _delete(
        self, resource: kmock.resource, namespace: str | None, name: str, options: Mapping[str, Any]
    ) -> Obj:
        key: Key = (resource, namespace, name)
        current = self._get(key)
        if current is None:
            raise self._not_found(resource, name)
        preconditions = options.get("preconditions") or {}
        for field in ("uid", "resourceVersion"):
            if preconditions.get(field) and preconditions[field] != current["metadata"].get(field):
                raise ApiError(
                    409,
                    "Conflict",
                    f"Precondition failed: {field} in precondition: {preconditions[field]}, "
                    f"{field} in object meta: {current['metadata'].get(field)}",
                )
        cascade = options.get("propagationPolicy") != "Orphan"
        return self._delete_object(resource, key, current, cascade=cascade)

    def _delete_object(
        self, resource: kmock.resource, key: Key, current: Obj, cascade: bool
    ) -> Obj:
        meta = current["metadata"]
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return current
            marked = copy.deepcopy(current)
            marked["metadata"]["deletionTimestamp"] = now_timestamp()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            marked["metadata"]["resourceVersion"] = self._next_rv()
            self._store(key, marked)
            self._notify(resource, "MODIFIED", marked)
            return marked
        return self._remove(resource, key, current, cascade=cascade)

    def _remove(self, resource: kmock.resource, key: Key, current: Obj, cascade: bool) -> Obj:
        final = copy.deepcopy(current)
        final["metadata"]["resourceVersion"] = self._next_rv()
        stored = self._objects[key]
        stored.history.append(final)
        stored.delete()
        self._trim(stored)
        self._notify(resource, "DELETED", final)
        if resource == CRD_RESOURCE:
            self._drop_crd(final)
        elif resource == NAMESPACES:
            self._empty_namespace(key[2])
        if cascade:
            self._collect_garbage(final["metadata"]["uid"])
        return final

    def _delete_collection(
        self,
        request: kmock.Request,
        resource: kmock.resource,
        info: kmock.ResourceInfo,
        namespace: str | None,
    ) -> Obj:
        deleted = [
            self._delete_object(
                resource,
                (resource, obj["metadata"].get("namespace"), obj["metadata"]["name"]),
                obj,
                cascade=True,
            )
            for obj in list(self._select(request, resource, namespace))
        ]
        return {
            "apiVersion": api_version(resource),
            "kind": f"{info.kind}List",
            "metadata": {"resourceVersion": str(self._rv)},
            "items": deleted,
        }

    def _collect_garbage(self, owner_uid: str) -> None:
        # Background propagation: dependents go once none of their owners is left.
        live_uids = {
            stored.last.raw["metadata"].get("uid")
            for stored in self._objects.values()
            if not stored.deleted
        }
        for (res, ns, name), stored in list(self._objects.items()):
            if stored.deleted:
                continue
            obj = stored.last.raw
            owners = [ref.get("uid") for ref in obj["metadata"].get("ownerReferences") or []]
            if owner_uid in owners and not any(uid in live_uids for uid in owners):
                self._delete_object(res, (res, ns, name), obj, cascade=True)

    def _empty_namespace(self, namespace: str) -> None:
        for (res, ns, name), stored in list(self._objects.items()):
            if ns == namespace and not stored.deleted:
                self._delete_object(res, (res, ns, name), stored.last.raw, cascade=True)

    # --- CRDs ---------------------------------------------------------------

    def _activate_crd(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group")
        plural = names.get("plural")
        if not group or not plural or not names.get("kind"):
            raise ApiError(422, "Invalid", "spec.group, spec.names.plural and kind are required")
        name = crd["metadata"]["name"]
        self._unregister_crd(name)
        storage = []
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            resource = kmock.resource(group, version["name"], plural)
            self.resources[resource] = kmock.ResourceInfo(
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                kind=names["kind"],
                singular=names.get("singular") or names["kind"].lower(),
                verbs=set(CRD_VERBS),
                shortnames=set(names.get("shortNames") or []),
                categories=set(names.get("categories") or []),
                subresources=set((version.get("subresources") or {}).keys()),
            )
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
            columns = list(version.get("additionalPrinterColumns") or [])
            self._crd_versions[resource] = _CrdVersion(name, schema, columns)
            if version.get("storage"):
                storage.append(version["name"])
        # Keep the transition times of a re-applied CRD, so that a no-op stays a no-op.
        previous = {
            condition.get("type"): condition.get("lastTransitionTime")
            for condition in (crd.get("status") or {}).get("conditions") or []
        }
        now = now_timestamp()
        crd["status"] = {
            "acceptedNames": dict(names),
            "storedVersions": storage,
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": previous.get("NamesAccepted") or now,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": previous.get("Established") or now,
                },
            ],
        }

    def _unregister_crd(self, name: str) -> list[kmock.resource]:
        gone = [res for res, version in self._crd_versions.items() if version.crd_name == name]
        for resource in gone:
            del self._crd_versions[resource]
            if resource in self.resources:
                del self.resources[resource]
        return gone

    def _drop_crd(self, crd: Obj) -> None:
        # A deleted CRD takes its objects with it, finalizers or not.
        for resource in self._unregister_crd(crd["metadata"]["name"]):
            for obj in list(self._live(resource)):
                meta = obj["metadata"]
                self._remove(resource, (resource, meta.get("namespace"), meta["name"]), obj, True)

    # --- list, tables and watch ---------------------------------------------

    def _select(
        self, request: kmock.Request, resource: kmock.resource, namespace: str | None
    ) -> Iterator[Obj]:
        labels = (
            label_selector(request.params["labelSelector"])
            if request.params.get("labelSelector")
            else None
        )
        fields = (
            field_selector(request.params["fieldSelector"])
            if request.params.get("fieldSelector")
            else None
        )
        objs = sorted(
            self._live(resource, namespace),
            key=lambda obj: (obj["metadata"].get("namespace") or "", obj["metadata"]["name"]),
        )
        for obj in objs:
            if labels is not None and not labels(obj["metadata"].get("labels") or {}):
                continue
            if fields is not None and not fields(obj):
                continue
            yield obj

    def _list_response(
        self,
        request: kmock.Request,
        resource: kmock.resource,
        info: kmock.ResourceInfo,
        namespace: str | None,
    ) -> aiohttp.web.Response:
        items = list(self._select(request, resource, namespace))
        table = self._maybe_table(request, resource, items, single=False)
        if table is not None:
            return self._json(table)
        return self._json(
            {
                "apiVersion": api_version(resource),
                "kind": f"{info.kind}List",
                "metadata": {"resourceVersion": str(self._rv)},
                "items": items,
            }
        )

    def _wants_table(self, request: kmock.Request) -> bool:
        accept = self._header(request, "Accept")
        return "as=Table" in accept

    def _maybe_table(
        self, request: kmock.Request, resource: kmock.resource, objs: list[Obj], single: bool
    ) -> Any:
        if not self._wants_table(request):
            return objs[0] if single else None
        return self.table(resource, objs)

    def table(self, resource: kmock.resource, objs: list[Obj]) -> Obj:
        """A ``meta.k8s.io/v1`` Table, as kubectl asks for with ``as=Table``."""
        crd_version = self._crd_versions.get(resource)
        columns: list[Mapping[str, Any]] = [
            {
                "name": "Name",
                "type": "string",
                "format": "name",
                "priority": 0,
                "description": "Name must be unique within a namespace.",
            },
        ]
        if crd_version is not None and crd_version.columns:
            columns += [
                {
                    "name": column["name"],
                    "type": column.get("type", "string"),
                    "format": column.get("format", ""),
                    "priority": column.get("priority", 0),
                    "description": column.get("description", ""),
                    "jsonPath": column["jsonPath"],
                }
                for column in crd_version.columns
            ]
        else:
            columns.append(
                {
                    "name": "Age",
                    "type": "date",
                    "format": "",
                    "priority": 0,
                    "description": "",
                    "jsonPath": ".metadata.creationTimestamp",
                }
            )
        rows = []
        for obj in objs:
            cells: list[Any] = [obj["metadata"]["name"]]
            for column in columns[1:]:
                value = jsonpath_value(obj, column["jsonPath"])
                if column["type"] == "date" and value is not None:
                    value = _age(value)
                elif isinstance(value, dict | list):
                    value = json.dumps(value)
                cells.append(value)
            rows.append(
                {
                    "cells": cells,
                    "object": {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": obj["metadata"],
                    },
                }
            )
        definitions = [
            {key: value for key, value in column.items() if key != "jsonPath"} for column in columns
        ]
        return {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": str(self._rv)},
            "columnDefinitions": definitions,
            "rows": rows,
        }

    async def _watch(
        self, request: kmock.Request, resource: kmock.resource, info: kmock.ResourceInfo
    ) -> aiohttp.web.StreamResponse:
        params = request.params
        labels = label_selector(params["labelSelector"]) if params.get("labelSelector") else None
        fields = field_selector(params["fieldSelector"]) if params.get("fieldSelector") else None
        watcher = _Watcher(request.namespace, request.name, labels, fields)
        as_table = self._wants_table(request)
        since = params.get("resourceVersion") or ""
        send_initial = params.get("sendInitialEvents") == "true"
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None

        # Everything up to the registration runs without awaiting, so no event is missed.
        initial: list[Obj] = []
        if send_initial or since in ("", "0"):
            objs = sorted(
                (obj for obj in self._live(resource, request.namespace) if watcher.matches(obj)),
                key=lambda obj: int(obj["metadata"]["resourceVersion"]),
            )
            initial = [{"type": "ADDED", "object": obj} for obj in objs]
            if send_initial:
                initial.append(
                    {
                        "type": "BOOKMARK",
                        "object": {
                            "kind": info.kind,
                            "apiVersion": api_version(resource),
                            "metadata": {
                                "resourceVersion": str(self._rv),
                                "annotations": {"k8s.io/initial-events-end": "true"},
                            },
                        },
                    }
                )
        else:
            try:
                since_rv = int(since)
            except ValueError:
                return self._json(
                    ApiError(400, "BadRequest", f"invalid resourceVersion {since!r}").status(), 400
                )
            if since_rv < self._watch_floor.get(resource, 0):
                gone = ApiError(410, "Expired", f"too old resource version: {since_rv}")
                initial = [{"type": "ERROR", "object": gone.status()}]
                timeout = 0
            else:
                initial = [
                    event
                    for rv, event in self._watch_log.get(resource, ())
                    if rv > since_rv and watcher.matches(event["object"])
                ]
        self._watchers[resource].add(watcher)

        response = aiohttp.web.StreamResponse(
            status=200, headers={"Content-Type": "application/json"}
        )
        assert request._raw_request is not None
        try:
            await response.prepare(request._raw_request)
            for event in initial:
                await self._write_event(response, resource, event, as_table)
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout
            while not self._closing:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    break
                if event is None:
                    break
                await self._write_event(response, resource, event, as_table)
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        finally:
            self._watchers[resource].discard(watcher)
        return response

    async def _write_event(
        self,
        response: aiohttp.web.StreamResponse,
        resource: kmock.resource,
        event: Obj,
        as_table: bool,
    ) -> None:
        if as_table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            event = {"type": event["type"], "object": self.table(resource, [event["object"]])}
        await response.write(json.dumps(event).encode() + b"\n")


def load_yaml_documents(path: str | pathlib.Path) -> list[Obj]:
    with open(path, encoding="utf-8") as file:
        return [doc for doc in yaml.safe_load_all(file) if isinstance(doc, dict)]


class KubeSandbox:
    """The emulator on 127.0.0.1 in a background thread with its own event loop.

    Accessors (``get``, ``list``, ``register_crd``...) are thread-safe: they run
    on the emulator's loop.
    """

    def __init__(
        self,
        port: int = 0,
        crds: Iterable[str | pathlib.Path] = (),
        token: str = "sandbox-token",
        **emulator_options: Any,
    ) -> None:
        self._port = port
        self._crd_paths = list(crds)
        self.token = token
        self._options = emulator_options
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._url: str | None = None
        self._emulator: SandboxEmulator | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("The Kubernetes sandbox is not started.")
        return self._url

    @property
    def emulator(self) -> SandboxEmulator:
        """The emulator itself: touch it only on its loop (see :meth:`call`)."""
        if self._emulator is None:
            raise RuntimeError("The Kubernetes sandbox is not started.")
        return self._emulator

    def start(self) -> str:
        if self._thread is not None:
            return self.url
        self._thread = threading.Thread(target=self._run, name="kube-sandbox", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("The Kubernetes sandbox failed to start.") from self._startup_error
        for path in self._crd_paths:
            self.register_crd_file(path)
        return self.url

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)
        self._thread = None
        self._url = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start() if it happens early
            self._startup_error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        emulator = SandboxEmulator(**self._options)
        async with emulator:
            runner = aiohttp.web.ServerRunner(
                aiohttp.web.Server(emulator, access_log=None), shutdown_timeout=1.0
            )
            await runner.setup()
            site = aiohttp.web.TCPSite(runner, "127.0.0.1", self._port)
            await site.start()
            port = runner.addresses[0][1]
            self._emulator = emulator
            self._url = f"http://127.0.0.1:{port}"
            self._ready.set()
            try:
                await self._stopping.wait()
            finally:
                emulator.shutdown_watches()
                await runner.cleanup()

    def call(self, fn: Callable[[SandboxEmulator], T]) -> T:
        """Run ``fn(emulator)`` on the emulator's loop and return its result."""
        if self._loop is None:
            raise RuntimeError("The Kubernetes sandbox is not started.")
        emulator = self.emulator

        async def run() -> T:
            return fn(emulator)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def register_crd(self, crd: Mapping[str, Any]) -> Obj:
        return self.call(lambda emulator: emulator.register_crd(crd))

    def register_crd_file(self, path: str | pathlib.Path) -> list[Obj]:
        """Register every CustomResourceDefinition in a (multi-document) YAML file."""
        return [
            self.register_crd(doc)
            for doc in load_yaml_documents(path)
            if doc.get("kind") == "CustomResourceDefinition"
        ]

    def register_crd_dir(self, directory: str | pathlib.Path) -> list[Obj]:
        registered: list[Obj] = []
        for path in sorted(pathlib.Path(directory).glob("*.y*ml")):
            registered += self.register_crd_file(path)
        return registered

    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj | None:
        """An object by resource name (``aurorarestores``, ``ar``, ``v1/secrets``...)."""
        return self.call(
            lambda emulator: emulator.get_object(emulator.resolve(resource), namespace, name)
        )

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        return self.call(
            lambda emulator: emulator.list_objects(emulator.resolve(resource), namespace)
        )

    def create(self, resource: str, body: Mapping[str, Any], namespace: str | None = None) -> Obj:
        return self.call(
            lambda emulator: emulator.create_object(
                emulator.resolve(resource), dict(body), namespace
            )
        )

    def patch(
        self,
        resource: str,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> Obj:
        return self.call(
            lambda emulator: emulator.patch_object(
                emulator.resolve(resource), namespace, name, patch, subresource
            )
        )

    def patch_status(
        self, resource: str, name: str, status: Mapping[str, Any], namespace: str | None = None
    ) -> Obj:
        return self.patch(resource, name, {"status": dict(status)}, namespace, "status")

    def delete(self, resource: str, name: str, namespace: str | None = None) -> Obj:
        return self.call(
            lambda emulator: emulator.delete_object(emulator.resolve(resource), namespace, name)
        )

    def inject_error(
        self,
        code: int,
        method: str | None = None,
        path_prefix: str | None = None,
        times: int | None = None,
        reason: str = "InternalError",
    ) -> Callable[[], None]:
        """Answer matching requests with a ``Status`` error; returns the undo.

        The state is not touched by a failed request. ``times`` limits how many
        requests fail; ``method`` and ``path_prefix`` narrow which ones.
        """
        failed: set[int] = set()

        def matches(request: kmock.Request) -> bool:
            if method is not None and str(request.method.value).upper() != method.upper():
                return False
            if path_prefix is not None and not request.url.path.startswith(path_prefix):
                return False
            # Criteria are evaluated more than once per request: count requests, not calls.
            if id(request) in failed:
                return True
            if times is not None and len(failed) >= times:
                return False
            failed.add(id(request))
            return True

        status = ApiError(code, reason, f"injected error {code}").status()

        def install(emulator: SandboxEmulator) -> Any:
            return emulator[matches] << code << status

        reaction = self.call(install)

        def undo() -> None:
            self.call(lambda emulator: emulator._payloads.remove(reaction))

        return undo

    def api_calls(self) -> collections.Counter[tuple[str, str]]:
        """Requests served so far, by (verb, resource[/subresource])."""
        return self.call(lambda emulator: collections.Counter(emulator.api_calls))

    def reset_api_calls(self) -> None:
        self.call(lambda emulator: emulator.api_calls.clear())

    def errors(self) -> list[Exception]:
        """Unexpected server-side exceptions (answered as 500s); empty when all is well."""
        return self.call(
            lambda emulator: [
                exc for exc in emulator.errors if not isinstance(exc, kmock.KubernetesError)
            ]
        )

    def write_kubeconfig(
        self, path: str | pathlib.Path, namespace: str = "default"
    ) -> pathlib.Path:
        """A kubeconfig for this server: plain http, a bearer token, one context."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "sandbox", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "sandbox",
                    "context": {"cluster": "sandbox", "user": "sandbox", "namespace": namespace},
                }
            ],
            "current-context": "sandbox",
            "preferences": {},
        }
        target = pathlib.Path(path)
        target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m aurora_restore_sandbox.kube",
        description="Run the Kubernetes API stand-in in the foreground.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for the server here")
    parser.add_argument("--crds", help="register the CRDs of every YAML file in this directory")
    args = parser.parse_args(argv)

    sandbox = KubeSandbox(port=args.port)
    url = sandbox.start()
    if args.crds:
        sandbox.register_crd_dir(args.crds)
    if args.kubeconfig:
        sandbox.write_kubeconfig(args.kubeconfig)
        print(f"KUBECONFIG={args.kubeconfig}", flush=True)
    print(f"KUBE_API_URL={url}", flush=True)

    stopped = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stopped.wait()
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
