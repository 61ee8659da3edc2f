"""delete-retired-cluster (not a seed step; existingCluster: Swap): once the new cluster
serves under the target name, delete the old one under its retired name, instances first,
with a final snapshot per target.finalSnapshot, through the same rails and the same code as
delete-rds; then wait until it is gone."""

from __future__ import annotations

from ..context import Context, StepResult
from ._swap import check_old, holders
from .delete_rds import delete_next

NAME = "delete-retired-cluster"


def run(ctx: Context) -> StepResult:
    swap = ctx.status.swap
    if swap is None:
        return StepResult.skip("No cluster was retired; nothing to delete")
    held = holders(ctx, swap)
    retired = held.retired
    if retired is None:
        if swap.retire_finished_at is None:
            return StepResult.skip(f"No cluster was retired as {swap.retired}; nothing to delete")
        return StepResult.finished(
            f"Retired cluster {swap.retired} deleted",
            reason="RetiredClusterDeleted",
            retired_cluster_id=swap.retired,
            target_region=retired.region if retired else ctx.spec.target.region,
        )
    # Never a cluster of this run, never anything but the old one, and the rails again.
    check_old(ctx, held, retired)
    if retired.status == "deleting":
        return StepResult.waiting(f"Waiting for the retired cluster {swap.retired} to be deleted")
    final = (
        f"{swap.retired}-final-{ctx.operation_id}"[:255] if ctx.spec.target.final_snapshot else None
    )
    result = delete_next(ctx, retired, final)
    if result.done:
        return StepResult.waiting(
            f"Deleting the retired cluster {swap.retired}", wait=ctx.config.poll_floor
        )
    return result
