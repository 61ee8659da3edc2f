"""The source account of a cross-account restore (source.roleArn), seen through the
assumed role: snapshot look-ups, the snapshot's ``restore`` attribute (the only change
made there) and the read-only KMS look-ups of its key."""

from __future__ import annotations

from typing import Any

from ..pipeline.ports import KeyAccess, Snapshot, SourceAccount
from .clients import ROLE_CACHE, Clients
from .rds import RdsAdapter, RdsTuning

RESTORE_ATTRIBUTE = "restore"


class SourceAccountAdapter:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        # No shared status checks: few calls, and none may mix with the target account's.
        self.rds = RdsAdapter(clients, RdsTuning(batching=False))

    def get_snapshot(self, region: str, identifier: str) -> Snapshot | None:
        return self.rds.get_snapshot(region, identifier)

    def list_snapshots(
        self, region: str, cluster_identifier: str, snapshot_type: str
    ) -> list[Snapshot]:
        return self.rds.list_snapshots(region, cluster_identifier, snapshot_type)

    def shared_with(self, region: str, identifier: str) -> list[str]:
        found = self.rds.call_or_none(
            region, "DescribeDBClusterSnapshotAttributes", DBClusterSnapshotIdentifier=identifier
        )
        result = (found or {}).get("DBClusterSnapshotAttributesResult") or {}
        for attribute in result.get("DBClusterSnapshotAttributes") or []:
            if attribute.get("AttributeName") == RESTORE_ATTRIBUTE:
                return [str(v) for v in attribute.get("AttributeValues") or []]
        return []

    def _modify(self, region: str, identifier: str, **change: list[str]) -> None:
        self.clients.call(
            "rds",
            region,
            "ModifyDBClusterSnapshotAttribute",
            DBClusterSnapshotIdentifier=identifier,
            AttributeName=RESTORE_ATTRIBUTE,
            **change,
        )

    def share(self, region: str, identifier: str, account: str) -> None:
        self._modify(region, identifier, ValuesToAdd=[account])

    def unshare(self, region: str, identifier: str, account: str) -> None:
        self._modify(region, identifier, ValuesToRemove=[account])

    def key_access(self, region: str, key_id: str) -> KeyAccess:
        if key_id.startswith("arn:"):
            region = key_id.split(":")[3]
        meta: dict[str, Any] = self.clients.call("kms", region, "DescribeKey", KeyId=key_id)[
            "KeyMetadata"
        ]
        arn = str(meta.get("Arn") or key_id)
        manager = str(meta.get("KeyManager") or "CUSTOMER")
        if manager == "AWS":
            return KeyAccess(arn, manager, str(meta.get("KeyState", "Enabled")), None)
        policy = self.clients.call(
            "kms", region, "GetKeyPolicy", KeyId=arn, PolicyName="default"
        ).get("Policy")
        grants: list[tuple[str, tuple[str, ...]]] = []
        marker: str | None = None
        while True:
            page = self.clients.call(
                "kms", region, "ListGrants", KeyId=arn, **({"Marker": marker} if marker else {})
            )
            grants += [
                (str(g.get("GranteePrincipal", "")), tuple(g.get("Operations") or ()))
                for g in page.get("Grants") or []
            ]
            marker = page.get("NextMarker") if page.get("Truncated") else None
            if not marker:
                break
        return KeyAccess(arn, manager, str(meta.get("KeyState", "Enabled")), policy, tuple(grants))


class SourceAccountsAdapter:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        self._accounts: dict[tuple[str, str | None, str], SourceAccountAdapter] = {}

    def open(self, role_arn: str, external_id: str | None, session_name: str) -> SourceAccount:
        role = self.clients.for_role(role_arn, external_id, session_name)
        key = (role_arn, external_id, session_name)
        found = self._accounts.get(key)
        # A new adapter when the role's clients were renewed (evicted from their cache).
        if found is None or found.clients is not role:
            while len(self._accounts) >= ROLE_CACHE:
                self._accounts.pop(next(iter(self._accounts)))
            found = self._accounts[key] = SourceAccountAdapter(role)
        return found

    def target_account(self) -> str:
        return self.clients.account_id()
