"""SNS notifications in the seed's message format."""

from __future__ import annotations

import json
from collections.abc import Mapping

from .clients import Clients


def topic_region(topic_arn: str) -> str:
    return topic_arn.split(":")[3]


class SnsNotifier:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def publish(self, topic_arn: str, subject: str, message: Mapping[str, object]) -> None:
        self.clients.call(
            "sns",
            topic_region(topic_arn),
            "Publish",
            TopicArn=topic_arn,
            Subject=subject,
            Message=json.dumps(message, default=str),
        )

    def check_topic(self, topic_arn: str) -> None:
        self.clients.call("sns", topic_region(topic_arn), "GetTopicAttributes", TopicArn=topic_arn)
