"""check-restore-status: wait for the restored cluster to be available, then create its
instances, one per tick, and wait until all are available.

Two stages, as in the seed's one function: ``wait_cluster`` (phase RestoringCluster) and
``add_instances`` (phase CreatingInstances), so that each part has its event and audit item.
"""

from __future__ import annotations

from ...api.names import OPERATION_TAG
from ...api.status import ErrorType, InstanceStatus
from ..context import Context, StepResult
from ..errors import StepFailure, invalid
from ..guards import confirm_own_cluster, fresh_cluster
from .restore_snapshot import record_cluster

NAME = "check-restore-status"
TERMINAL = frozenset(
    {
        "failed",
        "incompatible-restore",
        "inaccessible-encryption-credentials",
        "inaccessible-encryption-credentials-recoverable",
        "incompatible-parameters",
        "incompatible-network",
        "storage-full",
    }
)


def terminal(what: str, status: str) -> StepFailure:
    return StepFailure(ErrorType.AWSError, f"{what} ended as {status}", code=status)


def wait_cluster(ctx: Context) -> StepResult:
    target = ctx.spec.target
    identifier = ctx.restore_identifier()
    cluster = ctx.ports.rds.get_cluster(target.region, identifier)
    if cluster is None:
        raise StepFailure(
            ErrorType.AWSError,
            f"Cluster {identifier} disappeared from {target.region} while restoring",
            code="DBClusterNotFoundFault",
        )
    # Another run may have replaced it meanwhile: never adopt (and later configure) that one.
    # A cached answer may be older than our restore, so a mismatch is asked again of AWS.
    if cluster.tags.get(OPERATION_TAG) != ctx.operation_id:
        cluster = confirm_own_cluster(
            ctx, fresh_cluster(ctx, target.region, target.cluster_identifier), "adopt it"
        )
    record_cluster(ctx, cluster)
    if cluster.status in TERMINAL:
        raise terminal(f"The restore of {cluster.identifier}", cluster.status)
    if cluster.status != "available":
        return StepResult.waiting("Cluster restore is still in progress", status=cluster.status)
    return StepResult.finished(
        "Cluster restore completed",
        reason="ClusterAvailable",
        target_cluster_id=cluster.identifier,
        target_region=target.region,
        cluster_endpoint=cluster.endpoint,
        cluster_port=cluster.port,
    )


def add_instances(ctx: Context) -> StepResult:
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
