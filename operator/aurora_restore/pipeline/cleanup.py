"""Clean-up: what ``deletionPolicy: Delete`` removes when an AuroraRestore is deleted (the
cluster this resource's last run restored, instances first, its copied snapshot and the
subnet group it created), and what a run that failed or was cancelled removes after
itself (its copy, per the archive policy, and its unused subnet group). Only objects AWS
says that run created are touched: tagged with its operation id (and, for deletionPolicy:
Delete, this resource as owner), whatever the status claims (pipeline/guards.py)."""

from __future__ import annotations

from ..api.names import ARCHIVED_TAG, OPERATION_TAG
from ..api.restore import ArchivePolicy, DeletionPolicy
from .context import Context, StepResult
from .guards import deletable
from .steps import _cross_account, restore_snapshot
from .steps._safety import made_by_this_run
from .steps.restore_snapshot import created_subnet_group
from .tenancy import release_target


def _subnet_group(ctx: Context) -> tuple[str, str] | None:
    """Delete the subnet group this run created when nothing uses it: ("removed"|"kept",
    sentence), or None when there is none of ours."""
    name = created_subnet_group(ctx)
    if name is None:
        return None
    region = ctx.spec.target.region
    owner = ctx.ports.checks.subnet_group_owner(region, name)
    if owner is None:
        return None
    tags, users = owner
    if tags.get(OPERATION_TAG) != ctx.operation_id:
        return None
    if users:
        return "kept", f"subnet group {name} (used by {', '.join(users)})"
    ctx.ports.checks.delete_subnet_group(region, name)
    return "removed", f"subnet group {name}"


def _copy_after_failure(ctx: Context) -> StepResult | None:
    """Apply the archive policy to the run's copy; a result while a Delete is under way."""
    copy = ctx.status.copy_
    if copy is None or copy.archived is not None:
        return None
    policy = ctx.spec.archive.policy
    if policy is ArchivePolicy.Retain:
        copy.archived = "retained"
        return None
    snap = ctx.ports.rds.get_snapshot(copy.region, copy.identifier)
    source = ctx.status.snapshot
    if snap is None or snap.status == "deleting":
        copy.archived = "deleted"
    elif (source and snap.arn == source.arn) or not made_by_this_run(ctx, dict(snap.tags)):
        copy.archived = "kept (not made by this run)"
    elif policy is ArchivePolicy.Delete:
        # Deleting a copy still in progress cancels it.
        ctx.ports.rds.delete_snapshot(copy.region, copy.identifier)
        copy.archived = "deleted"
        return StepResult.waiting(f"Deleting snapshot copy {copy.identifier}", wait=0)
    else:
        ctx.ports.rds.tag_resource(copy.region, snap.arn, {ARCHIVED_TAG: ctx.iso_now()})
        copy.archived = "tagged"
    return None


def after_failure(ctx: Context) -> StepResult:
    """One action per call until done; the final message says what was removed and kept."""
    # First: the source account's snapshot stays shared no longer than the run.
    _cross_account.unshare(ctx)
    waiting = _copy_after_failure(ctx)
    if waiting is not None:
        return waiting
    removed: list[str] = []
    kept: list[str] = []
    snap = ctx.status.snapshot
    if snap is not None and snap.share == _cross_account.REMOVED:
        removed.append(f"the share of snapshot {snap.identifier} with account {snap.shared_with}")
    copy = ctx.status.copy_
    if copy is not None:
        what = f"snapshot copy {copy.identifier}"
        if copy.archived == "deleted":
            removed.append(what)
        else:
            kept.append(f"{what} ({copy.archived})")
    group = _subnet_group(ctx)
    if group is not None:
        (removed if group[0] == "removed" else kept).append(group[1])
    cluster = ctx.status.cluster
    if cluster is not None:
        kept.append(f"cluster {cluster.identifier} (restored by this run; kept for inspection)")
    parts = [f"removed {', '.join(removed)}" if removed else "removed nothing"]
    if kept:
        parts.append(f"kept {', '.join(kept)}")
    return StepResult.finished(
        "Clean-up after the failure: " + "; ".join(parts),
        reason="CleanupCompleted",
        removed=removed,
        kept=kept,
    )


def needs_cleanup_after_failure(ctx: Context) -> bool:
    """Whether a failed run created something (a copy, a subnet group) to clean up."""
    restore_started = ctx.status.step(restore_snapshot.NAME).state.value != "Pending"
    snap = ctx.status.snapshot
    if snap is not None and snap.share in _cross_account.OURS:
        return True
    return ctx.status.copy_ is not None or (
        restore_started and created_subnet_group(ctx) is not None
    )


def run(ctx: Context) -> StepResult:
    rds = ctx.ports.rds
    target = ctx.spec.target
    # A run deleted after sharing the source snapshot stops sharing it first.
    _cross_account.unshare(ctx)
    copy = ctx.status.copy_
    if copy:
        snap = rds.get_snapshot(copy.region, copy.identifier)
        if snap and deletable(ctx, snap.tags) and snap.status != "deleting":
            rds.delete_snapshot(copy.region, copy.identifier)
            return StepResult.waiting(f"Deleting snapshot copy {copy.identifier}", wait=0)
    cluster = rds.get_cluster(target.region, target.cluster_identifier)
    if cluster is None:
        group = _subnet_group(ctx)
        also = f" ({group[0]} {group[1]})" if group else ""
        return StepResult.finished(f"The restored cluster and its copy are gone{also}")
    if not deletable(ctx, cluster.tags):
        return StepResult.finished(
            f"Cluster {cluster.identifier} was not restored by this resource's last run; kept"
        )
    if cluster.status == "deleting":
        return StepResult.waiting(f"Cluster {cluster.identifier} is being deleted")
    # Before its instances go: a protected cluster is kept whole, not left without compute.
    if cluster.deletion_protection:
        return StepResult.finished(f"Cluster {cluster.identifier} has deletion protection; kept")
    instances = rds.get_instances(target.region, list(cluster.members))
    live = [i for i in instances if i.status != "deleting"]
    if live:
        rds.delete_instance(target.region, live[0].identifier)
        return StepResult.waiting(f"Deleting instance {live[0].identifier}", wait=0)
    if instances:
        return StepResult.waiting(f"Waiting for {len(instances)} instance(s) to be deleted")
    final = f"{cluster.identifier}-final-{ctx.operation_id}" if target.final_snapshot else None
    rds.delete_cluster(target.region, cluster.identifier, final)
    return StepResult.waiting(f"Deleting cluster {cluster.identifier}")


def on_deletion(ctx: Context) -> StepResult:
    """One step of what the deletion of the resource removes; call again until ``done``."""
    status = ctx.status
    if ctx.spec.deletion_policy is not DeletionPolicy.Delete:
        # A run cancelled by the deletion still cleans up after itself (its copy per the
        # archive policy, its unused subnet group); the cluster is kept.
        if not status.phase.finished and needs_cleanup_after_failure(ctx):
            result = after_failure(ctx)
            if result.done:
                result = StepResult.finished(
                    f"deletionPolicy is Retain: the cluster is kept. {result.message}"
                )
        else:
            result = StepResult.skip("deletionPolicy is Retain: the cluster is kept")
    else:
        result = run(ctx)
    if result.done and not status.phase.finished:
        # A run deleted mid-way does not leave its target blocked until the lease expires.
        release_target(ctx)
    return result
