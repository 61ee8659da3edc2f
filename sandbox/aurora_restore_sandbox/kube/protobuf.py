"""Kubernetes' protobuf envelope, decoded for the kinds kubectl's typed commands send.

A general fix, free of this project's names, that could be offered upstream to kmock:
``kubectl create namespace|secret|configmap`` send their body as
``application/vnd.kubernetes.protobuf``, not JSON, and kmock's emulator cannot read it, so
those commands fail against it. Here the envelope (``k8s\\x00``, then ``runtime.Unknown``
with its ``TypeMeta`` and raw bytes) is read with a small wire-format reader, and
Namespace, Secret and ConfigMap are decoded by the field numbers of their
``generated.proto`` (with the usual ``ObjectMeta``: name, generateName, namespace, labels,
annotations, owner references, finalizers) into the JSON the API would have received.
Other kinds raise :class:`UnsupportedProtobuf`, which a server answers with 415 so that
the client falls back to JSON. Only the standard library is used.
"""

from __future__ import annotations

import base64
import collections
from typing import Any

ENVELOPE = b"k8s\x00"

_Fields = dict[int, list[Any]]


class UnsupportedProtobuf(Exception):
    """Not an envelope, or a kind this decoder does not know: answer 415."""


class ProtobufDecodeError(ValueError):
    """A malformed body: answer 400."""


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes) -> _Fields:
    fields: _Fields = collections.defaultdict(list)
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 2:
            length, position = _varint(data, position)
            value, position = data[position : position + length], position + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, position = data[position : position + size], position + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if position > len(data):
            raise ValueError("the body ends inside a field")
        fields[number].append(value)
    return fields


def _text(fields: _Fields, number: int) -> str | None:
    return fields[number][-1].decode() if fields.get(number) else None


def _texts(fields: _Fields, number: int) -> list[str]:
    return [value.decode() for value in fields.get(number, [])]


def _map(fields: _Fields, number: int, binary: bool = False) -> dict[str, str]:
    result: dict[str, str] = {}
    for entry in fields.get(number, []):
        item = _fields(entry)
        value = item[2][-1] if item.get(2) else b""
        key = _text(item, 1) or ""
        result[key] = base64.b64encode(value).decode() if binary else value.decode()
    return result


def _meta(data: bytes) -> dict[str, Any]:
    fields = _fields(data)
    meta: dict[str, Any] = {}
    for number, name in ((1, "name"), (2, "generateName"), (3, "namespace")):
        if value := _text(fields, number):  # protobuf sends empty strings too
            meta[name] = value
    for number, name in ((11, "labels"), (12, "annotations")):
        if fields.get(number):
            meta[name] = _map(fields, number)
    if fields.get(13):
        meta["ownerReferences"] = [
            {
                "apiVersion": _text(ref, 5),
                "kind": _text(ref, 1),
                "name": _text(ref, 3),
                "uid": _text(ref, 4),
                **({"controller": bool(ref[6][-1])} if ref.get(6) else {}),
            }
            for ref in map(_fields, fields[13])
        ]
    if fields.get(14):
        meta["finalizers"] = _texts(fields, 14)
    return meta


def decode_k8s_protobuf(body: bytes) -> dict[str, Any]:
    """A Namespace, Secret or ConfigMap from Kubernetes' protobuf envelope, as JSON."""
    if not body.startswith(ENVELOPE):
        raise UnsupportedProtobuf("not a Kubernetes protobuf envelope")
    try:
        unknown = _fields(body[len(ENVELOPE) :])
        type_meta = _fields(unknown[1][-1]) if unknown.get(1) else {}
        api, kind = _text(type_meta, 1), _text(type_meta, 2)
        raw = _fields(unknown[2][-1]) if unknown.get(2) else {}
        obj: dict[str, Any] = {"apiVersion": api, "kind": kind}
        if raw.get(1):
            obj["metadata"] = _meta(raw[1][-1])
        if (api, kind) == ("v1", "Namespace"):
            spec = _fields(raw[2][-1]) if raw.get(2) else {}
            if spec.get(1):
                obj["spec"] = {"finalizers": _texts(spec, 1)}
        elif (api, kind) == ("v1", "Secret"):
            obj["data"] = _map(raw, 2, binary=True)
            obj["type"] = _text(raw, 3) or "Opaque"
            if raw.get(4):
                obj["stringData"] = _map(raw, 4)
        elif (api, kind) == ("v1", "ConfigMap"):
            obj["data"] = _map(raw, 2)
            if raw.get(4):
                obj["binaryData"] = _map(raw, 4, binary=True)
        else:
            raise UnsupportedProtobuf(f"protobuf {api} {kind} is not supported")
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise ProtobufDecodeError(f"cannot decode the protobuf body: {exc}") from exc
    return obj
