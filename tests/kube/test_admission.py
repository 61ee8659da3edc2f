"""The CRDs on a real kube-apiserver: they are Established, every example is admitted and
every invalid example refused by the server's own schema validation and CEL rules (with
their real cost budgets), not by our models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aurora_restore.api.restore import SpecError, validate_spec
from aurora_restore.api.schedule import validate_schedule_spec
from control_plane_support import ROOT, ControlPlane
from support.examples import header, invalid_examples, valid_examples

EXAMPLES = valid_examples()
INVALID = invalid_examples()
CRDS = sorted((ROOT / "crds").glob("*.yaml"))
VALIDATORS = {"AuroraRestore": validate_spec, "AuroraRestoreSchedule": validate_schedule_spec}


def test_examples_and_crds_are_found() -> None:
    assert len(EXAMPLES) >= 7 and len(INVALID) >= 15 and len(CRDS) == 2


@pytest.mark.parametrize("path", CRDS, ids=lambda p: p.name)
def test_crd_is_established(plane: ControlPlane, path: Path) -> None:
    name = path.name.removesuffix(".yaml")
    crd = json.loads(plane.kubectl("get", "crd", name, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions.get("Established") == "True", conditions
    assert conditions.get("NamesAccepted") == "True", conditions


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_admitted(plane: ControlPlane, path: Path) -> None:
    result = plane.kubectl("apply", "--dry-run=server", "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr
    assert "(server dry run)" in result.stdout


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_example_is_refused(plane: ControlPlane, path: Path) -> None:
    """Refused by the server for the reason the models give: a CEL rule answers with its
    own message (the `# cel:` line); the OpenAPI schema (patterns, enums, lengths, unknown
    fields), whose messages are the server's, names the field the models name."""
    [doc] = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] in VALIDATORS]
    with pytest.raises(SpecError) as info:
        VALIDATORS[doc["kind"]](doc["spec"])
    expect = header(path, "expect")
    assert expect and expect in info.value.problems[0], (expect, info.value.problems)
    field = info.value.problems[0].split(": ", 1)[0]

    result = plane.kubectl("apply", "--dry-run=server", "-f", str(path), check=False)
    assert result.returncode != 0, f"the server admitted {path.name}: {result.stdout}"
    refusal = " ".join(result.stderr.split())
    cel = header(path, "cel")
    if cel:
        assert f'Invalid value: "object": {cel}' in refusal or cel in refusal, refusal
    elif "strict decoding error" in refusal:
        assert f'unknown field "{field}"' in refusal, refusal
    else:
        assert f"is invalid: {field}: " in refusal or f"* {field}: " in refusal, refusal
