"""AWS stand-in: moto in server mode, with RDS in-progress states.

moto's RDS makes copies, restores, instances and deletions finish at once.
The operator's whole point is to wait for them, so :func:`install_rds_states`
hooks moto's RDS models into moto's state manager: clusters go ``creating``,
snapshots ``creating``/``copying`` (with a rising ``PercentProgress``),
instances ``creating``, and deleted clusters and instances stay visible as
``deleting`` until their transition ends. How long each takes is set per
model through moto's own ``/moto-api/state-manager/set-transition``.

This relies on moto 5.2.x internals (``moto.rds.models``); the version is
pinned in pyproject.toml. Everything here patches classes, so it holds for
the whole process: one moto server per process.

The server also counts the AWS operations it receives (server-side, so the
operator can be a separate process) and answers a few ``/_sandbox/...``
control requests that need moto's in-process objects, e.g. to make a seeded
snapshot look automated and a few days old, which no AWS API can do, or to put
a cluster, snapshot or instance into a terminal state such as
``incompatible-restore``.

Tests that need to act at an exact moment (a crash just before or just after a
call) register call hooks with :meth:`AwsSandbox.on_call`: a callback run in
the server thread before moto handles an operation (it may raise
:class:`DropRequest` so that the call never happens) or after moto handled it
and before the response is sent. Hooks are in-process only.

moto differences the operator must cope with (not fixed here unless said):

- bad cluster and snapshot identifiers are accepted;
- renaming a cluster (``ModifyDBCluster NewDBClusterIdentifier``) leaves its instances
  behind and overwrites a cluster that already has the new name; fixed here: the
  instances follow, a taken name is refused, and the cluster is ``renaming`` for a while
  (model ``rds::cluster-rename``);
- a restore onto an existing cluster identifier silently replaces it;
- creating or restoring a cluster creates an automated snapshot
  ``rds:<cluster>-<yyyy-mm-dd-hh-mm>``, and the deleted cluster's one stays;
  moto would fail a delete-then-restore within the same minute with
  DBClusterSnapshotAlreadyExists, so here the existing snapshot is reused;
- a restored cluster inherits the source's settings (moto skips falsy
  overrides); only ``DeletionProtection`` is put back to AWS's default here;
- describe, restore and delete take plain identifiers, not ARNs (copy takes
  the source snapshot's ARN);
- an encrypted snapshot copied across regions without ``KmsKeyId`` is
  accepted.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from datetime import UTC, date, datetime, time, timedelta
from types import TracebackType
from typing import Any, Self

import boto3
from werkzeug.serving import BaseWSGIServer, make_server

from . import rds_accounts, rds_sources

RDS_CLUSTER = "rds::cluster"
RDS_CLUSTER_SNAPSHOT = "rds::cluster-snapshot"
RDS_INSTANCE = "rds::instance"
# A rename (ModifyDBCluster NewDBClusterIdentifier): the cluster is ``renaming`` for a while.
RDS_CLUSTER_RENAME = "rds::cluster-rename"
RDS_MODELS: tuple[str, ...] = (RDS_CLUSTER, RDS_CLUSTER_SNAPSHOT, RDS_INSTANCE, RDS_CLUSTER_RENAME)

DEFAULT_ACCOUNT_ID = "123456789012"
CONTROL_PREFIX = "/_sandbox/"

# The object attribute that carries the ManagedState. Kept in the instance
# __dict__ so that copy.copy() (moto snapshots copy their cluster) shares it.
_STATE_ATTR = "_sandbox_state"
_PLAIN_STATUS_ATTR = "_sandbox_plain_status"
_PLAIN_PROGRESS_ATTR = "_sandbox_plain_progress"
# Internal end state of a deletion: the object is dropped once it is reached
# and is never shown to clients.
_GONE = "deleted"

_CREATING = [("creating", "available")]
_COPYING = [("copying", "available")]
_DELETING = [("deleting", _GONE)]
_RENAMING = [("renaming", "available")]

_install_lock = threading.Lock()
_installed = False
_WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def install_rds_states() -> None:
    """Hook moto's RDS into moto's state manager. Idempotent, process-wide."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _install()
        _installed = True


