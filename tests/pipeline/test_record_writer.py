"""The records writer and the audit items a status implies, with no server: batching limits,
unprocessed items retried with backoff, the state item as the watermark, RecordsFailed, and
re-derivation of what a crash lost."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from typing import Any

import pytest

from aurora_restore.api.status import ErrorType
from aurora_restore.aws.record_writer import RecordWriter
from aurora_restore.aws.records import Put, Records, _plain
from aurora_restore.pipeline import records as core
from aurora_restore.pipeline.engine import AuditEntry, MetricPoint
from aurora_restore.pipeline.errors import PortError

NOW = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)
AUDIT, STATE = "audit", "state"


class FakeRecords(Records):
    """The tables in memory; ``throttle`` items of each BatchWriteItem come back unprocessed
    (as DynamoDB does under throttling) while ``throttled`` calls remain."""

    def __init__(self) -> None:
        super().__init__(None, "us-east-1", STATE, AUDIT, "AuroraRestore")  # type: ignore[arg-type]
        self.tables: dict[str, dict[tuple[str, str], dict[str, Any]]] = {AUDIT: {}, STATE: {}}
        self.log: list[tuple[str, int]] = []
        self.throttled = 0
        self.down = False
        self.points: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def write_batch(self, puts: list[Put]) -> list[Put]:
        with self.lock:
            assert 0 < len(puts) <= 25, len(puts)
            self.log.append(("BatchWriteItem", len(puts)))
            if self.down:
                raise PortError(ErrorType.AWSError, "DynamoDB is down", "InternalError")
            left = puts[len(puts) // 2 :] if self.throttled > 0 else []
            self.throttled -= 1 if self.throttled > 0 else 0
            for table, item in puts:
                if any(item is other for _, other in left):
                    continue
                plain = _plain(item)
                sort = str(plain.get("timestamp")) if table == AUDIT else ""
                self.tables[table][(str(plain["operation_id"]), sort)] = plain
            return left

    def read_states(self, operation_ids: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        self.log.append(("BatchGetItem", len(operation_ids)))
        found = {
            op: dict(self.tables[STATE][(op, "")]["state"])
            for op in operation_ids
            if (op, "") in self.tables[STATE]
        }
        return found, []

    def audit_keys(self, operation_id: str) -> set[str]:
        self.log.append(("Query", 1))
        return {sort for op, sort in self.tables[AUDIT] if op == operation_id}

    def put_metric_data(self, data: list[dict[str, Any]]) -> None:
        assert 0 < len(data) <= 1000, len(data)
        self.log.append(("PutMetricData", len(data)))
        self.points.extend(data)

    def calls(self, operation: str) -> list[int]:
        return [n for op, n in self.log if op == operation]

    def audit(self, op: str) -> list[dict[str, Any]]:  # type: ignore[override]
        return [v for (o, _), v in sorted(self.tables[AUDIT].items()) if o == op]


def writer(records: FakeRecords, failures: list[tuple[str, str]] | None = None) -> RecordWriter:
    sink = failures if failures is not None else []
    return RecordWriter(
        records, lambda: NOW, lambda r, m: sink.append((r, m)), interval=0.05, sleep=lambda _: None
    )


def entries(op: str, n: int) -> list[tuple[str, AuditEntry]]:
    return [
        (
            core.audit_key("2026-11-27T03:00:00Z", 10 + i),
            AuditEntry("snapshot-check", "Retrying", {"i": i}),
        )
        for i in range(n)
    ]


def test_audit_items_go_25_a_call_across_restores_and_the_state_after_them() -> None:
    records = FakeRecords()
    w = writer(records)
    for r in range(4):
        w.submit(
            f"op-{r}", f"ns/r{r}", entries(f"op-{r}", 15), {"phase": "CheckingSnapshot"}, [], NOW
        )
    w.flush()
    # 60 audit items in three calls, then the four state items in one.
    assert records.log == [
        ("BatchWriteItem", 25),
        ("BatchWriteItem", 25),
        ("BatchWriteItem", 10),
        ("BatchWriteItem", 4),
    ]
    assert all(len(records.audit(f"op-{r}")) == 15 for r in range(4))
    state = records.tables[STATE][("op-2", "")]
    assert state["status"] == "CheckingSnapshot" and state["state"]["resource"] == "ns/r2"


def test_unprocessed_items_are_retried_with_backoff_until_written() -> None:
    records = FakeRecords()
    records.throttled = 3
    sleeps: list[float] = []
    w = RecordWriter(records, lambda: NOW, lambda *_: None, sleep=sleeps.append)
    w.submit("op-1", "ns/a", entries("op-1", 20), {"phase": "Pending"}, [], NOW)
    w._drain(w_retry())
    assert len(records.audit("op-1")) == 20
    # Only the unprocessed items are sent again, after a growing pause.
    assert records.calls("BatchWriteItem")[:4] == [20, 10, 5, 3]
    assert len(sleeps) == 3 and sleeps[0] < sleeps[2]
    assert ("op-1", "") in records.tables[STATE]


def w_retry() -> Any:
    from aurora_restore.aws.record_writer import BACKGROUND

    return BACKGROUND


def test_what_cannot_be_written_is_reported_once_and_holds_the_state_back() -> None:
    records = FakeRecords()
    records.down = True
    failures: list[tuple[str, str]] = []
    w = writer(records, failures)
    w.submit("op-1", "ns/a", entries("op-1", 2), {"phase": "CopyingSnapshot"}, [], NOW)
    w.flush()
    w.flush()
    assert failures == [("ns/a", "DynamoDB is down")]
    # The state item (the watermark) is not written ahead of its audit items.
    assert records.tables[STATE] == {}
    records.down = False
    w.flush()
    assert len(records.audit("op-1")) == 2 and ("op-1", "") in records.tables[STATE]


def test_metrics_are_sent_1000_points_a_call() -> None:
    records = FakeRecords()
    w = writer(records)
    points = [MetricPoint("StepDuration", float(i), "Seconds", {"Step": "x"}) for i in range(1500)]
    w.submit("op-1", "ns/a", [], {"phase": "Pending"}, points, NOW)
    w.flush()
    assert records.calls("PutMetricData") == [1000, 500]
    assert records.points[0]["Timestamp"] == NOW


def test_the_background_writer_gathers_ticks_into_few_calls() -> None:
    records = FakeRecords()
    w = RecordWriter(records, lambda: NOW, lambda *_: None, interval=0.3)
    w.start()
    try:
        for r in range(10):
            w.submit(f"op-{r}", f"ns/r{r}", entries(f"op-{r}", 2), {"phase": "Pending"}, [], NOW)
        time.sleep(0.05)
        assert records.log == []  # still gathering
    finally:
        w.stop()
    assert records.calls("BatchWriteItem") == [20, 10]


# --- the audit items a status implies ---------------------------------------------------


def completed_status() -> dict[str, Any]:
    t = "2026-11-27T03:00:%02dZ"
    steps = [
        {
            "name": name,
            "state": "Succeeded",
            "startedAt": t % i,
            "finishedAt": t % (i + 1),
            "message": name,
        }
        for i, name in enumerate(["snapshot-check", "copy-snapshot", "check-restore-status"])
    ]
    steps.append({"name": "sns-notification", "state": "Succeeded", "finishedAt": t % 9})
    return {
        "operationId": "op-1",
        "phase": "Completed",
        "startedAt": t % 0,
        "completedAt": t % 8,
        "steps": steps,
        "message": "Restored staging",
    }


def test_keys_follow_the_seed_format_and_order_the_run() -> None:
    items = core.implied(completed_status())
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
    assert all(stamp.match(i.key) for i in items)
    assert len({i.key for i in items}) == len(items)
    ordered = [(i.step, i.status) for i in sorted(items, key=lambda i: i.key)]
    assert ordered[0] == ("restore", "Started")
    assert ordered[-2:] == [("restore", "Completed"), ("sns-notification", "Succeeded")]
    # check-restore-status spans two stages: the cluster's end (the phase moved past it) and
    # the step's own end.
    assert ordered.count(("check-restore-status", "Succeeded")) == 2
    assert all(i.details.get("rederived") for i in items)


def test_the_live_key_is_the_derived_key() -> None:
    """What the driver keys at the tick equals what a restart derives from the status."""
    live = core.audit_key("2026-11-27T03:00:01Z", core.rank("copy-snapshot", "Started"))
    derived = {(i.step, i.status): i.key for i in core.implied(completed_status())}
    assert derived[("copy-snapshot", "Started")] == live
    final = core.audit_key(
        "2026-11-27T03:00:03Z", core.rank("check-restore-status", "InstancesAvailable", 1)
    )
    assert final in {i.key for i in core.implied(completed_status())}


def test_missing_is_what_the_status_implies_beyond_the_state_item() -> None:
    current = completed_status()
    confirmed = {**current, "phase": "RestoringCluster", "completedAt": None}
    confirmed["steps"] = [dict(s) for s in current["steps"][:2]]
    lost = {(i.step, i.status) for i in core.missing(current, confirmed)}
    assert ("restore", "Completed") in lost and ("sns-notification", "Succeeded") in lost
    assert ("copy-snapshot", "Succeeded") not in lost
    assert core.missing(current, current) == []
    # Another operation's state item confirms nothing of this one.
    assert len(core.missing(current, {**current, "operationId": "op-0"})) == len(
        core.implied(current)
    )


def test_reconcile_writes_only_what_is_lost_and_keeps_what_was_written() -> None:
    records = FakeRecords()
    w = writer(records)
    status = completed_status()
    early = {
        **status,
        "phase": "CopyingSnapshot",
        "completedAt": None,
        "steps": status["steps"][:1],
    }
    w.submit("op-1", "ns/a", [], early, [], NOW)
    # A live item written with its details, then a crash before the state moved on.
    key = core.audit_key("2026-11-27T03:00:08Z", core.RUN_END_RANK)
    w.submit(
        "op-1",
        "ns/a",
        [(key, AuditEntry("restore", "Completed", {"message": "live"}))],
        None,
        [],
        NOW,
    )
    w.flush()
    records.tables[STATE][("op-1", "")]["state"] = {"resource": "ns/a", **early}
    fresh = writer(records)  # the restarted process
    fresh.reconcile("op-1", "ns/a", status)
    fresh.flush()
    audit = records.audit("op-1")
    got = [(a["step"], a["status"]) for a in audit]
    assert ("sns-notification", "Succeeded") in got and ("copy-snapshot", "Started") in got
    completed = [a for a in audit if a["status"] == "Completed"]
    assert [a["details"]["message"] for a in completed] == ["live"]
    assert records.tables[STATE][("op-1", "")]["status"] == "Completed"
    # Nothing lost on the next start: one read, no write.
    records.log.clear()
    again = writer(records)
    again.reconcile("op-1", "ns/a", status)
    again.flush()
    assert records.log == [("BatchGetItem", 1)]


@pytest.mark.parametrize("word", ["Succeeded", "Skipped", "Failed", "Retrying", "Started"])
def test_ranks_fit_the_microseconds_field(word: str) -> None:
    for step in [
        "restore",
        "snapshot-check",
        "archive-snapshot",
        "undo-swap",
        "sns-notification",
        "cleanup",
    ]:
        for seq in (0, 1, 7, 10**9):
            assert 0 <= core.rank(step, word, seq, cleanup=step == "archive-snapshot") < 1_000_000
