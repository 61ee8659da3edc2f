"""Status writes of both kinds: the one merge-patch diff, and the one way to send it.

A status patch is sent on the event loop through kopf's own API client (its aiohttp
session, credentials and connection pool), not through the blocking ``kubernetes`` client
in a worker thread: a tick's worker is then free as soon as the tick's AWS work is done,
and a thousand restores' patches do not queue behind the ticks. kopf posts the events the
same way (``kopf.event`` only queues them for kopf's poster task).

kopf exposes no public call for an arbitrary patch, so this module is the one place that
uses its client module; kopf is pinned in pyproject.toml, and the tests that count status
patches on the emulator (tests/e2e/test_idle.py) fail if that call changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..api.names import GROUP, VERSION


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch from ``old`` to ``new``: removed keys are sent as null, or the API
    server would keep them; unchanged keys are left out."""
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    patch.update({k: v for k, v in new.items() if old.get(k) != v})
    return patch


def status_url(plural: str, namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}/status"


async def send_status_patch(
    settings: Any,
    plural: str,
    namespace: str,
    name: str,
    patch: Mapping[str, Any],
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> None:
    """Merge-patch the status subresource once; raises on any API error.

    One attempt (``backoffs=[]``): the caller retries the write itself and says so in its
    own log line, rather than kopf retrying some errors silently and not others. Must run
    inside kopf's tasks (a handler or daemon), where kopf's credentials are set.
    """
    from kopf._cogs.clients import api

    response = await api.request(
        "patch",
        status_url(plural, namespace, name),
        settings=settings,
        payload={"status": dict(patch)},
        headers={"Content-Type": "application/merge-patch+json"},
        backoffs=[],
        logger=logger,
    )
    async with response:
        await response.read()
