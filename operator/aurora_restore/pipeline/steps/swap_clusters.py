"""swap-clusters (not a seed step; existingCluster: Swap): rename the old cluster to the
retired identifier, then the new one to the target identifier, each waited for; then write
the connection Secret with the target's endpoint.

Two stages, like check-restore-status: ``retire`` (phase RetiringExistingCluster) and
``swap_in`` (phase SwappingClusters), so that each rename has its event and audit item.
Without a swap (no cluster existed, or another existingCluster) both are skipped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from ...api.status import ErrorType, SwapStatus
from ..context import Context, StepResult, parse_iso
from ..errors import StepFailure, safety
from ..ports import Cluster
from ._swap import Holders, check_old, holders
from .restore_snapshot import record_cluster
from .setup_db_users import master_password, write_connection_secret

NAME = "swap-clusters"


Action = Callable[[Context], StepResult]


def _stage(act: Callable[[Context, SwapStatus, Holders, str], StepResult]) -> Action:
    """A stage of the swap: skipped without one, else given the swap, the clusters under
    its names (read now) and the target's region."""

    @functools.wraps(act)
    def stage(ctx: Context) -> StepResult:
        swap = ctx.status.swap
        if swap is None:
            return StepResult.skip(
                "No existing cluster to swap with; restored under the target name"
            )
        return act(ctx, swap, holders(ctx, swap), ctx.spec.target.region)

    return stage


def _temporary(ctx: Context, held: Holders, gone: str) -> Cluster:
    """The new cluster, under the temporary name; the run fails when it is ``gone``."""
    if not held.is_new(ctx, held.temporary):
        raise StepFailure(
            ErrorType.AWSError,
            f"The new cluster {held.swap.temporary} {gone}",
            code="DBClusterNotFoundFault",
        )
    assert held.temporary
    return held.temporary


@_stage
def retire(ctx: Context, swap: SwapStatus, held: Holders, region: str) -> StepResult:
    if held.retired is not None:
        check_old(ctx, held, held.retired)
        # A crash may have lost the time the rename was sent: the first sight stands in.
        swap.retire_requested_at = swap.retire_requested_at or ctx.iso_now()
        if held.retired.status != "available":
            return StepResult.waiting(
                f"Renaming {swap.target} to {swap.retired} ({held.retired.status})"
            )
        swap.retire_finished_at = swap.retire_finished_at or ctx.iso_now()
        return StepResult.finished(
            f"Cluster {swap.target} renamed to {swap.retired}; the target name is free",
            reason="ClusterRetired",
            target_cluster_id=swap.target,
            retired_cluster_id=swap.retired,
            target_region=region,
            requested_at=swap.retire_requested_at,
        )
    if held.is_new(ctx, held.target):
        # Both renames happened and their status was lost: nothing left to retire.
        return StepResult.finished(
            f"Cluster {swap.target} is already the new cluster", reason="ClusterRetired"
        )
    if held.target is None:
        return StepResult.finished(
            f"Cluster {swap.target} is gone (not deleted by this run); nothing to retire",
            reason="ClusterRetired",
        )
    temporary = _temporary(ctx, held, f"is gone; {swap.target} is not renamed")
    check_old(ctx, held, held.target)
    if temporary.status != "available":
        # e.g. backing-up after the restore: the old cluster serves until it is done.
        return StepResult.waiting(
            f"Waiting for {swap.temporary} to be available before the swap ({temporary.status})"
        )
    if held.target.status != "available":
        return StepResult.waiting(
            f"Waiting for {swap.target} to be available before renaming it ({held.target.status})"
        )
    ctx.ports.rds.rename_cluster(region, swap.target, swap.retired)
    swap.retire_requested_at = ctx.iso_now()
    return StepResult.waiting(
        f"Renaming {swap.target} to {swap.retired}: the target is down until the new cluster "
        "takes its name",
        wait=ctx.config.poll_floor,
    )


def _downtime(swap: SwapStatus) -> float | None:
    if not (swap.retire_requested_at and swap.swap_finished_at):
        return None
    delta = parse_iso(swap.swap_finished_at) - parse_iso(swap.retire_requested_at)
    return round(delta.total_seconds(), 3)


@_stage
def swap_in(ctx: Context, swap: SwapStatus, held: Holders, region: str) -> StepResult:
    if held.target is not None:
        if not held.is_new(ctx, held.target):
            raise safety(
                f"Cluster {swap.target} was taken by a cluster this run did not restore "
                "while it was free; the new cluster is not renamed",
                code="ClusterAlreadyExists",
            )
        swap.swap_requested_at = swap.swap_requested_at or ctx.iso_now()
        if held.target.status != "available":
            return StepResult.waiting(
                f"Renaming {swap.temporary} to {swap.target} ({held.target.status})"
            )
        swap.swap_finished_at = swap.swap_finished_at or ctx.iso_now()
        swap.downtime_seconds = _downtime(swap)
        cluster = record_cluster(ctx, held.target)
        if ctx.spec.connection_secret:
            user = cluster.master_username or "postgres"
            write_connection_secret(ctx, cluster, user, master_password(ctx))
        return StepResult.finished(
            f"Cluster {swap.temporary} renamed to {swap.target}; it answers at {cluster.endpoint}",
            reason="ClusterSwapped",
            target_cluster_id=swap.target,
            temporary_cluster_id=swap.temporary,
            target_region=region,
            cluster_endpoint=cluster.endpoint,
            downtime_seconds=swap.downtime_seconds,
        )
    temporary = _temporary(ctx, held, "disappeared before the swap")
    if temporary.status != "available":
        return StepResult.waiting(
            f"Waiting for {swap.temporary} to be available ({temporary.status})"
        )
    ctx.ports.rds.rename_cluster(region, swap.temporary, swap.target)
    swap.swap_requested_at = ctx.iso_now()
    return StepResult.waiting(
        f"Renaming {swap.temporary} to {swap.target}", wait=ctx.config.poll_floor
    )
