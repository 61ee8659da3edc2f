"""The rails every deletion of an existing cluster passes, checked before each Delete call
(existingCluster: Replace) and before each rename and delete (existingCluster: Swap)."""

from __future__ import annotations

from ...api.names import MANAGED_BY_TAG, OPERATION_TAG, OWNER_TAG
from ...api.restore import ExistingCluster
from ..context import Context, managed_by_us
from ..errors import safety
from ..ports import Cluster


def check_replaceable(ctx: Context, cluster: Cluster, name: str | None = None) -> None:
    """Raise unless ``cluster`` may be replaced (deleted by Replace, or renamed away and
    deleted by Swap). ``name``: the identifier it held as the target, when it has been
    renamed since (a Swap's retired cluster); patterns and the source check apply to it."""
    target = ctx.spec.target
    name = name or cluster.identifier
    where = f"Cluster {cluster.identifier} in {cluster.region}"
    if target.existing_cluster is ExistingCluster.Fail:
        raise safety(
            f"{where} already exists and existingCluster is Fail; set existingCluster: Replace "
            "or Swap to replace it",
            code="ClusterAlreadyExists",
        )
    if cluster.deletion_protection:
        raise safety(
            f"{where} has deletion protection; the operator never deletes it",
            code="DeletionProtection",
        )
    snap = ctx.status.snapshot
    source_cluster = ctx.spec.source.cluster_identifier or (
        snap.cluster_identifier if snap else None
    )
    if source_cluster == name and ctx.spec.source.region == cluster.region:
        raise safety(
            f"{where} is the source of this restore; it is never deleted", code="TargetIsSource"
        )
    if managed_by_us(cluster.tags):
        owner = cluster.tags.get(OWNER_TAG, "")
        their_ns, our_ns = owner.split("/", 1)[0], ctx.owner.split("/", 1)[0]
        if owner and their_ns != our_ns:
            raise safety(
                f"{where} was restored for namespace {their_ns}, not {our_ns}; a restore may "
                "only replace clusters of its own namespace",
                code="ForeignOwner",
            )
        return
    if ctx.config.replace_allowed_for(name):
        return
    raise safety(
        f"{where} is not tagged {MANAGED_BY_TAG} and does not match the operator's "
        "replaceAllowed patterns, so it is not replaced",
        code="UnmanagedCluster",
    )


def made_by_this_run(ctx: Context, tags: dict[str, str] | object) -> bool:
    return isinstance(tags, dict) and tags.get(OPERATION_TAG) == ctx.operation_id
