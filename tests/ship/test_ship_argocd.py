"""Argo CD health checks and resource actions (docs/argocd/resource_customizations), run in
Argo CD's own test format under Lua 5.1 (tests/ship/argocd_lua.py), and the argocd-cm patch
and README that carry them."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from argocd_lua import act, contains, discover, health, health_cases, load_yaml
from ship_support import REPO

ARGOCD = REPO / "docs" / "argocd"
CUSTOMIZATIONS = ARGOCD / "resource_customizations" / "dbrestore.io"
KINDS = ["AuroraRestore", "AuroraRestoreSchedule"]
STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# Actions whose whole point is a new annotation value (a UTC timestamp).
TOKEN_ACTIONS = {"rerun": "dbrestore.io/rerun", "run-now": "dbrestore.io/run-now"}

HEALTH = [(kind, case) for kind in KINDS for case in health_cases(CUSTOMIZATIONS / kind)]


@pytest.mark.parametrize(("kind", "case"), HEALTH, ids=[f"{k}/{c[0]}" for k, c in HEALTH])
def test_health(kind, case):
    _, expected, path = case
    got = health(CUSTOMIZATIONS / kind, load_yaml(path))
    assert set(got) <= {"status", "message"}
    assert got["status"] in STATUSES
    assert got == expected


@pytest.mark.parametrize("kind", KINDS)
def test_every_testdata_file_is_used_and_every_state_covered(kind):
    kind_dir = CUSTOMIZATIONS / kind
    used = {c[0] for c in health_cases(kind_dir)}
    present = {f"testdata/{p.name}" for p in (kind_dir / "testdata").glob("*.yaml")}
    assert used == present
    statuses = {c[1]["status"] for c in health_cases(kind_dir)}
    assert {"Healthy", "Progressing", "Degraded"} <= statuses
    assert "testdata/terminating.yaml" in used


def test_kstatus_conditions_win_over_the_phase():
    """Stalled=True is Degraded and Reconciling=True is Progressing whatever the phase says;
    Ready=True alone is Healthy."""
    kind_dir = CUSTOMIZATIONS / "AuroraRestore"
    base = load_yaml(kind_dir / "testdata" / "completed.yaml")

    def with_conditions(**conditions):
        obj = copy.deepcopy(base)
        obj["status"] = {
            "phase": "Completed",
            "observedGeneration": 1,
            "conditions": [
                {"type": t, "status": s, "reason": "R", "message": f"{t} says so"}
                for t, s in conditions.items()
            ],
        }
        return obj

    assert health(kind_dir, with_conditions(Stalled="True", Ready="False"))["status"] == "Degraded"
    got = health(kind_dir, with_conditions(Reconciling="True", Ready="False"))
    assert got == {"status": "Progressing", "message": "Reconciling says so"}
    assert health(kind_dir, with_conditions(Ready="True"))["status"] == "Healthy"


ACTION_KINDS = [k for k in KINDS if (CUSTOMIZATIONS / k / "actions").is_dir()]


def _action_tests(kind):
    return load_yaml(CUSTOMIZATIONS / kind / "actions" / "action_test.yaml")


DISCOVERY = [(k, t) for k in ACTION_KINDS for t in _action_tests(k)["discoveryTests"]]
ACTIONS = [(k, t) for k in ACTION_KINDS for t in _action_tests(k)["actionTests"]]


@pytest.mark.parametrize(
    ("kind", "test"), DISCOVERY, ids=[f"{k}/{t['inputPath']}" for k, t in DISCOVERY]
)
def test_action_discovery(kind, test):
    kind_dir = CUSTOMIZATIONS / kind
    found = discover(kind_dir, load_yaml(kind_dir / "actions" / test["inputPath"]))
    assert found, "no actions discovered"
    for action in found:
        assert action in test["result"], f"unexpected {action}"
    assert len(found) == len(test["result"])


@pytest.mark.parametrize(
    ("kind", "test"), ACTIONS, ids=[f"{k}/{t['action']}/{t['inputPath']}" for k, t in ACTIONS]
)
def test_action(kind, test):
    kind_dir = CUSTOMIZATIONS / kind
    before = load_yaml(kind_dir / "actions" / test["inputPath"])
    after = act(kind_dir, test["action"], copy.deepcopy(before))
    expected = load_yaml(kind_dir / "actions" / test["expectedOutputPath"])
    assert contains(expected, after) == []
    key = TOKEN_ACTIONS.get(test["action"])
    if key:
        value = after["metadata"]["annotations"][key]
        assert TIMESTAMP.match(value), value
        assert value != (before["metadata"].get("annotations") or {}).get(key)


def test_actions_are_the_ones_documented():
    assert {p.name for p in (CUSTOMIZATIONS / "AuroraRestore" / "actions").iterdir()} >= {"rerun"}
    schedule = {p.name for p in (CUSTOMIZATIONS / "AuroraRestoreSchedule" / "actions").iterdir()}
    assert {"run-now", "suspend", "resume"} <= schedule


def test_rerun_uses_the_operators_annotation():
    from aurora_restore.k8s.handlers import RERUN_ANNOTATION

    assert TOKEN_ACTIONS["rerun"] == RERUN_ANNOTATION
    script = (CUSTOMIZATIONS / "AuroraRestore" / "actions" / "rerun" / "action.lua").read_text()
    assert f'"{RERUN_ANNOTATION}"' in script


def test_the_harness_can_fail():
    """A wrong expectation is reported: the comparison is not vacuous."""
    assert contains({"spec": {"suspend": True}}, {"spec": {"suspend": False}}) != []
    assert contains({"a": [1, 2]}, {"a": [1]}) != []
    kind_dir = CUSTOMIZATIONS / "AuroraRestore"
    with pytest.raises(Exception, match="attempt to index"):
        # the sandbox has no io library, as in Argo CD
        from argocd_lua import run_script

        run_script("return io.open('x')", {})
    assert health(kind_dir, {"kind": "AuroraRestore"})["status"] == "Progressing"


def _generated():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_argocd", REPO / "scripts" / "gen-argocd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_argocd_cm_patch_is_generated_from_the_scripts():
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert patch["data"] == _generated().cm_data()
    for kind in KINDS:
        key = f"resource.customizations.health.dbrestore.io_{kind}"
        assert patch["data"][key] == (CUSTOMIZATIONS / kind / "health.lua").read_text()
    actions = yaml.safe_load(
        patch["data"]["resource.customizations.actions.dbrestore.io_AuroraRestoreSchedule"]
    )
    assert [d["name"] for d in actions["definitions"]] == ["resume", "run-now", "suspend"]
    assert (
        actions["discovery.lua"]
        == (CUSTOMIZATIONS / "AuroraRestoreSchedule" / "actions" / "discovery.lua").read_text()
    )


def test_readme_snippet_carries_the_scripts():
    readme = (ARGOCD / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    snippets = [yaml.safe_load(b) for b in blocks if "resource.customizations.health" in b]
    assert snippets and snippets[0]["data"] == _generated().cm_data()


def test_readme_names_files_that_exist():
    readme = (ARGOCD / "README.md").read_text()
    for path in re.findall(r"`(tests/ship/[\w/.]+\.py)`", readme):
        assert (REPO / path).is_file(), path
    for link in re.findall(r"\]\(([\w./-]+)\)", readme):
        assert (ARGOCD / link).exists(), link


def _spec_validator(kind: str):
    import jsonschema

    crd_name = {
        "AuroraRestore": "aurorarestores.dbrestore.io",
        "AuroraRestoreSchedule": "aurorarestoreschedules.dbrestore.io",
    }[kind]
    crd = yaml.safe_load((REPO / "crds" / f"{crd_name}.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    return jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"]["properties"]["spec"])


@pytest.mark.parametrize("kind", KINDS)
def test_testdata_specs_are_valid_resources(kind):
    """The objects the checks are tested on have specs the CRD accepts."""
    validator = _spec_validator(kind)
    files = sorted((CUSTOMIZATIONS / kind).rglob("testdata/*.yaml"))
    assert files
    for path in files:
        obj = load_yaml(path)
        assert obj["kind"] == kind, path.name
        errors = [e.message for e in validator.iter_errors(obj["spec"])]
        assert errors == [], f"{path.relative_to(CUSTOMIZATIONS)}: {errors}"
