"""kstatus's health rules for custom resources, as Flux and kpt compute them.

Written after sigs.k8s.io/cli-utils ``pkg/kstatus/status`` (``generic.go``:
``checkGenericProperties`` and ``checkGeneration``; ``status.go``: a type without specific
rules is Current): a resource being deleted is Terminating; a ``status.observedGeneration``
that differs from ``metadata.generation`` is InProgress (reason
LatestGenerationNotObserved); then the first condition, in list order, that is
``Reconciling=True`` makes it InProgress or ``Stalled=True`` makes it Failed; anything else
is Current. ``Ready`` plays no part, which is why the operator must publish the two.

A test helper only: the operator never computes kstatus itself, it publishes conditions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

InProgress, Failed, Current, Terminating = "InProgress", "Failed", "Current", "Terminating"


def kstatus(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(status, message) for a custom resource, the way kstatus computes it."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return Terminating, "Resource scheduled for deletion"
    generation = meta.get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed != generation:
        return InProgress, (
            f"{obj.get('kind')} generation is {generation}, "
            f"but latest observed generation is {observed}"
        )
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Reconciling" and condition.get("status") == "True":
            return InProgress, condition.get("message", "")
        if condition.get("type") == "Stalled" and condition.get("status") == "True":
            return Failed, condition.get("message", "")
    return Current, "Resource is current"
