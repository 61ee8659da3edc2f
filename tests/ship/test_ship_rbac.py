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


def granted(docs: list[dict[str, Any]], sa_name: str, sa_namespace: str) -> dict[str, set[Triple]]:
    """What the ServiceAccount gets: cluster-wide triples, and triples per namespace."""
    roles = {("ClusterRole", None, r["metadata"]["name"]): r for r in by_kind(docs, "ClusterRole")}
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
    assert len(by_kind(docs, "ClusterRole")) == 1


@pytest.mark.parametrize("values_file", [None, "custom.yaml"])
def test_chart_rbac_can_be_disabled(values_file, tmp_path):
    from ship_support import helm_args, load_docs, run

    path = tmp_path / "v.yaml"
    path.write_text("rbac: {create: false}\n")
    args = helm_args(values_file) + ["--values", str(path)]
    docs = load_docs(run(args).stdout)
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert by_kind(docs, kind) == []
