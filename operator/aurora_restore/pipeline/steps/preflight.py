"""The preflight, the first part of snapshot-check: everything that can be checked before
the first mutating AWS call (a copy of a production snapshot across regions takes hours, so
a mistake found after it costs a night).

Only reads. The target and its rails are checked again before every Delete (delete-rds)
and before RestoreDBClusterFromSnapshot (restore-snapshot), since they can change meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from ...api.restore import ConfigMapKeyRef, SecretKeyRef
from ..context import Context
from ..errors import PortError, StepFailure, invalid
from ._safety import check_replaceable, made_by_this_run

# A Kubernetes Secret or ConfigMap that does not exist yet (or lacks its key): External
# Secrets or a Vault agent often create it moments after the restore. Waited for.
MISSING_REFERENCE = frozenset({"SecretNotFound", "ConfigMapNotFound"})


def check_target(ctx: Context) -> None:
    """The target against existingCluster and, for Replace, every rail of the Safety section."""
    target = ctx.spec.target
    cluster = ctx.ports.rds.get_cluster(target.region, target.cluster_identifier)
    if cluster is None or made_by_this_run(ctx, dict(cluster.tags)):
        return
    check_replaceable(ctx, cluster)


def _network(ctx: Context) -> list[str]:
    target = ctx.spec.target
    if target.vpc_id and target.subnet_ids:
        return ctx.ports.network.problems(
            target.region, target.vpc_id, target.subnet_ids, target.vpc_security_group_ids
        )
    if target.db_subnet_group_name:
        problem = ctx.ports.checks.subnet_group(target.region, target.db_subnet_group_name)
        return [problem] if problem else []
    return []


def _kms(ctx: Context) -> list[str]:
    region = ctx.spec.target.region
    keys = (
        ("copy.kmsKeyId", ctx.spec.copy_.kms_key_id),
        ("target.kmsKeyId", ctx.spec.target.kms_key_id),
    )
    found = []
    for field, key in keys:
        if key:
            problem = ctx.ports.checks.kms_key(region, key)
            if problem:
                found.append(f"{field}: {problem}")
    return found


def check_aws(ctx: Context) -> None:
    """Target, network, KMS keys and parameter group, each a precise failure."""
    check_target(ctx)
    network = _network(ctx)
    if network:
        raise invalid("; ".join(network), code="InvalidNetwork")
    keys = _kms(ctx)
    if keys:
        raise invalid("; ".join(keys), code="KMSKeyNotFound")
    group = ctx.spec.target.db_cluster_parameter_group_name
    if group:
        problem = ctx.ports.checks.parameter_group(ctx.spec.target.region, group)
        if problem:
            raise invalid(problem, code="DBClusterParameterGroupNotFound")


def _references(ctx: Context) -> list[tuple[str, Callable[[], str]]]:
    """Every Secret, Secrets Manager secret and ConfigMap the run will read, with a reader."""
    spec = ctx.spec
    secrets = ctx.ports.secrets
    region = spec.target.region
    found: list[tuple[str, Callable[[], str]]] = []

    def kube(ref: SecretKeyRef) -> tuple[str, Callable[[], str]]:
        return f"Secret {ref.name} (key {ref.key})", lambda: secrets.kubernetes_secret(ref)

    def manager(secret_id: str) -> tuple[str, Callable[[], str]]:
        return f"Secrets Manager secret {secret_id}", lambda: secrets.secrets_manager(
            region, secret_id
        )

    def config_map(ref: ConfigMapKeyRef) -> tuple[str, Callable[[], str]]:
        return f"ConfigMap {ref.name} (key {ref.key})", lambda: secrets.config_map(ref)

    master = spec.master_password
    if master is not None:
        if master.secret_ref is not None:
            found.append(kube(master.secret_ref))
        elif master.secrets_manager_secret_id:
            found.append(manager(master.secrets_manager_secret_id))
    for user in spec.users:
        if user.password_secret_ref is not None:
            found.append(kube(user.password_secret_ref))
        elif user.password_secrets_manager_secret_id:
            found.append(manager(user.password_secrets_manager_secret_id))
    for script in spec.sql:
        if script.config_map_ref is not None:
            found.append(config_map(script.config_map_ref))
    return found


def missing_reference(ctx: Context) -> tuple[str, str] | None:
    """The first referenced Kubernetes object that does not exist yet (to wait for), as
    (what, why), or None when all are there. Anything else wrong fails at once, naming the
    reference. Values are read through the same readers setup-db-users uses and dropped
    at once."""
    for what, read in _references(ctx):
        try:
            ctx.remember_secret(read())
        except PortError as err:
            if err.code in MISSING_REFERENCE:
                return what, err.message
            if err.retryable:
                raise
            raise StepFailure(err.type, f"{what}: {err.message}", err.code) from None
    return None
