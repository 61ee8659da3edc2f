"""The status is a cache, never an authority.

Whoever may patch ``aurorarestores/status`` can write any operation id, frozen spec or
cluster name there. So before a run goes on from its status (every tick, and before the
clean-up of ``deletionPolicy: Delete``) the operator checks what it can re-derive:

* the operation id is recomputed from the resource itself (uid, the run's generation and
  rerun token), so it can only ever be one of this resource's own ids;
* the frozen spec (``runSpec``) carries an HMAC over uid, generation, rerun token and the
  spec, made with a key only the operator holds (``aws/leases.py`` keeps it in the state
  table); a status written before digests existed is accepted only when it is exactly the
  resource's current spec and generation, i.e. what a fresh run would freeze;
* every AWS name the status holds (cluster, replaced cluster, snapshot copy) must be the one
  the verified spec and operation id give.

A mismatch is ``SafetyViolation``/``StatusTampered``: no AWS call. And before every mutating
call on a cluster the status names, AWS itself is asked (``confirm_own_cluster``).
Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from ..api.names import OPERATION_TAG, OWNER_TAG, RERUN_ANNOTATION
from ..api.restore import AuroraRestoreSpec, SpecError, validate_spec
from ..api.status import AuroraRestoreStatus, Phase
from .context import READS, Context, ReadPolicy, operation_id, swap_identifiers
from .errors import StepFailure, safety
from .ports import Cluster

TAMPERED = "StatusTampered"
FOREIGN_RUN = "ForeignRun"


def run_spec_digest(
    key: bytes, uid: str, generation: int | None, rerun_token: str | None, run_spec: Any
) -> str:
    """HMAC-SHA256 binding the frozen spec to the resource and the generation it came from."""
    canonical = json.dumps(run_spec, sort_keys=True, separators=(",", ":"), default=str)
    message = f"{uid}\n{generation or 0}\n{rerun_token or ''}\n{canonical}".encode()
    return "hmac-sha256:" + hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(status: AuroraRestoreStatus, key: bytes, uid: str) -> None:
    status.run_spec_digest = run_spec_digest(
        key, uid, status.observed_generation, status.rerun_token, status.run_spec
    )


def _tampered(what: str) -> StepFailure:
    return safety(
        f"The status was changed by someone other than the operator ({what}); the run is "
        f"stopped and no AWS call is made. Edit the spec or set the {RERUN_ANNOTATION} "
        "annotation to start a new run",
        code=TAMPERED,
    )


def stopped_as_tampered(status: AuroraRestoreStatus) -> bool:
    """The operator already stopped this run for a forged status: nothing more to do."""
    return (
        status.phase is Phase.Failed and status.error is not None and status.error.code == TAMPERED
    )


def check_operation(status: AuroraRestoreStatus, uid: str, generation: int | None) -> None:
    """The operation id must be the one this resource's uid, the run's generation and rerun
    token give: then no other resource's AWS objects carry it."""
    run_generation = status.observed_generation
    if run_generation is None and generation is None:
        run_generation = 0  # an object without generations (a local run): as begin() did
    if run_generation is None or (generation is not None and run_generation > generation):
        raise _tampered(f"observedGeneration {run_generation} is not a generation of this object")
    expected = operation_id(uid, run_generation, status.rerun_token)
    if status.operation_id != expected:
        raise _tampered(
            f"operationId {status.operation_id} is not this object's run of generation "
            f"{run_generation} ({expected})"
        )


def verified_spec(
    status: AuroraRestoreStatus,
    uid: str,
    generation: int | None,
    resource_spec: Mapping[str, Any],
    key: bytes,
) -> AuroraRestoreSpec:
    """The run's spec once the status has been checked against the resource; raises
    ``StatusTampered`` otherwise. ``generation`` is the resource's current one."""
    check_operation(status, uid, generation)
    run_generation = status.observed_generation or 0
    if status.run_spec_digest:
        digest = run_spec_digest(key, uid, run_generation, status.rerun_token, status.run_spec)
        if not hmac.compare_digest(digest, status.run_spec_digest):
            raise _tampered("runSpec does not match its digest")
        try:
            spec = validate_spec(status.run_spec or {})
        except SpecError:
            raise _tampered("runSpec is not a valid spec") from None
    else:
        # Written before digests existed: acceptable only as what a fresh run would freeze.
        try:
            current = validate_spec(resource_spec)
            spec = validate_spec(status.run_spec) if status.run_spec else current
        except SpecError:
            raise _tampered("runSpec is not a valid spec") from None
        if run_generation != (generation or 0) or spec != current:
            raise _tampered("runSpec has no digest and is not the object's current spec")
    _check_names(status, spec)
    return spec


def _check_names(status: AuroraRestoreStatus, spec: AuroraRestoreSpec) -> None:
    """Names of AWS objects in the status must follow from the verified spec."""
    target = spec.target
    assert status.operation_id
    # A swap restores under, and retires to, names derived from the operation id.
    temporary, retired = swap_identifiers(target.cluster_identifier, status.operation_id)
    swap = status.swap
    if swap is not None and (
        (swap.temporary, swap.retired) != (temporary, retired)
        or swap.target != target.cluster_identifier
    ):
        raise _tampered(f"status.swap names {swap.temporary} and {swap.retired}")
    allowed = {target.cluster_identifier, temporary} if swap else {target.cluster_identifier}
    for label, obj in (("cluster", status.cluster), ("replaced", status.replaced)):
        if obj is not None and obj.identifier not in allowed:
            raise _tampered(
                f"status.{label} names {obj.identifier}, the spec's target is "
                f"{target.cluster_identifier}"
            )
    if status.cluster is not None and status.cluster.region != target.region:
        raise _tampered(f"status.cluster is in {status.cluster.region}, not {target.region}")
    copy = status.copy_
    if copy is not None:
        assert status.operation_id
        wanted = spec.copy_.target_snapshot_identifier or (
            f"{target.cluster_identifier}-{status.operation_id}"
        )
        if copy.identifier != wanted or copy.region != target.region:
            raise _tampered(f"status.copy names {copy.identifier} in {copy.region}")


def fresh_cluster(ctx: Context, region: str, identifier: str) -> Cluster | None:
    """The cluster as AWS answers now, never from the cache shared by status checks: a
    cached answer may predate a replacement (the tags of the cluster before it)."""
    token = READS.set(ReadPolicy(cached=False))
    try:
        return ctx.ports.rds.get_cluster(region, identifier)
    finally:
        READS.reset(token)


def confirm_own_cluster(ctx: Context, cluster: Cluster | None, action: str) -> Cluster:
    """AWS, not the status, says whether this run created ``cluster``: its operation-id tag
    must be this run's. Called right before a mutating call on it."""
    if cluster is None:
        raise safety(
            f"Cluster {ctx.spec.target.cluster_identifier} is gone; not going to {action}",
            code="DBClusterNotFoundFault",
        )
    found = cluster.tags.get(OPERATION_TAG)
    if found != ctx.operation_id:
        raise safety(
            f"Cluster {cluster.identifier} in {cluster.region} carries "
            f"{OPERATION_TAG}={found or '(none)'}, not this run's {ctx.operation_id}: another "
            f"run or someone else made it, so the operator does not {action}",
            code=FOREIGN_RUN,
        )
    return cluster


def deletable(ctx: Context, tags: Mapping[str, str]) -> bool:
    """deletionPolicy: Delete removes only what AWS says this run created for this owner."""
    return tags.get(OPERATION_TAG) == ctx.operation_id and tags.get(OWNER_TAG) == ctx.owner
