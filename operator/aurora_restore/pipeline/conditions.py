"""Standard Kubernetes conditions derived from the status, so `kubectl wait` and Argo CD work."""

from __future__ import annotations

from ..spec import AuroraRestoreStatus, Condition, Phase


def _set(
    status: AuroraRestoreStatus,
    type_: str,
    value: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: str,
) -> None:
    text = "True" if value else "False"
    for cond in status.conditions:
        if cond.type == type_:
            if cond.status != text:
                cond.last_transition_time = now
            cond.status = text
            cond.reason, cond.message, cond.observed_generation = reason, message, generation
            return
    status.conditions.append(
        Condition(
            type=type_,
            status=text,
            reason=reason,
            message=message,
            last_transition_time=now,
            observed_generation=generation,
        )
    )


def update_conditions(
    status: AuroraRestoreStatus,
    generation: int | None,
    now: str,
    waiting_for: str | None = None,
    waiting_reason: str | None = None,
) -> None:
    phase = status.phase
    message = status.message or phase.value
    ready = phase is Phase.Completed
    failed = phase is Phase.Failed
    _set(
        status,
        "Ready",
        ready,
        "RestoreCompleted" if ready else phase.value,
        message,
        generation,
        now,
    )
    progress_msg = message if waiting_for is None else f"{message} ({waiting_for})"
    _set(
        status,
        "Progressing",
        not phase.finished,
        (waiting_reason or phase.value) if not phase.finished else "RunEnded",
        progress_msg,
        generation,
        now,
    )
    reason = status.error.type.value if failed and status.error else "NoError"
    _set(status, "Failed", failed, reason, message if failed else "No error", generation, now)
