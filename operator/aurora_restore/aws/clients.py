"""boto3 clients, one per service and region, with botocore's own retries for throttling.

``AWS_ENDPOINT_URL`` (boto3's own setting) points every client at a local stand-in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import botocore.parsers
import botocore.session
from botocore.credentials import RefreshableCredentials

from ..api.status import ErrorType
from ..pipeline.errors import PortError, aws_error, aws_retryable

# Observers of every AWS call: (service, operation, region, outcome). Metrics hook in here.
CallObserver = Callable[[str, str, str, str], None]
# Observers of the calls made with an assumed role: (role ARN, service, operation, region).
RoleObserver = Callable[[str, str, str, str], None]

OWN_POLICY = "the operator's IAM policy, docs/iam.md"
SOURCE_POLICY = "the source role's policy, docs/cross-account.md"
# Assumed-role sessions kept at once (one per source role and run); the oldest goes first.
ROLE_CACHE = 64
ROLE_SESSION_SECONDS = 3600
# Connections each client keeps per host beyond the worker threads: the threads of the
# operator's own (the region refresh, the records), which call AWS outside the workers.
POOL_SPARE = 4
# botocore's own default, for clients made without a worker count (the CLI's one-offs).
DEFAULT_WORKERS = 10 - POOL_SPARE


class Clients:
    def __init__(
        self,
        session: boto3.Session | None = None,
        max_retries: int = 3,
        role_arn: str | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        self._session = session or boto3.Session()
        self._max_retries = max_retries
        self._workers = workers
        # Set on the clients of an assumed role (the source account of a cross-account run).
        self.role_arn = role_arn
        self._config = botocore.config.Config(
            # botocore's "max_attempts" here counts retries after the first attempt.
            retries={"mode": "standard", "max_attempts": max_retries},
            connect_timeout=10,
            read_timeout=30,
            # As many connections as threads that may call at once: with fewer, every call
            # beyond the pool opens a TCP (and TLS) connection and urllib3 discards it after
            # ("Connection pool is full").
            max_pool_connections=workers + POOL_SPARE,
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.observers: list[CallObserver] = []
        self.role_observers: list[RoleObserver] = []
        self._roles: dict[tuple[str, str | None, str], Clients] = {}
        self._account: str | None = None

    def account_id(self) -> str:
        """This identity's account (STS GetCallerIdentity, asked once)."""
        if self._account is None:
            region = self._session.region_name or "us-east-1"
            self._account = str(self.call("sts", region, "GetCallerIdentity")["Account"])
        return self._account

    def for_role(self, role_arn: str, external_id: str | None, session_name: str) -> Clients:
        """Clients acting as ``role_arn`` (STS AssumeRole with this identity), cached per
        role and session; botocore refreshes the credentials before they expire."""
        key = (role_arn, external_id, session_name)
        with self._lock:
            found = self._roles.get(key)
        if found is not None:
            return found
        region = self._session.region_name or "us-east-1"
        params: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": session_name,
            "DurationSeconds": ROLE_SESSION_SECONDS,
        }
        if external_id:
            params["ExternalId"] = external_id

        def assume() -> dict[str, str]:
            creds = self.call("sts", region, "AssumeRole", **params)["Credentials"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        credentials = RefreshableCredentials.create_from_metadata(
            metadata=assume(), refresh_using=assume, method="sts-assume-role"
        )
        core = botocore.session.get_session()
        core._credentials = credentials  # the documented way to hand boto3 refreshable ones
        role = Clients(
            boto3.Session(botocore_session=core, region_name=region),
            self._max_retries,
            role_arn=role_arn,
            workers=self._workers,
        )
        role.observers.append(self._observe)
        role.role_observers = self.role_observers
        with self._lock:
            while len(self._roles) >= ROLE_CACHE:
                self._roles.pop(next(iter(self._roles)))
            self._roles[key] = role
        return role

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service, region_name=region, config=self._config
                )
            return self._clients[key]

    def call(self, service: str, region: str, operation: str, **params: Any) -> dict[str, Any]:
        """Call ``operation`` (CamelCase, as in IAM) and translate errors for the pipeline."""
        client = self.client(service, region)
        method = getattr(client, _snake(operation))
        try:
            response: dict[str, Any] = method(**params)
        except Exception as exc:
            error = translate(operation, exc, SOURCE_POLICY if self.role_arn else OWN_POLICY)
            self._observe(service, operation, region, error.code or "Error")
            raise error from None
        self._observe(service, operation, region, "Success")
        return response

    def _observe(self, service: str, operation: str, region: str, outcome: str) -> None:
        for observer in self.observers:
            observer(service, operation, region, outcome)
        if self.role_arn:
            for role_observer in self.role_observers:
                role_observer(self.role_arn, service, operation, region)


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if (
            ch.isupper()
            and i
            and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower()))
        ):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def translate(operation: str, exc: BaseException, policy: str = OWN_POLICY) -> PortError:
    """A sentence without request parameters: botocore never echoes them, and we add none."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "Unknown")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        text = str(err.get("Message") or "").strip()
        retryable = aws_retryable(code, status)
        message = f"AWS {operation} failed with {code}" + (f": {text}" if text else "")
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            message += f" (check {policy})"
        return PortError(ErrorType.AWSError, message, code, retryable)
    if isinstance(
        exc,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectionClosedError
        | botocore.exceptions.ReadTimeoutError
        | botocore.exceptions.ConnectTimeoutError,
    ):
        return aws_error(
            f"AWS {operation} could not reach AWS: {type(exc).__name__}",
            code=type(exc).__name__,
            retryable=True,
        )
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return aws_error(
            f"AWS {operation} failed: no AWS credentials found (IRSA, environment or profile)",
            code="NoCredentials",
        )
    if isinstance(exc, botocore.parsers.ResponseParserError):
        # AWS (or a stand-in) answered something botocore cannot read: the same request
        # gets the same answer, so it fails at once.
        return aws_error(
            f"AWS {operation} returned a response that cannot be parsed", code="ResponseParserError"
        )
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return aws_error(f"AWS {operation} was given invalid parameters", code="ParamValidation")
    return aws_error(
        f"AWS {operation} failed: {type(exc).__name__}", code=type(exc).__name__, retryable=True
    )
