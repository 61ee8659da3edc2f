"""restore-snapshot: start RestoreDBClusterFromSnapshot (after checking the network), or for
source.method PointInTime and Clone, RestoreDBClusterToPointInTime (see _sources.py)."""

from __future__ import annotations

from ...api.names import OPERATION_TAG
from ...api.status import ClusterStatus
from ..context import Context, StepResult
from ..errors import invalid, safety
from ..guards import confirm_own_cluster
from ..ports import Cluster, RestoreRequest
from . import _sources
from ._safety import made_by_this_run

NAME = "restore-snapshot"


def record_cluster(ctx: Context, cluster: Cluster) -> ClusterStatus:
    current = ctx.status.cluster
    ctx.status.cluster = ClusterStatus.mirror(
        cluster,
        master_password_reset=current.master_password_reset if current else False,
        instances=current.instances if current else [],
    )
    return ctx.status.cluster


def created_subnet_group(ctx: Context) -> str | None:
    """The name of the subnet group a run creates for vpcId + subnetIds, if it does."""
    target = ctx.spec.target
    if not target.vpc_id or not target.subnet_ids:
        return None
    return f"aurora-restore-{target.cluster_identifier}"


def _subnet_group(ctx: Context) -> str | None:
    target = ctx.spec.target
    if not target.vpc_id or not target.subnet_ids:
        return target.db_subnet_group_name
    problems = ctx.ports.network.problems(
        target.region, target.vpc_id, target.subnet_ids, target.vpc_security_group_ids
    )
    if problems:
        raise invalid("; ".join(problems), code="InvalidNetwork")
    name = created_subnet_group(ctx)
    assert name
    ctx.ports.rds.ensure_subnet_group(target.region, name, target.subnet_ids, ctx.tags())
    return name


def run(ctx: Context) -> StepResult:
    target = ctx.spec.target
    identifier = ctx.restore_identifier()
    existing = ctx.ports.rds.get_cluster(target.region, identifier)
    if existing:
        if made_by_this_run(ctx, dict(existing.tags)):
            record_cluster(ctx, existing)
            _sources.adopt(ctx, existing)
            return StepResult.finished(
                "Snapshot restore already initiated; following it", reason="ClusterRestoreStarted"
            )
        if existing.tags.get(OPERATION_TAG):
            confirm_own_cluster(ctx, existing, "restore over it")
        # AWS would refuse, but a stand-in may silently replace it: never restore over a
        # cluster that this run did not create.
        raise safety(
            f"Cluster {identifier} exists in {target.region} and was not "
            "created by this restore; not restoring over it",
            code="ClusterAlreadyExists",
        )
    if ctx.spec.source.from_cluster:
        cluster, details = _sources.restore(ctx, identifier, _subnet_group(ctx))
        record_cluster(ctx, cluster)
        return StepResult(
            True,
            f"{_sources.label(ctx).capitalize()} initiated",
            wait=ctx.config.poll_floor,
            reason="ClusterRestoreStarted",
            details=details,
        )
    snap = ctx.status.snapshot
    assert snap
    source_id = ctx.status.copy_.identifier if ctx.status.copy_ else snap.identifier
    request = RestoreRequest(
        cluster_identifier=identifier,
        snapshot_identifier=source_id,
        engine=snap.engine or "aurora-postgresql",
        engine_version=target.engine_version,
        db_subnet_group_name=_subnet_group(ctx),
        vpc_security_group_ids=target.vpc_security_group_ids,
        kms_key_id=target.kms_key_id,
        db_cluster_parameter_group_name=target.db_cluster_parameter_group_name,
        deletion_protection=target.deletion_protection,
        tags=ctx.tags(),
    )
    cluster = ctx.ports.rds.restore_cluster(target.region, request)
    record_cluster(ctx, cluster)
    return StepResult(
        True,
        "Snapshot restore initiated",
        wait=ctx.config.poll_floor,
        reason="ClusterRestoreStarted",
        details={
            "target_snapshot_name": source_id,
            "target_region": target.region,
            "target_cluster_id": identifier,
            "status": cluster.status,
        },
    )
