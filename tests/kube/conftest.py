"""Fixtures for the tests that need a real API server and nothing else: the control plane
of tests/conftest.py with the `databases` namespace the examples use."""

from __future__ import annotations

import pytest

from control_plane_support import ControlPlane

NAMESPACE = "databases"


@pytest.fixture(scope="session")
def plane(control_plane: ControlPlane) -> ControlPlane:
    return control_plane.create_namespace(NAMESPACE)
