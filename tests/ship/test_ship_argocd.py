"""Argo CD health checks, run with Lua 5.1 semantics (lupa.lua51) like Argo CD's gopher-lua."""

from __future__ import annotations

import re
from typing import Any

import lupa.lua51 as lua51
import pytest
import yaml
from ship_support import REPO

ARGOCD = REPO / "docs" / "argocd"
RESTORE_LUA = (ARGOCD / "health.lua").read_text()
SCHEDULE_LUA = (ARGOCD / "health-schedule.lua").read_text()
KEY = "resource.customizations.health.dbrestore.io_"


def health(script: str, obj: dict[str, Any]) -> dict[str, str]:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    hs = lua.execute(script)
    result = dict(hs.items())
    assert set(result) <= {"status", "message"}
    assert result["status"] in {"Healthy", "Progressing", "Degraded", "Suspended"}
    assert isinstance(result.get("message"), str) and result["message"]
    return result


def restore(status: dict[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "dbrestore.io/v1alpha1",
        "kind": "AuroraRestore",
        "metadata": {"name": "staging-refresh", "namespace": "databases", "generation": generation},
        "spec": {"source": {"region": "us-east-1"}, "target": {"region": "us-west-2"}},
    }
    if status is not None:
        obj["status"] = status
    return obj


def cond(ctype: str, value: str) -> dict[str, str]:
    return {"type": ctype, "status": value, "reason": "Test", "message": f"{ctype} {value}"}


RUNNING_PHASES = [
    "Pending",
    "CheckingSnapshot",
    "CopyingSnapshot",
    "DeletingExistingCluster",
    "RestoringCluster",
    "CreatingInstances",
    "ConfiguringDatabase",
    "RetiringExistingCluster",
    "SwappingClusters",
    "DeletingRetiredCluster",
    "ArchivingSnapshot",
]


def test_no_status_waits_for_the_operator():
    assert health(RESTORE_LUA, restore()) == {
        "status": "Progressing",
        "message": "Waiting for the operator",
    }
    assert health(RESTORE_LUA, restore({}))["status"] == "Progressing"


@pytest.mark.parametrize("phase", RUNNING_PHASES)
def test_running_phases_are_progressing_with_the_message(phase):
    status = {
        "phase": phase,
        "observedGeneration": 1,
        "message": f"{phase}: copy 42% done",
        "conditions": [cond("Ready", "False"), cond("Progressing", "True")],
    }
    assert health(RESTORE_LUA, restore(status)) == {
        "status": "Progressing",
        "message": f"{phase}: copy 42% done",
    }


@pytest.mark.parametrize("phase", RUNNING_PHASES)
def test_running_phase_without_message(phase):
    assert health(RESTORE_LUA, restore({"phase": phase})) == {
        "status": "Progressing",
        "message": f"Phase {phase}",
    }


def test_completed_is_healthy():
    status = {
        "phase": "Completed",
        "observedGeneration": 3,
        "message": "Restored staging in us-west-2",
        "conditions": [cond("Ready", "True"), cond("Progressing", "False")],
    }
    assert health(RESTORE_LUA, restore(status, generation=3)) == {
        "status": "Healthy",
        "message": "Restored staging in us-west-2",
    }
    assert health(RESTORE_LUA, restore({"phase": "Completed"}))["status"] == "Healthy"


def test_ready_condition_alone_is_healthy():
    status = {"conditions": [cond("Ready", "True")]}
    assert health(RESTORE_LUA, restore(status))["status"] == "Healthy"


def test_failed_is_degraded_with_the_error_message():
    status = {
        "phase": "Failed",
        "observedGeneration": 1,
        "message": "Restore failed in restore-snapshot",
        "error": {
            "type": "AWSError",
            "step": "restore-snapshot",
            "message": "DBClusterAlreadyExistsFault: staging exists",
            "code": "DBClusterAlreadyExistsFault",
        },
        "conditions": [cond("Ready", "False"), cond("Failed", "True")],
    }
    assert health(RESTORE_LUA, restore(status)) == {
        "status": "Degraded",
        "message": "DBClusterAlreadyExistsFault: staging exists",
    }


def test_failed_without_error_uses_the_status_message():
    status = {"phase": "Failed", "message": "Snapshot not found after 2h"}
    assert health(RESTORE_LUA, restore(status)) == {
        "status": "Degraded",
        "message": "Snapshot not found after 2h",
    }
    assert health(RESTORE_LUA, restore({"phase": "Failed"})) == {
        "status": "Degraded",
        "message": "Restore failed",
    }


def test_failed_condition_without_phase_is_degraded():
    status = {"conditions": [cond("Failed", "True")], "error": {"message": "boom"}}
    assert health(RESTORE_LUA, restore(status)) == {"status": "Degraded", "message": "boom"}


@pytest.mark.parametrize("phase", ["Completed", "Failed"])
def test_new_generation_not_yet_observed_is_progressing(phase):
    status = {"phase": phase, "observedGeneration": 1, "conditions": [cond("Ready", "True")]}
    assert health(RESTORE_LUA, restore(status, generation=2)) == {
        "status": "Progressing",
        "message": "Waiting for the operator to observe generation 2",
    }


def schedule(suspend: bool | None = None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"schedule": "0 3 * * *", "template": {"spec": {}}}
    if suspend is not None:
        spec["suspend"] = suspend
    obj: dict[str, Any] = {"kind": "AuroraRestoreSchedule", "metadata": {"name": "n"}, "spec": spec}
    if status is not None:
        obj["status"] = status
    return obj


def test_schedule_suspended():
    for status in (None, {"lastResult": "Failed"}, {"lastResult": "Completed"}):
        assert health(SCHEDULE_LUA, schedule(True, status)) == {
            "status": "Suspended",
            "message": "Schedule is suspended",
        }


def test_schedule_healthy():
    assert health(SCHEDULE_LUA, schedule())["status"] == "Healthy"
    assert health(SCHEDULE_LUA, schedule(False, {}))["status"] == "Healthy"
    status = {"lastResult": "Completed", "nextScheduleTime": "2026-11-28T03:00:00Z"}
    assert health(SCHEDULE_LUA, schedule(False, status)) == {
        "status": "Healthy",
        "message": "Next restore at 2026-11-28T03:00:00Z",
    }
    status = {"active": "nightly-29412345", "lastResult": "Completed"}
    assert health(SCHEDULE_LUA, schedule(False, status)) == {
        "status": "Healthy",
        "message": "Running nightly-29412345",
    }


def test_schedule_last_failed_is_degraded():
    status = {"lastResult": "Failed", "message": "nightly-29412345 failed: snapshot not found"}
    assert health(SCHEDULE_LUA, schedule(False, status)) == {
        "status": "Degraded",
        "message": "nightly-29412345 failed: snapshot not found",
    }
    assert health(SCHEDULE_LUA, schedule(None, {"lastResult": "Failed"})) == {
        "status": "Degraded",
        "message": "Last restore failed",
    }
    structured = {"lastResult": {"name": "nightly-1", "phase": "Failed"}}
    assert health(SCHEDULE_LUA, schedule(None, structured)) == {
        "status": "Degraded",
        "message": "Last restore nightly-1 failed",
    }


def _expected_keys() -> dict[str, str]:
    return {KEY + "AuroraRestore": RESTORE_LUA, KEY + "AuroraRestoreSchedule": SCHEDULE_LUA}


def test_argocd_cm_patch_carries_the_scripts():
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert patch["data"] == _expected_keys()


def test_readme_snippet_carries_the_scripts():
    readme = (ARGOCD / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    snippets = [yaml.safe_load(b) for b in blocks if KEY in b]
    assert snippets and snippets[0]["data"] == _expected_keys()


def test_schedule_with_an_invalid_spec_is_degraded():
    status = {
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "InvalidSpec",
                "message": "spec.schedule: not a cron expression",
            }
        ]
    }
    assert health(SCHEDULE_LUA, schedule(False, status)) == {
        "status": "Degraded",
        "message": "spec.schedule: not a cron expression",
    }
