"""delete-rds: replace an existing target cluster, only through the safety rails.

Instances go first (one Delete call per tick), then the cluster once they are gone.
"""

from __future__ import annotations

from ...api.restore import ExistingCluster
from ...api.status import ReplacedCluster
from ..context import Context, StepResult
from ..errors import safety
from ..ports import Cluster
from ._safety import check_replaceable, made_by_this_run

NAME = "delete-rds"


def run(ctx: Context) -> StepResult:
    target = ctx.spec.target
    rds = ctx.ports.rds
    cluster = rds.get_cluster(target.region, target.cluster_identifier)
    replaced = ctx.status.replaced
    if cluster is None:
        if replaced:
            return StepResult.finished("Cluster deletion initiated", reason="DeletionStarted")
        return StepResult.skip(
            f"No existing cluster {target.cluster_identifier} in {target.region}; nothing to delete"
        )
    if made_by_this_run(ctx, dict(cluster.tags)):
        return StepResult.skip("The target cluster is this restore's own; nothing to delete")
    if target.existing_cluster is ExistingCluster.Swap:
        # Swap keeps the old cluster serving; swap-clusters renames it away later.
        return StepResult.skip(
            f"existingCluster is Swap: {cluster.identifier} keeps serving until the swap"
        )
    if replaced and replaced.resource_id and cluster.resource_id != replaced.resource_id:
        raise safety(
            f"Cluster {cluster.identifier} was created again by someone else while it was being "
            "replaced; it is not deleted",
            code="ClusterRecreated",
        )
    # The rails are checked before every Delete call, not once: tags and deletion
    # protection can change between ticks.
    check_replaceable(ctx, cluster)
    if replaced is None:
        replaced = ReplacedCluster.mirror(
            cluster,
            instances=list(cluster.members),
            deletion_started_at=ctx.iso_now(),
        )
        ctx.status.replaced = replaced
    if cluster.status == "deleting":
        return StepResult.finished("Cluster deletion initiated", reason="DeletionStarted")

    final = f"{cluster.identifier}-final-{ctx.operation_id}" if target.final_snapshot else None
    return delete_next(ctx, cluster, final)


def delete_next(ctx: Context, cluster: Cluster, final: str | None) -> StepResult:
    """One Delete call towards removing ``cluster``: its instances first, then the cluster
    (done, with ``final`` as its final snapshot). The caller has checked the rails. Also
    used for a Swap's retired and temporary clusters."""
    rds = ctx.ports.rds
    instances = rds.get_instances(cluster.region, list(cluster.members))
    for inst in instances:
        if inst.cluster_identifier not in (None, cluster.identifier):
            raise safety(
                f"Instance {inst.identifier} belongs to {inst.cluster_identifier}, not "
                f"{cluster.identifier}; it is not deleted",
                code="ForeignInstance",
            )
    live = [i for i in instances if i.status != "deleting"]
    if live:
        rds.delete_instance(cluster.region, live[0].identifier)
        left = len(instances)
        return StepResult.waiting(
            f"Deleting instance {live[0].identifier} of {cluster.identifier} "
            f"({left} instance{'s' if left != 1 else ''} left)",
            wait=ctx.config.poll_floor,
        )
    if instances:
        return StepResult.waiting(
            f"Waiting for {len(instances)} instance(s) of {cluster.identifier} to be deleted"
        )
    rds.delete_cluster(cluster.region, cluster.identifier, final)
    return StepResult(
        True,
        "Cluster deletion initiated",
        wait=ctx.config.poll_floor,
        reason="DeletionStarted",
        details={
            "target_cluster_id": cluster.identifier,
            "target_region": cluster.region,
            "status": "deleting",
        },
    )
