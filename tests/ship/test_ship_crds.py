"""crds/ is the source; deploy/crds/ and the chart's files/crds/ are byte-identical copies,
and the chart renders them (as templates) with nothing changed but metadata."""

from __future__ import annotations

import re
import textwrap

import jsonschema
import pytest
import yaml
from ship_support import (
    CHART,
    DEPLOY,
    REPO,
    canonical_crds,
    helm_template,
    kustomize_deploy,
    run,
    validate_offline,
)

COPIES = {"deploy/crds": DEPLOY / "crds", "helm chart files/crds": CHART / "files" / "crds"}
FIX = "edit crds/ only, then run `bash scripts/sync-crds.sh`"


@pytest.mark.parametrize("where", list(COPIES))
def test_copies_are_identical(where):
    directory = COPIES[where]
    sources = canonical_crds()
    copies = {p.name: p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert sorted(copies) == sorted(sources), f"{where} holds other files than crds/: {FIX}"
    for name, src in sources.items():
        assert copies[name].read_bytes() == src.read_bytes(), f"{where}/{name} drifted: {FIX}"


def test_deploy_kustomization_lists_the_crds():
    k = yaml.safe_load((DEPLOY / "crds" / "kustomization.yaml").read_text())
    assert (k.get("resources") or []) == sorted(canonical_crds()), FIX
    top = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert "crds" in top["resources"]


def test_sync_script_check_mode_agrees():
    proc = run(["bash", str(REPO / "scripts" / "sync-crds.sh"), "--check"], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_crds_are_served_by_deploy_and_chart():
    sources = canonical_crds()
    if not sources:
        pytest.skip("no CRDs in crds/ yet")
    docs = [d for p in sources.values() for d in yaml.safe_load_all(p.read_text()) if d]
    assert validate_offline(docs) == []
    names = {d["metadata"]["name"] for d in docs}
    for rendered in (kustomize_deploy(), helm_template()):
        served = {
            d["metadata"]["name"] for d in rendered if d["kind"] == "CustomResourceDefinition"
        }
        assert served == names
    expected = {
        "aurorarestores.dbrestore.io": ("AuroraRestore", "ar"),
        "aurorarestoreschedules.dbrestore.io": ("AuroraRestoreSchedule", "ars"),
    }
    for doc in docs:
        name = doc["metadata"]["name"]
        if name in expected:
            kind, short = expected[name]
            assert doc["spec"]["group"] == "dbrestore.io"
            assert doc["spec"]["scope"] == "Namespaced"
            assert doc["spec"]["names"]["kind"] == kind
            assert short in doc["spec"]["names"].get("shortNames", [])
            versions = {v["name"]: v for v in doc["spec"]["versions"]}
            assert "status" in versions["v1alpha1"].get("subresources", {})


def _crd_schema(name: str) -> dict:
    path = canonical_crds().get(f"{name}.yaml")
    if path is None:
        pytest.skip(f"crds/{name}.yaml does not exist yet")
    crd = yaml.safe_load(path.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    return version["schema"]["openAPIV3Schema"]


def _examples() -> list[tuple[str, dict]]:
    """AuroraRestores shown to users: the chart's NOTES and docs/argocd/README.md."""
    from ship_support import CHART, RELEASE, RELEASE_NAMESPACE, tool

    out = run(
        [tool("helm"), "install", RELEASE, str(CHART), "--dry-run=client", "-n", RELEASE_NAMESPACE]
    ).stdout
    notes = out.split("NOTES:", 1)[1]
    heredoc = notes.split("<<'YAML'", 1)[1].split("\n", 1)[1].split("\n  YAML", 1)[0]
    found = [("NOTES.txt", yaml.safe_load(textwrap.dedent(heredoc)))]
    readme = (REPO / "docs" / "argocd" / "README.md").read_text()
    for block in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S):
        if "kind: AuroraRestore\n" in block:
            found.append(("docs/argocd/README.md", yaml.safe_load(block)))
    return found


def _unknown_fields(obj: object, schema: dict, path: str = "") -> list[str]:
    """Fields the API server would silently prune (structural schema, no preserve-unknown)."""
    if schema.get("x-kubernetes-preserve-unknown-fields") or path == ".metadata":
        return []
    out = []
    if isinstance(obj, dict) and "properties" in schema:
        for key, value in obj.items():
            if key in schema["properties"]:
                out += _unknown_fields(value, schema["properties"][key], f"{path}.{key}")
            elif not schema.get("additionalProperties"):
                out.append(f"{path}.{key}")
    elif isinstance(obj, list) and "items" in schema:
        for i, item in enumerate(obj):
            out += _unknown_fields(item, schema["items"], f"{path}[{i}]")
    return out


def test_user_facing_examples_match_the_crd_schema():
    schema = _crd_schema("aurorarestores.dbrestore.io")
    validator = jsonschema.Draft7Validator(schema)
    examples = _examples()
    assert len(examples) == 2
    for where, obj in examples:
        assert obj["kind"] == "AuroraRestore"
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]
        assert errors == [], f"{where}: {errors}"
        assert _unknown_fields(obj, schema) == [], f"{where}: fields the CRD does not know"


def _without_release_metadata(crd: dict) -> dict:
    """A rendered CRD minus what the chart adds: release labels and the keep annotation."""
    crd = yaml.safe_load(yaml.safe_dump(crd))
    meta = crd["metadata"]
    meta.pop("annotations", None)
    meta["labels"] = {k: v for k, v in meta["labels"].items() if k == "app.kubernetes.io/name"}
    return crd


def test_chart_renders_the_generated_crds_unchanged():
    sources = {
        d["metadata"]["name"]: d
        for p in canonical_crds().values()
        for d in yaml.safe_load_all(p.read_text())
        if d
    }
    rendered = {
        d["metadata"]["name"]: d for d in helm_template() if d["kind"] == "CustomResourceDefinition"
    }
    assert sorted(rendered) == sorted(sources)
    for name, crd in rendered.items():
        assert _without_release_metadata(crd) == sources[name], f"{name} differs from crds/"
        meta = crd["metadata"]
        assert meta["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert meta["labels"]["app.kubernetes.io/instance"] == "ar"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"


def test_no_crds_directory_in_the_chart():
    # Helm installs crds/ once and never upgrades it; the chart ships CRDs as templates.
    assert not (CHART / "crds").exists()


def _render(tmp_path, values: dict) -> list[dict]:
    from ship_support import helm_args, load_docs

    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(values))
    return load_docs(run(helm_args(None) + ["--values", str(path)]).stdout)


def test_crds_can_be_left_out(tmp_path):
    docs = _render(tmp_path, {"crds": {"enabled": False}})
    assert [d for d in docs if d["kind"] == "CustomResourceDefinition"] == []
    assert any(d["kind"] == "Deployment" for d in docs)


def test_crds_without_keep_go_with_the_release(tmp_path):
    docs = _render(tmp_path, {"crds": {"keep": False}, "commonLabels": {"team": "platform"}})
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    assert len(crds) == len(canonical_crds())
    for crd in crds:
        assert "annotations" not in crd["metadata"]
        assert crd["metadata"]["labels"]["team"] == "platform"
        # the generated label is kept, not duplicated or replaced
        assert crd["metadata"]["labels"]["app.kubernetes.io/name"] == "aurora-restore-operator"
