"""The audit items a status implies, and their deterministic sort keys (no I/O).

The audit table's key is (``operation_id``, ``timestamp``), as in the seed. A tick's items are
written later by a background writer (aws/record_writer.py), so a crash can lose items whose
transition the status already shows. To make the trail whole again without a second source
of truth, the key of an item is a function of what the status keeps: the second of the
transition (``startedAt``, ``finishedAt``, the run's ``startedAt``/``completedAt``, which are
the tick's own time) and a *rank* in the microseconds field that orders the items of one run
as the pipeline emits them (the run's start, then each step: Started, Retrying, how it
ended, then the run's end, the recovery, the clean-up after a failure, the notification).

The live path and the re-derivation after a restart compute the same key for the same
item, so writing it twice overwrites it with itself. The items missing after a crash are
those implied by the current status but not by the state item last written: the writer
writes the state item only after the audit items of the same transitions (see
docs/design-notes.md, "Records leave the tick path").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api.status import Phase
from .steps import archive_snapshot
from .table import FINAL, PHASE_ORDER, RECOVERY, STAGES

RUN = "restore"  # the run-level items: restore Started / Completed / Failed
STARTED, RETRYING, FAILED = "Started", "Retrying", "Failed"
FINISHED_STATES = ("Succeeded", "Skipped", "Failed")

# Each step owns a band of ranks; inside a band: Started, Retrying by attempt, Failed, then
# the end of each of its stages (check-restore-status and swap-clusters span two).
BAND = 40_000
_FAILED_AT, _PART_AT = 20_000, 20_001
_STAGE_STEPS = tuple(dict.fromkeys(s.step for s in STAGES))
_STAGE_BASE = {name: 10_000 + i * BAND for i, name in enumerate(_STAGE_STEPS)}
RUN_END_RANK = 10_000 + len(_STAGE_STEPS) * BAND
_RECOVERY_BASE = {s.step: RUN_END_RANK + 10_000 + i * BAND for i, s in enumerate(RECOVERY)}
# The failed run's clean-up is recorded as archive-snapshot, after the recovery.
_CLEANUP_BASE = RUN_END_RANK + 10_000 + len(RECOVERY) * BAND
_FINAL_BASE = _CLEANUP_BASE + BAND
# Items of no step of the table (they are written directly, see Records.audit).
_OTHER_BASE = _FINAL_BASE + BAND
assert _OTHER_BASE + BAND <= 1_000_000, "ranks must fit in the microseconds field"
# How many stages each step has: the last one's end is the step's own end.
_PARTS = {name: sum(1 for s in STAGES if s.step == name) for name in _STAGE_STEPS}


def after_failure(step: str, phase: str | None, error_step: str | None) -> bool:
    """archive-snapshot run as the failed run's clean-up, not as its own stage."""
    return step == archive_snapshot.NAME and phase == Phase.Failed.value and error_step != step


def rank(step: str, word: str, seq: int = 0, cleanup: bool = False) -> int:
    """The item's place within its second. ``seq``: the attempt of a Retrying item, the
    stage (0, 1) of a stage's end."""
    if step == RUN:
        return 0 if word == STARTED else RUN_END_RANK
    if cleanup:
        base = _CLEANUP_BASE
    elif step in _STAGE_BASE:
        base = _STAGE_BASE[step]
    elif step in _RECOVERY_BASE:
        base = _RECOVERY_BASE[step]
    elif step == FINAL.step:
        base = _FINAL_BASE
    else:
        base = _OTHER_BASE
    if word == STARTED:
        return base
    if word == RETRYING:
        return base + min(max(seq, 1), _FAILED_AT - 1)
    if word == FAILED:
        return base + _FAILED_AT
    return base + _PART_AT + min(max(seq, 0), BAND - _PART_AT - 1)


def audit_key(second: str, position: int) -> str:
    """``2026-11-27T03:00:00Z`` and a rank -> ``2026-11-27T03:00:00.RRRRRRZ``: the seed's
    ISO 8601 timestamp, with the rank where the microseconds go."""
    return f"{second.removesuffix('Z')}.{position:06d}Z"


@dataclass(frozen=True)
class ImpliedItem:
    """An audit item that a status shows happened: the key it has, what it says."""

    key: str
    step: str
    status: str
    details: dict[str, object] = field(default_factory=dict)


def implied(status: Mapping[str, Any] | None) -> list[ImpliedItem]:
    """Every audit item this status implies, keyed as the live path keys it.

    Not implied: Retrying items (the status keeps how many, not when) and the details a
    step reported (the status keeps its last message); a re-derived item says so with
    ``rederived: true``."""
    if not status:
        return []
    phase = status.get("phase")
    error = status.get("error") or {}
    error_step = error.get("step")
    out: list[ImpliedItem] = []
    started_at, completed_at = status.get("startedAt"), status.get("completedAt")
    if started_at:
        out.append(ImpliedItem(audit_key(started_at, 0), RUN, STARTED, {"rederived": True}))
    steps = {s.get("name"): s for s in status.get("steps") or []}
    position = PHASE_ORDER.index(Phase(phase)) if phase in Phase.__members__ else 0
    for name, step in steps.items():
        if not name:
            continue
        cleanup = after_failure(name, phase, error_step)
        state = step.get("state")
        message = {"message": step.get("message") or "", "rederived": True}
        if step.get("startedAt") and name != FINAL.step:
            key = audit_key(step["startedAt"], rank(name, STARTED, cleanup=cleanup))
            out.append(ImpliedItem(key, name, STARTED, {"rederived": True}))
        parts = _PARTS.get(name, 1)
        # The end of a step's earlier stage: the phase moved past it. The status has no time
        # for it, so the step's start stands in (deterministic, in the step's place).
        if parts > 1 and step.get("startedAt") and state in ("Succeeded", "Skipped", "Running"):
            for part, stage in enumerate(s for s in STAGES if s.step == name):
                if part == parts - 1:
                    break
                if state == "Running" and position <= PHASE_ORDER.index(stage.phase):
                    break
                word = "Skipped" if state == "Skipped" else "Succeeded"
                key = audit_key(step["startedAt"], rank(name, word, part, cleanup))
                out.append(ImpliedItem(key, name, word, message))
        finished_at = step.get("finishedAt")
        if state in FINISHED_STATES and finished_at:
            seq = parts - 1
            key = audit_key(finished_at, rank(name, state, seq, cleanup))
            out.append(ImpliedItem(key, name, state, message))
    if phase in (Phase.Completed.value, Phase.Failed.value) and completed_at:
        details: dict[str, object] = {"message": status.get("message") or "", "rederived": True}
        if phase == Phase.Failed.value:
            details.update(
                error_type=error.get("type"), error_step=error_step, error_code=error.get("code")
            )
        out.append(ImpliedItem(audit_key(completed_at, RUN_END_RANK), RUN, phase, details))
    return out


def missing(
    current: Mapping[str, Any] | None, confirmed: Mapping[str, Any] | None
) -> list[ImpliedItem]:
    """The items ``current`` implies that ``confirmed`` (the state item last written, whose
    audit items were all written before it) does not: those a crash may have lost."""
    if confirmed and current and confirmed.get("operationId") != current.get("operationId"):
        confirmed = None
    done = {item.key for item in implied(confirmed)}
    return [item for item in implied(current) if item.key not in done]
