"""Shared settings from SSM Parameter Store (the seed's get_config), SecureString decrypted."""

from __future__ import annotations

from .clients import Clients


def parameters(clients: Clients, region: str, path: str) -> dict[str, str]:
    values: dict[str, str] = {}
    token: str | None = None
    while True:
        page = clients.call(
            "ssm",
            region,
            "GetParametersByPath",
            Path=path,
            Recursive=True,
            WithDecryption=True,
            **({"NextToken": token} if token else {}),
        )
        for param in page.get("Parameters", []):
            values[param["Name"].rstrip("/").rsplit("/", 1)[-1]] = param["Value"]
        token = page.get("NextToken")
        if not token:
            return values
