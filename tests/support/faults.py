"""AWS errors injected with botocore's before-send hook: the response carries the error's
XML or JSON as AWS would send it, so botocore's real retry logic and the adapters' error
translation both run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

# The services whose errors are JSON (the others' are the query protocol's XML).
JSON_SERVICES = frozenset({"secretsmanager", "dynamodb", "kms"})


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def error_response(url: str, service: str, code: str, message: str, status: int) -> AWSResponse:
    """The HTTP answer of an AWS error ``code`` (a 4xx is the sender's fault, a 5xx AWS's)."""
    if service in JSON_SERVICES:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1"}
    else:
        kind = "Sender" if status < 500 else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml"}
    return AWSResponse(url, status, headers, _Raw(body))


class Fault:
    """Answer ``operation`` (e.g. ``rds.CopyDBClusterSnapshot``) with the error ``code``,
    ``times`` times."""

    def __init__(
        self,
        session: boto3.Session,
        operation: str,
        code: str,
        status: int = 400,
        times: int = 1,
        message: str = "injected fault",
    ) -> None:
        self.service = operation.split(".", 1)[0]
        self.code, self.status, self.remaining, self.message = code, status, times, message
        self.hits = 0
        session.events.register(f"before-send.{operation}", self)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.remaining == 0:
            return None
        self.remaining -= 1
        self.hits += 1
        return error_response(request.url, self.service, self.code, self.message, self.status)
