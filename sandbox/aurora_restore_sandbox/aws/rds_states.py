"""moto's RDS with in-progress states, and AWS's behaviour where moto 5.2 differs.

moto's RDS makes copies, restores, instances and deletions finish at once. The operator's
whole point is to wait for them, so :func:`install_rds_states` hooks moto's RDS models
into moto's state manager: clusters go ``creating``, snapshots ``creating``/``copying``
(with a rising ``PercentProgress``), instances ``creating``, and deleted clusters and
instances stay visible as ``deleting`` until their transition ends. How long each takes
is set per model through moto's own ``/moto-api/state-manager/set-transition``.

This relies on moto 5.2.x internals (``moto.rds.models``); the version is pinned in
pyproject.toml. Everything here patches classes, so it holds for the whole process: one
moto server per process. It also installs the rename (:mod:`.rds_rename`), the
point-in-time restore (:mod:`.rds_point_in_time`) and the snapshots shared across
accounts (:mod:`.rds_shared_snapshots`).

moto differences the operator must cope with (not fixed here unless said):

- bad cluster and snapshot identifiers are accepted;
- renaming a cluster (``ModifyDBCluster NewDBClusterIdentifier``) leaves its instances
  behind and overwrites a cluster that already has the new name; fixed in
  :mod:`.rds_rename`;
- a restore onto an existing cluster identifier silently replaces it;
- creating or restoring a cluster creates an automated snapshot
  ``rds:<cluster>-<yyyy-mm-dd-hh-mm>``, and the deleted cluster's one stays; moto would
  fail a delete-then-restore within the same minute with DBClusterSnapshotAlreadyExists,
  so here the existing snapshot is reused;
- a restored cluster inherits the source's settings (moto skips falsy overrides); only
  ``DeletionProtection`` is put back to AWS's default here;
- describe, restore and delete take plain identifiers, not ARNs (copy takes the source
  snapshot's ARN);
- an encrypted snapshot copied across regions without ``KmsKeyId`` is accepted.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, MutableMapping
from datetime import datetime
from typing import Any

from . import rds_point_in_time, rds_shared_snapshots
from .rds_rename import install_rename

RDS_CLUSTER = "rds::cluster"
RDS_CLUSTER_SNAPSHOT = "rds::cluster-snapshot"
RDS_INSTANCE = "rds::instance"
# A rename (ModifyDBCluster NewDBClusterIdentifier): the cluster is ``renaming`` for a while.
RDS_CLUSTER_RENAME = "rds::cluster-rename"
RDS_MODELS: tuple[str, ...] = (RDS_CLUSTER, RDS_CLUSTER_SNAPSHOT, RDS_INSTANCE, RDS_CLUSTER_RENAME)

# The object attribute that carries the ManagedState. Kept in the instance
# __dict__ so that copy.copy() (moto snapshots copy their cluster) shares it.
_STATE_ATTR = "_sandbox_state"
_PLAIN_STATUS_ATTR = "_sandbox_plain_status"
_PLAIN_PROGRESS_ATTR = "_sandbox_plain_progress"
# Internal end state of a deletion: the object is dropped once it is reached
# and is never shown to clients.
_GONE = "deleted"

_CREATING = [("creating", "available")]
_COPYING = [("copying", "available")]
_DELETING = [("deleting", _GONE)]
_RENAMING = [("renaming", "available")]

_install_lock = threading.Lock()
_installed = False


def install_rds_states() -> None:
    """Hook moto's RDS into moto's state manager. Idempotent, process-wide."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _install()
        _installed = True


