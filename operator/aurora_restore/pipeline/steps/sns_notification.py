"""sns-notification: tell the topic how the restore ended, in the seed's message format."""

from __future__ import annotations

from ...api.status import Phase
from ..context import Context, StepResult
from . import _sources

NAME = "sns-notification"


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
    body = {
        "operation_id": ctx.operation_id,
        "status": "success" if ok else "failure",
        "message": st.message or f"Aurora restore {verb}",
        "details": details,
        "timestamp": ctx.iso_now(),
    }
    return subject[:100], body


def run(ctx: Context) -> StepResult:
    topic = ctx.spec.notification.sns_topic_arn or ctx.config.default_topic_arn
    if not topic:
        return StepResult.skip("No SNS topic configured; no notification sent")
    if ctx.status.phase.value not in {e.value for e in ctx.spec.notification.events}:
        return StepResult.skip(f"No notification requested for {ctx.status.phase.value}")
    subject, body = message(ctx)
    ctx.ports.notifier.publish(topic, subject, body)
    return StepResult.finished(
        "Notification sent successfully", reason="NotificationSent", topic=topic
    )
