"""The CRDs are valid apiextensions.k8s.io/v1 CustomResourceDefinitions with structural
schemas, match their generator, and carry what the API server needs (names, printer
columns, RE2 patterns, bounds for CEL cost estimation)."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
from spec_crd_support import (
    CRD_DIR,
    RESTORE_CRD,
    ROOT,
    SCHEDULE_CRD,
    all_rules,
    at,
    load_crd,
    root_schema,
    schema_errors,
    walk,
)

from aurora_restore.api import restore
from aurora_restore.api import schedule as schedule_api
from aurora_restore.api import status as status_api
from aurora_restore.api.crd import render

CRDS = [RESTORE_CRD, SCHEDULE_CRD]

# Keywords a structural schema may use (apiextensions.k8s.io/v1 JSONSchemaProps without the
# ones structural schemas forbid: $ref, definitions, dependencies, patternProperties,
# additionalItems, $schema, id; allOf/anyOf/oneOf/not are allowed but unused here).
ALLOWED_KEYWORDS = {
    "type", "format", "description", "default", "enum", "pattern", "minLength", "maxLength",
    "minimum", "maximum", "minItems", "maxItems", "minProperties", "maxProperties", "required",
    "properties", "additionalProperties", "items", "nullable",
    "x-kubernetes-validations", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
}  # fmt: skip
PRINTER_TYPES = {"integer", "number", "string", "boolean", "date"}


def test_committed_crds_equal_the_generator_output() -> None:
    rendered = render()
    assert sorted(rendered) == sorted(p.name for p in CRD_DIR.glob("*.yaml"))
    for name, text in rendered.items():
        assert (CRD_DIR / name).read_text() == text, (
            f"crds/{name} is stale: run python scripts/gen-crd.py"
        )


@pytest.mark.parametrize("name", CRDS)
def test_valid_against_the_kubernetes_crd_schema(name: str) -> None:
    # The published OpenAPI schema of CustomResourceDefinition; strict rejects misspelt keys.
    kubernetes_validate.validate(load_crd(name), "1.33.0", strict=True)


@pytest.mark.parametrize(
    ("name", "kind", "plural", "short"),
    [
        (RESTORE_CRD, "AuroraRestore", "aurorarestores", "ar"),
        (SCHEDULE_CRD, "AuroraRestoreSchedule", "aurorarestoreschedules", "ars"),
    ],
)
def test_names_scope_and_version(name: str, kind: str, plural: str, short: str) -> None:
    crd = load_crd(name)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == f"{plural}.dbrestore.io" == name.removesuffix(".yaml")
    body = crd["spec"]
    assert body["group"] == "dbrestore.io"
    assert body["scope"] == "Namespaced"
    assert body["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "shortNames": [short],
        "categories": ["dbrestore"],
    }
    [version] = body["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def _columns(name: str) -> list[tuple[Any, ...]]:
    version = load_crd(name)["spec"]["versions"][0]
    return [
        (c["name"], c["jsonPath"], c["type"], c.get("priority", 0))
        for c in version["additionalPrinterColumns"]
    ]


READY = '.status.conditions[?(@.type=="Ready")].status'


def test_printer_columns() -> None:
    assert _columns(RESTORE_CRD) == [
        ("Phase", ".status.phase", "string", 0),
        ("Ready", READY, "string", 0),
        ("Snapshot", ".status.snapshot.identifier", "string", 0),
        ("Target", ".spec.target.clusterIdentifier", "string", 0),
        ("Region", ".spec.target.region", "string", 0),
        ("Age", ".metadata.creationTimestamp", "date", 0),
        ("Endpoint", ".status.cluster.endpoint", "string", 1),
        ("Message", ".status.message", "string", 1),
    ]
    assert _columns(SCHEDULE_CRD) == [
        ("Schedule", ".spec.schedule", "string", 0),
        ("Suspend", ".spec.suspend", "boolean", 0),
        ("Last Run", ".status.lastScheduleTime", "date", 0),
        ("Last Result", ".status.lastResult", "string", 0),
        ("Ready", READY, "string", 0),
        ("Next Run", ".status.nextScheduleTime", "string", 0),
        ("Age", ".metadata.creationTimestamp", "date", 0),
    ]


@pytest.mark.parametrize("name", CRDS)
def test_printer_column_paths_exist(name: str) -> None:
    for _, path, type_, _ in _columns(name):
        assert type_ in PRINTER_TYPES
        if path.startswith(".metadata."):
            continue
        # A JSONPath filter such as [?(@.type=="Ready")] steps into the list's items.
        at(root_schema(name), re.sub(r"\[\?\(@\.\w+==\"\w+\"\)\]", ".[]", path).lstrip("."))


@pytest.mark.parametrize("name", CRDS)
def test_conditions_are_a_list_map_of_metav1_conditions(name: str) -> None:
    conditions = at(root_schema(name), "status.conditions")
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    # A list-map key must be required (or defaulted) for the API server to accept the CRD;
    # the rest are metav1.Condition's required fields.
    assert set(item["required"]) == {"type", "status", "reason", "message", "lastTransitionTime"}
    assert item["properties"]["observedGeneration"]["format"] == "int64"


@pytest.mark.parametrize("name", CRDS)
def test_every_time_field_is_a_date_time(name: str) -> None:
    times = [
        (path, node)
        for path, node in walk(root_schema(name)["properties"]["status"], ".status")
        # useLatestRestorableTime is a flag, not a time.
        if re.search(r"(At|Time)$", path) and node.get("type") != "boolean"
    ]
    assert len(times) >= 4
    for path, node in times:
        assert (node["type"], node.get("format")) == ("string", "date-time"), path


@pytest.mark.parametrize("name", CRDS)
def test_schema_is_structural(name: str) -> None:
    root = root_schema(name)
    assert root["type"] == "object"
    assert set(root["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    # Only name and generateName may be constrained in metadata, and only by CEL here.
    assert root["properties"]["metadata"] == {"type": "object"}
    for path, node in walk(root):
        assert set(node) <= ALLOWED_KEYWORDS, (path, set(node) - ALLOWED_KEYWORDS)
        # Every node has a type, unless it keeps unknown fields.
        assert node.get("type") or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("additionalProperties", {}) is not False, path
        if "items" in node:
            assert isinstance(node["items"], dict), path
        if node.get("x-kubernetes-list-type") == "set":
            assert node["items"]["type"] in ("string", "integer", "number", "boolean"), path
        for field in node.get("required", []):
            assert field in node["properties"], (path, field)
        if "default" in node:
            assert not schema_errors(node["default"], name, _dotted(path)), path
        if "enum" in node:
            assert len(set(node["enum"])) == len(node["enum"]), path


def _dotted(path: str) -> str:
    # walk() paths like ".spec.users[].name" -> at() paths like "spec.users.[].name"
    return path.lstrip(".").replace("[]", ".[]")


@pytest.mark.parametrize("name", CRDS)
def test_spec_strings_and_lists_are_bounded_for_cel_cost(name: str) -> None:
    # The API server estimates each CEL rule's worst case from maxLength/maxItems/
    # maxProperties; unbounded strings under a rule can exceed the cost budget.
    for path, node in walk(root_schema(name)["properties"]["spec"], ".spec"):
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node, path
        if node.get("type") == "array":
            assert "maxItems" in node, path
        if node.get("type") == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, path


_NOT_RE2 = [r"\(\?[=!]", r"\(\?<[=!]", r"\(\?P?<\w", r"\\[1-9]", r"[*+?}]\+"]


@pytest.mark.parametrize("name", CRDS)
def test_patterns_are_portable_re2(name: str) -> None:
    patterns = [node["pattern"] for _, node in walk(root_schema(name)) if "pattern" in node]
    patterns += [
        m.group(1)
        for _, item in all_rules(name)
        for m in re.finditer(r"matches\('([^']*)'\)", item["rule"])
    ]
    assert patterns
    for pattern in patterns:
        re.compile(pattern)
        assert pattern.startswith("^") and pattern.endswith("$"), pattern
        for construct in _NOT_RE2:
            assert not re.search(construct, pattern), (pattern, construct)
        for count in re.findall(r"\{(\d+)(?:,(\d*))?\}", pattern):
            assert all(int(n) <= 1000 for n in count if n), pattern
        try:
            import re2  # type: ignore[import-not-found]  # google-re2, when installed
        except ImportError:
            continue
        re2.compile(pattern)


@pytest.mark.parametrize("name", CRDS)
def test_cel_rules_are_well_formed(name: str) -> None:
    rules = all_rules(name)
    assert rules
    messages = [item["message"] for _, item in rules]
    for path, item in rules:
        assert set(item) <= {"rule", "message", "fieldPath"}, path
        assert item["message"] and "\n" not in item["message"]
        # The API server refuses a fieldPath that does not name a field under the node.
        if "fieldPath" in item:
            node = root_schema(name)
            for part in _dotted(path).split("."):
                if part:
                    node = node["items"] if part == "[]" else node["properties"][part]
            at(node, item["fieldPath"].lstrip("."))
    if name == RESTORE_CRD:
        assert len(set(messages)) == len(messages)


def test_schedule_template_is_the_restore_spec_schema() -> None:
    restore = root_schema(RESTORE_CRD)["properties"]["spec"]
    template = dict(at(root_schema(SCHEDULE_CRD), "spec.template"))
    assert template.pop("description") != restore["description"]
    assert template == {k: v for k, v in restore.items() if k != "description"}


def test_enums_and_defaults_come_from_the_models() -> None:
    restore = root_schema(RESTORE_CRD)
    assert at(restore, "status.phase")["enum"] == [p.value for p in status_api.Phase]
    assert at(restore, "status.error.type")["enum"] == [e.value for e in status_api.ErrorType]
    assert at(restore, "status.steps.[].state")["enum"] == [s.value for s in status_api.StepState]
    for step in status_api.STEP_NAMES:
        assert step in at(restore, "status.steps")["description"]
    schedule = root_schema(SCHEDULE_CRD)
    assert at(schedule, "spec.concurrencyPolicy")["enum"] == ["Forbid", "Replace"]
    assert at(schedule, "spec.concurrencyPolicy")["default"] == "Forbid"
    fields = schedule_api.AuroraRestoreScheduleSpec.model_fields
    for key in ("successfulRunsHistoryLimit", "failedRunsHistoryLimit", "timeZone", "suspend"):
        (field,) = [f for f in fields.values() if f.alias == key]
        assert at(schedule, f"spec.{key}")["default"] == field.default, key
    assert set(at(schedule, "spec")["properties"]) == {f.alias for f in fields.values()}


def _model_aliases(model: Any) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("spec", restore.AuroraRestoreSpec),
        ("spec.source", restore.Source),
        ("spec.copy", restore.Copy),
        ("spec.target", restore.Target),
        ("spec.masterPassword", restore.MasterPassword),
        ("spec.masterPassword.secretRef", restore.SecretKeyRef),
        ("spec.users.[]", restore.User),
        ("spec.sql.[]", restore.Sql),
        ("spec.sql.[].configMapRef", restore.ConfigMapKeyRef),
        ("spec.archive", restore.Archive),
        ("spec.notification", restore.Notification),
        ("spec.connectionSecret", restore.ConnectionSecret),
        ("spec.timeouts", restore.Timeouts),
        ("status.error", status_api.ErrorInfo),
        ("status.steps.[]", status_api.StepStatus),
        ("status.snapshot", status_api.SnapshotStatus),
        ("status.copy", status_api.CopyStatus),
        ("status.cluster", status_api.ClusterStatus),
        ("status.cluster.instances.[]", status_api.InstanceStatus),
        ("status.replaced", status_api.ReplacedCluster),
        ("status.conditions.[]", status_api.Condition),
        ("status.history.[]", status_api.HistoryEntry),
    ],
)
def test_schema_fields_are_the_model_fields(path: str, model: Any) -> None:
    node = at(root_schema(RESTORE_CRD), path)
    assert set(node["properties"]) == _model_aliases(model)


def test_status_schema_declares_every_status_model_field() -> None:
    # Unknown status fields are preserved, so a field missing here would still be stored,
    # but kubectl explain and the reference would not show it: the tests keep them listed.
    node = at(root_schema(RESTORE_CRD), "status")
    assert node["x-kubernetes-preserve-unknown-fields"] is True
    missing = _model_aliases(status_api.AuroraRestoreStatus) - set(node["properties"])
    assert not missing, f"crd.py left out of the status: {sorted(missing)}"
    schedule = at(root_schema(SCHEDULE_CRD), "status")
    assert set(schedule["properties"]) == _model_aliases(schedule_api.AuroraRestoreScheduleStatus)


def _kubectl() -> str | None:
    found = shutil.which("kubectl", path=str(ROOT / ".venv" / "bin")) or shutil.which("kubectl")
    return found


@pytest.mark.cluster
def test_server_side_dry_run_accepts_the_crds(control_plane: Any) -> None:
    """On a real API server (tests/conftest.py): the CEL rules compile and fit the cost
    budget."""
    result = control_plane.kubectl("apply", "--dry-run=server", "-f", str(CRD_DIR), check=False)
    assert result.returncode == 0, result.stderr


def test_client_side_dry_run_when_a_server_is_reachable() -> None:
    kubectl = _kubectl()
    if not kubectl:
        pytest.skip("kubectl not installed")
    probe = subprocess.run(
        [kubectl, "version", "--request-timeout=2s", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        pytest.skip("no Kubernetes API server reachable for kubectl --dry-run=client")
    result = subprocess.run(
        [kubectl, "apply", "--dry-run=client", "-f", str(CRD_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