def _install() -> None:
    # Imported here: moto's import is slow and only the sandbox needs it.
    from moto.moto_api import state_manager
    from moto.rds import exceptions as rds_errors
    from moto.rds.models import DBCluster, DBClusterSnapshot, DBInstance, RDSBackend

    for model in RDS_MODELS:
        state_manager.register_default_transition(model, {"progression": "immediate"})

    original_cluster_status: property = DBCluster.status
    DBCluster.status = _status_property(original_cluster_status)  # type: ignore[method-assign,assignment]
    DBClusterSnapshot.status = _status_property(None)  # type: ignore[attr-defined]
    DBInstance.status = _status_property(None)  # type: ignore[attr-defined]
    DBClusterSnapshot.percent_progress = _progress_property()  # type: ignore[attr-defined]

    original_auto = RDSBackend.create_auto_cluster_snapshot

    @functools.wraps(original_auto)
    def create_auto_cluster_snapshot(self: RDSBackend, cluster_id: str, snapshot_id: str) -> Any:
        # moto names these by the minute, so deleting a cluster and restoring one with the
        # same name in that minute clashes; AWS keeps automated backups apart. Reuse it.
        existing = self.cluster_snapshots.get(snapshot_id)
        if existing is not None:
            return existing
        return original_auto(self, cluster_id, snapshot_id)

    RDSBackend.create_auto_cluster_snapshot = create_auto_cluster_snapshot  # type: ignore[method-assign]

    def attach_on_return(name: str, model: str, transitions: list[tuple[str, str]]) -> None:
        original = getattr(RDSBackend, name)

        @functools.wraps(original)
        def wrapper(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            obj = original(self, *args, **kwargs)
            _attach(obj, model, transitions)
            return obj

        setattr(RDSBackend, name, wrapper)

    attach_on_return("create_db_cluster", RDS_CLUSTER, _CREATING)
    attach_on_return("create_db_cluster_snapshot", RDS_CLUSTER_SNAPSHOT, _CREATING)
    attach_on_return("create_db_instance", RDS_INSTANCE, _CREATING)

    original_copy = RDSBackend.copy_db_cluster_snapshot

    @functools.wraps(original_copy)
    def copy_db_cluster_snapshot(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        source_id = kwargs.get("source_db_cluster_snapshot_identifier") or args[0]
        source = self.get_db_cluster_snapshot(source_id)
        # Real RDS refuses to copy a snapshot that is not finished yet.
        if source.status != "available":
            raise rds_errors.InvalidDBClusterSnapshotStateFault(
                f"Snapshot {source_id} is not in available state."
            )
        copied = original_copy(self, *args, **kwargs)
        _attach(copied, RDS_CLUSTER_SNAPSHOT, _COPYING)
        copied.source_db_cluster_snapshot_arn = source.arn
        return copied

    RDSBackend.copy_db_cluster_snapshot = copy_db_cluster_snapshot  # type: ignore[method-assign]

    original_restore = RDSBackend.restore_db_cluster_from_snapshot

    @functools.wraps(original_restore)
    def restore_db_cluster_from_snapshot(
        self: RDSBackend, from_snapshot_id: str, overrides: dict[str, Any]
    ) -> Any:
        snapshot = self.get_db_cluster_snapshot(from_snapshot_id)
        if snapshot.status != "available":
            raise rds_errors.InvalidDBClusterSnapshotStateFault(
                f"Snapshot {from_snapshot_id} is not in available state."
            )
        cluster = original_restore(self, from_snapshot_id, overrides)
        # moto copies the source's settings and skips falsy overrides, so a restore
        # of a protected production cluster came out protected; AWS defaults to off.
        cluster.deletion_protection = bool(overrides.get("deletion_protection") or False)
        return cluster

    RDSBackend.restore_db_cluster_from_snapshot = restore_db_cluster_from_snapshot  # type: ignore[method-assign]

    def keep_while_deleting(
        name: str,
        id_arg: str,
        collection: Callable[[RDSBackend], dict[str, Any]],
        fault: Callable[[str], Exception],
        model: str,
        delete: Callable[..., Any] | None = None,
    ) -> None:
        # moto forgets a deleted object at once; AWS shows it as deleting for a while, and
        # refuses to delete it again meanwhile.
        original = getattr(RDSBackend, name)

        @functools.wraps(original)
        def wrapper(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            identifier = kwargs.get(id_arg) or args[0]
            objects = collection(self)
            existing = objects.get(identifier)
            if existing is not None and _is_deleting(existing):
                raise fault(identifier)
            obj = (delete or original)(self, *args, **kwargs)
            _attach(obj, model, _DELETING)
            objects[identifier] = obj
            return obj

        setattr(RDSBackend, name, wrapper)

    original_delete_cluster = RDSBackend.delete_db_cluster

    def delete_db_cluster(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        identifier = kwargs.get("cluster_identifier") or args[0]
        # AWS lets a cluster go once all its instances are deleting; moto only
        # looks at membership, and here deleting instances are still members.
        leaving = {
            key: instance
            for key, instance in self.databases.items()
            if str(getattr(instance, "db_cluster_identifier", "")).lower() == identifier.lower()
            and _is_deleting(instance)
        }
        for key in leaving:
            del self.databases[key]
        try:
            return original_delete_cluster(self, *args, **kwargs)
        finally:
            self.databases.update(leaving)

    keep_while_deleting(
        "delete_db_cluster",
        "cluster_identifier",
        lambda backend: backend.clusters,
        lambda name: rds_errors.InvalidDBClusterStateFault(
            f"Cluster {name} is already being deleted."
        ),
        RDS_CLUSTER,
        delete_db_cluster,
    )
    keep_while_deleting(
        "delete_db_instance",
        "db_instance_identifier",
        lambda backend: backend.databases,
        lambda name: rds_errors.InvalidDBInstanceStateFault(
            f"Instance {name} is already being deleted."
        ),
        RDS_INSTANCE,
    )

    install_rename(
        RDSBackend, lambda obj: _attach(obj, RDS_CLUSTER_RENAME, _RENAMING), _is_deleting
    )

    def advance_on_describe(name: str, collection: Callable[[RDSBackend], Any]) -> None:
        original = getattr(RDSBackend, name)

        @functools.wraps(original)
        def wrapper(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            own = collection(self)
            for other in (self.clusters, self.cluster_snapshots, self.databases):
                # Only describes of a model count as its "manual" ticks, but finished
                # deletions go everywhere: a cluster's last instances must not linger.
                _advance(other, tick=other is own)
            return original(self, *args, **kwargs)

        setattr(RDSBackend, name, wrapper)

    advance_on_describe("describe_db_clusters", lambda backend: backend.clusters)
    advance_on_describe("describe_db_cluster_snapshots", lambda backend: backend.cluster_snapshots)
    advance_on_describe("describe_db_instances", lambda backend: backend.databases)
    rds_point_in_time.install()
    rds_shared_snapshots.install()


def _attach(obj: Any, model: str, transitions: list[tuple[str, str]]) -> None:
    from moto.moto_api._internal.managed_state_model import ManagedState

    obj.__dict__[_STATE_ATTR] = ManagedState(model, transitions)


def _state(obj: Any) -> Any:
    return obj.__dict__.get(_STATE_ATTR)


def _is_deleting(obj: Any) -> bool:
    state = _state(obj)
    return state is not None and state._transitions is _DELETING


def _items(collection: MutableMapping[str, Any]) -> list[tuple[str, Any]]:
    """A copy of the collection's items. The server is threaded: another request may add or
    remove an object while the copy is made (``OrderedDict mutated during iteration``), and
    then the copy is simply made again."""
    while True:
        try:
            return list(collection.items())
        except RuntimeError:
            continue


def _advance(collection: MutableMapping[str, Any], tick: bool) -> None:
    # A "manual" transition counts describe calls; "time" ones look at the clock.
    for key, obj in _items(collection):
        state = _state(obj)
        if state is None:
            continue
        if tick:
            state.advance()
        if state.status == _GONE:
            # The server is threaded: another describe may have purged it already.
            collection.pop(key, None)


def _status_property(original: property | None) -> property:
    def fget(self: Any) -> str | None:
        state = _state(self)
        if state is not None:
            status = state.status
            # A deletion that ended after the last describe is purged by the next one.
            return "deleting" if status == _GONE else status
        if original is not None and original.fget is not None:
            return original.fget(self)
        return self.__dict__.get(_PLAIN_STATUS_ATTR)

    def fset(self: Any, value: str) -> None:
        # moto sets statuses itself (stop, start, modify): that wins over a transition.
        self.__dict__.pop(_STATE_ATTR, None)
        if original is not None and original.fset is not None:
            original.fset(self, value)
        else:
            self.__dict__[_PLAIN_STATUS_ATTR] = value

    return property(fget, fset)


def _progress_property() -> property:
    def fget(self: Any) -> int:
        state = _state(self)
        if state is None:
            return int(self.__dict__.get(_PLAIN_PROGRESS_ATTR, 100))
        return _percent(state)

    def fset(self: Any, value: int) -> None:
        self.__dict__[_PLAIN_PROGRESS_ATTR] = value

    return property(fget, fset)


def _percent(state: Any) -> int:
    from moto.moto_api import state_manager

    status = state.status
    if status == state._transitions[-1][1]:
        return 100
    transition = state_manager.get_transition(state.model_name)
    progression = transition.get("progression")
    if progression == "time" and float(transition.get("seconds", 0)) > 0:
        elapsed = (datetime.now() - state._time_progressed).total_seconds()
        fraction = elapsed / float(transition["seconds"])
    elif progression == "manual" and int(transition.get("times", 0)) > 0:
        fraction = state._tick / int(transition["times"])
    else:
        return 100
    # 100 is only ever reported together with "available".
    return max(0, min(99, int(fraction * 100)))


def settle(region: str | None) -> int:
    """Finish every in-flight RDS transition at once (for seeding)."""
    from moto.rds.models import rds_backends

    settled = 0
    for account_backends in rds_backends.values():
        for backend_region, backend in account_backends.items():
            if region is not None and backend_region != region:
                continue
            for collection in (backend.clusters, backend.cluster_snapshots, backend.databases):
                for key, obj in _items(collection):
                    state = _state(obj)
                    if state is None:
                        continue
                    settled += 1
                    if _is_deleting(obj):
                        del collection[key]
                    else:
                        obj.__dict__.pop(_STATE_ATTR, None)
                        obj.__dict__[_PLAIN_STATUS_ATTR] = state._transitions[-1][1]
                        if collection is backend.clusters:
                            obj._status = state._transitions[-1][1]
    return settled
