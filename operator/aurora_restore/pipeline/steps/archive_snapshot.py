"""archive-snapshot: apply the archive policy to the copied snapshot, never the source."""

from __future__ import annotations

from ...api.names import ARCHIVED_TAG
from ...api.restore import ArchivePolicy
from ..context import Context, StepResult
from ..errors import safety
from . import _sources
from ._safety import made_by_this_run

NAME = "archive-snapshot"


def run(ctx: Context) -> StepResult:
    copy = ctx.status.copy_
    if skipped := _sources.nothing_to_archive(ctx):
        return StepResult.skip(skipped)
    if copy is None:
        return StepResult.skip(
            "No copied snapshot to archive; the source snapshot is never modified"
        )
    policy = ctx.spec.archive.policy
    if policy is ArchivePolicy.Retain:
        copy.archived = "retained"
        return StepResult.finished(
            f"Snapshot copy {copy.identifier} retained", reason="SnapshotRetained", used_aws=False
        )
    snap = ctx.ports.rds.get_snapshot(copy.region, copy.identifier)
    if snap is None or (policy is ArchivePolicy.Delete and snap.status == "deleting"):
        # Also what a resumed run sees when the tick that deleted it was not recorded.
        copy.archived = "deleted"
        return StepResult.finished(
            f"Snapshot copy {copy.identifier} is already gone", reason="SnapshotArchived"
        )
    source = ctx.status.snapshot
    if (source and snap.arn == source.arn) or not made_by_this_run(ctx, dict(snap.tags)):
        raise safety(
            f"Snapshot {snap.identifier} was not made by this restore; it is not archived",
            code="ForeignSnapshot",
        )
    if policy is ArchivePolicy.Delete:
        ctx.ports.rds.delete_snapshot(copy.region, copy.identifier)
        copy.archived = "deleted"
    else:
        ctx.ports.rds.tag_resource(copy.region, snap.arn, {ARCHIVED_TAG: ctx.iso_now()})
        copy.archived = "tagged"
    return StepResult.finished(
        "Snapshot archived successfully",
        reason="SnapshotArchived",
        target_snapshot_name=copy.identifier,
        target_region=copy.region,
        policy=policy.value,
    )
