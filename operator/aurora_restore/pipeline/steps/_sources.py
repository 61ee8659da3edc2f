"""source.method PointInTime and Clone: the new cluster is made from the source cluster itself
(RestoreDBClusterToPointInTime), not from a snapshot. The seed's steps keep their names; each
asks this module first and gains one small branch.

- snapshot-check checks the source cluster (exists, available, and the time inside its
  restorable window) instead of looking for a snapshot;
- copy-snapshot, check-copy-status and archive-snapshot have nothing to do;
- restore-snapshot calls RestoreDBClusterToPointInTime (copy-on-write for a clone).

The source cluster is only ever described: no call here names it as the cluster to create,
modify or delete.
"""

from __future__ import annotations

from ...api.names import RESTORE_TIME_TAG
from ...api.rules import parse_duration
from ...api.source_method import METHOD_LABELS, SourceMethod, parse_restore_time
from ...api.status import ErrorType, SourceStatus
from ..context import Context, StepResult, iso, parse_iso
from ..errors import StepFailure, invalid, safety
from ..ports import Cluster, PointInTimeRequest

# On the new cluster: the time its data is from, so that a run whose status was lost still
# reports the time used (for "latest" and clones it is known only when the restore starts).
FULL_COPY, COPY_ON_WRITE = "full-copy", "copy-on-write"
# Source cluster states that do not end by themselves: fail now instead of waiting.
STUCK_STATES = frozenset(
    {
        "failed",
        "stopped",
        "deleting",
        "inaccessible-encryption-credentials",
        "inaccessible-encryption-credentials-recoverable",
        "incompatible-parameters",
        "incompatible-network",
        "incompatible-restore",
        "storage-full",
    }
)


def label(ctx: Context) -> str:
    """What the method is called in messages, e.g. "point-in-time restore" or "clone"."""
    return METHOD_LABELS[ctx.spec.source.method]


def no_snapshot(ctx: Context) -> str | None:
    """The Skipped message of copy-snapshot and check-copy-status, or None (a snapshot)."""
    return f"No snapshot to copy: {label(ctx)}" if ctx.spec.source.from_cluster else None


def nothing_to_archive(ctx: Context) -> str | None:
    if not ctx.spec.source.from_cluster:
        return None
    return f"Nothing to archive: {label(ctx)}; the source cluster is never modified"


def _window(cluster: Cluster) -> str:
    earliest, latest = cluster.earliest_restorable_time, cluster.latest_restorable_time
    return f"{iso(earliest) if earliest else '?'} to {iso(latest) if latest else '?'}"


def check_source(ctx: Context, step: str) -> StepResult:
    """snapshot-check (``step``) for PointInTime and Clone: the source cluster, its window."""
    source = ctx.spec.source
    assert source.cluster_identifier
    where = f"Source cluster {source.cluster_identifier} in {source.region}"
    cluster = ctx.ports.rds.get_cluster(source.region, source.cluster_identifier)
    if cluster is None:
        raise invalid(f"{where} does not exist", code="DBClusterNotFoundFault")
    if cluster.status in STUCK_STATES:
        raise StepFailure(
            ErrorType.AWSError,
            f"{where} is {cluster.status}; a {label(ctx)} needs it available",
            code=cluster.status,
        )
    if cluster.status != "available":
        started = parse_iso(ctx.status.step(step).started_at or ctx.iso_now())
        if ctx.now - started >= parse_duration(source.wait_timeout):
            raise StepFailure(
                ErrorType.AWSError,
                f"{where} is still {cluster.status} after waitTimeout ({source.wait_timeout})",
                code="InvalidDBClusterStateFault",
            )
        return StepResult.waiting(f"Waiting for {where} to be available: it is {cluster.status}")
    earliest, latest = cluster.earliest_restorable_time, cluster.latest_restorable_time
    wanted = source.restore_time
    if source.method is SourceMethod.PointInTime:
        if earliest is None or latest is None:
            raise StepFailure(
                ErrorType.AWSError,
                f"{where} reports no restorable window (are automated backups on?)",
                code="InvalidRestoreFault",
            )
        if wanted != "latest":
            assert wanted
            moment = parse_restore_time(wanted)
            if not earliest <= moment <= latest:
                raise invalid(
                    f"source.restoreTime {wanted} is outside the restorable window of "
                    f"{source.cluster_identifier}: {_window(cluster)} (UTC)",
                    code="RestoreTimeOutsideWindow",
                )
    ctx.status.source = SourceStatus(
        method=source.method.value,
        region=source.region,
        cluster_identifier=cluster.identifier,
        restore_time=wanted if wanted and wanted != "latest" else None,
        use_latest_restorable_time=wanted == "latest" or source.method is SourceMethod.Clone,
        restore_type=COPY_ON_WRITE if source.method is SourceMethod.Clone else FULL_COPY,
        earliest_restorable_time=iso(earliest) if earliest else None,
        latest_restorable_time=iso(latest) if latest else None,
    )
    return StepResult.finished(
        f"Source cluster {cluster.identifier} is available for a {label(ctx)}",
        reason="SourceClusterFound",
        source_method=source.method.value,
        source_cluster_id=cluster.identifier,
        source_region=source.region,
        target_region=ctx.spec.target.region,
        restore_time=wanted,
        restorable_window=_window(cluster),
    )


