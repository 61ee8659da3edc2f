"""Secrets Manager, read the way the seed's get_secret did (JSON with a password, or text).

A secret belongs to the namespaces its tag ``dbrestore.io/namespace`` names (one, or a
comma-separated list): the operator's role may read many secrets, but a restore reads only
those of its own namespace, so that it cannot act as a confused deputy for another team's.
The tags are read first (DescribeSecret); the value only when the namespace is listed.
"""

from __future__ import annotations

import json

from ..api.names import NAMESPACE_TAG
from ..api.status import ErrorType
from ..pipeline.errors import PortError
from .clients import Clients


def allowed_namespaces(tags: list[dict[str, str]] | None) -> set[str]:
    values = [t.get("Value", "") for t in tags or [] if t.get("Key") == NAMESPACE_TAG]
    return {ns.strip() for value in values for ns in value.split(",") if ns.strip()}


class SecretsManagerReader:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def password(self, region: str, secret_id: str, namespace: str) -> str:
        if secret_id.startswith("arn:"):
            region = secret_id.split(":")[3]
        described = self.clients.call(
            "secretsmanager", region, "DescribeSecret", SecretId=secret_id
        )
        if namespace not in allowed_namespaces(described.get("Tags")):
            raise PortError(
                ErrorType.ValidationError,
                f"Secrets Manager secret {secret_id} may not be read for namespace {namespace}: "
                f"it needs the tag {NAMESPACE_TAG} with {namespace} among its "
                "(comma-separated) values",
                "SecretNotAllowed",
            )
        value = self.clients.call(
            "secretsmanager", region, "GetSecretValue", SecretId=secret_id
        ).get("SecretString")
        if not value:
            raise PortError(
                ErrorType.ValidationError,
                f"Secrets Manager secret {secret_id} has no string value",
                "EmptySecret",
            )
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, dict):
            if not parsed.get("password"):
                raise PortError(
                    ErrorType.ValidationError,
                    f"Secrets Manager secret {secret_id} has no 'password' field",
                    "InvalidSecret",
                )
            return str(parsed["password"])
        return value
