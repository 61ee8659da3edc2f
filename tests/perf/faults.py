"""An AWS error injected with botocore's before-send hook, so that botocore's own retries
and the adapter's error handling both run (as tests/pipeline/faults.py)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


class Fault:
    """Answer ``operation`` (e.g. ``rds.DescribeDBClusters``) with ``code``, ``times`` times."""

    def __init__(
        self, session: boto3.Session, operation: str, code: str, status: int = 400, times: int = 1
    ) -> None:
        self.code, self.status, self.remaining, self.hits = code, status, times, 0
        session.events.register(f"before-send.{operation}", self)

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.remaining == 0:
            return None
        self.remaining -= 1
        self.hits += 1
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{self.code}</Code><Message>injected</Message></Error>"
            "<RequestId>injected</RequestId></ErrorResponse>"
        ).encode()
        return AWSResponse(request.url, self.status, {"Content-Type": "text/xml"}, _Raw(body))
