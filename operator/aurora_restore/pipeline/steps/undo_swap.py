"""undo-swap (not a seed step; existingCluster: Swap): after a failure, leave the target
as it was before the run. Runs after the run failed, one AWS action per tick, before the
notification.

- The new cluster holds the target name: the swap had completed; nothing is undone (the
  retired cluster, if still there, is kept for a person to look at).
- The old cluster is under the retired name and the target name is free: rename it back.
- Then the temporary cluster is deleted (instances first, no final snapshot), and only if
  it carries this run's operation-id tag. The old cluster is never deleted here.
"""

from __future__ import annotations

from ...api.status import Phase
from ..context import Context, StepResult
from ._safety import made_by_this_run
from ._swap import holders
from .delete_rds import delete_next

NAME = "undo-swap"


def run(ctx: Context) -> StepResult:
    swap = ctx.status.swap
    if swap is None or ctx.status.phase is not Phase.Failed:
        return StepResult.skip("Nothing to undo")
    held = holders(ctx, swap)
    region = ctx.spec.target.region
    if held.is_new(ctx, held.target):
        swap.undone = "kept"
        kept = f"; the retired cluster {swap.retired} is kept" if held.retired else ""
        return StepResult.finished(
            f"The swap had completed: {swap.target} is the new cluster{kept}",
            reason="SwapKept",
        )
    if held.target is None and held.is_old(ctx, held.retired):
        assert held.retired
        if held.retired.status != "available":
            return StepResult.waiting(
                f"Waiting for {swap.retired} to be available to rename it back "
                f"({held.retired.status})"
            )
        ctx.ports.rds.rename_cluster(region, swap.retired, swap.target)
        swap.undone = "renaming-back"
        return StepResult.waiting(
            f"Renaming {swap.retired} back to {swap.target}", wait=ctx.config.poll_floor
        )
    if held.is_old(ctx, held.target):
        assert held.target
        if swap.undone == "renaming-back":
            swap.undone = "renamed-back"
        if held.target.status != "available":
            return StepResult.waiting(
                f"Waiting for {swap.target} to be available again ({held.target.status})"
            )
    temporary = held.temporary
    if temporary is not None and made_by_this_run(ctx, dict(temporary.tags)):
        if temporary.status == "deleting":
            return StepResult.waiting(f"Waiting for {swap.temporary} to be deleted")
        if temporary.deletion_protection:
            return StepResult.finished(
                f"{swap.temporary} has deletion protection (target.deletionProtection); kept",
                reason="SwapUndone",
            )
        result = delete_next(ctx, temporary, None)
        if result.done:
            return StepResult.waiting(
                f"Deleting the temporary cluster {swap.temporary}", wait=ctx.config.poll_floor
            )
        return result
    if temporary is not None:
        left = f"; {swap.temporary} was not restored by this run and is kept"
    else:
        left = ""
    serving = (
        f"{swap.target} is the old cluster again"
        if held.is_old(ctx, held.target)
        else f"{swap.target} is not the old cluster (it is gone or was replaced); nothing renamed"
    )
    swap.undone = swap.undone or ("untouched" if held.is_old(ctx, held.target) else "none")
    return StepResult.finished(f"Swap undone: {serving}{left}", reason="SwapUndone")
