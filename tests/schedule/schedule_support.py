"""Helpers of the schedule tests: a controllable clock, and an in-memory namespace in
which the core's plans are carried out, to play out nights, outages and runs step by step."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from aurora_restore import schedule as core

UID = "uid-schedule-1"


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def template(**source: Any) -> dict[str, Any]:
    return {
        "source": {"region": "us-east-1", "clusterIdentifier": "prod", **source},
        "target": {"region": "us-west-2", "clusterIdentifier": "staging"},
    }


@dataclass
class Clock:
    now: dt.datetime

    def at(self, text: str) -> dt.datetime:
        self.now = utc(text)
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@dataclass
class World:
    """One schedule and its runs; ``look()`` plans at the clock's time and applies the plan
    like the kopf daemon would (deletions, creation, status)."""

    clock: Clock
    spec: dict[str, Any]
    name: str = "nightly"
    created: dt.datetime = field(default_factory=lambda: utc("2026-11-19T12:00:00"))
    status: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[core.Event] = field(default_factory=list)
    plans: list[core.Plan] = field(default_factory=list)
    # Runs with a finalizer stay (with a deletionTimestamp) until ``finalize``.
    finalizers: bool = False
    run_now: str | None = None  # the dbrestore.io/run-now annotation

    def schedule(self) -> core.ScheduleObject:
        return core.ScheduleObject(
            name=self.name,
            namespace="databases",
            uid=UID,
            spec=self.spec,
            status=self.status,
            generation=1,
            created=self.created,
            run_now=self.run_now,
        )

    def look(self) -> core.Plan:
        children = core.children_of(self.objects.values(), UID)
        plan = core.plan(self.schedule(), children, self.clock.now)
        self.plans.append(plan)
        for deletion in plan.delete:
            if self.finalizers:
                meta = self.objects[deletion.name]["metadata"]
                meta["deletionTimestamp"] = core.format_time(self.clock.now)
            else:
                del self.objects[deletion.name]
            self.events.append(deletion.event)
        if plan.create is not None:
            assert not plan.delete or all(d.reason == "Pruned" for d in plan.delete)
            body = copy.deepcopy(plan.create.body)
            assert body["metadata"]["name"] not in self.objects
            body["metadata"]["creationTimestamp"] = core.format_time(self.clock.now)
            self.objects[plan.create.name] = body
            self.events.append(plan.create.event)
        self.events.extend(plan.events)
        self.status = plan.status
        return plan

    def finish(self, name: str, phase: str = "Completed", message: str | None = None) -> None:
        status = {"phase": phase}
        if message:
            status["message"] = message
        self.objects[name]["status"] = status

    def start(self, name: str) -> None:
        self.objects[name]["status"] = {"phase": "RestoringCluster"}

    def finalize(self, name: str) -> None:
        assert self.objects[name]["metadata"].get("deletionTimestamp")
        del self.objects[name]

    def names(self) -> list[str]:
        return sorted(self.objects)

    def take_events(self) -> list[core.Event]:
        taken, self.events = self.events, []
        return taken
