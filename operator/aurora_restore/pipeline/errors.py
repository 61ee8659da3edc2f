"""Errors the pipeline understands. Adapters translate their libraries' errors into these."""

from __future__ import annotations

from ..api.status import ErrorType

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
