"""Which errors are worth a retry is decided in one place (pipeline/errors.py); the AWS and
PostgreSQL adapters translate their libraries' errors with it."""

from __future__ import annotations

import botocore.exceptions
import pytest

from aurora_restore.aws.clients import translate
from aurora_restore.pipeline.errors import (
    THROTTLING,
    aws_error,
    aws_retryable,
    sqlstate_retryable,
)


def _client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "DescribeDBClusters",
    )


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("Throttling", 400, True),
        ("RequestLimitExceeded", 503, True),
        ("ServiceUnavailable", 503, True),
        ("SomethingNew", 500, True),  # an unknown 5xx is worth another attempt
        ("SomethingNew", 400, False),
        ("KMSKeyNotAccessibleFault", 500, False),  # permanent even when sent as a 5xx
        ("InvalidParameterValue", 500, False),
        ("AccessDenied", 403, False),
    ],
)
def test_aws_errors_are_classified_once(code: str, status: int, retryable: bool) -> None:
    assert aws_retryable(code, status) is retryable
    err = translate("DescribeDBClusters", _client_error(code, status))
    assert (err.code, err.retryable) == (code, retryable)


def test_throttling_is_transient_and_busy_objects_are_retried() -> None:
    assert all(aws_retryable(code, 400) for code in THROTTLING)
    assert aws_error("busy", "InvalidDBClusterStateFault").retryable
    assert not aws_error("gone", "DBClusterNotFoundFault").retryable


@pytest.mark.parametrize(
    ("pgcode", "retryable"),
    [
        ("40001", True),  # serialization failure
        ("40P01", True),  # deadlock
        ("53300", True),  # too many connections
        ("08006", True),  # connection failure
        ("57P01", True),  # admin shutdown
        ("23505", False),  # unique violation: the same script fails again
        ("42601", False),  # syntax error
        (None, False),
    ],
)
def test_sqlstates_are_classified_once(pgcode: str | None, retryable: bool) -> None:
    assert sqlstate_retryable(pgcode) is retryable
