"""sns-notification: tell the topic how the restore ended, in the seed's message format.

Two endings send it: a run that completed or failed (``run``), and a spec that failed
validation, which is a failed run that never started (``run_rejected``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ...api.restore import Notification, NotifyOn
from ...api.rules import AWS_ID, REGION
from ...api.status import AuroraRestoreStatus, Phase
from ..context import Context, StepResult
from ..ports import Notifier
from . import _sources

NAME = "sns-notification"
SENT = "Notification sent successfully"


def _body(
    operation_id: str | None,
    ok: bool,
    message: str | None,
    details: dict[str, object],
    timestamp: str,
) -> dict[str, object]:
    """The seed's message: operation_id, status, message, details, timestamp."""
    return {
        "operation_id": operation_id,
        "status": "success" if ok else "failure",
        "message": message,
        "details": details,
        "timestamp": timestamp,
    }


def message(ctx: Context) -> tuple[str, dict[str, object]]:
    st = ctx.status
    target = ctx.spec.target
    ok = st.phase is Phase.Completed
    details: dict[str, object] = {
        "cluster_identifier": target.cluster_identifier,
        "target_region": target.region,
        "source_region": ctx.spec.source.region,
    }
    details.update(_sources.notification_details(ctx))
    if st.snapshot:
        details["snapshot_name"] = st.snapshot.identifier
    if st.cluster and st.cluster.endpoint:
        details["cluster_endpoint"] = st.cluster.endpoint
        details["cluster_port"] = st.cluster.port
    if st.error:
        details.update(
            error_type=st.error.type.value, error_step=st.error.step, error_code=st.error.code
        )
    verb = "completed" if ok else "failed"
    subject = f"Aurora restore {verb}: {target.cluster_identifier} ({target.region})"
    body = _body(
        ctx.operation_id, ok, st.message or f"Aurora restore {verb}", details, ctx.iso_now()
    )
    return subject[:100], body


def run(ctx: Context) -> StepResult:
    topic = ctx.spec.notification.sns_topic_arn or ctx.config.default_topic_arn
    if not topic:
        return StepResult.skip("No SNS topic configured; no notification sent")
    if ctx.status.phase.value not in {e.value for e in ctx.spec.notification.events}:
        return StepResult.skip(f"No notification requested for {ctx.status.phase.value}")
    subject, body = message(ctx)
    ctx.ports.notifier.publish(topic, subject, body)
    return StepResult.finished(SENT, reason="NotificationSent", topic=topic)


def run_rejected(
    raw_spec: Mapping[str, object],
    status: AuroraRestoreStatus,
    resource: tuple[str, str],
    default_topic: str | None,
    notifier: Notifier,
    timestamp: str,
) -> StepResult:
    """The failure notification of a spec that failed validation, when its notification
    block (or the operator's default topic) asks for Failed. ``resource``: its
    ("namespace/name", name). Only well-formed names from the invalid spec are quoted."""
    try:
        notification = Notification.model_validate(raw_spec.get("notification") or {})
    except ValueError:
        notification = Notification()
    topic = notification.sns_topic_arn or default_topic
    if not topic or NotifyOn.Failed not in notification.events:
        return StepResult.skip("The spec is invalid; no notification requested for Failed")
    target = raw_spec.get("target")
    target = target if isinstance(target, Mapping) else {}
    cluster = str(target.get("clusterIdentifier") or "")
    cluster = cluster if len(cluster) <= 63 and AWS_ID.fullmatch(cluster) else ""
    region = str(target.get("region") or "")
    region = region if REGION.fullmatch(region) else ""
    error = status.error
    details: dict[str, object] = {
        "resource": resource[0],
        "cluster_identifier": cluster,
        "target_region": region,
        "error_type": error.type.value if error else None,
        "error_step": error.step if error else None,
        "error_code": error.code if error else None,
    }
    subject = f"Aurora restore failed: {cluster or resource[1]} (invalid spec)"
    body = _body(status.operation_id, False, status.message, details, timestamp)
    notifier.publish(topic, subject[:100], body)
    return StepResult.finished(SENT, reason="NotificationSent", topic=topic)
