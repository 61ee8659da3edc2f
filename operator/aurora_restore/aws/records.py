"""The records every operation leaves: DynamoDB state and audit tables, CloudWatch metrics."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ..api.status import AuroraRestoreStatus
from ..pipeline.context import iso_micro
from ..pipeline.engine import AuditEntry, MetricPoint
from ..pipeline.errors import PortError
from .clients import Clients


def _dynamo(value: Any) -> Any:
    """DynamoDB wants Decimals, not floats, and no empty strings in keys."""
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


ONE_MICROSECOND = dt.timedelta(microseconds=1)


class Records:
    def __init__(
        self,
        clients: Clients,
        region: str,
        state_table: str,
        audit_table: str,
        metrics_namespace: str,
    ) -> None:
        self.clients = clients
        self.region = region
        self.state_table = state_table
        self.audit_table = audit_table
        self.metrics_namespace = metrics_namespace
        # The last audit sort key of each operation: a later item gets a later key.
        self._last: dict[str, dt.datetime] = {}
        self._lock = threading.Lock()

    def _next_moment(self, operation_id: str, now: dt.datetime) -> dt.datetime:
        with self._lock:
            last = self._last.get(operation_id)
            moment = now if last is None or now > last else last + ONE_MICROSECOND
            self._last[operation_id] = moment
            return moment

    def _dynamodb(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.clients.call("dynamodb", self.region, operation, **params)

    def save_state(self, status: AuroraRestoreStatus, resource: str, now: dt.datetime) -> None:
        from boto3.dynamodb.types import TypeSerializer

        item = {
            "operation_id": status.operation_id,
            "state": _dynamo({"resource": resource, **status.to_dict()}),
            "timestamp": iso_micro(now),
            "status": status.phase.value,
        }
        ser = TypeSerializer()
        self._dynamodb(
            "PutItem",
            TableName=self.state_table,
            Item={k: ser.serialize(v) for k, v in item.items()},
        )

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

    def metrics(self, points: Iterable[MetricPoint], now: dt.datetime) -> None:
        data = [
            {
                "MetricName": p.name,
                "Value": p.value,
                "Unit": p.unit,
                "Timestamp": now,
                "Dimensions": [{"Name": k, "Value": v} for k, v in p.dimensions.items()],
            }
            for p in points
        ]
        for start in range(0, len(data), 20):
            self.clients.call(
                "cloudwatch",
                self.region,
                "PutMetricData",
                Namespace=self.metrics_namespace,
                MetricData=data[start : start + 20],
            )

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
