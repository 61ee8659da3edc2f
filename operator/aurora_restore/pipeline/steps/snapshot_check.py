"""snapshot-check: find the source snapshot and wait for it to be available."""

from __future__ import annotations

from ...api.rules import SNAPSHOT_ARN, parse_duration
from ...api.status import ErrorType, SnapshotStatus, SourceStatus
from ..context import Context, StepResult, iso, parse_iso
from ..errors import StepFailure, invalid
from ..ports import Snapshot
from . import _cross_account, _sources, _swap, preflight

NAME = "snapshot-check"
# States a snapshot does not leave by itself: fail now instead of waiting for waitTimeout.
FAILED_STATES = frozenset(
    {"failed", "deleting", "incompatible-restore", "inaccessible-encryption-credentials"}
)


def _candidates(ctx: Context) -> tuple[list[Snapshot], str]:
    source = ctx.spec.source
    rds = _cross_account.snapshots(ctx)
    if source.snapshot_identifier:
        arn = SNAPSHOT_ARN.match(source.snapshot_identifier)
        identifier = arn["id"] if arn else source.snapshot_identifier
        found = rds.get_snapshot(source.region, identifier)
        return ([found] if found else []), f"snapshot {identifier}"
    assert source.cluster_identifier
    date = ctx.status.snapshot_date
    snapshots = rds.list_snapshots(source.region, source.cluster_identifier, source.snapshot_type)
    if ctx.spec.cross_account:
        # AWS shares manual snapshots only: with snapshotType any, the newest manual one.
        snapshots = [s for s in snapshots if s.snapshot_type == "manual"]
    if date and date != "latest":
        snapshots = [
            s for s in snapshots if s.created_at and s.created_at.date().isoformat() == date
        ]
    snapshots.sort(key=lambda s: (s.created_at is not None, s.created_at), reverse=True)
    when = "the latest" if date == "latest" else f"a snapshot from {date} (UTC)"
    kind = "" if source.snapshot_type == "any" else f" {source.snapshot_type}"
    return snapshots, f"{when}{kind} of cluster {source.cluster_identifier}"


def _preflight(ctx: Context) -> StepResult | None:
    """The one-time checks; a result when the run must wait for a Secret or ConfigMap."""
    if ctx.status.preflight_passed_at:
        return None
    preflight.check_aws(ctx)
    missing = preflight.missing_reference(ctx)
    if missing is None:
        ctx.status.preflight_passed_at = ctx.iso_now()
        return None
    started = parse_iso(ctx.status.step(NAME).started_at or ctx.iso_now())
    waited = (ctx.now - started).total_seconds()
    limit = parse_duration(ctx.spec.timeouts.preflight).total_seconds()
    what, why = missing
    if waited >= limit:
        raise invalid(
            f"{what} did not appear within timeouts.preflight "
            f"({ctx.spec.timeouts.preflight}): {why}",
            code="ConfigMapNotFound" if what.startswith("ConfigMap") else "SecretNotFound",
        )
    # The step's backoff, doubling from backoffBase, never past the preflight's deadline.
    wait = min(ctx.config.backoff_max, max(ctx.config.backoff_base, waited), limit - waited)
    return StepResult.waiting(
        f"Waiting for {what} ({why}); checking again in {wait:.0f}s",
        wait=max(wait, 1.0),
        reason="WaitingForSecret",
    )


def _check_shareable(ctx: Context, snap: Snapshot) -> None:
    """Before any copy: the snapshot can be shared, and its key used, by the target account."""
    if snap.snapshot_type != "manual":
        raise invalid(
            f"Snapshot {snap.identifier} is {snap.snapshot_type}: AWS shares only manual "
            "snapshots with another account (the production account can copy it to a manual one)",
            code="SnapshotNotShareable",
        )
    if snap.encrypted and snap.kms_key_id:
        account = _cross_account.target_account(ctx)
        access = _cross_account.source(ctx).key_access(snap.region, snap.kms_key_id)
        problem = _cross_account.key_problem(access, account)
        if problem:
            raise invalid(
                f"Snapshot {snap.identifier} cannot be copied into account {account}: {problem}",
                code="KMSKeyNotShared",
            )


def run(ctx: Context) -> StepResult:
    source = ctx.spec.source
    _cross_account.check_role(ctx)
    waiting = _preflight(ctx)
    if waiting is not None:
        return waiting
    if source.from_cluster:
        result = _sources.check_source(ctx, NAME)
        if result.done:
            preflight.check_target(ctx)
            _swap.plan(ctx)
        return result
    candidates, searched = _candidates(ctx)
    available = [s for s in candidates if s.status == "available"]
    if not available:
        if candidates and all(s.status in FAILED_STATES for s in candidates):
            raise StepFailure(
                ErrorType.AWSError,
                f"{searched} in {source.region} is {candidates[0].status} and cannot be restored",
                code=candidates[0].status,
            )
        started = parse_iso(ctx.status.step(NAME).started_at or ctx.iso_now())
        limit = parse_duration(source.wait_timeout)
        if ctx.now - started >= limit:
            state = f" (still {candidates[0].status})" if candidates else ""
            raise StepFailure(
                ErrorType.SnapshotNotFound,
                f"Snapshot not found in region {source.region}: looked for {searched}{state} "
                f"for {source.wait_timeout}",
                code="SnapshotNotFound",
            )
        state = f"is {candidates[0].status}" if candidates else "does not exist yet"
        return StepResult.waiting(
            f"Waiting for {searched} in {source.region}: it {state}", details={"searched": searched}
        )

    snap = available[0]
    if ctx.spec.copies and snap.encrypted and not ctx.spec.copy_.kms_key_id:
        raise invalid(
            f"Snapshot {snap.identifier} is encrypted, so copy.kmsKeyId must name a KMS key in "
            f"{ctx.spec.target.region} for the "
            + ("cross-account" if ctx.spec.cross_account else "cross-region")
            + " copy"
        )
    if ctx.spec.cross_account:
        _check_shareable(ctx, snap)
    elif (
        snap.cluster_identifier == ctx.spec.target.cluster_identifier
        and snap.region == ctx.spec.target.region
    ):
        raise invalid(
            f"Snapshot {snap.identifier} was taken from {snap.cluster_identifier}, the target "
            "itself; restore to a different cluster"
        )
    ctx.status.snapshot = SnapshotStatus.mirror(
        snap, created_at=iso(snap.created_at) if snap.created_at else None
    )
    ctx.status.source = SourceStatus(
        method=source.method.value,
        region=source.region,
        cluster_identifier=snap.cluster_identifier or None,
        restore_time=ctx.status.snapshot.created_at,
    )
    # Now that the snapshot's cluster is known, the rails again (never the source).
    preflight.check_target(ctx)
    _swap.plan(ctx)
    return StepResult.finished(
        "Snapshot found successfully",
        reason="SnapshotFound",
        snapshot_name=snap.identifier,
        snapshot_arn=snap.arn,
        source_region=source.region,
        target_region=ctx.spec.target.region,
        snapshot_status=snap.status,
    )
