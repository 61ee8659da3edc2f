"""One run per target: the engine holds a lease on the target cluster identifier from the
first stage that may change it (delete-rds) until the run ends.

A run whose target is held by another run waits in its phase: no AWS call on the target,
``Progressing``/``Reconciling`` True with reason ``TargetBusy`` naming the holder, and it
looks again every poll interval. The lease adapter (``aws/leases.py``) grants a lease only
when it is free, this run's own, or expired, so takeover happens only after the holder
stopped renewing (its operator died).
"""

from __future__ import annotations

import logging

from ..api.status import AuroraRestoreStatus, Phase
from .context import Context
from .errors import PortError

TARGET_BUSY = "TargetBusy"
# From this phase on a stage may delete, restore or modify the target cluster.
FIRST_LEASED = Phase.DeletingExistingCluster
_ORDER = tuple(Phase)

log = logging.getLogger(__name__)


def needs_lease(phase: Phase) -> bool:
    return not phase.finished and _ORDER.index(phase) >= _ORDER.index(FIRST_LEASED)


def hold_target(ctx: Context, phase: Phase) -> str | None:
    """Take or renew the lease before a stage of ``phase`` runs: None when the run may go
    on, else the sentence saying who holds the target."""
    leases = ctx.ports.leases
    if leases is None or not needs_lease(phase):
        return None
    target = ctx.spec.target
    holder = leases.hold(target.region, target.cluster_identifier, ctx.owner, ctx.operation_id)
    if holder is None:
        return None
    # No expiry time in the sentence: it changes at every renewal, the event should not.
    return (
        f"Waiting for target {target.cluster_identifier} in {target.region}: run "
        f"{holder.operation_id} of {holder.owner} holds it; its lease is taken over only if "
        "that run stops renewing it"
    )


def release_target(ctx: Context) -> None:
    """The run ended: free its target at once instead of letting the lease expire."""
    leases = ctx.ports.leases
    if leases is None:
        return
    target = ctx.spec.target
    try:
        leases.release(target.region, target.cluster_identifier, ctx.operation_id)
    except PortError as err:
        # Not fatal: the lease expires by itself.
        log.warning("could not release the lease on %s: %s", target.cluster_identifier, err)


def mark_waiting(status: AuroraRestoreStatus, reason: str) -> None:
    """The kstatus rule shared by all waiting reasons: the run is still progressing, and
    the reason says what it waits for."""
    for cond in status.conditions:
        if cond.type in ("Progressing", "Reconciling") and cond.status == "True":
            cond.reason = reason
