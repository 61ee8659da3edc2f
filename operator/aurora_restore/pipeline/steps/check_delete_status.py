"""check-delete-status: wait until the replaced cluster is gone."""

from __future__ import annotations

from ..context import Context, StepResult
from ..errors import safety

NAME = "check-delete-status"


def run(ctx: Context) -> StepResult:
    replaced = ctx.status.replaced
    target = ctx.spec.target
    if replaced is None:
        return StepResult.skip("No cluster was deleted; nothing to wait for")
    cluster = ctx.ports.rds.get_cluster(target.region, replaced.identifier)
    if cluster is None:
        return StepResult.finished(
            "Cluster deletion completed",
            reason="ClusterDeleted",
            target_cluster_id=replaced.identifier,
            target_region=target.region,
        )
    if replaced.resource_id and cluster.resource_id != replaced.resource_id:
        raise safety(
            f"Cluster {replaced.identifier} was created again by someone else after it was "
            "deleted; not restoring over it",
            code="ClusterRecreated",
        )
    return StepResult.waiting(
        "Cluster deletion is still in progress",
        status=cluster.status,
        target_cluster_id=replaced.identifier,
    )
