"""Leases on restore targets, and the operator's status-signing key, in the DynamoDB state
table every operator replica and the CLI share.

A lease item's key is ``lease:<account>:<region>:<cluster identifier>``; it names the run
holding the target (owner ``namespace/name`` and operation id) and when the lease expires.
It is taken and renewed with one conditional ``UpdateItem``: granted when there is no
lease, when the lease is this run's, or when it has expired; so a second run can take
over only after the holder stopped renewing. Ending a run sets its lease's expiry to 0.

The signing key (``pipeline/guards.py``) is one item too, created once with a conditional
``PutItem`` so that all replicas agree on it. Only principals that may read the state
table (the operator's role, administrators) can read it; Kubernetes users cannot.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..pipeline.errors import PortError
from ..pipeline.ports import LeaseHolder
from .clients import Clients

KEY_ITEM = "aurora-restore:status-key"
CONFLICT = "ConditionalCheckFailedException"


@dataclass(eq=False)
class DynamoLeases:
    clients: Clients
    region: str
    table: str
    duration: float
    clock: Callable[[], float] = time.time
    _account: str | None = field(default=None, init=False)
    _key: bytes | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    # (item key, operation id) -> when this process last wrote the lease (clock time).
    _renewed: dict[tuple[str, str], float] = field(default_factory=dict, init=False)

    def _dynamodb(self, operation: str, **params: object) -> dict[str, object]:
        return self.clients.call("dynamodb", self.region, operation, **params)

    def _update(self, key: str, expression: str, condition: str, values: dict[str, object]) -> None:
        """A conditional ``UpdateItem`` of one lease item; CONFLICT when the condition fails."""
        self._dynamodb(
            "UpdateItem",
            TableName=self.table,
            Key={"operation_id": {"S": key}},
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )

    def account(self) -> str:
        if self._account is None:
            identity = self.clients.call("sts", self.region, "GetCallerIdentity")
            self._account = str(identity.get("Account") or "unknown")
        return self._account

    def _item_key(self, region: str, cluster_identifier: str) -> str:
        return f"lease:{self.account()}:{region}:{cluster_identifier.lower()}"

    def hold(
        self, region: str, cluster_identifier: str, owner: str, operation_id: str
    ) -> LeaseHolder | None:
        """Take or renew the lease for this run: None when it is ours, else its holder."""
        key = self._item_key(region, cluster_identifier)
        now = self.clock()
        last = self._renewed.get((key, operation_id))
        # Renewed a third of the duration ago at most: it is ours for two thirds more.
        if last is not None and now - last < self.duration / 3:
            return None
        try:
            self._update(
                key,
                "SET holder = :h, holder_op = :o, expires_at = :e",
                "attribute_not_exists(operation_id) OR holder_op = :o OR expires_at < :now",
                {
                    ":h": {"S": owner},
                    ":o": {"S": operation_id},
                    ":e": {"N": str(int(now + self.duration))},
                    ":now": {"N": str(int(now))},
                },
            )
        except PortError as err:
            if err.code != CONFLICT:
                raise
            self._renewed.pop((key, operation_id), None)
            item = self._dynamodb(
                "GetItem",
                TableName=self.table,
                Key={"operation_id": {"S": key}},
                ConsistentRead=True,
            ).get("Item")
            attrs = item if isinstance(item, dict) else {}
            return LeaseHolder(
                owner=str(attrs.get("holder", {}).get("S", "?")),
                operation_id=str(attrs.get("holder_op", {}).get("S", "?")),
                expires_at=float(attrs.get("expires_at", {}).get("N", "0")),
            )
        self._renewed[(key, operation_id)] = now
        return None

    def release(self, region: str, cluster_identifier: str, operation_id: str) -> None:
        key = self._item_key(region, cluster_identifier)
        self._renewed.pop((key, operation_id), None)
        try:
            self._update(
                key,
                "SET expires_at = :zero",
                "holder_op = :o",
                {":zero": {"N": "0"}, ":o": {"S": operation_id}},
            )
        except PortError as err:
            if err.code != CONFLICT:  # not ours (any more): nothing to release
                raise

    def signing_key(self) -> bytes:
        """The HMAC key for run specs, created by whichever replica asks first."""
        with self._lock:
            if self._key is None:
                self._key = self._load_key()
            return self._key

    def _load_key(self) -> bytes:
        key = {"operation_id": {"S": KEY_ITEM}}
        item = self._dynamodb("GetItem", TableName=self.table, Key=key, ConsistentRead=True).get(
            "Item"
        )
        if isinstance(item, dict) and "key" in item:
            return bytes.fromhex(item["key"]["S"])
        fresh = secrets.token_hex(32)
        try:
            self._dynamodb(
                "PutItem",
                TableName=self.table,
                Item={**key, "key": {"S": fresh}, "status": {"S": "signing-key"}},
                ConditionExpression="attribute_not_exists(operation_id)",
            )
        except PortError as err:
            if err.code != CONFLICT:
                raise
            return self._load_key()  # another replica won the race: use its key
        return bytes.fromhex(fresh)
