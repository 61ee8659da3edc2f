"""docs/resource.md mentions every field, phase, step, error type and printer column."""

from __future__ import annotations

import re

import pytest
from spec_crd_support import RESTORE_CRD, ROOT, SCHEDULE_CRD, load_crd, root_schema, walk

from aurora_restore.api import status as status_api

DOC = (ROOT / "docs" / "resource.md").read_text()
CODE = set(re.findall(r"`([^`]+)`", DOC))
WORDS = set(re.findall(r"[A-Za-z][A-Za-z0-9-]*", DOC))


@pytest.mark.parametrize("name", [RESTORE_CRD, SCHEDULE_CRD])
def test_every_field_is_documented(name: str) -> None:
    missing = set()
    for path, _ in walk(root_schema(name)):
        field = path.rsplit(".", 1)[-1].removesuffix("[]").removesuffix("{}")
        if path.startswith((".apiVersion", ".kind", ".metadata", ".spec.template.")) or not field:
            continue
        # A field is documented as `field`, or as part of a `parent.field` code span.
        if field not in CODE and not any(span.endswith(f".{field}") for span in CODE):
            if field not in WORDS:
                missing.add(path)
    assert not missing, sorted(missing)


def test_phases_steps_errors_and_conditions_are_documented() -> None:
    names = [p.value for p in status_api.Phase] + list(status_api.STEP_NAMES)
    names += [e.value for e in status_api.ErrorType] + [s.value for s in status_api.StepState]
    names += ["Ready", "Reconciling", "Stalled", "Progressing", "Failed"]
    assert not [n for n in names if f"`{n}`" not in DOC]


@pytest.mark.parametrize("name", [RESTORE_CRD, SCHEDULE_CRD])
def test_printer_columns_are_documented(name: str) -> None:
    for column in load_crd(name)["spec"]["versions"][0]["additionalPrinterColumns"]:
        assert f"**{column['name']}**" in DOC, column["name"]
