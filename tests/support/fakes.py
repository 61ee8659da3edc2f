"""The one in-memory Kubernetes for driver-level tests: the Secrets and ConfigMaps of one
namespace, and the connection Secrets the restore writes (the e2e suites use a real API)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aurora_restore.api.restore import ConfigMapKeyRef, SecretKeyRef
from aurora_restore.api.status import ErrorType
from aurora_restore.pipeline.errors import PortError


@dataclass
class FakeKube:
    """With ``forbidden`` set, any use fails the test: for tests whose restores must not
    read or write Kubernetes objects (a missing one would only be a restore error)."""

    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    written: dict[str, dict[str, str]] = field(default_factory=dict)
    forbidden: bool = False

    def _refuse(self, what: str) -> None:
        if self.forbidden:
            raise AssertionError(f"no {what} in these tests")

    def kubernetes_secret(self, ref: SecretKeyRef) -> str:
        self._refuse("secrets")
        return _key(self.secrets, "Secret", ref.name, ref.key)

    def config_map(self, ref: ConfigMapKeyRef) -> str:
        self._refuse("config maps")
        return _key(self.config_maps, "ConfigMap", ref.name, ref.key)

    def write_connection_secret(self, name: str, data: Mapping[str, str]) -> None:
        self._refuse("connection secrets")
        self.written[name] = dict(data)


def _key(objects: dict[str, dict[str, str]], kind: str, name: str, key: str) -> str:
    """A key of a named object, or the retryable error the operator's Kubernetes adapter
    raises for an object that is not there (yet)."""
    try:
        return objects[name][key]
    except KeyError:
        raise PortError(
            ErrorType.ValidationError,
            f"{kind} {name} was not found",
            f"{kind}NotFound",
            retryable=True,
        ) from None
