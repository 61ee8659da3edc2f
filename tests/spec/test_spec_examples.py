"""Every example is accepted by the models and the CRD schema; every invalid example is
rejected by the models with its documented message and by the CRD (schema or CEL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from spec_crd_support import (
    SCHEDULE_CRD,
    all_rules,
    apply_defaults,
    cel_messages,
    celpy_module,
    crd_for,
    documents,
    root_schema,
    schema_errors,
)

from aurora_restore.api.restore import SpecError, validate_spec
from aurora_restore.api.schedule import validate_schedule_spec
from support.examples import header, invalid_examples, valid_examples

VALIDATORS = {"AuroraRestore": validate_spec, "AuroraRestoreSchedule": validate_schedule_spec}
EXPECTED_EXAMPLES = {
    "same-region-snapshot.yaml",
    "cross-region-encrypted.yaml",
    "by-date.yaml",
    "latest.yaml",
    "replace-existing.yaml",
    "swap-existing.yaml",
    "users-and-sql.yaml",
    "nightly-refresh.yaml",
    "point-in-time.yaml",
    "clone.yaml",
    "cross-account.yaml",
}


def ours(path: Path) -> list[dict[str, Any]]:
    """The dbrestore.io documents of a file (a file may also hold Secrets and ConfigMaps)."""
    return [d for d in documents(path) if d.get("apiVersion", "").startswith("dbrestore.io/")]


def name(path: Path) -> str:
    return path.name


def test_the_expected_examples_exist() -> None:
    assert EXPECTED_EXAMPLES <= {p.name for p in valid_examples()}
    assert len(invalid_examples()) >= 15


@pytest.mark.parametrize("path", valid_examples(), ids=name)
def test_valid_example_passes_models_and_schema(path: Path) -> None:
    docs = ours(path)
    assert docs, f"{path.name} holds no AuroraRestore or AuroraRestoreSchedule"
    for doc in docs:
        assert doc["apiVersion"] == "dbrestore.io/v1alpha1"
        VALIDATORS[doc["kind"]](doc["spec"])
        crd = crd_for(doc["kind"])
        assert schema_errors(doc, crd) == []
        # What the API server stores (with defaults) is still the same spec to the models.
        defaulted = apply_defaults(root_schema(crd), doc)
        assert VALIDATORS[doc["kind"]](defaulted["spec"]) == VALIDATORS[doc["kind"]](doc["spec"])
        if celpy_module():
            assert cel_messages(doc, crd) == set()


@pytest.mark.parametrize("path", valid_examples(), ids=name)
def test_valid_example_references_resolve_within_the_file(path: Path) -> None:
    """Where a file ships the Secrets and ConfigMaps it uses, every reference is there."""
    docs = documents(path)
    have = {
        (d["kind"], d["metadata"]["name"], key)
        for d in docs
        if d["kind"] in ("Secret", "ConfigMap")
        for key in {**d.get("data", {}), **d.get("stringData", {})}
    }
    if not have:
        return
    for doc in ours(path):
        spec = doc["spec"]
        refs = []
        if "masterPassword" in spec and "secretRef" in spec["masterPassword"]:
            refs.append(("Secret", spec["masterPassword"]["secretRef"]))
        refs += [("Secret", u["passwordSecretRef"]) for u in spec.get("users", [])]
        refs += [
            ("ConfigMap", s["configMapRef"]) for s in spec.get("sql", []) if "configMapRef" in s
        ]
        for kind, ref in refs:
            assert (kind, ref["name"], ref.get("key", "password")) in have, (kind, ref)
        for doc_ in docs:
            assert doc_["metadata"].get("namespace") == doc["metadata"]["namespace"]


@pytest.mark.parametrize("path", invalid_examples(), ids=name)
def test_invalid_example_is_rejected(path: Path) -> None:
    expect = header(path, "expect")
    assert expect, f"{path.name} needs a '# expect: <message>' comment at the top"
    [doc] = ours(path)
    validate = VALIDATORS[doc["kind"]]
    with pytest.raises(SpecError) as info:
        validate(doc["spec"])
    assert expect in str(info.value), info.value.problems
    # Each invalid example breaks exactly one rule, so it documents that rule alone.
    assert len(info.value.problems) == 1, info.value.problems

    crd = crd_for(doc["kind"])
    errors = schema_errors(doc, crd)
    cel = header(path, "cel")
    if cel is None:
        assert errors, f"{path.name}: the CRD schema accepts it (add '# cel: <rule message>')"
        return
    # Caught by a CEL rule only: the OpenAPI part accepts it, the named rule exists, and
    # (when celpy is installed) evaluating the rules reports exactly that message.
    assert errors == [], errors
    assert cel in {item["message"] for _, item in all_rules(crd)}, cel
    if celpy_module():
        assert cel_messages(doc, crd) == {cel}


def test_schedule_example_is_a_schedule_of_a_restore() -> None:
    [doc] = ours(Path(__file__).resolve().parents[2] / "examples" / "nightly-refresh.yaml")
    assert doc["kind"] == "AuroraRestoreSchedule"
    parsed = validate_schedule_spec(doc["spec"])
    assert parsed.template.source.date is None  # each run resolves its own yesterday
    assert schema_errors(doc, SCHEDULE_CRD) == []
