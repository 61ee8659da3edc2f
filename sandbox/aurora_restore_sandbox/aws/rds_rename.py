"""The AWS stand-in's cluster rename (``ModifyDBCluster NewDBClusterIdentifier``), as AWS
does it where moto 5.2 does not.

moto moves the cluster to its new key but leaves its instances behind (they keep naming
the old identifier, so the renamed cluster has no members and the old name's instances
belong to nothing), and it silently overwrites a cluster that already has the new name.
Here, as in AWS: a taken name is refused (``DBClusterAlreadyExistsFault``), so is a cluster
that is not available; the instances follow; the resource id, the tags and the endpoint
(derived from the identifier) go with the cluster; the old name is free at once; and the
cluster is ``renaming`` for a while (model ``rds::cluster-rename`` of moto's state manager).
Installed by :func:`.rds_states.install_rds_states`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def install_rename(
    backend_class: Any, renaming: Callable[[Any], None], deleting: Callable[[Any], bool]
) -> None:
    """Wrap ``backend_class.modify_db_cluster``. ``renaming(obj)`` attaches the in-progress
    state; ``deleting(obj)`` tells a cluster on its way out."""
    from moto.rds import exceptions as rds_errors

    original = backend_class.modify_db_cluster

    @functools.wraps(original)
    def modify_db_cluster(self: Any, kwargs: dict[str, Any]) -> Any:
        old = str(kwargs["db_cluster_identifier"]).lower()
        new = str(kwargs.get("new_db_cluster_identifier") or "").lower()
        cluster = self.clusters.get(old)
        if cluster is None:
            # moto answers a KeyError (HTTP 500) here.
            raise rds_errors.DBClusterNotFoundError(old)
        if not new or new == old:
            return original(self, kwargs)
        if new in self.clusters:
            raise rds_errors.RDSClientError(
                "DBClusterAlreadyExistsFault", f"DB cluster {new} already exists."
            )
        if deleting(cluster) or cluster.status != "available":
            raise rds_errors.InvalidDBClusterStateFault(
                f"DB cluster {old} is {cluster.status}, not available, and cannot be renamed."
            )
        members = [
            instance
            for instance in self.databases.values()
            if str(getattr(instance, "db_cluster_identifier", "") or "").lower() == old
        ]
        answer = original(self, kwargs)
        for instance in members:
            instance.db_cluster_identifier = new
        renaming(self.clusters[new])
        renaming(answer)
        return answer

    backend_class.modify_db_cluster = modify_db_cluster
