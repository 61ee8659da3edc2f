"""How the API server reads a resource request: its verb, its headers, its body.

General, free of this project's names: it could be offered upstream to kmock. The body is
read by its ``Content-Type`` as the API server does: JSON, YAML, or Kubernetes' protobuf
(:mod:`.protobuf`); CBOR is refused with 415, on which client-go falls back to JSON.
"""

from __future__ import annotations

import json
from typing import Any

import kmock
import yaml

from .objects import ApiError
from .protobuf import ProtobufDecodeError, UnsupportedProtobuf, decode_k8s_protobuf


def request_verb(request: kmock.Request, method: str) -> str:
    """The Kubernetes verb (get, list, watch, create, patch, update, delete...)."""
    if request.action == kmock.action.WATCH:
        return "watch"
    if method == "GET":
        return "get" if request.name else "list"
    if method == "POST" and not request.name:
        return "create"
    if method == "PATCH" and request.name:
        return "patch"
    if method == "PUT" and request.name:
        return "update"
    if method == "DELETE":
        return "delete" if request.name else "deletecollection"
    return method.lower()


def header(request: kmock.Request, name: str) -> str:
    """A header by its case-insensitive name, or an empty string."""
    for key, value in request.headers.items():
        if key.lower() == name.lower():
            return str(value)
    return ""


def request_body(request: kmock.Request, optional: bool = False) -> Any:
    """The decoded body; None for an empty optional one."""
    if not request.body:
        if optional:
            return None
        raise ApiError(400, "BadRequest", "the request body is empty")
    content_type = header(request, "Content-Type")
    if "protobuf" in content_type:
        try:
            return decode_k8s_protobuf(request.body)
        except UnsupportedProtobuf as exc:
            raise ApiError(415, "UnsupportedMediaType", str(exc)) from exc
        except ProtobufDecodeError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
    if "cbor" in content_type:
        raise ApiError(415, "UnsupportedMediaType", f"unsupported media type {content_type}")
    try:
        if "yaml" in content_type:
            return yaml.safe_load(request.body)
        return json.loads(request.body)
    except (ValueError, yaml.YAMLError) as exc:
        raise ApiError(400, "BadRequest", f"cannot decode the request body: {exc}") from exc
