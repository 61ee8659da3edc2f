"""existingCluster: Swap, shared by its steps: the plan made in the preflight, and who holds
which name, read from AWS.

The names are derived from the operation id, so a restarted operator finds them again. Who
holds a name is decided from AWS on every tick, never from the status: the new cluster
carries this run's operation-id tag, the old one has the resource id the preflight saw.
Every rename is sent only after AWS showed the name it frees still taken by the cluster
that should leave it, and AWS frees a renamed cluster's old name at once: a restarted
operator sees the rename done and never sends it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...api.restore import ExistingCluster
from ...api.status import SwapStatus
from ..context import Context, swap_identifiers
from ..ports import Cluster
from ._safety import check_replaceable, made_by_this_run


def plan(ctx: Context) -> None:
    """In the preflight, before anything is copied or restored: with an existing cluster
    under the target name, check Replace's rails on it and record the swap's names."""
    target = ctx.spec.target
    if target.existing_cluster is not ExistingCluster.Swap or ctx.status.swap is not None:
        return
    cluster = ctx.ports.rds.get_cluster(target.region, target.cluster_identifier)
    if cluster is None or made_by_this_run(ctx, dict(cluster.tags)):
        return  # a plain restore (or this run's own cluster, found again)
    check_replaceable(ctx, cluster)
    temporary, retired = swap_identifiers(target.cluster_identifier, ctx.operation_id)
    ctx.status.swap = SwapStatus(
        target=target.cluster_identifier,
        temporary=temporary,
        retired=retired,
        old_resource_id=cluster.resource_id,
        old_arn=cluster.arn,
        old_instances=list(cluster.members),
    )


@dataclass(frozen=True)
class Holders:
    """The clusters under the three names, as AWS answered just now."""

    swap: SwapStatus
    target: Cluster | None
    temporary: Cluster | None
    retired: Cluster | None

    def is_old(self, ctx: Context, cluster: Cluster | None) -> bool:
        return (
            cluster is not None
            and not made_by_this_run(ctx, dict(cluster.tags))
            and bool(self.swap.old_resource_id)
            and cluster.resource_id == self.swap.old_resource_id
        )

    def is_new(self, ctx: Context, cluster: Cluster | None) -> bool:
        return cluster is not None and made_by_this_run(ctx, dict(cluster.tags))


def holders(ctx: Context, swap: SwapStatus) -> Holders:
    rds = ctx.ports.rds
    region = ctx.spec.target.region
    return Holders(
        swap,
        rds.get_cluster(region, swap.target),
        rds.get_cluster(region, swap.temporary),
        rds.get_cluster(region, swap.retired),
    )


def check_old(ctx: Context, held: Holders, cluster: Cluster) -> None:
    """Before each rename or delete of the old cluster: it is still the one the preflight
    checked, and it still passes the rails (tags and deletion protection can change)."""
    from ..errors import safety

    if not held.is_old(ctx, cluster):
        raise safety(
            f"Cluster {cluster.identifier} is not the cluster {held.swap.target} that the "
            "preflight checked (its resource id or tags differ); it is not renamed or deleted",
            code="ClusterRecreated",
        )
    check_replaceable(ctx, cluster, name=held.swap.target)
