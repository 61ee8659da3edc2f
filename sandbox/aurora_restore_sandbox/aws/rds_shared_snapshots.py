"""The AWS stand-in across accounts: a snapshot named by another account's ARN.

moto 5.2 maps assumed-role credentials to the role's account and lists the snapshots
shared with an account, but it looks every snapshot ARN up in the caller's own account, so
``CopyDBClusterSnapshot`` (or a restore) from another account's snapshot ARN fails, shared
or not. AWS finds it in the owner's account, and only when the owner shared it with the
caller (its ``restore`` attribute lists the caller's account, or ``all``); otherwise it
answers ``DBClusterSnapshotNotFoundFault``, as for a snapshot that does not exist. Here
moto's look-up is wrapped to do that.
"""

from __future__ import annotations

import functools
from typing import Any


def install() -> None:
    from moto.rds import exceptions as rds_errors
    from moto.rds.models import DBClusterSnapshot, RDSBackend, rds_backends

    original = RDSBackend.get_snapshot

    @functools.wraps(original)
    def get_snapshot(
        self: RDSBackend, identifier: str, resource_type: Any, not_found_exception: Any
    ) -> Any:
        parts = identifier.split(":") if identifier.startswith("arn:") else []
        owner = parts[4] if len(parts) >= 7 else self.account_id
        if resource_type is not DBClusterSnapshot or owner == self.account_id:
            return original(self, identifier, resource_type, not_found_exception)
        region, name = parts[3], ":".join(parts[6:])
        snapshots = rds_backends[owner][region].resource_map[resource_type]
        found = snapshots.get(name)
        shared = found.attributes.get("restore", []) if found is not None else []
        if found is None or not (self.account_id in shared or "all" in shared):
            raise rds_errors.DBClusterSnapshotNotFoundError(identifier)
        return found

    RDSBackend.get_snapshot = get_snapshot  # type: ignore[method-assign,assignment]
