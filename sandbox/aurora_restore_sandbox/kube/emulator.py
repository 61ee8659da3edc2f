"""The emulator: kmock's KubernetesEmulator, keeping objects the way an API server does.

kmock 0.8 (pinned in pyproject.toml) brings the HTTP plumbing, request parsing, API
discovery and the bundled list of built-in resources. Its emulator merges dicts and little
more, so :class:`SandboxEmulator` serves every resource request itself:

- create: ``uid``, ``resourceVersion``, ``generation``, ``creationTimestamp``,
  ``generateName``, 201, 409 on a clash; status is dropped when the resource has a status
  subresource;
- patch (merge, strategic-merge treated as merge, JSON-patch with 422 on a failed
  ``test``, apply treated as merge) and replace, on the object and on ``/status``: the
  object ignores status changes and ``/status`` ignores the rest; ``resourceVersion``
  moves on every real change and not on no-ops; ``generation`` moves on changes outside
  metadata and status;
- delete: finalizers hold the object with a ``deletionTimestamp`` until a patch empties
  them; owner references are garbage-collected in the background; deleting a CRD deletes
  its objects; deleting a namespace deletes what is in it;
- list with ``apiVersion``, ``kind``, ``metadata.resourceVersion``, label and field
  selectors (:mod:`.selectors`), and ``as=Table`` for kubectl (:mod:`.tables`);
- watch (:mod:`.watch`), CRDs (:mod:`.crds`), discovery (:mod:`.discovery`), kubectl's
  protobuf bodies (:mod:`.protobuf`): the general fixes, each in a module of its own;
- Secrets fold ``stringData`` into ``data``; ``/openapi/v2`` is an empty document,
  enough for kubectl's validation.

It checks no schemas and no permissions, and namespaces need not exist. The request log
that kmock keeps for assertions is dropped after each request (``keep_requests=True``
keeps it), because kmock re-filters the whole log on every request and a long run slows
down quadratically. Core Events are capped at ``event_limit``, the oldest dropped first,
as a real cluster expires them.
"""

from __future__ import annotations

import base64
import collections
import copy
import gzip
import importlib.resources
import math
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import aiohttp.web
import attrs
import kmock

from .crds import CRD_RESOURCE, CrdVersion, established_status, served_versions
from .discovery import DiscoveryMixin, install_path_fix
from .objects import (
    ApiError,
    Obj,
    api_version,
    apply_patch,
    apply_schema_defaults,
    merge_patch,
    now_timestamp,
    qualified,
)
from .requests import header, request_body, request_verb
from .selectors import SelectorError, field_selector, label_selector
from .tables import render_table
from .watch import Watcher, WatchHub

Key = tuple[kmock.resource, str | None, str]
Predicates = tuple[Callable[[Mapping[str, str]], bool] | None, Callable[[Obj], bool] | None]

NAMESPACES = kmock.resource("", "v1", "namespaces")
SECRETS = kmock.resource("", "v1", "secrets")
CORE_EVENTS = kmock.resource("", "v1", "events")
EVENTS = kmock.resource("events.k8s.io", "v1", "events")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# The alphabet Kubernetes uses for generateName suffixes (no vowels, no look-alikes).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@attrs.define(kw_only=True)
class SandboxEmulator(DiscoveryMixin, kmock.KubernetesEmulator):
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
    _crd_versions: dict[kmock.resource, CrdVersion] = attrs.field(factory=dict, init=False)
    _watches: WatchHub = attrs.field(init=False)
    _event_keys: collections.deque[Key] = attrs.field(factory=collections.deque, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        install_path_fix()
        self._watches = WatchHub(self.watch_log_limit)
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

    def delete_object(self, resource: kmock.resource, namespace: str | None, name: str) -> Obj:
        """Delete as ``DELETE`` does: finalizers hold it, dependents follow it."""
        return self._delete(resource, namespace, name, {})

    def shutdown_watches(self) -> None:
        """End every open watch stream, so that the server can stop at once."""
        self._watches.close()

    def drop_watches(self) -> int:
        """End every open watch stream now, as an API server restart does; clients may
        watch again. Returns how many ended."""
        return self._watches.drop()

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
            verb = request_verb(request, method)
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
                body = request_body(request)
                obj = self._create(resource, info, namespace, body, dry_run="dryRun" in params)
                return self._json(obj, status=201)
            if verb in ("patch", "update"):
                assert request.name is not None
                obj = self._modify(request, resource, info, namespace, request.name, verb, sub)
                return self._json(obj)
            if verb == "delete":
                assert request.name is not None
                options = request_body(request, optional=True) or {}
                return self._json(self._delete(resource, namespace, request.name, options))
            if verb == "deletecollection":
                return self._json(self._delete_collection(request, resource, info, namespace))
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow {method} here")
        except ApiError as exc:
            return self._json(exc.status(), status=exc.code)

    # --- helpers ------------------------------------------------------------

    @staticmethod
    def _json(payload: Any, status: int = 200) -> aiohttp.web.Response:
        return aiohttp.web.json_response(payload, status=status)

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
            f'{qualified(resource)} "{name}" not found',
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
        self._watches.publish(resource, kind, obj)

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
                f'{qualified(resource)} "{name}" already exists',
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
        content_type = header(request, "Content-Type").split(";")[0].strip()
        body = request_body(request)
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
        else:
            desired = apply_patch(current, body, content_type)
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
                f'Operation cannot be fulfilled on {qualified(resource)} "{cur_meta["name"]}": '
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
        served, storage = served_versions(crd)
        self._unregister_crd(crd["metadata"]["name"])
        for resource, info, version in served:
            self.resources[resource] = info
            self._crd_versions[resource] = version
        crd["status"] = established_status(crd, storage)

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

    @staticmethod
    def _predicates(params: Mapping[str, str]) -> Predicates:
        """The label and field predicates of a list or watch request (None: no selector)."""
        labels, fields = params.get("labelSelector"), params.get("fieldSelector")
        try:
            return (
                label_selector(labels) if labels else None,
                field_selector(fields) if fields else None,
            )
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc

    def _select(
        self, request: kmock.Request, resource: kmock.resource, namespace: str | None
    ) -> Iterator[Obj]:
        labels, fields = self._predicates(request.params)
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
        accept = header(request, "Accept")
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
        columns = crd_version.columns if crd_version is not None else []
        return render_table(objs, columns, str(self._rv))

    async def _watch(
        self, request: kmock.Request, resource: kmock.resource, info: kmock.ResourceInfo
    ) -> aiohttp.web.StreamResponse:
        params = request.params
        watcher = Watcher(request.namespace, request.name, *self._predicates(params))
        since = params.get("resourceVersion") or ""
        send_initial = params.get("sendInitialEvents") == "true"
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None

        # Everything up to the registration runs without awaiting, so no event is missed.
        initial: list[Obj] | None = []
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
            initial = self._watches.since(resource, since_rv, watcher)
            if initial is None:
                gone = ApiError(410, "Expired", f"too old resource version: {since_rv}")
                initial = [{"type": "ERROR", "object": gone.status()}]
                timeout = 0

        as_table = self._wants_table(request)

        def render(event: Obj) -> Obj:
            if as_table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                return {"type": event["type"], "object": self.table(resource, [event["object"]])}
            return event

        assert request._raw_request is not None
        return await self._watches.serve(
            request._raw_request, resource, watcher, initial, timeout, render
        )
