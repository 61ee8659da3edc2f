"""AWS faults injected with botocore's before-send hook: the response carries the error's
XML or JSON, so botocore's real retry logic and our error translation both run."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def _xml(code: str, message: str) -> bytes:
    return (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>injected</RequestId></ErrorResponse>"
    ).encode()


class Fault:
    """Fail ``operation`` (e.g. ``rds.CopyDBClusterSnapshot``) ``times`` times."""

    def __init__(
        self,
        session: boto3.Session,
        operation: str,
        code: str,
        status: int = 400,
        times: int = 1,
        message: str = "injected fault",
    ) -> None:
        self.code, self.status, self.remaining, self.message = code, status, times, message
        self.hits = 0
        session.events.register(f"before-send.{operation}", self)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.remaining == 0:
            return None
        self.remaining -= 1
        self.hits += 1
        return AWSResponse(
            request.url,
            self.status,
            {"Content-Type": "text/xml"},
            _Raw(_xml(self.code, self.message)),
        )
