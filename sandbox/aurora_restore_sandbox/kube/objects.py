"""What the API server does to any object: the ``Status`` error, timestamps, group/version
strings, patches (RFC 7386 merge, RFC 6902 JSON patch with ``test``) and the defaults of a
structural schema.

General, free of this project's names: it could be offered upstream to kmock, whose own
merge refuses to replace a mapping by a scalar or a scalar by a mapping (RFC 7386 allows
both), and which applies no schema defaults. Refused patches raise :class:`ApiError` with
the API server's codes: 422 for a failed ``test``, 400 for a body of the wrong shape, 415
for an unknown patch type.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jsonpatch
import kmock

Obj = dict[str, Any]


class ApiError(Exception):
    """An error answered as a Kubernetes ``Status``."""

    def __init__(
        self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})

    def status(self) -> Obj:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def now_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_version(resource: kmock.resource) -> str:
    return f"{resource.group}/{resource.version}" if resource.group else str(resource.version)


def qualified(resource: kmock.resource) -> str:
    """``plural.group`` as the API server names a resource in its messages."""
    return f"{resource.plural}.{resource.group}" if resource.group else str(resource.plural)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (kmock's refuses to replace a dict by a scalar)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


MERGE_PATCHES = (
    "application/merge-patch+json",
    # Treated as merge patches: no schema tells how to merge lists.
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


def apply_patch(current: Obj, body: Any, content_type: str) -> Obj:
    """``current`` changed by a PATCH body of ``content_type`` (a copy; ``current`` stays)."""
    if content_type == "application/json-patch+json":
        if not isinstance(body, list):
            raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
        try:
            patched: Obj = jsonpatch.apply_patch(copy.deepcopy(current), body)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise ApiError(422, "Invalid", f"the server rejected our request: {exc}") from exc
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise ApiError(422, "Invalid", f"the JSON patch cannot be applied: {exc}") from exc
        return patched
    if content_type in MERGE_PATCHES:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "a merge patch must be a mapping")
        merged: Obj = merge_patch(current, body)
        return merged
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format: {content_type}",
    )


def apply_schema_defaults(value: Any, schema: Mapping[str, Any]) -> None:
    """Fill in ``default`` values of a structural schema, in place."""
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name, subschema in properties.items():
            if name not in value and "default" in subschema:
                value[name] = copy.deepcopy(subschema["default"])
            if name in value:
                apply_schema_defaults(value[name], subschema)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if name not in properties:
                    apply_schema_defaults(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_schema_defaults(item, schema["items"])
