"""The chart's newer values (tests/ship/values/features.yaml): names, labels, image digest,
token, topology, volumes, ServiceMonitor relabelings, NOTES."""

from __future__ import annotations

import yaml
from ship_support import (
    CHART,
    RELEASE,
    RELEASE_NAMESPACE,
    VALUES,
    by_kind,
    helm_args,
    helm_template,
    load_docs,
    one,
    run,
    tool,
)

FEATURES = "features.yaml"
DNS_LABEL_KINDS = {"Service", "Deployment", "ServiceAccount"}


def _features() -> dict:
    return yaml.safe_load((VALUES / FEATURES).read_text())


def test_names_stay_within_63_characters():
    override = _features()["fullnameOverride"]
    assert len(override) == 63
    docs = helm_template(FEATURES)
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] != "CustomResourceDefinition":
            assert len(name) <= 63, f"{doc['kind']} {name} has {len(name)} characters"
            assert not name.endswith("-") and "--" not in name, name
    svc = one(docs, "Service")
    assert svc["metadata"]["name"].endswith("-metrics")
    names = [d["metadata"]["name"] for d in by_kind(docs, "ClusterRole")]
    assert len(names) == len(set(names)), "two ClusterRoles share a truncated name"
    for doc in docs:
        if doc["kind"] in DNS_LABEL_KINDS:
            assert doc["metadata"]["name"][:50] == override[:50]


def test_selector_labels_cannot_be_overridden():
    docs = helm_template(FEATURES)
    dep = one(docs, "Deployment")
    selector = dep["spec"]["selector"]["matchLabels"]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert selector == {
        "app.kubernetes.io/name": "aurora-restore-operator",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": "operator",
    }
    assert selector.items() <= pod_labels.items()
    assert pod_labels["sidecar.istio.io/inject"] == "false"  # other podLabels still apply
    assert pod_labels["team"] == "platform"  # and commonLabels
    assert one(docs, "Service")["spec"]["selector"] == selector


def test_common_labels_on_every_object_without_replacing_the_charts():
    docs = helm_template(FEATURES)
    assert len(docs) > 10
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["team"] == "platform", doc["kind"]
        assert labels["app.kubernetes.io/name"] == "aurora-restore-operator", doc["kind"]


def test_image_digest_pins_the_image():
    docs = helm_template(FEATURES)
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    image = _features()["image"]
    assert container["image"] == f"{image['repository']}@{image['digest']}"


def test_projected_token_instead_of_automount():
    docs = helm_template(FEATURES)
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert one(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(volumes) == {"tmp", "kube-api-token"}
    assert "projected" in volumes["kube-api-token"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts == {
        "/tmp": "tmp",
        "/var/run/secrets/kubernetes.io/serviceaccount": "kube-api-token",
    }


def test_topology_spread_constraints():
    pod = one(helm_template(FEATURES), "Deployment")["spec"]["template"]["spec"]
    assert pod["topologySpreadConstraints"] == _features()["topologySpreadConstraints"]


def test_service_monitor_relabelings():
    sm = one(helm_template(FEATURES), "ServiceMonitor")
    endpoint = sm["spec"]["endpoints"][0]
    wanted = _features()["metrics"]["serviceMonitor"]
    assert endpoint["relabelings"] == wanted["relabelings"]
    assert endpoint["metricRelabelings"] == wanted["metricRelabelings"]


def test_watched_namespaces_once():
    docs = helm_template(FEATURES)
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--namespace", "databases", "--namespace", "staging"]
    assert sorted(r["metadata"]["namespace"] for r in by_kind(docs, "Role")) == [
        "databases",
        "staging",
    ]


def _notes(*values: str) -> str:
    args = [
        tool("helm"), "install", RELEASE, str(CHART), "--dry-run=client",
        "--namespace", RELEASE_NAMESPACE,
    ]  # fmt: skip
    for v in values:
        args += ["--values", str(VALUES / v)]
    return run(args).stdout.split("NOTES:", 1)[1]


def test_notes_name_each_namespace_once_and_pod_identity():
    notes = _notes(FEATURES)
    assert "It watches AuroraRestore resources in: databases, staging." in notes
    assert notes.count("databases, staging") == 1
    # no IRSA annotation: the notes explain EKS Pod Identity instead of claiming no role
    sa = one(helm_template(FEATURES), "ServiceAccount")["metadata"]["name"]
    assert "no IRSA role" not in notes
    assert "create-pod-identity-association" in notes
    assert f"--service-account {sa}" in notes


def test_notes_in_all_namespaces_say_what_the_cluster_role_allows():
    notes = _notes()
    assert "all namespaces" in notes and "every" in notes and "Secret" in notes


def test_schema_rejects_a_bad_digest(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("image: {digest: latest}\n")
    proc = run([*helm_args(None), "--values", str(path)], check=False)
    assert proc.returncode != 0 and "/image/digest" in proc.stderr


def test_schema_rejects_a_bad_label(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("commonLabels: {team: 'two words'}\n")
    proc = run([*helm_args(None), "--values", str(path)], check=False)
    assert proc.returncode != 0 and "/commonLabels/team" in proc.stderr


def test_rendered_volumes_validate_with_kubernetes_validate():
    from ship_support import validate_offline

    docs = load_docs(run(helm_args(FEATURES)).stdout)
    assert validate_offline(docs) == []
