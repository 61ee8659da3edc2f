"""Standard Kubernetes conditions derived from the status, so that `kubectl wait`, Argo CD,
Flux and kpt all read the same health.

kstatus (sigs.k8s.io/cli-utils ``pkg/kstatus/status``, which Flux and kpt use for custom
resources) looks only at ``Reconciling`` (True: InProgress) and ``Stalled`` (True: Failed),
after checking ``status.observedGeneration``; anything else is Current. So a running restore
must say ``Reconciling=True`` and a failed one ``Stalled=True``. ``Ready`` is True only when
the restore completed. ``Progressing`` and ``Failed`` are the same facts under the names
``kubectl wait --for=condition=...`` users already script against: they mirror
``Reconciling`` and ``Stalled`` exactly.
"""

from __future__ import annotations

from ..api.status import AuroraRestoreStatus, Condition, Phase

# The order in which they appear in the status; also what docs/resource.md lists.
CONDITION_TYPES = ("Ready", "Reconciling", "Stalled", "Progressing", "Failed")


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
            # lastTransitionTime moves only when the status does (metav1.Condition).
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
    """Set every condition from the phase and error. ``waiting_for`` says why a run in
    progress waits (added to the message); ``waiting_reason`` (CamelCase, e.g. TargetBusy)
    replaces the phase as the reason of Reconciling and Progressing."""
    phase = status.phase
    message = status.message or phase.value
    ready = phase is Phase.Completed
    failed = phase is Phase.Failed
    running = not phase.finished
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
    progress_reason = (waiting_reason or phase.value) if running else phase.value
    for type_ in ("Reconciling", "Progressing"):
        _set(status, type_, running, progress_reason, progress_msg, generation, now)
    reason = (status.error.type.value if status.error else "RestoreFailed") if failed else "NoError"
    for type_ in ("Stalled", "Failed"):
        _set(status, type_, failed, reason, message if failed else "No error", generation, now)
    order = {t: i for i, t in enumerate(CONDITION_TYPES)}
    status.conditions.sort(key=lambda c: order.get(c.type, len(order)))
