"""Structured logs: one JSON object per line, with the resource, operation and step."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

FIELDS = ("resource", "operation_id", "step", "phase")
# The restore ("namespace/name") a tick works on, set by the driver around it: a line that
# an adapter logs without knowing the resource still names it.
RESOURCE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "aurora_restore_resource", default=None
)


@contextmanager
def about(resource: str) -> Iterator[None]:
    """Log lines written inside name ``resource``."""
    token = RESOURCE.set(resource)
    try:
        yield
    finally:
        RESOURCE.reset(token)


def _resource(record: logging.LogRecord) -> str | None:
    value = getattr(record, "resource", None)
    if value is not None:
        return str(value)
    # kopf attaches the object it logs about.
    ref = getattr(record, "k8s_ref", None)
    if isinstance(ref, dict) and ref.get("name"):
        return f"{ref.get('namespace')}/{ref.get('name')}"
    return RESOURCE.get()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        resource = _resource(record)
        if resource is not None:
            entry["resource"] = resource
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """One line per record; a line about a restore names it ([namespace/name])."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        resource = _resource(record)
        if resource is None or f"[{resource}]" in line:
            return line
        head, _, rest = line.partition(f" {record.name} ")
        return f"{head} {record.name} [{resource}] {rest}"


def setup(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    handler.set_name("aurora-restore")
    root = logging.getLogger()
    # Replace only our own handler, so that embedding code (and pytest) keeps its own.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "aurora-restore"]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # botocore logs request parameters at DEBUG, passwords included, and the kubernetes
    # client logs response bodies (Secret data, base64): never below WARNING.
    for noisy in ("botocore", "urllib3", "boto3", "aiohttp.access", "kubernetes"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
