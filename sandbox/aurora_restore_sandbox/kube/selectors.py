"""Label selectors, field selectors and the JSONPath of printer columns, as predicates.

A general fix, free of this project's names, that could be offered upstream to kmock: its
emulator ignores ``labelSelector`` and ``fieldSelector`` on list and watch requests, so a
controller that selects what it watches (kopf with ``labels=``, the ``kubernetes`` client
with ``label_selector=``, ``kubectl get -l``) is handed every object. Here a selector
string becomes a predicate, with the operators the API server knows (``=``, ``==``, ``!=``,
``in``, ``notin``, ``key``, ``!key``; fields by dotted path with ``=``/``!=``), and the
simple JSONPath of a CRD's ``additionalPrinterColumns`` picks a value out of an object.
Only the standard library is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Labels = Mapping[str, str]


class SelectorError(ValueError):
    """A selector the API server would refuse with 400 BadRequest; the message says why."""


_LABEL_TERM = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_./-]+)\s*"
    r"(?:(?P<op>==|!=|=|\s+in\s+|\s+notin\s+)\s*(?P<value>\([^)]*\)|[A-Za-z0-9_.-]*))?\s*$"
)

_JSONPATH_TOKEN = re.compile(
    r"\.(?P<field>[A-Za-z0-9_-]+)"
    r"|\[(?P<index>\d+)\]"
    r"|\[\?\(@\.(?P<fkey>[A-Za-z0-9_.-]+)\s*==\s*[\"'](?P<fvalue>[^\"']*)[\"']\)\]"
)


def _split_selector(selector: str) -> list[str]:
    # Commas split terms, except inside the parentheses of ``in (a,b)``.
    terms: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return terms


def label_selector(selector: str) -> Callable[[Labels], bool]:
    """A predicate over labels for a ``labelSelector`` query parameter."""
    checks: list[Callable[[Labels], bool]] = []
    for term in _split_selector(selector):
        match = _LABEL_TERM.match(term)
        if match is None:
            raise SelectorError(f"unable to parse requirement: {term!r}")
        key, op, raw = match["key"], (match["op"] or "").strip(), match["value"]
        if match["neg"]:
            checks.append(lambda labels, key=key: key not in labels)
        elif not op:
            checks.append(lambda labels, key=key: key in labels)
        elif op in ("=", "=="):
            checks.append(lambda labels, key=key, raw=raw: labels.get(key) == raw)
        elif op == "!=":
            checks.append(lambda labels, key=key, raw=raw: labels.get(key) != raw)
        else:
            values = {item.strip() for item in (raw or "").strip("()").split(",")}
            if op == "in":
                checks.append(lambda labels, key=key, values=values: labels.get(key) in values)
            else:
                checks.append(lambda labels, key=key, values=values: labels.get(key) not in values)
    return lambda labels: all(check(labels) for check in checks)


def dotted(obj: Any, path: str) -> Any:
    """The value at a dotted path (``metadata.name``), or None where a step is missing."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def field_selector(selector: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate over objects for a ``fieldSelector`` query parameter."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for term in _split_selector(selector):
        if "!=" in term:
            path, value = term.split("!=", 1)
            checks.append(
                lambda obj, path=path.strip(), value=value.strip(): (
                    str(dotted(obj, path) or "") != value
                )
            )
        elif "=" in term:
            path, value = term.replace("==", "=").split("=", 1)
            checks.append(
                lambda obj, path=path.strip(), value=value.strip(): (
                    str(dotted(obj, path) or "") == value
                )
            )
        else:
            raise SelectorError(f"invalid field selector: {term!r}")
    return lambda obj: all(check(obj) for check in checks)


def jsonpath_value(obj: dict[str, Any], path: str) -> Any:
    """The first match of the simple JSONPath of a CRD printer column."""
    values: list[Any] = [obj]
    position = 0
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    while position < len(path):
        token = _JSONPATH_TOKEN.match(path, position)
        if token is None:
            return None
        position = token.end()
        found: list[Any] = []
        for value in values:
            if token["field"] is not None and isinstance(value, dict):
                if token["field"] in value:
                    found.append(value[token["field"]])
            elif token["index"] is not None and isinstance(value, list):
                index = int(token["index"])
                if index < len(value):
                    found.append(value[index])
            elif token["fkey"] is not None and isinstance(value, list):
                found.extend(
                    item for item in value if str(dotted(item, token["fkey"])) == token["fvalue"]
                )
        values = found
    return values[0] if values else None
