"""The ``/_sandbox/rds/...`` controls: edits of moto's in-process RDS objects that no AWS
API can make, e.g. making a seeded snapshot look automated and a few days old, or putting
a cluster, snapshot or instance into a terminal state such as ``incompatible-restore``.
They run in the server's process; :class:`~.server.AwsSandbox` calls them over HTTP, so
they also reach a server in another process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .rds_point_in_time import set_restorable_window
from .rds_states import settle

# moto's account when a request carries no other (the dummy credentials of the tests).
DEFAULT_ACCOUNT_ID = "123456789012"
CONTROL_PREFIX = "/_sandbox/"


def _backend(body: dict[str, Any]) -> Any:
    """moto's RDS backend of the body's ``region`` and ``account_id``."""
    from moto.rds.models import rds_backends

    return rds_backends[body.get("account_id", DEFAULT_ACCOUNT_ID)][body["region"]]


def edit_cluster_snapshot(body: dict[str, Any]) -> dict[str, Any]:
    """Change what no AWS API can: snapshot type and creation time."""
    snapshot = _backend(body).cluster_snapshots[body["identifier"]]
    if "snapshot_type" in body:
        snapshot.snapshot_type = body["snapshot_type"]
    if "created_at" in body:
        created = datetime.fromisoformat(body["created_at"])
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        # moto keeps naive UTC datetimes.
        snapshot.created = created.astimezone(UTC).replace(tzinfo=None)
    return {
        "identifier": snapshot.db_cluster_snapshot_identifier,
        "snapshot_type": snapshot.snapshot_type,
        "created_at": snapshot.created.isoformat(),
    }


_STATUS_COLLECTIONS = {
    "cluster": "clusters",
    "cluster-snapshot": "cluster_snapshots",
    "instance": "databases",
}


def set_status(body: dict[str, Any]) -> dict[str, Any]:
    """Put an RDS object into any status, e.g. ``failed`` or ``incompatible-restore``.

    The status sticks: it replaces the object's in-progress transition.
    """
    collection = getattr(_backend(body), _STATUS_COLLECTIONS[body["kind"]])
    obj = collection[body["identifier"]]
    obj.status = body["status"]
    return {"identifier": body["identifier"], "status": obj.status}


# (method, path below CONTROL_PREFIX) -> what it does with the JSON body.
RDS_CONTROLS: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
    ("POST", "rds/settle"): lambda body: {"settled": settle(body.get("region"))},
    ("POST", "rds/cluster-snapshot"): edit_cluster_snapshot,
    ("POST", "rds/status"): set_status,
    ("POST", "rds/cluster"): lambda body: set_restorable_window(
        body, body.get("account_id", DEFAULT_ACCOUNT_ID)
    ),
}
