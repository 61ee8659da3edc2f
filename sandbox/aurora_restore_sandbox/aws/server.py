"""moto in server mode on 127.0.0.1, with RDS in-progress states (:mod:`.rds_states`), a
call log and call hooks (:mod:`.calls`) and the ``/_sandbox/`` controls
(:mod:`.controls`), as :class:`AwsSandbox`: started in this process, or attached to one
that runs elsewhere (``python -m aurora_restore_sandbox.aws``).
"""

from __future__ import annotations

import io
import json
import threading
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import boto3
from werkzeug.serving import BaseWSGIServer, make_server

from ..lifecycle import Service
from .calls import (
    CallHook,
    CallLog,
    DropRequest,
    Hook,
    Hooks,
    caller_account,
    credential_scope,
    dropped_response,
    operation_of,
)
from .controls import CONTROL_PREFIX, DEFAULT_ACCOUNT_ID, RDS_CONTROLS
from .rds_states import RDS_MODELS, install_rds_states

_WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# DynamoDB writes whose condition AWS checks atomically with the write; moto, serving
# requests in threads, does not: two conditional writes could both pass (leases rely on it).
_ATOMIC_DYNAMODB = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)


class _SandboxApp:
    """WSGI middleware: counts AWS operations and serves /_sandbox/ controls."""

    def __init__(self, app: _WSGIApp, calls: CallLog, hooks: Hooks | None = None) -> None:
        self._app = app
        self._calls = calls
        self._hooks = hooks or Hooks()
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
        service, region = credential_scope(environ)
        operation = operation_of(environ, body)
        hooks = self._hooks.take(operation)
        for hook in hooks:
            if hook.before is not None:
                try:
                    hook.before(service, operation, region)
                except DropRequest as drop:
                    return dropped_response(start_response, drop)
        account = caller_account(environ, DEFAULT_ACCOUNT_ID)
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
            elif (method, path) in RDS_CONTROLS:
                result = RDS_CONTROLS[(method, path)](body)
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


class AwsSandbox(Service):
    """moto server on 127.0.0.1 with RDS in-progress states and a call counter.

    All control methods go over HTTP, so ``AwsSandbox.attach(url)`` drives a
    server that runs in another process (``python -m aurora_restore_sandbox.aws``).
    """

    what = "The AWS sandbox"

    def __init__(self, delay_seconds: float = 0, port: int = 0, quiet: bool = True) -> None:
        self.delay_seconds = delay_seconds
        self._port = port
        self._quiet = quiet
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._endpoint_url: str | None = None
        self._calls = CallLog()
        self._hooks = Hooks()

    @classmethod
    def attach(cls, endpoint_url: str) -> AwsSandbox:
        """Control a sandbox server that is already running elsewhere."""
        sandbox = cls()
        sandbox._endpoint_url = endpoint_url.rstrip("/")
        return sandbox

    @property
    def endpoint_url(self) -> str:
        return self._started(self._endpoint_url)

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
        hook = Hook(operation, before, after, times)
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
