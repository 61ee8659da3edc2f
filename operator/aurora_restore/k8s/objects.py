"""Secrets and ConfigMaps a restore references, read from (and written to) its namespace."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from ..api.names import MANAGED_BY_VALUE, RESTORE_LABEL
from ..api.restore import ConfigMapKeyRef, SecretKeyRef
from ..api.status import ErrorType
from ..pipeline.errors import PortError

MANAGED_LABEL = "app.kubernetes.io/managed-by"


def _missing(kind: str, name: str, namespace: str, key: str | None = None) -> PortError:
    what = f"{kind} {namespace}/{name}" + (f" has no key {key!r}" if key else " was not found")
    # Retryable: GitOps tools often apply a Secret moments after the restore that uses it.
    return PortError(ErrorType.ValidationError, what, f"{kind}NotFound", retryable=True)


def _api_error(kind: str, name: str, namespace: str, exc: Any) -> PortError:
    status = getattr(exc, "status", 0) or 0
    if status == 404:
        return _missing(kind, name, namespace)
    if status == 403:
        return PortError(
            ErrorType.ValidationError,
            f"The operator may not read {kind} {namespace}/{name} (RBAC)",
            "Forbidden",
        )
    return PortError(
        ErrorType.ValidationError,
        f"Reading {kind} {namespace}/{name} failed (HTTP {status})",
        f"KubernetesError{status}",
        retryable=True,
    )


class KubeObjects:
    """Blocking calls through the official client; the operator runs them in a thread."""

    def __init__(
        self, api_client: Any, namespace: str, owner: Mapping[str, str] | None = None
    ) -> None:
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.owner = owner

    def kubernetes_secret(self, ref: SecretKeyRef) -> str:
        value = self._key_of("Secret", self.core.read_namespaced_secret, ref.name, ref.key)
        return base64.b64decode(value).decode()

    def config_map(self, ref: ConfigMapKeyRef) -> str:
        return self._key_of("ConfigMap", self.core.read_namespaced_config_map, ref.name, ref.key)

    def _key_of(self, kind: str, read: Callable[[str, str], Any], name: str, key: str) -> str:
        """The value under ``key`` in the data of the ``kind`` ``name`` that ``read`` reads
        (a Secret's still base64-encoded); a missing object or key fails the step."""
        from kubernetes.client.exceptions import ApiException

        try:
            found = read(name, self.namespace)
        except ApiException as exc:
            raise _api_error(kind, name, self.namespace, exc) from None
        data = found.data or {}
        if key not in data:
            raise _missing(kind, name, self.namespace, key)
        return str(data[key])

    def write_connection_secret(self, name: str, data: Mapping[str, str]) -> None:
        from kubernetes.client.exceptions import ApiException

        labels = {MANAGED_LABEL: MANAGED_BY_VALUE}
        if self.owner:
            labels[RESTORE_LABEL] = self.owner["name"]
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
            "stringData": dict(data),
        }
        if self.owner:
            body["metadata"]["ownerReferences"] = [
                {**self.owner, "controller": True, "blockOwnerDeletion": False}
            ]
        try:
            self.core.create_namespaced_secret(self.namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise _api_error("Secret", name, self.namespace, exc) from None
            existing = self.core.read_namespaced_secret(name, self.namespace)
            if not self._owns(existing):
                raise PortError(
                    ErrorType.ValidationError,
                    f"Secret {self.namespace}/{name} exists and was not written by the operator "
                    f"for this AuroraRestore (it needs the label {MANAGED_LABEL}="
                    f"{MANAGED_BY_VALUE} and an owner reference to it); it is not overwritten. "
                    "Choose another connectionSecret.name or delete that Secret",
                    "SecretNotOwned",
                ) from None
            self.core.replace_namespaced_secret(name, self.namespace, body)

    def _owns(self, secret: Any) -> bool:
        """Ours: the operator's label and an owner reference to this very resource (uid), so
        that neither a user's Secret nor another restore's connection Secret is replaced."""
        meta = secret.metadata
        if meta is None or (meta.labels or {}).get(MANAGED_LABEL) != MANAGED_BY_VALUE:
            return False
        if not self.owner:
            return True  # no resource to own it (a local run): the label is all there is
        return any(ref.uid == self.owner.get("uid") for ref in meta.owner_references or [])


class NoKubernetes:
    """Used by ``aurora-restore run`` without a kubeconfig."""

    def _fail(self, what: str) -> PortError:
        return PortError(
            ErrorType.ValidationError,
            f"{what} needs a Kubernetes cluster, but no kubeconfig was found; set "
            "KUBECONFIG or use Secrets Manager references",
            "NoKubeconfig",
        )

    def kubernetes_secret(self, ref: SecretKeyRef) -> str:
        raise self._fail(f"Secret reference {ref.name}")

    def config_map(self, ref: ConfigMapKeyRef) -> str:
        raise self._fail(f"ConfigMap reference {ref.name}")

    def write_connection_secret(self, name: str, data: Mapping[str, str]) -> None:
        raise self._fail(f"connectionSecret {name}")
