"""The whole restore as a table: phase, seed step, and the action that advances it.

Read top to bottom. A stage is current while its step is unfinished and the resource is not
past its phase. ``check-restore-status`` spans two phases (the cluster, then its instances),
as it did in the seed; ``swap-clusters`` spans two too (one rename each).

``existingCluster: Swap`` over an existing cluster restores under a temporary name (see
``Context.restore_identifier``), skips delete-rds, and adds the swap: not seed steps, since
the seed had no rename (docs/resource.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..api.status import Phase
from .context import Context, StepResult
from .steps import (
    archive_snapshot,
    check_copy_status,
    check_delete_status,
    check_restore_status,
    copy_snapshot,
    create_instances,
    delete_rds,
    delete_retired_cluster,
    restore_snapshot,
    setup_db_users,
    snapshot_check,
    sns_notification,
    swap_clusters,
    undo_swap,
)


@dataclass(frozen=True)
class Stage:
    phase: Phase
    step: str
    action: Callable[[Context], StepResult]


STAGES: tuple[Stage, ...] = (
    Stage(Phase.CheckingSnapshot, snapshot_check.NAME, snapshot_check.run),
    Stage(Phase.CopyingSnapshot, copy_snapshot.NAME, copy_snapshot.run),
    Stage(Phase.CopyingSnapshot, check_copy_status.NAME, check_copy_status.run),
    Stage(Phase.DeletingExistingCluster, delete_rds.NAME, delete_rds.run),
    Stage(Phase.DeletingExistingCluster, check_delete_status.NAME, check_delete_status.run),
    Stage(Phase.RestoringCluster, restore_snapshot.NAME, restore_snapshot.run),
    Stage(Phase.RestoringCluster, check_restore_status.NAME, check_restore_status.run),
    Stage(Phase.CreatingInstances, create_instances.NAME, create_instances.run),
    Stage(Phase.ConfiguringDatabase, setup_db_users.NAME, setup_db_users.run),
    Stage(Phase.RetiringExistingCluster, swap_clusters.NAME, swap_clusters.retire),
    Stage(Phase.SwappingClusters, swap_clusters.NAME, swap_clusters.swap_in),
    Stage(Phase.DeletingRetiredCluster, delete_retired_cluster.NAME, delete_retired_cluster.run),
    Stage(Phase.ArchivingSnapshot, archive_snapshot.NAME, archive_snapshot.run),
)

# Run after a failure, before the notification, until they finish (one AWS action a tick).
RECOVERY: tuple[Stage, ...] = (Stage(Phase.Failed, undo_swap.NAME, undo_swap.run),)

# Runs once the restore has ended, whichever way.
FINAL = Stage(Phase.Completed, sns_notification.NAME, sns_notification.run)

PHASE_ORDER: tuple[Phase, ...] = tuple(Phase)