def _install() -> None:
    # Imported here: moto's import is slow and only the sandbox needs it.
    from moto.moto_api import state_manager
    from moto.rds import exceptions as rds_errors
    from moto.rds.models import DBCluster, DBClusterSnapshot, DBInstance, RDSBackend

    for model in RDS_MODELS:
        state_manager.register_default_transition(model, {"progression": "immediate"})

    original_cluster_status: property = DBCluster.status
    DBCluster.status = _status_property(original_cluster_status)  # type: ignore[method-assign,assignment]
    DBClusterSnapshot.status = _status_property(None)  # type: ignore[attr-defined]
    DBInstance.status = _status_property(None)  # type: ignore[attr-defined]
    DBClusterSnapshot.percent_progress = _progress_property()  # type: ignore[attr-defined]

    original_auto = RDSBackend.create_auto_cluster_snapshot

    @functools.wraps(original_auto)
    def create_auto_cluster_snapshot(self: RDSBackend, cluster_id: str, snapshot_id: str) -> Any:
        # moto names these by the minute, so deleting a cluster and restoring one with the
        # same name in that minute clashes; AWS keeps automated backups apart. Reuse it.
        existing = self.cluster_snapshots.get(snapshot_id)
        if existing is not None:
            return existing
        return original_auto(self, cluster_id, snapshot_id)

    RDSBackend.create_auto_cluster_snapshot = create_auto_cluster_snapshot  # type: ignore[method-assign]

    def attach_on_return(name: str, model: str, transitions: list[tuple[str, str]]) -> None:
        original = getattr(RDSBackend, name)

        @functools.wraps(original)
        def wrapper(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            obj = original(self, *args, **kwargs)
            _attach(obj, model, transitions)
            return obj

        setattr(RDSBackend, name, wrapper)

    attach_on_return("create_db_cluster", RDS_CLUSTER, _CREATING)
    attach_on_return("create_db_cluster_snapshot", RDS_CLUSTER_SNAPSHOT, _CREATING)
    attach_on_return("create_db_instance", RDS_INSTANCE, _CREATING)

    original_copy = RDSBackend.copy_db_cluster_snapshot

    @functools.wraps(original_copy)
    def copy_db_cluster_snapshot(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        source_id = kwargs.get("source_db_cluster_snapshot_identifier") or args[0]
        source = self.get_db_cluster_snapshot(source_id)
        # Real RDS refuses to copy a snapshot that is not finished yet.
        if source.status != "available":
            raise rds_errors.InvalidDBClusterSnapshotStateFault(
                f"Snapshot {source_id} is not in available state."
            )
        copied = original_copy(self, *args, **kwargs)
        _attach(copied, RDS_CLUSTER_SNAPSHOT, _COPYING)
        copied.source_db_cluster_snapshot_arn = source.arn
        return copied

    RDSBackend.copy_db_cluster_snapshot = copy_db_cluster_snapshot  # type: ignore[method-assign]

    original_restore = RDSBackend.restore_db_cluster_from_snapshot

    @functools.wraps(original_restore)
    def restore_db_cluster_from_snapshot(
        self: RDSBackend, from_snapshot_id: str, overrides: dict[str, Any]
    ) -> Any:
        snapshot = self.get_db_cluster_snapshot(from_snapshot_id)
        if snapshot.status != "available":
            raise rds_errors.InvalidDBClusterSnapshotStateFault(
                f"Snapshot {from_snapshot_id} is not in available state."
            )
        cluster = original_restore(self, from_snapshot_id, overrides)
        # moto copies the source's settings and skips falsy overrides, so a restore
        # of a protected production cluster came out protected; AWS defaults to off.
        cluster.deletion_protection = bool(overrides.get("deletion_protection") or False)
        return cluster

    RDSBackend.restore_db_cluster_from_snapshot = restore_db_cluster_from_snapshot  # type: ignore[method-assign]

    original_delete_cluster = RDSBackend.delete_db_cluster

    @functools.wraps(original_delete_cluster)
    def delete_db_cluster(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        identifier = kwargs.get("cluster_identifier") or args[0]
        existing = self.clusters.get(identifier)
        if existing is not None and _is_deleting(existing):
            raise rds_errors.InvalidDBClusterStateFault(
                f"Cluster {identifier} is already being deleted."
            )
        # AWS lets a cluster go once all its instances are deleting; moto only
        # looks at membership, and here deleting instances are still members.
        leaving = {
            key: instance
            for key, instance in self.databases.items()
            if str(getattr(instance, "db_cluster_identifier", "")).lower() == identifier.lower()
            and _is_deleting(instance)
        }
        for key in leaving:
            del self.databases[key]
        try:
            cluster = original_delete_cluster(self, *args, **kwargs)
        finally:
            self.databases.update(leaving)
        # moto forgets the cluster at once; AWS shows it as deleting for a while.
        _attach(cluster, RDS_CLUSTER, _DELETING)
        self.clusters[identifier] = cluster
        return cluster

    RDSBackend.delete_db_cluster = delete_db_cluster  # type: ignore[method-assign]

    original_delete_instance = RDSBackend.delete_db_instance

    @functools.wraps(original_delete_instance)
    def delete_db_instance(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        identifier = kwargs.get("db_instance_identifier") or args[0]
        existing = self.databases.get(identifier)
        if existing is not None and _is_deleting(existing):
            raise rds_errors.InvalidDBInstanceStateFault(
                f"Instance {identifier} is already being deleted."
            )
        instance = original_delete_instance(self, *args, **kwargs)
        _attach(instance, RDS_INSTANCE, _DELETING)
        self.databases[identifier] = instance
        return instance

    RDSBackend.delete_db_instance = delete_db_instance  # type: ignore[method-assign]

    from .rds_rename import install_rename

    install_rename(
        RDSBackend, lambda obj: _attach(obj, RDS_CLUSTER_RENAME, _RENAMING), _is_deleting
    )

    def advance_on_describe(name: str, collection: Callable[[RDSBackend], Any]) -> None:
        original = getattr(RDSBackend, name)

        @functools.wraps(original)
        def wrapper(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            own = collection(self)
            for other in (self.clusters, self.cluster_snapshots, self.databases):
                # Only describes of a model count as its "manual" ticks, but finished
                # deletions go everywhere: a cluster's last instances must not linger.
                _advance(other, tick=other is own)
            return original(self, *args, **kwargs)

        setattr(RDSBackend, name, wrapper)

    advance_on_describe("describe_db_clusters", lambda backend: backend.clusters)
    advance_on_describe("describe_db_cluster_snapshots", lambda backend: backend.cluster_snapshots)
    advance_on_describe("describe_db_instances", lambda backend: backend.databases)
    rds_sources.install()
    rds_accounts.install()


def _attach(obj: Any, model: str, transitions: list[tuple[str, str]]) -> None:
    from moto.moto_api._internal.managed_state_model import ManagedState

    obj.__dict__[_STATE_ATTR] = ManagedState(model, transitions)


def _state(obj: Any) -> Any:
    return obj.__dict__.get(_STATE_ATTR)


def _is_deleting(obj: Any) -> bool:
    state = _state(obj)
    return state is not None and state._transitions is _DELETING


def _items(collection: MutableMapping[str, Any]) -> list[tuple[str, Any]]:
    """A copy of the collection's items. The server is threaded: another request may add or
    remove an object while the copy is made (``OrderedDict mutated during iteration``), and
    then the copy is simply made again."""
    while True:
        try:
            return list(collection.items())
        except RuntimeError:
            continue


def _advance(collection: MutableMapping[str, Any], tick: bool) -> None:
    # A "manual" transition counts describe calls; "time" ones look at the clock.
    for key, obj in _items(collection):
        state = _state(obj)
        if state is None:
            continue
        if tick:
            state.advance()
        if state.status == _GONE:
            # The server is threaded: another describe may have purged it already.
            collection.pop(key, None)


def _status_property(original: property | None) -> property:
    def fget(self: Any) -> str | None:
        state = _state(self)
        if state is not None:
            status = state.status
            # A deletion that ended after the last describe is purged by the next one.
            return "deleting" if status == _GONE else status
        if original is not None and original.fget is not None:
            return original.fget(self)
        return self.__dict__.get(_PLAIN_STATUS_ATTR)

    def fset(self: Any, value: str) -> None:
        # moto sets statuses itself (stop, start, modify): that wins over a transition.
        self.__dict__.pop(_STATE_ATTR, None)
        if original is not None and original.fset is not None:
            original.fset(self, value)
        else:
            self.__dict__[_PLAIN_STATUS_ATTR] = value

    return property(fget, fset)


def _progress_property() -> property:
    def fget(self: Any) -> int:
        state = _state(self)
        if state is None:
            return int(self.__dict__.get(_PLAIN_PROGRESS_ATTR, 100))
        return _percent(state)

    def fset(self: Any, value: int) -> None:
        self.__dict__[_PLAIN_PROGRESS_ATTR] = value

    return property(fget, fset)


def _percent(state: Any) -> int:
    from moto.moto_api import state_manager

    status = state.status
    if status == state._transitions[-1][1]:
        return 100
    transition = state_manager.get_transition(state.model_name)
    progression = transition.get("progression")
    if progression == "time" and float(transition.get("seconds", 0)) > 0:
        elapsed = (datetime.now() - state._time_progressed).total_seconds()
        fraction = elapsed / float(transition["seconds"])
    elif progression == "manual" and int(transition.get("times", 0)) > 0:
        fraction = state._tick / int(transition["times"])
    else:
        return 100
    # 100 is only ever reported together with "available".
    return max(0, min(99, int(fraction * 100)))


def _settle(region: str | None) -> int:
    """Finish every in-flight RDS transition at once (for seeding)."""
    from moto.rds.models import rds_backends

    settled = 0
    for account_backends in rds_backends.values():
        for backend_region, backend in account_backends.items():
            if region is not None and backend_region != region:
                continue
            for collection in (backend.clusters, backend.cluster_snapshots, backend.databases):
                for key, obj in _items(collection):
                    state = _state(obj)
                    if state is None:
                        continue
                    settled += 1
                    if _is_deleting(obj):
                        del collection[key]
                    else:
                        obj.__dict__.pop(_STATE_ATTR, None)
                        obj.__dict__[_PLAIN_STATUS_ATTR] = state._transitions[-1][1]
                        if collection is backend.clusters:
                            obj._status = state._transitions[-1][1]
    return settled


def _edit_cluster_snapshot(body: dict[str, Any]) -> dict[str, Any]:
    """Change what no AWS API can: snapshot type and creation time."""
    from moto.rds.models import rds_backends

    account = body.get("account_id", DEFAULT_ACCOUNT_ID)
    backend = rds_backends[account][body["region"]]
    snapshot = backend.cluster_snapshots[body["identifier"]]
    if "snapshot_type" in body:
        snapshot.snapshot_type = body["snapshot_type"]
    if "created_at" in body:
        created = datetime.fromisoformat(body["created_at"])
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        # moto keeps naive UTC datetimes.
        snapshot.created = created.astimezone(UTC).replace(tzinfo=None)
    return {
        "identifier": snapshot.db_cluster_snapshot_identifier,
        "snapshot_type": snapshot.snapshot_type,
        "created_at": snapshot.created.isoformat(),
    }


_STATUS_COLLECTIONS = {
    "cluster": "clusters",
    "cluster-snapshot": "cluster_snapshots",
    "instance": "databases",
}


def _set_status(body: dict[str, Any]) -> dict[str, Any]:
    """Put an RDS object into any status, e.g. ``failed`` or ``incompatible-restore``.

    The status sticks: it replaces the object's in-progress transition.
    """
    from moto.rds.models import rds_backends

    account = body.get("account_id", DEFAULT_ACCOUNT_ID)
    backend = rds_backends[account][body["region"]]
    collection = getattr(backend, _STATUS_COLLECTIONS[body["kind"]])
    obj = collection[body["identifier"]]
    obj.status = body["status"]
    return {"identifier": body["identifier"], "status": obj.status}


class DropRequest(Exception):
    """Raised by a ``before`` call hook: the request never reaches moto and is not counted.
    The client (if it is still there to read it) gets this error: by default a 503, or
    e.g. ``DropRequest("DBClusterAlreadyExistsFault", 400)`` where AWS refuses a call that
    moto would accept."""

    def __init__(
        self,
        code: str = "ServiceUnavailable",
        status: int = 503,
        message: str = "request dropped by a sandbox hook",
    ) -> None:
        super().__init__(code)
        self.code, self.status, self.message = code, status, message


# (service, operation, region) of the request a hook is called for.
CallHook = Callable[[str, str, str], None]


class _Hook:
    def __init__(
        self, operation: str, before: CallHook | None, after: CallHook | None, times: int | None
    ) -> None:
        self.operation = operation
        self.before = before
        self.after = after
        self.remaining = times


class _Hooks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: list[_Hook] = []

    def add(self, hook: _Hook) -> None:
        with self._lock:
            self._hooks.append(hook)

    def remove(self, hook: _Hook) -> None:
        with self._lock:
            if hook in self._hooks:
                self._hooks.remove(hook)

    def clear(self) -> None:
        with self._lock:
            self._hooks.clear()

    def take(self, operation: str) -> list[_Hook]:
        """The hooks of ``operation`` for one request; each use counts against ``times``."""
        with self._lock:
            found = []
            for hook in list(self._hooks):
                if hook.operation != operation:
                    continue
                found.append(hook)
                if hook.remaining is not None:
                    hook.remaining -= 1
                    if hook.remaining <= 0:
                        self._hooks.remove(hook)
            return found


def _dropped(start_response: Callable[..., Any], drop: DropRequest) -> list[bytes]:
    from http import HTTPStatus

    start_response(
        f"{drop.status} {HTTPStatus(drop.status).phrase}", [("Content-Type", "text/xml")]
    )
    kind = "Sender" if drop.status < 500 else "Receiver"
    return [
        (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{drop.code}</Code>"
            f"<Message>{drop.message}</Message></Error>"
            "<RequestId>dropped</RequestId></ErrorResponse>"
        ).encode()
    ]


class _CallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[tuple[str, str, str, str]] = []

    def add(self, service: str, operation: str, region: str, account: str = "") -> None:
        with self._lock:
            self._calls.append((service, operation, region, account))

    def snapshot(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return [call[:3] for call in self._calls]

    def with_accounts(self) -> list[tuple[str, str, str, str]]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


def _credential_scope(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, region) from a SigV4 Authorization header."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    marker = "Credential="
    if marker not in auth:
        return "", ""
    scope = auth.split(marker, 1)[1].split(",", 1)[0].split("/")
    # AKID/date/region/service/aws4_request
    if len(scope) >= 5:
        return scope[3], scope[2]
    return "", ""


def _operation(environ: dict[str, Any], body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:  # JSON protocols: DynamoDB, KMS, SSM, Secrets Manager, ...
        return target.rsplit(".", 1)[-1]
    path = environ.get("PATH_INFO", "")
    if "/operation/" in path:  # Smithy RPC v2 (CBOR), e.g. newer CloudWatch
        return path.rsplit("/operation/", 1)[1].strip("/")
    content_type = environ.get("CONTENT_TYPE", "")
    if "x-www-form-urlencoded" in content_type and body:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:  # query protocol: RDS, EC2, SNS, ...
            return form["Action"][0]
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    return f"{environ.get('REQUEST_METHOD', 'GET')} {path}"


# DynamoDB writes whose condition AWS checks atomically with the write; moto, serving
# requests in threads, does not: two conditional writes could both pass (leases rely on it).
_ATOMIC_DYNAMODB = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)


class _SandboxApp:
    """WSGI middleware: counts AWS operations and serves /_sandbox/ controls."""

    def __init__(self, app: _WSGIApp, calls: _CallLog, hooks: _Hooks | None = None) -> None:
        self._app = app
        self._calls = calls
        self._hooks = hooks or _Hooks()
        self._dynamodb_writes = threading.Lock()
        # moto's RDS backend is not thread-safe: under many concurrent restores a describe
        # iterates a dict that a concurrent restore changes, and the threaded server answers
        # 500 ("OrderedDict mutated during iteration"). AWS has no such failure, so RDS
        # requests are served one at a time.
        self._rds = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = b""
        if length > 0:
            body = environ["wsgi.input"].read(length)
            # moto reads the body again, so hand it a fresh stream.
            environ["wsgi.input"] = io.BytesIO(body)
        if path.startswith("/moto-api"):
            return self._app(environ, start_response)
        service, region = _credential_scope(environ)
        operation = _operation(environ, body)
        hooks = self._hooks.take(operation)
        for hook in hooks:
            if hook.before is not None:
                try:
                    hook.before(service, operation, region)
                except DropRequest as drop:
                    return _dropped(start_response, drop)
        account = rds_accounts.caller_account(environ, DEFAULT_ACCOUNT_ID)
        self._calls.add(service, operation, region, account)
        # moto handles the request inside this call; the body iterable is already built.
        if service == "dynamodb" and operation in _ATOMIC_DYNAMODB:
            with self._dynamodb_writes:
                result = self._app(environ, start_response)
        elif service == "rds":
            with self._rds:
                result = self._app(environ, start_response)
        else:
            result = self._app(environ, start_response)
        for hook in hooks:
            if hook.after is not None:
                hook.after(service, operation, region)
        return result

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ["PATH_INFO"][len(CONTROL_PREFIX) :].strip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        try:
            body = json.loads(raw) if raw else {}
            if path == "calls" and method == "GET":
                result: Any = {"calls": [list(call) for call in self._calls.with_accounts()]}
            elif path == "calls" and method == "DELETE":
                self._calls.clear()
                result = {}
            elif path == "rds/settle" and method == "POST":
                result = {"settled": _settle(body.get("region"))}
            elif path == "rds/cluster-snapshot" and method == "POST":
                result = _edit_cluster_snapshot(body)
            elif path == "rds/status" and method == "POST":
                result = _set_status(body)
            elif path == "rds/cluster" and method == "POST":
                result = rds_sources.set_restorable_window(
                    body, body.get("account_id", DEFAULT_ACCOUNT_ID)
                )
            else:
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"error": "unknown sandbox control"}']
        except (KeyError, ValueError) as exc:
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [json.dumps({"error": repr(exc)}).encode()]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(result).encode()]


def _request(endpoint_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        endpoint_url.rstrip("/") + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as response:
        payload = response.read()
    return json.loads(payload) if payload.strip() else None


class AwsSandbox:
    """moto server on 127.0.0.1 with RDS in-progress states and a call counter.

    All control methods go over HTTP, so ``AwsSandbox.attach(url)`` drives a
    server that runs in another process (``python -m aurora_restore_sandbox.aws``).
    """

    def __init__(self, delay_seconds: float = 0, port: int = 0, quiet: bool = True) -> None:
        self.delay_seconds = delay_seconds
        self._port = port
        self._quiet = quiet
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._endpoint_url: str | None = None
        self._calls = _CallLog()
        self._hooks = _Hooks()

    @classmethod
    def attach(cls, endpoint_url: str) -> AwsSandbox:
        """Control a sandbox server that is already running elsewhere."""
        sandbox = cls()
        sandbox._endpoint_url = endpoint_url.rstrip("/")
        return sandbox

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError("The AWS sandbox is not started.")
        return self._endpoint_url

    def start(self) -> str:
        if self._server is not None:
            return self.endpoint_url
        install_rds_states()
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        handler = _quiet_handler_class() if self._quiet else MotoRequestHandler
        app = _SandboxApp(DomainDispatcherApplication(create_backend_app), self._calls, self._hooks)
        self._server = make_server(
            "127.0.0.1", self._port, app, threaded=True, request_handler=handler
        )
        self._endpoint_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="aws-sandbox", daemon=True
        )
        self._thread.start()
        self.set_delays(self.delay_seconds)
        return self._endpoint_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

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

    def set_transition(self, model: str, transition: dict[str, Any]) -> None:
        """Any moto transition, e.g. ``{"progression": "manual", "times": 3}``."""
        _request(
            self.endpoint_url,
            "POST",
            "/moto-api/state-manager/set-transition",
            {"model_name": model, "transition": transition},
        )

    def set_delay(self, model: str, seconds: float) -> None:
        """How long an in-progress state of ``model`` lasts (0: finished at once)."""
        if seconds > 0:
            self.set_transition(model, {"progression": "time", "seconds": seconds})
        else:
            self.set_transition(model, {"progression": "immediate"})

    def set_delays(self, seconds: float, models: Iterable[str] = RDS_MODELS) -> None:
        for model in models:
            self.set_delay(model, seconds)

    def reset(self) -> None:
        """Forget all AWS data, counted calls and call hooks; restore the initial delays."""
        _request(self.endpoint_url, "POST", "/moto-api/reset")
        self.reset_calls()
        self.clear_hooks()
        self.set_delays(self.delay_seconds)

    def settle(self, region: str | None = None) -> int:
        """Finish every in-flight RDS transition now; returns how many."""
        result = _request(self.endpoint_url, "POST", "/_sandbox/rds/settle", {"region": region})
        return int(result["settled"])

    def edit_cluster_snapshot(
        self,
        region: str,
        identifier: str,
        snapshot_type: str | None = None,
        created_at: datetime | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
    ) -> dict[str, Any]:
        """Set what the API cannot: ``SnapshotType`` and ``SnapshotCreateTime``."""
        body: dict[str, Any] = {
            "region": region,
            "identifier": identifier,
            "account_id": account_id,
        }
        if snapshot_type is not None:
            body["snapshot_type"] = snapshot_type
        if created_at is not None:
            body["created_at"] = created_at.isoformat()
        result: dict[str, Any] = _request(
            self.endpoint_url, "POST", "/_sandbox/rds/cluster-snapshot", body
        )
        return result

    def set_restorable_window(self, region: str, identifier: str, earliest: datetime) -> None:
        """Move a cluster's EarliestRestorableTime back: moto sets it to the creation time."""
        body = {"region": region, "identifier": identifier}
        body["earliest_restorable_time"] = earliest.isoformat()
        _request(self.endpoint_url, "POST", "/_sandbox/rds/cluster", body)

    def set_status(self, region: str, kind: str, identifier: str, status: str) -> None:
        """Put an RDS object (``kind``: cluster, cluster-snapshot or instance) into
        ``status`` for good, e.g. ``failed``, ``incompatible-restore`` or
        ``inaccessible-encryption-credentials``: states no AWS API can cause."""
        _request(
            self.endpoint_url,
            "POST",
            "/_sandbox/rds/status",
            {"region": region, "kind": kind, "identifier": identifier, "status": status},
        )

    def on_call(
        self,
        operation: str,
        before: CallHook | None = None,
        after: CallHook | None = None,
        times: int | None = 1,
    ) -> Callable[[], None]:
        """Run ``before`` when ``operation`` (e.g. ``CreateDBInstance``) arrives, before moto
        handles it, and ``after`` once moto has handled it but before the response is sent.
        Both are called in the server's thread with (service, operation, region); a
        ``before`` that raises :class:`DropRequest` drops the request (not handled, not
        counted). ``times`` requests are hooked (None: all). Returns the undo. Only for a
        server started in this process."""
        if self._server is None:
            raise RuntimeError("call hooks need a sandbox started in this process")
        hook = _Hook(operation, before, after, times)
        self._hooks.add(hook)
        return lambda: self._hooks.remove(hook)

    def clear_hooks(self) -> None:
        self._hooks.clear()

    def call_records(self) -> list[tuple[str, str, str]]:
        """Every AWS call the server received: (service, operation, region)."""
        if self._server is not None:
            return self._calls.snapshot()
        result = _request(self.endpoint_url, "GET", "/_sandbox/calls")
        return [(str(s), str(o), str(r)) for s, o, r, _ in result["calls"]]

    def account_calls(self) -> list[tuple[str, str, str, str]]:
        """Every AWS call received as (account, service, operation, region): the account
        is the caller's (an assumed role acts in the role's account)."""
        if self._server is not None:
            records = self._calls.with_accounts()
        else:
            records = [
                tuple(c) for c in _request(self.endpoint_url, "GET", "/_sandbox/calls")["calls"]
            ]
        return [(str(a), str(s), str(o), str(r)) for s, o, r, a in records]

    def calls(self, service: str | None = None) -> list[tuple[str, str]]:
        """(operation, region) of every AWS call received, oldest first."""
        return [
            (operation, region)
            for svc, operation, region in self.call_records()
            if service is None or svc == service
        ]

    def count(self, operation: str, region: str | None = None) -> int:
        return sum(
            1 for op, reg in self.calls() if op == operation and (region is None or reg == region)
        )

    def reset_calls(self) -> None:
        if self._server is not None:
            self._calls.clear()
        else:
            _request(self.endpoint_url, "DELETE", "/_sandbox/calls")

    def client(self, service: str, region: str = "us-east-1") -> Any:
        """A boto3 client pointed at this sandbox, with dummy credentials."""
        return sandbox_client(self.endpoint_url, service, region)


def sandbox_client(endpoint_url: str, service: str, region: str = "us-east-1") -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _quiet_handler_class() -> type[Any]:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietRequestHandler(MotoRequestHandler):
        # One log line per request drowns test output and slows long runs.
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

    return QuietRequestHandler


def _day_at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def _days(today: date, days: int) -> Iterator[date]:
    for offset in range(1, days + 1):
        yield today - timedelta(days=offset)


def seed_demo_data(
    endpoint_url: str,
    source_region: str = "us-east-1",
    target_region: str = "us-west-2",
    cluster: str = "prod",
    days: int = 3,
    today: date | None = None,
) -> dict[str, Any]:
    """A production-like source cluster with snapshots and a restorable window going back
    ``days`` days, and a target network.

    Source region: an encrypted, tagged, deletion-protected Aurora PostgreSQL
    cluster ``cluster`` with one instance; for each of the last ``days`` days
    an automated snapshot ``rds:<cluster>-<yyyy-mm-dd>-03-00`` taken at 03:00
    UTC and a manual one ``<cluster>-manual-<yyyy-mm-dd>`` at 12:00 UTC.
    Automated-ness and the creation times are set in the server's process
    through ``/_sandbox/rds/cluster-snapshot``, because RDS has no API for
    them. moto's own automated snapshot from the cluster's creation (today)
    is left as it is.

    Target region: a KMS key aliased ``alias/staging``, a VPC with three
    subnets, a security group open to PostgreSQL from the VPC, and a DB subnet
    group ``staging-subnets``.
    """
    sandbox = AwsSandbox.attach(endpoint_url)
    today = today or datetime.now(UTC).date()
    rds = sandbox.client("rds", source_region)
    kms = sandbox.client("kms", source_region)

    source_key = kms.create_key(Description=f"{cluster} Aurora storage")["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/{cluster}-aurora", TargetKeyId=source_key["KeyId"])
    tags = [
        {"Key": "environment", "Value": "production"},
        {"Key": "team", "Value": "payments"},
        {"Key": "cost-center", "Value": "cc-1234"},
    ]
    created = rds.create_db_cluster(
        DBClusterIdentifier=cluster,
        Engine="aurora-postgresql",
        EngineVersion="15.4",
        MasterUsername="postgres",
        MasterUserPassword="prod-secret-password",
        DatabaseName="app",
        Port=5432,
        StorageEncrypted=True,
        KmsKeyId=source_key["Arn"],
        DeletionProtection=True,
        CopyTagsToSnapshot=True,
        Tags=tags,
    )["DBCluster"]
    instance_id = f"{cluster}-1"
    rds.create_db_instance(
        DBInstanceIdentifier=instance_id,
        DBClusterIdentifier=cluster,
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
        Tags=tags,
    )

    automated: list[str] = []
    manual: list[str] = []
    for day in _days(today, days):
        for snapshot_id, snapshot_type, taken_at in (
            (f"rds:{cluster}-{day.isoformat()}-03-00", "automated", _day_at(day, 3)),
            (f"{cluster}-manual-{day.isoformat()}", "manual", _day_at(day, 12)),
        ):
            rds.create_db_cluster_snapshot(
                DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier=snapshot_id, Tags=tags
            )
            sandbox.edit_cluster_snapshot(
                source_region, snapshot_id, snapshot_type=snapshot_type, created_at=taken_at
            )
            (automated if snapshot_type == "automated" else manual).append(snapshot_id)

    target_kms = sandbox.client("kms", target_region)
    target_key = target_kms.create_key(Description="staging Aurora storage")["KeyMetadata"]
    target_kms.create_alias(AliasName="alias/staging", TargetKeyId=target_key["KeyId"])

    ec2 = sandbox.client("ec2", target_region)
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.42.{index}.0/24", AvailabilityZone=f"{target_region}{az}"
        )["Subnet"]["SubnetId"]
        for index, az in enumerate("abc", start=1)
    ]
    sg_id = ec2.create_security_group(
        GroupName="staging-aurora", Description="staging Aurora PostgreSQL", VpcId=vpc_id
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "IpRanges": [{"CidrIp": "10.42.0.0/16"}],
            }
        ],
    )
    target_rds = sandbox.client("rds", target_region)
    target_rds.create_db_subnet_group(
        DBSubnetGroupName="staging-subnets",
        DBSubnetGroupDescription="staging Aurora subnets",
        SubnetIds=subnet_ids,
    )
    # Its continuous backups go back as far as its oldest snapshot, for point-in-time restores.
    sandbox.set_restorable_window(source_region, cluster, _day_at(today - timedelta(days), 0))
    # Seeded data is history: nothing of it should still be "creating".
    sandbox.settle(source_region)
    sandbox.settle(target_region)

    return {
        "source": {
            "region": source_region,
            "cluster": cluster,
            "cluster_arn": created["DBClusterArn"],
            "instance": instance_id,
            "kms_key_arn": source_key["Arn"],
            "automated_snapshots": automated,
            "manual_snapshots": manual,
        },
        "target": {
            "region": target_region,
            "kms_key_id": target_key["KeyId"],
            "kms_key_arn": target_key["Arn"],
            "kms_alias": "alias/staging",
            "vpc_id": vpc_id,
            "subnet_ids": subnet_ids,
            "security_group_id": sg_id,
            "db_subnet_group": "staging-subnets",
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m aurora_restore_sandbox.aws",
        description="Run the AWS stand-in (moto with RDS in-progress states) in the foreground.",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--delay", type=float, default=0, help="seconds each RDS in-progress state lasts"
    )
    parser.add_argument("--seed", action="store_true", help="create the demo data")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    sandbox = AwsSandbox(delay_seconds=args.delay, port=args.port, quiet=not args.verbose)
    url = sandbox.start()
    if args.seed:
        print(f"SEEDED={json.dumps(seed_demo_data(url))}", flush=True)
    # The last line, and the sign that the server is ready (and seeded).
    print(f"AWS_ENDPOINT_URL={url}", flush=True)

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
    try:
        main()
    except urllib.error.URLError as exc:  # pragma: no cover - startup failure
        sys.exit(f"AWS sandbox failed: {exc}")
