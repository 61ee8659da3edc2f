"""check-restore-status (cluster part): wait for the restored cluster to be available."""

from __future__ import annotations

from ...api.names import OPERATION_TAG
from ...api.status import ErrorType
from ..context import Context, StepResult
from ..errors import StepFailure
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


def run(ctx: Context) -> StepResult:
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
