"""The table is the whole restore: each stage's step, its module, how it reads AWS, and the
lists derived from it. No AWS here: the engine is driven with stand-in actions."""

from __future__ import annotations

import datetime as dt

import pytest

from aurora_restore.api import status
from aurora_restore.api.restore import validate_spec
from aurora_restore.pipeline import engine
from aurora_restore.pipeline.context import READS, Context, PipelineConfig, StepResult
from aurora_restore.pipeline.table import FINAL, RECOVERY, STAGES, STEP_NAMES, TABLE, Reads, Stage


def test_every_step_lives_in_the_module_named_after_it() -> None:
    for stage in TABLE:
        module = stage.action.__module__
        assert module.startswith("aurora_restore.pipeline.steps."), stage
        assert module.rsplit(".", 1)[1] == stage.step.replace("-", "_"), stage


def test_the_lists_are_derived_from_the_table() -> None:
    assert STAGES + RECOVERY + (FINAL,) == TABLE
    assert [s for s in TABLE if s.final] == [FINAL] and FINAL.step == "sns-notification"
    assert all(s.phase is status.Phase.Failed for s in RECOVERY)
    assert STEP_NAMES == tuple(dict.fromkeys(s.step for s in TABLE))
    # The status lists each step once, in the table's order; the contract names the same.
    assert list(STEP_NAMES) == list(status.STEP_NAMES)
    # A step spanning phases is written in consecutive rows, with one way of reading.
    for name in STEP_NAMES:
        rows = [i for i, s in enumerate(TABLE) if s.step == name]
        assert rows == list(range(rows[0], rows[-1] + 1)), name
        assert len({TABLE[i].reads for i in rows}) == 1, name


def test_status_checks_read_from_the_shared_cache_and_the_others_fresh() -> None:
    shared = {s.step for s in TABLE if s.reads is Reads.SHARED}
    assert shared == {
        "snapshot-check",
        "check-copy-status",
        "check-delete-status",
        "check-restore-status",
        "setup-db-users",
    }
    # Every step that starts an AWS operation reads fresh before it does.
    for step in ("copy-snapshot", "delete-rds", "restore-snapshot", "swap-clusters"):
        assert step not in shared


def _ctx() -> Context:
    parsed = validate_spec(
        {
            "source": {"region": "us-east-1", "snapshotIdentifier": "snap"},
            "target": {"region": "us-east-1", "clusterIdentifier": "staging"},
        }
    )
    now = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    status = engine.begin(None, parsed, "op-123456789012", 1, now)
    return Context(parsed, status, None, PipelineConfig(), now, "ns/name")  # type: ignore[arg-type]


@pytest.mark.parametrize("reads", list(Reads))
def test_the_engine_sets_the_read_policy_from_the_stage(reads: Reads) -> None:
    seen = []

    def action(ctx: Context) -> StepResult:
        seen.append(READS.get())
        return StepResult.finished("done", used_aws=False)

    stage = Stage(status.Phase.CheckingSnapshot, "snapshot-check", action, reads)
    result, _ = engine._act(_ctx(), stage, started=12.5)
    assert result.done
    [policy] = seen
    assert policy is not None and policy.since == 12.5
    assert policy.cached is (reads is Reads.SHARED)
    assert READS.get() is None  # reset after the action
