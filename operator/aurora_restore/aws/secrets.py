"""Secrets Manager, read the way the seed's get_secret did (JSON with a password, or text)."""

from __future__ import annotations

import json

from ..pipeline.errors import PortError
from ..spec import ErrorType
from .clients import Clients


class SecretsManagerReader:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def password(self, region: str, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            region = secret_id.split(":")[3]
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
