"""deploy/: `kubectl kustomize deploy/` with the real kubectl, validated offline."""

from __future__ import annotations

from ship_support import (
    DEPLOY,
    assert_hardened_deployment,
    by_kind,
    canonical_crds,
    kustomize_deploy,
    one,
    validate_offline,
)

NAMESPACE = "aurora-restore-system"
KNOWN_ENV = {
    "AURORA_RESTORE_STATE_TABLE",
    "AURORA_RESTORE_AUDIT_TABLE",
    "AURORA_RESTORE_CREATE_TABLES",
    "AURORA_RESTORE_SNS_TOPIC_ARN",
    "AURORA_RESTORE_METRICS_NAMESPACE",
    "AURORA_RESTORE_POLL_INTERVAL",
    "AURORA_RESTORE_REPLACE_ALLOWED",
    "AURORA_RESTORE_SOURCE_ROLE_ARNS",
    "AURORA_RESTORE_SSM_PATH",
    "AURORA_RESTORE_METRICS_PORT",
    "AURORA_RESTORE_NAMESPACES",
    "AURORA_RESTORE_LOG_LEVEL",
    "AURORA_RESTORE_LOG_FORMAT",
    "AURORA_RESTORE_DB_SSLMODE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
}


def test_kustomize_output_validates_offline():
    docs = kustomize_deploy()
    assert validate_offline(docs) == []


def test_kustomize_objects():
    docs = kustomize_deploy()
    kinds = sorted(d["kind"] for d in docs)
    crds = len(canonical_crds())
    assert kinds.count("CustomResourceDefinition") == crds
    for kind in ("Namespace", "ServiceAccount", "Deployment", "Service", "ConfigMap"):
        assert kind in kinds
    assert one(docs, "Namespace")["metadata"]["name"] == NAMESPACE
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
    for doc in docs:
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]


def test_kustomize_deployment_is_hardened():
    assert_hardened_deployment(one(kustomize_deploy(), "Deployment"))


def test_kustomize_settings_and_service():
    docs = kustomize_deploy()
    dep = one(docs, "Deployment")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "aurora-restore-operator:0.1.0"
    assert c["args"] == ["--all-namespaces"]
    cm = one(docs, "ConfigMap")
    assert c["envFrom"] == [{"configMapRef": {"name": cm["metadata"]["name"]}}]
    assert set(cm["data"]) <= KNOWN_ENV, set(cm["data"]) - KNOWN_ENV
    assert cm["data"]["AURORA_RESTORE_STATE_TABLE"] == "aurora-restore-state"
    assert all(v != "" for v in cm["data"].values()), "empty is not unset: comment it out"
    svc = one(docs, "Service")
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    sa = one(docs, "ServiceAccount")
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    for binding in by_kind(docs, "ClusterRoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}
        ]


def test_env_file_has_no_unknown_settings():
    names = set()
    for line in (DEPLOY / "operator.env").read_text().splitlines():
        line = line.strip().lstrip("#").strip()
        if "=" in line and line.split("=", 1)[0].isupper():
            names.add(line.split("=", 1)[0])
    assert names <= KNOWN_ENV, names - KNOWN_ENV
