"""What ``deletionPolicy: Delete`` removes when an AuroraRestore is deleted: the cluster this
resource's last run restored (instances first), and its copied snapshot. Only objects AWS
says this run created are touched: tagged with its operation id and this resource as owner,
whatever the status claims (pipeline/guards.py)."""

from __future__ import annotations

from .context import Context, StepResult
from .guards import deletable


def run(ctx: Context) -> StepResult:
    rds = ctx.ports.rds
    target = ctx.spec.target
    copy = ctx.status.copy_
    if copy:
        snap = rds.get_snapshot(copy.region, copy.identifier)
        if snap and deletable(ctx, snap.tags) and snap.status != "deleting":
            rds.delete_snapshot(copy.region, copy.identifier)
            return StepResult.waiting(f"Deleting snapshot copy {copy.identifier}", wait=0)
    cluster = rds.get_cluster(target.region, target.cluster_identifier)
    if cluster is None:
        return StepResult.finished("The restored cluster and its copy are gone")
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
