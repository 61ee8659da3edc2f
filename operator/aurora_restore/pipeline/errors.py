"""Errors the pipeline understands, and which of them are worth a retry.

Adapters translate their libraries' errors into these; what is transient, throttling or
permanent is decided here, for AWS and PostgreSQL alike (docs/reliability.md), and
nowhere else.
"""

from __future__ import annotations

from ..api.status import ErrorType

# -- Retry classification -------------------------------------------------------------------

# AWS asks the caller to slow down: retried (botocore retries them first), and the region's
# rate limit is halved (aws/ratelimit.py).
THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
# AWS errors that a later attempt of the same call can get past.
TRANSIENT = THROTTLING | {
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
}

# Errors that a repeat cannot fix, even when AWS sends them with a 5xx status: the key, a
# parameter or the request itself is wrong.
PERMANENT = frozenset(
    {
        "KMSKeyNotAccessibleFault",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "InvalidParameterValueException",
        "NotFoundException",
    }
)

# AWS refuses an action because the object is busy (a backup, a modification or a failover is
# in progress): the same call succeeds once that ends, so these are retried with backoff
# like throttling, and fail the restore only when the retries run out (docs/reliability.md).
AWS_BUSY_CODES = frozenset(
    {
        "InvalidDBClusterStateFault",
        "InvalidDBInstanceStateFault",
        "InvalidDBClusterSnapshotStateFault",
    }
)


# Retryable errors that mean "not there yet" rather than "something broke": a Secret or
# ConfigMap that External Secrets or a Vault agent creates a little later, a database that
# does not accept connections yet. Waited for with backoff up to the step's timeout, not
# bounded by MAX_RETRIES.
WAITED_FOR = frozenset({"SecretNotFound", "ConfigMapNotFound", "ConnectionFailed"})

# PostgreSQL: SQLSTATE classes and codes after which the same work may succeed on a later
# attempt; classes 08 and 57P mean the connection itself was lost.
SQLSTATE_RETRYABLE_CLASSES = ("08", "53", "57")  # connection, resources, operator intervention
SQLSTATE_RETRYABLE_CODES = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock
SQLSTATE_CONNECTION_LOST = ("08", "57P")
# libpq's words for a server that is busy or not ready yet (no SQLSTATE before login).
# Checked first: "too many connections for role" names a role but is only a busy server.
CONNECT_TRANSIENT_MARKERS = (
    "too many connections",
    "remaining connection slots",
    "the database system is",  # starting up, shutting down, in recovery mode
)


def aws_retryable(code: str, http_status: int) -> bool:
    """Whether an AWS error answer is worth the same call again."""
    return code in TRANSIENT or (http_status >= 500 and code not in PERMANENT)


def sqlstate_retryable(pgcode: str | None) -> bool:
    """Whether a PostgreSQL error (after connecting) is worth the same work again."""
    return pgcode is not None and (
        pgcode in SQLSTATE_RETRYABLE_CODES or pgcode[:2] in SQLSTATE_RETRYABLE_CLASSES
    )


# -- The errors -----------------------------------------------------------------------------


class StepFailure(Exception):
    """A permanent failure: the restore ends as Failed with this type, code and sentence."""

    def __init__(self, type_: ErrorType, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.code = code


class PortError(StepFailure):
    """An error raised by an adapter (AWS, database, Kubernetes).

    ``retryable`` errors (throttling, 5xx, dropped connections, and AWS's "invalid state"
    faults of a busy object) are retried with backoff; the others fail the restore at once.
    """

    def __init__(
        self,
        type_: ErrorType,
        message: str,
        code: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(type_, message, code)
        self.retryable = retryable or (type_ is ErrorType.AWSError and code in AWS_BUSY_CODES)


def aws_error(message: str, code: str | None = None, retryable: bool = False) -> PortError:
    return PortError(ErrorType.AWSError, message, code, retryable)


def safety(message: str, code: str = "SafetyViolation") -> StepFailure:
    return StepFailure(ErrorType.SafetyViolation, message, code)


def invalid(message: str, code: str = "InvalidSpec") -> StepFailure:
    return StepFailure(ErrorType.ValidationError, message, code)
