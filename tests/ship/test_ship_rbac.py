"""RBAC in deploy/ and in every rendering of the chart equals rbac_expected.yaml, exactly."""

from __future__ import annotations

from typing import Any

import pytest
from ship_support import (
    RELEASE_NAMESPACE,
    Triple,
    by_kind,
    expected_rbac,
    helm_template,
    kustomize_deploy,
    rule_triples,
)

AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"


def aggregated(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ClusterRoles for people (aggregated into view/edit/admin), not for the operator."""
    return [
        r
        for r in by_kind(docs, "ClusterRole")
        if any(k.startswith(AGGREGATE) for k in r["metadata"].get("labels", {}))
    ]


def granted(docs: list[dict[str, Any]], sa_name: str, sa_namespace: str) -> dict[str, set[Triple]]:
    """What the ServiceAccount gets: cluster-wide triples, and triples per namespace."""
    people = {r["metadata"]["name"] for r in aggregated(docs)}
    roles = {
        ("ClusterRole", None, r["metadata"]["name"]): r
        for r in by_kind(docs, "ClusterRole")
        if r["metadata"]["name"] not in people
    }
    for r in by_kind(docs, "Role"):
        roles[("Role", r["metadata"]["namespace"], r["metadata"]["name"])] = r
    subject = {"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}
    out: dict[str, set[Triple]] = {}
    for binding in by_kind(docs, "ClusterRoleBinding") + by_kind(docs, "RoleBinding"):
        assert binding["subjects"] == [subject], binding["metadata"]["name"]
        ref = binding["roleRef"]
        assert ref["apiGroup"] == "rbac.authorization.k8s.io"
        scope = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        role_ns = scope if ref["kind"] == "Role" else None
        role = roles.pop((ref["kind"], role_ns, ref["name"]), None)
        assert role is not None, f"{binding['metadata']['name']} refers to a missing role"
        out.setdefault(scope or "*", set()).update(rule_triples(role["rules"]))
    assert roles == {}, f"roles bound to nobody: {list(roles)}"
    return out


def test_expected_list_is_sane():
    cluster, namespaced = expected_rbac("cluster"), expected_rbac("namespaced")
    assert not cluster & namespaced
    # cluster-scoped resources only in `cluster`
    assert {r for _, r, _ in cluster} == {"customresourcedefinitions", "namespaces"}
    # nothing that writes outside the operator's own objects, Events and Secrets
    writes = {(g, r) for g, r, v in namespaced if v in {"create", "update", "patch", "delete"}}
    assert {r for _, r in writes} <= {
        "aurorarestores",
        "aurorarestoreschedules",
        "aurorarestores/status",
        "aurorarestoreschedules/status",
        "aurorarestores/finalizers",
        "aurorarestoreschedules/finalizers",
        "events",
        "secrets",
    }
    assert ("", "secrets", "list") not in namespaced  # get by name only
    assert ("dbrestore.io", "aurorarestoreschedules", "create") not in namespaced


def test_deploy_rbac_is_exactly_expected():
    docs = kustomize_deploy()
    sa = by_kind(docs, "ServiceAccount")[0]["metadata"]
    got = granted(docs, sa["name"], sa["namespace"])
    assert got == {"*": expected_rbac("cluster") | expected_rbac("namespaced")}


def test_chart_rbac_all_namespaces_is_exactly_expected():
    docs = helm_template()
    sa = by_kind(docs, "ServiceAccount")[0]["metadata"]
    got = granted(docs, sa["name"], RELEASE_NAMESPACE)
    assert got == {"*": expected_rbac("cluster") | expected_rbac("namespaced")}


def test_chart_rbac_watched_namespaces_uses_roles():
    docs = helm_template("custom.yaml")
    got = granted(docs, "restore-bot", RELEASE_NAMESPACE)
    assert got == {
        "*": expected_rbac("cluster"),
        "databases": expected_rbac("namespaced"),
        "staging": expected_rbac("namespaced"),
    }
    assert len(by_kind(docs, "ClusterRole")) - len(aggregated(docs)) == 1


@pytest.mark.parametrize("values_file", [None, "custom.yaml"])
def test_chart_rbac_can_be_disabled(values_file, tmp_path):
    from ship_support import helm_args, load_docs, run

    path = tmp_path / "v.yaml"
    path.write_text("rbac: {create: false}\n")
    args = helm_args(values_file) + ["--values", str(path)]
    docs = load_docs(run(args).stdout)
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert by_kind(docs, kind) == []


def _aggregated_by_suffix(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"].rsplit("-", 1)[1]: r for r in aggregated(docs)}


@pytest.mark.parametrize("values_file", [None, "custom.yaml"])
def test_aggregated_view_and_edit_roles(values_file):
    roles = _aggregated_by_suffix(helm_template(values_file))
    assert sorted(roles) == ["edit", "view"]
    kinds = ("aurorarestores", "aurorarestoreschedules")
    view = rule_triples(roles["view"]["rules"])
    edit = rule_triples(roles["edit"]["rules"])
    for kind in kinds:
        for verb in ("get", "list", "watch"):
            assert ("dbrestore.io", kind, verb) in view
        for verb in ("create", "update", "patch", "delete"):
            assert ("dbrestore.io", kind, verb) in edit
            assert ("dbrestore.io", kind, verb) not in view
    # people never write the status: it is the operator's
    assert not any(
        r.endswith("/status") and v != "get" and v not in ("list", "watch")
        for _, r, v in view | edit
    )
    assert {g for g, _, _ in view | edit} == {"dbrestore.io"}
    labels = {k: roles[k]["metadata"]["labels"] for k in roles}
    assert labels["view"][AGGREGATE + "view"] == "true"
    # view's rules reach edit and admin too (edit includes view, as in Kubernetes)
    assert labels["view"][AGGREGATE + "edit"] == labels["view"][AGGREGATE + "admin"] == "true"
    assert labels["edit"][AGGREGATE + "edit"] == labels["edit"][AGGREGATE + "admin"] == "true"
    assert AGGREGATE + "view" not in labels["edit"]


def test_aggregated_roles_can_be_disabled(tmp_path):
    from ship_support import helm_args, load_docs, run

    path = tmp_path / "v.yaml"
    path.write_text("rbac: {aggregateClusterRoles: false}\n")
    docs = load_docs(run(helm_args(None) + ["--values", str(path)]).stdout)
    assert aggregated(docs) == []
    assert by_kind(docs, "ClusterRole")


def test_secrets_and_configmaps_are_only_read_by_name():
    """The code reads Secrets and ConfigMaps by name (read_namespaced_*), never lists or
    watches them, and no kopf handler serves them: RBAC grants no list/watch on them."""
    import re

    from ship_support import REPO

    listing = re.compile(
        r"\b(list|watch)_(namespaced_)?(secret|config_map)|"
        r"(list|watch)_(secret|config_map)_for_all_namespaces|"
        r"kopf\.(on\.\w+|daemon|timer|index)\(\s*[\"'](v1[\"'],\s*[\"'])?(secrets|configmaps)"
    )
    code = REPO / "operator" / "aurora_restore"
    hits = [
        f"{p.relative_to(REPO)}: {m.group(0)}"
        for p in code.rglob("*.py")
        for m in listing.finditer(p.read_text())
    ]
    assert hits == []
    reads = [p for p in code.rglob("*.py") if "read_namespaced_secret" in p.read_text()]
    assert reads, "the scan looks at the wrong code: no read_namespaced_secret found"
    for scope in ("namespaced", "cluster"):
        for resource in ("secrets", "configmaps"):
            for verb in ("list", "watch"):
                assert ("", resource, verb) not in expected_rbac(scope)
