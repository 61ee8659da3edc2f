"""The records every operation leaves: DynamoDB state and audit tables, CloudWatch metrics."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..pipeline.context import iso_micro
from ..pipeline.engine import AuditEntry, MetricPoint
from ..pipeline.errors import PortError
from .clients import Clients


def _dynamo(value: Any) -> Any:
    """DynamoDB wants Decimals, not floats, and no empty strings in keys."""
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


ONE_MICROSECOND = dt.timedelta(microseconds=1)
# AWS limits: BatchWriteItem takes 25 put requests, BatchGetItem 100 keys, PutMetricData
# 1000 data points.
BATCH_WRITE_MAX = 25
BATCH_GET_MAX = 100
METRIC_POINTS_MAX = 1000

# (table, DynamoDB-typed item): one put request of a BatchWriteItem.
Put = tuple[str, dict[str, Any]]


def _typed(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    ser = TypeSerializer()
    return {k: ser.serialize(v) for k, v in item.items()}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    de = TypeDeserializer()
    return {k: de.deserialize(v) for k, v in item.items()}


@dataclass(eq=False)
class Records:
    clients: Clients
    region: str
    state_table: str
    audit_table: str
    metrics_namespace: str
    # The last audit sort key of each operation: a later item gets a later key.
    _last: dict[str, dt.datetime] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def _next_moment(self, operation_id: str, now: dt.datetime) -> dt.datetime:
        with self._lock:
            last = self._last.get(operation_id)
            moment = now if last is None or now > last else last + ONE_MICROSECOND
            self._last[operation_id] = moment
            return moment

    def _dynamodb(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.clients.call("dynamodb", self.region, operation, **params)

    # --- batched writes (aws/record_writer.py) ----------------------------------------

    def audit_put(self, operation_id: str, key: str, entry: AuditEntry | Any, resource: str) -> Put:
        """One audit item under its deterministic key (pipeline/records.py)."""
        item = {
            "operation_id": operation_id,
            "timestamp": key,
            "step": entry.step,
            "status": entry.status,
            "details": _dynamo({"resource": resource, **entry.details}),
        }
        return self.audit_table, _typed(item)

    def state_put(
        self, operation_id: str, state: dict[str, Any], resource: str, now: dt.datetime
    ) -> Put:
        item = {
            "operation_id": operation_id,
            "state": _dynamo({"resource": resource, **state}),
            "timestamp": iso_micro(now),
            "status": state.get("phase") or "Pending",
        }
        return self.state_table, _typed(item)

    def write_batch(self, puts: list[Put]) -> list[Put]:
        """One BatchWriteItem (at most 25 puts, any tables); returns those of ``puts`` that
        DynamoDB left unprocessed (throttled), to be sent again."""
        requests: dict[str, list[dict[str, Any]]] = {}
        for table, item in puts[:BATCH_WRITE_MAX]:
            requests.setdefault(table, []).append({"PutRequest": {"Item": item}})
        response = self._dynamodb("BatchWriteItem", RequestItems=requests)
        given = {self._key_of(table, item): (table, item) for table, item in puts}
        return [
            given[self._key_of(table, request["PutRequest"]["Item"])]
            for table, left in (response.get("UnprocessedItems") or {}).items()
            for request in left
            if self._key_of(table, request["PutRequest"]["Item"]) in given
        ]

    def _key_of(self, table: str, item: dict[str, Any]) -> tuple[str, str, str]:
        sort = item.get("timestamp", {}).get("S", "") if table == self.audit_table else ""
        return table, item["operation_id"]["S"], sort

    def read_states(self, operation_ids: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """One BatchGetItem of state items (at most 100): ({op: state map}, unprocessed)."""
        keys = [{"operation_id": {"S": op}} for op in operation_ids[:BATCH_GET_MAX]]
        response = self._dynamodb("BatchGetItem", RequestItems={self.state_table: {"Keys": keys}})
        found: dict[str, dict[str, Any]] = {}
        for raw in (response.get("Responses") or {}).get(self.state_table, []):
            item = _plain(raw)
            found[str(item["operation_id"])] = dict(item.get("state") or {})
        left = (response.get("UnprocessedKeys") or {}).get(self.state_table, {}).get("Keys", [])
        return found, [k["operation_id"]["S"] for k in left]

    def audit_keys(self, operation_id: str) -> set[str]:
        """The sort keys already written for an operation (Query, keys only)."""
        keys: set[str] = set()
        params: dict[str, Any] = {
            "TableName": self.audit_table,
            "KeyConditionExpression": "operation_id = :o",
            "ExpressionAttributeValues": {":o": {"S": operation_id}},
            "ProjectionExpression": "#t",
            "ExpressionAttributeNames": {"#t": "timestamp"},
        }
        while True:
            page = self._dynamodb("Query", **params)
            keys.update(item["timestamp"]["S"] for item in page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                return keys
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def metric_data(self, points: Iterable[MetricPoint], now: dt.datetime) -> list[dict[str, Any]]:
        return [
            {
                "MetricName": p.name,
                "Value": p.value,
                "Unit": p.unit,
                "Timestamp": now,
                "Dimensions": [{"Name": k, "Value": v} for k, v in p.dimensions.items()],
            }
            for p in points
        ]

    def put_metric_data(self, data: list[dict[str, Any]]) -> None:
        """One PutMetricData of up to 1000 points (each keeps its own timestamp)."""
        self.clients.call(
            "cloudwatch",
            self.region,
            "PutMetricData",
            Namespace=self.metrics_namespace,
            MetricData=data[:METRIC_POINTS_MAX],
        )

    # --- direct writes (off the tick path: deletion, refused clean-up) ------------------

    def audit(
        self, operation_id: str, entries: Iterable[AuditEntry], resource: str, now: dt.datetime
    ) -> None:
        from boto3.dynamodb.types import TypeSerializer

        ser = TypeSerializer()
        for entry in entries:
            item = {
                "operation_id": operation_id,
                "timestamp": "",
                "step": entry.step,
                "status": entry.status,
                "details": _dynamo({"resource": resource, **entry.details}),
            }
            # The sort key is a timestamp, unique per operation: on a collision (another
            # process, a clock that went back) one microsecond later, never an overwrite.
            moment = self._next_moment(operation_id, now)
            for _ in range(100):
                item["timestamp"] = iso_micro(moment)
                try:
                    self._dynamodb(
                        "PutItem",
                        TableName=self.audit_table,
                        Item={k: ser.serialize(v) for k, v in item.items()},
                        ConditionExpression="attribute_not_exists(#t)",
                        ExpressionAttributeNames={"#t": "timestamp"},
                    )
                    break
                except PortError as err:
                    if err.code != "ConditionalCheckFailedException":
                        raise
                    moment = self._next_moment(operation_id, moment + ONE_MICROSECOND)

    def check_tables(self, create: bool) -> None:
        """A missing table is a clear error at startup, not a surprise mid-restore."""
        for table, keys in (
            (self.state_table, [("operation_id", "HASH")]),
            (self.audit_table, [("operation_id", "HASH"), ("timestamp", "RANGE")]),
        ):
            try:
                self._dynamodb("DescribeTable", TableName=table)
            except PortError as err:
                if err.code != "ResourceNotFoundException" or not create:
                    raise PortError(
                        err.type,
                        f"DynamoDB table {table} in {self.region}: {err.message}",
                        err.code,
                    ) from None
                self._dynamodb(
                    "CreateTable",
                    TableName=table,
                    BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
                    AttributeDefinitions=[
                        {"AttributeName": k, "AttributeType": "S"} for k, _ in keys
                    ],
                )
