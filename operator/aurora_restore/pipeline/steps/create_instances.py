"""check-restore-status (instances part): create the cluster's instances, one per tick,
and wait until all are available."""

from __future__ import annotations

from ...api.status import InstanceStatus
from ..context import Context, StepResult
from ..errors import invalid
from ..guards import confirm_own_cluster, fresh_cluster
from .check_restore_status import TERMINAL, terminal

NAME = "check-restore-status"


def run(ctx: Context) -> StepResult:
    target = ctx.spec.target
    cluster = ctx.status.cluster
    assert cluster
    wanted = ctx.instance_identifiers()
    if not wanted:
        return StepResult.finished("No instances requested", used_aws=False)
    found = {i.identifier: i for i in ctx.ports.rds.get_instances(target.region, wanted)}
    for inst in found.values():
        if inst.cluster_identifier != cluster.identifier:
            raise invalid(
                f"Instance {inst.identifier} already exists in cluster "
                f"{inst.cluster_identifier}; remove it or change target.clusterIdentifier",
                code="DBInstanceAlreadyExists",
            )
    cluster.instances = [
        InstanceStatus(identifier=i, status=found[i].status if i in found else "pending")
        for i in wanted
    ]
    missing = [i for i in wanted if i not in found]
    if missing:
        confirm_own_cluster(
            ctx, fresh_cluster(ctx, target.region, cluster.identifier), "add instances"
        )
        created = ctx.ports.rds.create_instance(
            target.region,
            missing[0],
            cluster.identifier,
            target.instance_class,
            ctx.status.snapshot.engine
            if ctx.status.snapshot and ctx.status.snapshot.engine
            else "aurora-postgresql",
            ctx.tags(),
        )
        cluster.instances[wanted.index(missing[0])].status = created.status
        return StepResult.waiting(
            f"Creating instance {missing[0]} ({len(found) + 1} of {len(wanted)})",
            wait=ctx.config.poll_floor if len(missing) > 1 else None,
        )
    for inst in found.values():
        if inst.status in TERMINAL:
            raise terminal(f"Instance {inst.identifier}", inst.status)
    waiting = [i for i in wanted if found[i].status != "available"]
    if waiting:
        return StepResult.waiting(f"Waiting for instances to be available: {', '.join(waiting)}")
    return StepResult.finished(
        f"Instances available: {', '.join(wanted)}",
        reason="InstancesAvailable",
        target_cluster_id=cluster.identifier,
        target_region=target.region,
        status="available",
        cluster_endpoint=cluster.endpoint,
        cluster_port=cluster.port,
    )
