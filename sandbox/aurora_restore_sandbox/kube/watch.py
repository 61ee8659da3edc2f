"""Watch streams with the API server's ``resourceVersion`` semantics.

A general fix, free of this project's names, that could be offered upstream to kmock
(0.8), whose emulator cannot resume a watch and has no ``timeoutSeconds``: a client that
reconnects with the ``resourceVersion`` it last saw (as every informer, kopf and
``kubectl get -w`` do) gets every object again as ``ADDED`` and never hears of what was
deleted in between, and its lists answer ``resourceVersion: "..."``. Here every change is
kept in a bounded log per resource; a watch from a ``resourceVersion`` replays what came
after it, or answers ``410 Expired`` once that version has left the log, and then streams
new changes as ``application/json`` lines until ``timeoutSeconds``, the client leaving,
or the server ending the stream. A watcher filters by namespace, name and the selectors
of its request.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import aiohttp.web
import attrs

Obj = dict[str, Any]


@attrs.define(eq=False)
class Watcher:
    """One open watch stream and what it asked to see."""

    namespace: str | None
    name: str | None
    labels: Callable[[Mapping[str, str]], bool] | None
    fields: Callable[[Obj], bool] | None
    queue: asyncio.Queue[Obj | None] = attrs.field(factory=asyncio.Queue)

    def matches(self, obj: Obj) -> bool:
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        if self.name is not None and meta.get("name") != self.name:
            return False
        if self.labels is not None and not self.labels(meta.get("labels") or {}):
            return False
        return self.fields is None or self.fields(obj)


class WatchHub:
    """The open watchers and the recent changes of every resource. Use it on one event
    loop: registration and publication never await, so no change falls between them."""

    def __init__(self, log_limit: int) -> None:
        self.log_limit = log_limit
        self.watchers: dict[Hashable, set[Watcher]] = collections.defaultdict(set)
        self._log: dict[Hashable, collections.deque[tuple[int, Obj]]] = {}
        self._floor: dict[Hashable, int] = {}  # the newest version that left the log
        self.closing = False

    def publish(self, resource: Hashable, kind: str, obj: Obj) -> None:
        """Log a change (``ADDED``, ``MODIFIED``, ``DELETED``) and hand it to the watchers."""
        rv = int(obj["metadata"]["resourceVersion"])
        event = {"type": kind, "object": obj}
        log = self._log.setdefault(resource, collections.deque())
        log.append((rv, event))
        while len(log) > self.log_limit:
            dropped_rv, _ = log.popleft()
            self._floor[resource] = dropped_rv
        for watcher in self.watchers.get(resource, ()):
            if watcher.matches(obj):
                watcher.queue.put_nowait(event)

    def since(self, resource: Hashable, rv: int, watcher: Watcher) -> list[Obj] | None:
        """The watcher's changes after ``rv``; None when ``rv`` is too old to resume from."""
        if rv < self._floor.get(resource, 0):
            return None
        return [
            event
            for event_rv, event in self._log.get(resource, ())
            if event_rv > rv and watcher.matches(event["object"])
        ]

    def drop(self) -> int:
        """End every open stream now, as an API server restart or a load balancer does;
        clients may watch again. Returns how many ended."""
        ended = 0
        for watchers in self.watchers.values():
            for watcher in watchers:
                watcher.queue.put_nowait(None)
                ended += 1
        return ended

    def close(self) -> None:
        """End every stream for good, so that the server can stop at once."""
        self.closing = True
        self.drop()

    async def serve(
        self,
        raw_request: aiohttp.web.BaseRequest,
        resource: Hashable,
        watcher: Watcher,
        initial: list[Obj],
        timeout: float | None,
        render: Callable[[Obj], Obj],
    ) -> aiohttp.web.StreamResponse:
        """Stream ``initial``, then the watcher's changes, each through ``render``."""
        self.watchers[resource].add(watcher)  # before the first await: nothing is missed
        response = aiohttp.web.StreamResponse(
            status=200, headers={"Content-Type": "application/json"}
        )
        try:
            await response.prepare(raw_request)
            for event in initial:
                await response.write(json.dumps(render(event)).encode() + b"\n")
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout
            while not self.closing:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    break
                if event is None:
                    break
                await response.write(json.dumps(render(event)).encode() + b"\n")
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        finally:
            self.watchers[resource].discard(watcher)
        return response
