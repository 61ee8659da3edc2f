"""The whole restore as a table: phase, seed step, how the step reads AWS, and the action
that advances it.

Read top to bottom. A stage is current while its step is unfinished and the resource is not
past its phase. ``check-restore-status`` spans two phases (the cluster, then its instances),
as it did in the seed; ``swap-clusters`` spans two too (one rename each). Each step lives in
the module named after it (``pipeline/steps/<step with underscores>.py``).

``existingCluster: Swap`` over an existing cluster restores under a temporary name (see
``Context.restore_identifier``), skips delete-rds, and adds the swap: not seed steps, since
the seed had no rename (docs/resource.md).

After the run ends, whichever way, the recovery stages (phase Failed) run until they finish,
then the final stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from ..api.status import Phase
from .context import Context, StepResult
from .steps import (
    archive_snapshot,
    check_copy_status,
    check_delete_status,
    check_restore_status,
    copy_snapshot,
    delete_rds,
    delete_retired_cluster,
    restore_snapshot,
    setup_db_users,
    snapshot_check,
    sns_notification,
    swap_clusters,
    undo_swap,
)


class Reads(Enum):
    """How a step's RDS reads are answered (pipeline/context.py, ``ReadPolicy``)."""

    # A status check, which only waits on AWS: its Describes may be answered from the
    # short-lived cache shared by all restores (mutating calls invalidate it).
    SHARED = "shared"
    # A step that creates or deletes: what it reads first must come from AWS after the tick
    # started, so it never acts on an answer older than its own decision.
    FRESH = "fresh"


@dataclass(frozen=True)
class Stage:
    phase: Phase
    step: str
    action: Callable[[Context], StepResult]
    reads: Reads = Reads.FRESH
    # The notification: runs once, after the recovery stages, on every ending.
    final: bool = False


SHARED = Reads.SHARED
TABLE: tuple[Stage, ...] = (
    Stage(Phase.CheckingSnapshot, snapshot_check.NAME, snapshot_check.run, SHARED),
    Stage(Phase.CopyingSnapshot, copy_snapshot.NAME, copy_snapshot.run),
    Stage(Phase.CopyingSnapshot, check_copy_status.NAME, check_copy_status.run, SHARED),
    Stage(Phase.DeletingExistingCluster, delete_rds.NAME, delete_rds.run),
    Stage(Phase.DeletingExistingCluster, check_delete_status.NAME, check_delete_status.run, SHARED),
    Stage(Phase.RestoringCluster, restore_snapshot.NAME, restore_snapshot.run),
    Stage(
        Phase.RestoringCluster,
        check_restore_status.NAME,
        check_restore_status.wait_cluster,
        SHARED,
    ),
    Stage(
        Phase.CreatingInstances,
        check_restore_status.NAME,
        check_restore_status.add_instances,
        SHARED,
    ),
    Stage(Phase.ConfiguringDatabase, setup_db_users.NAME, setup_db_users.run, SHARED),
    Stage(Phase.RetiringExistingCluster, swap_clusters.NAME, swap_clusters.retire),
    Stage(Phase.SwappingClusters, swap_clusters.NAME, swap_clusters.swap_in),
    Stage(Phase.DeletingRetiredCluster, delete_retired_cluster.NAME, delete_retired_cluster.run),
    Stage(Phase.ArchivingSnapshot, archive_snapshot.NAME, archive_snapshot.run),
    # Recovery: after a failure, before the notification, until it finishes (one AWS
    # action a tick). A successful run skips it without asking AWS.
    Stage(Phase.Failed, undo_swap.NAME, undo_swap.run),
    Stage(Phase.Completed, sns_notification.NAME, sns_notification.run, final=True),
)

# Derived from the table; nothing else lists the stages or the steps.
[FINAL] = [s for s in TABLE if s.final]
RECOVERY: tuple[Stage, ...] = tuple(s for s in TABLE if s.phase.finished and not s.final)
STAGES: tuple[Stage, ...] = tuple(s for s in TABLE if not s.phase.finished)
# The steps in status.steps order (a step spanning two phases once).
STEP_NAMES: tuple[str, ...] = tuple(dict.fromkeys(s.step for s in TABLE))

PHASE_ORDER: tuple[Phase, ...] = tuple(Phase)
