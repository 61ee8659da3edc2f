"""What the AWS stand-in knows of each call: the log of calls received, and the hooks
that tests attach to one operation.

The server counts the AWS operations it receives (server-side, so the operator can be a
separate process). Tests that need to act at an exact moment (a crash just before or just
after a call) register call hooks with :meth:`~.server.AwsSandbox.on_call`: a callback
run in the server thread before moto handles an operation (it may raise
:class:`DropRequest` so that the call never happens) or after moto handled it and before
the response is sent. Hooks are in-process only.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable
from typing import Any


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


class Hook:
    def __init__(
        self, operation: str, before: CallHook | None, after: CallHook | None, times: int | None
    ) -> None:
        self.operation = operation
        self.before = before
        self.after = after
        self.remaining = times


class Hooks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: list[Hook] = []

    def add(self, hook: Hook) -> None:
        with self._lock:
            self._hooks.append(hook)

    def remove(self, hook: Hook) -> None:
        with self._lock:
            if hook in self._hooks:
                self._hooks.remove(hook)

    def clear(self) -> None:
        with self._lock:
            self._hooks.clear()

    def take(self, operation: str) -> list[Hook]:
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


def dropped_response(start_response: Callable[..., Any], drop: DropRequest) -> list[bytes]:
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


class CallLog:
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


def _credential(environ: dict[str, Any]) -> list[str]:
    """The parts of a SigV4 credential, AKID/date/region/service/aws4_request ([]: none)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    marker = "Credential="
    if marker not in auth:
        return []
    return auth.split(marker, 1)[1].split(",", 1)[0].split("/")


def credential_scope(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, region) from a SigV4 Authorization header."""
    scope = _credential(environ)
    if len(scope) >= 5:
        return scope[3], scope[2]
    return "", ""


def caller_account(environ: dict[str, Any], default: str) -> str:
    """The account moto answers a request as: the one of its access key (an assumed role's
    key belongs to the role's account). For the call log."""
    from moto.iam.models import get_account_id_from

    scope = _credential(environ)
    return get_account_id_from(scope[0]) if scope else default


def operation_of(environ: dict[str, Any], body: bytes) -> str:
    """The AWS operation of a request, whichever protocol its service speaks."""
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
