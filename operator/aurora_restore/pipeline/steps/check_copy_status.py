"""check-copy-status: follow the copy until it is available, reporting its progress."""

from __future__ import annotations

from ...api.status import ErrorType
from ..context import Context, StepResult
from ..errors import StepFailure
from . import _cross_account, _sources

NAME = "check-copy-status"
SAME_REGION = "No need to check copy status, source and target regions are the same"
FAILED_STATES = frozenset({"failed", "incompatible-restore", "inaccessible-encryption-credentials"})


def run(ctx: Context) -> StepResult:
    if skipped := _sources.no_snapshot(ctx):
        return StepResult.skip(skipped)
    if not ctx.spec.copies:
        return StepResult.skip(SAME_REGION)
    copy = ctx.status.copy_
    assert copy, "check-copy-status runs after copy-snapshot"
    snap = ctx.ports.rds.get_snapshot(copy.region, copy.identifier)
    if snap is None:
        raise StepFailure(
            ErrorType.AWSError,
            f"The snapshot copy {copy.identifier} disappeared from {copy.region} while copying",
            code="DBClusterSnapshotNotFoundFault",
        )
    copy.status = snap.status
    copy.percent_progress = snap.percent_progress
    copy.arn = snap.arn
    if snap.status in FAILED_STATES:
        raise StepFailure(
            ErrorType.AWSError,
            f"The snapshot copy {copy.identifier} in {copy.region} ended as {snap.status}",
            code=snap.status,
        )
    if snap.status != "available":
        return StepResult.waiting(
            f"Snapshot copy is still in progress ({snap.percent_progress}%)",
            status=snap.status,
            target_snapshot_name=copy.identifier,
        )
    copy.percent_progress = 100
    # The copy is ours now: the source account's snapshot need not stay shared.
    unshared = _cross_account.unshare(ctx)
    return StepResult.finished(
        "Snapshot copy is complete" + (f"; {unshared}" if unshared else ""),
        reason="CopyCompleted",
        target_snapshot_name=copy.identifier,
        region=copy.region,
        status="available",
        **({"unshared": unshared} if unshared else {}),
    )
