"""Fixtures of the schedule tests (helpers are in schedule_support.py: a module named
conftest cannot be imported by name when several test directories have one)."""

from __future__ import annotations

from typing import Any

import pytest
from schedule_support import Clock, World, template, utc


@pytest.fixture
def clock() -> Clock:
    return Clock(utc("2026-11-20T00:00:00"))


@pytest.fixture
def world(clock: Clock):
    def make(**spec: Any) -> World:
        doc = {"schedule": "30 3 * * *", "template": template(), **spec}
        return World(clock, doc)

    return make