def adopt(ctx: Context, cluster: Cluster) -> None:
    """restore-snapshot found the cluster an earlier attempt started: take its time back."""
    if ctx.status.source and not ctx.status.source.restore_time:
        ctx.status.source.restore_time = cluster.tags.get(RESTORE_TIME_TAG)


def _resolved_time(ctx: Context) -> str:
    """The time the new cluster's data will be from, known just before the call."""
    source = ctx.spec.source
    if source.method is SourceMethod.Clone:
        # A clone shares the source's pages as they are when it is made.
        return ctx.iso_now()
    if source.restore_time and source.restore_time != "latest":
        return source.restore_time
    assert source.cluster_identifier
    cluster = ctx.ports.rds.get_cluster(source.region, source.cluster_identifier)
    if cluster is None or cluster.latest_restorable_time is None:
        raise StepFailure(
            ErrorType.AWSError,
            f"Source cluster {source.cluster_identifier} in {source.region} disappeared or "
            "reports no latest restorable time",
            code="DBClusterNotFoundFault",
        )
    return iso(cluster.latest_restorable_time)


def restore(
    ctx: Context, identifier: str, subnet_group: str | None
) -> tuple[Cluster, dict[str, object]]:
    """restore-snapshot for PointInTime and Clone: one RestoreDBClusterToPointInTime that
    creates ``identifier`` (the step decides the name, as for a snapshot restore)."""
    source, target = ctx.spec.source, ctx.spec.target
    assert source.cluster_identifier
    # The rail behind the spec's rule: the new cluster is never the source itself.
    if source.cluster_identifier == identifier and source.region == target.region:
        raise safety(
            f"Cluster {identifier} in {target.region} is the source of this {label(ctx)}; it "
            "is never restored over",
            code="TargetIsSource",
        )
    clone = source.method is SourceMethod.Clone
    latest = clone or source.restore_time == "latest"
    when = _resolved_time(ctx)
    request = PointInTimeRequest(
        cluster_identifier=identifier,
        source_cluster_identifier=source.cluster_identifier,
        restore_type=COPY_ON_WRITE if clone else FULL_COPY,
        restore_to_time=None if latest else parse_restore_time(when),
        use_latest_restorable_time=latest,
        db_subnet_group_name=subnet_group,
        vpc_security_group_ids=target.vpc_security_group_ids,
        kms_key_id=target.kms_key_id,
        db_cluster_parameter_group_name=target.db_cluster_parameter_group_name,
        deletion_protection=target.deletion_protection,
        tags={**ctx.tags(), RESTORE_TIME_TAG: when},
    )
    cluster = ctx.ports.rds.restore_cluster_to_point_in_time(target.region, request)
    if ctx.status.source:
        ctx.status.source.restore_time = when
    details: dict[str, object] = {
        "source_method": source.method.value,
        "source_cluster_id": source.cluster_identifier,
        "restore_type": request.restore_type,
        "restore_time": when,
        "use_latest_restorable_time": latest,
        "target_region": target.region,
        "target_cluster_id": identifier,
        "status": cluster.status,
    }
    return cluster, details


def notification_details(ctx: Context) -> dict[str, object]:
    """What the SNS message says about the source: the method and the time used."""
    found = ctx.status.source
    details: dict[str, object] = {"source_method": ctx.spec.source.method.value}
    if found and found.restore_time:
        details["restore_time"] = found.restore_time
    if ctx.spec.source.cluster_identifier:
        details["source_cluster_id"] = ctx.spec.source.cluster_identifier
    return details
