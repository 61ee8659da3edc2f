"""``meta.k8s.io/v1`` Tables, as kubectl asks for them with ``Accept: ...;as=Table``.

A general fix, free of this project's names, that could be offered upstream to kmock:
its emulator answers a Table request with a plain list, so ``kubectl get`` prints nothing
useful, and it knows no printer columns. Here a list of objects becomes the Table the API
server renders: the Name column, then a CRD's ``additionalPrinterColumns`` (values by
their JSONPath, dates as ages the way kubectl prints them), or Age for other kinds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .selectors import jsonpath_value

_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "priority": 0,
    "description": "Name must be unique within a namespace.",
}
_AGE_COLUMN = {
    "name": "Age",
    "type": "date",
    "format": "",
    "priority": 0,
    "description": "",
    "jsonPath": ".metadata.creationTimestamp",
}


def human_duration(seconds: float) -> str:
    """How kubectl and the API server print ages (k8s.io/apimachinery duration)."""
    s = int(seconds)
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = divmod(hours // 24, 365)
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(timestamp: Any) -> str:
    if not isinstance(timestamp, str):
        return "<unknown>"
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    return human_duration((datetime.now(UTC) - moment).total_seconds())


def render_table(
    objs: Iterable[dict[str, Any]],
    printer_columns: Iterable[Mapping[str, Any]] = (),
    resource_version: str = "",
) -> dict[str, Any]:
    """The Table of ``objs``: a CRD's printer columns, or Age where there are none."""
    extra = [
        {
            "name": column["name"],
            "type": column.get("type", "string"),
            "format": column.get("format", ""),
            "priority": column.get("priority", 0),
            "description": column.get("description", ""),
            "jsonPath": column["jsonPath"],
        }
        for column in printer_columns
    ]
    columns = [_NAME_COLUMN, *(extra or [_AGE_COLUMN])]
    rows = []
    for obj in objs:
        cells: list[Any] = [obj["metadata"]["name"]]
        for column in columns[1:]:
            value = jsonpath_value(obj, column["jsonPath"])
            if column["type"] == "date" and value is not None:
                value = _age(value)
            elif isinstance(value, dict | list):
                value = json.dumps(value)
            cells.append(value)
        rows.append(
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                },
            }
        )
    definitions = [
        {key: value for key, value in column.items() if key != "jsonPath"} for column in columns
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
