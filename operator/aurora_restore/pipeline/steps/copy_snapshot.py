"""copy-snapshot: copy the snapshot into the target region (skipped in the same region), or
from another account, after sharing it with ours (pipeline/steps/_cross_account.py)."""

from __future__ import annotations

from ...api.names import OPERATION_TAG
from ...api.status import CopyStatus
from ..context import Context, StepResult
from ..errors import safety
from ..ports import Snapshot
from . import _cross_account, _sources

NAME = "copy-snapshot"
SAME_REGION = "No need to copy snapshot, regions are the same"


def _record(ctx: Context, snap: Snapshot) -> None:
    ctx.status.copy_ = CopyStatus.mirror(snap)


def run(ctx: Context) -> StepResult:
    if skipped := _sources.no_snapshot(ctx):
        return StepResult.skip(skipped)
    if not ctx.spec.copies:
        return StepResult.skip(SAME_REGION)
    assert ctx.status.snapshot
    target_region = ctx.spec.target.region
    target_id = ctx.copy_identifier()
    # An earlier attempt may have started the copy before the process stopped: adopt it.
    existing = ctx.ports.rds.get_snapshot(target_region, target_id)
    if existing:
        if existing.tags.get(OPERATION_TAG) != ctx.operation_id:
            raise safety(
                f"Snapshot {target_id} already exists in {target_region} and was not made by "
                "this restore; choose another copy.targetSnapshotIdentifier",
                code="SnapshotAlreadyExists",
            )
        _record(ctx, existing)
        return StepResult.finished(
            f"Snapshot copy {target_id} already started; following it", reason="CopyStarted"
        )
    if ctx.spec.cross_account and (sharing := _cross_account.share(ctx)) is not None:
        return sharing
    snapshots = _cross_account.snapshots(ctx)
    source = snapshots.get_snapshot(ctx.status.snapshot.region, ctx.status.snapshot.identifier)
    if source is None:
        source = Snapshot(
            identifier=ctx.status.snapshot.identifier,
            arn=ctx.status.snapshot.arn,
            region=ctx.status.snapshot.region,
            status=ctx.status.snapshot.status or "available",
            cluster_identifier=ctx.status.snapshot.cluster_identifier or "",
            encrypted=ctx.status.snapshot.encrypted,
        )
    copied = ctx.ports.rds.copy_snapshot(
        target_region, source, target_id, ctx.spec.copy_.kms_key_id, ctx.tags()
    )
    _record(ctx, copied)
    return StepResult.finished(
        "Snapshot copy initiated",
        reason="CopyStarted",
        snapshot_name=source.identifier,
        source_region=source.region,
        target_region=target_region,
        target_snapshot_name=target_id,
        copy_status=copied.status,
        **_share_details(ctx),
    )


def _share_details(ctx: Context) -> dict[str, object]:
    """The audit trail's record of the share (cross-account only)."""
    snap = ctx.status.snapshot
    if not ctx.spec.cross_account or snap is None:
        return {}
    return {"shared_with_account": snap.shared_with, "share": snap.share}
