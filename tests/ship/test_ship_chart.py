"""The Helm chart: lint, render with default/custom/wrong values, validate offline."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from ship_support import (
    CHART,
    RELEASE,
    RELEASE_NAMESPACE,
    REPO,
    VALUES,
    assert_hardened_deployment,
    by_kind,
    env_of,
    helm_args,
    helm_template,
    one,
    run,
    tool,
    validate_offline,
)

FULLNAME = f"{RELEASE}-aurora-restore-operator"


VALUE_FILES = [None, "custom.yaml", "features.yaml"]


@pytest.mark.parametrize("values_file", VALUE_FILES)
def test_helm_lint_strict(values_file):
    args = [tool("helm"), "lint", "--strict", str(CHART)]
    if values_file:
        args += ["--values", str(VALUES / values_file)]
    out = run(args).stdout
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("values_file", VALUE_FILES)
def test_rendered_manifests_validate_offline(values_file):
    docs = helm_template(values_file)
    assert docs, "helm template rendered nothing"
    assert validate_offline(docs) == []


@pytest.mark.parametrize("values_file", VALUE_FILES)
def test_rendered_deployment_is_hardened(values_file):
    assert_hardened_deployment(one(helm_template(values_file), "Deployment"))


def test_namespaced_objects_go_to_the_release_namespace():
    namespaced = {"ServiceAccount", "Deployment", "Service", "ServiceMonitor", "PrometheusRule"}
    for values_file in VALUE_FILES:
        for doc in helm_template(values_file):
            if doc["kind"] in namespaced:
                assert doc["metadata"]["namespace"] == RELEASE_NAMESPACE, doc["kind"]


def test_default_values():
    docs = helm_template()
    dep = one(docs, "Deployment")
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "aurora-restore-operator:0.1.0"  # chart appVersion
    assert container["args"] == ["--all-namespaces"]
    assert env_of(container) == {
        "POD_NAME": None,  # from the downward API, below
        "AURORA_RESTORE_STATE_TABLE": "aurora-restore-state",
        "AURORA_RESTORE_AUDIT_TABLE": "aurora-restore-audit",
        "AURORA_RESTORE_CREATE_TABLES": "false",
        "AURORA_RESTORE_METRICS_NAMESPACE": "AuroraRestore",
        "AURORA_RESTORE_POLL_INTERVAL": "30s",
        "AURORA_RESTORE_METRICS_PORT": "8080",
        "AURORA_RESTORE_LOG_LEVEL": "INFO",
        "AURORA_RESTORE_LOG_FORMAT": "json",
        "AURORA_RESTORE_DB_SSLMODE": "require",
    }
    pod_name = next(e for e in container["env"] if e["name"] == "POD_NAME")
    assert pod_name["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert dep["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    assert by_kind(docs, "ServiceMonitor") == [] and by_kind(docs, "PrometheusRule") == []
    assert by_kind(docs, "Role") == [] and by_kind(docs, "RoleBinding") == []
    sa = one(docs, "ServiceAccount")
    assert sa["metadata"]["name"] == FULLNAME and "annotations" not in sa["metadata"]
    svc = one(docs, "Service")
    assert svc["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_custom_values():
    docs = helm_template("custom.yaml")
    dep = one(docs, "Deployment")
    pod = dep["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/platform/aurora-restore-operator:0.1.0-rc1"
    assert container["imagePullPolicy"] == "Always"
    assert container["args"] == ["--namespace", "databases", "--namespace", "staging"]
    env = env_of(container)
    assert env == {
        "POD_NAME": None,
        "AURORA_RESTORE_STATE_TABLE": "restore-state",
        "AURORA_RESTORE_AUDIT_TABLE": "restore-audit",
        "AURORA_RESTORE_CREATE_TABLES": "true",
        "AURORA_RESTORE_SNS_TOPIC_ARN": "arn:aws:sns:us-west-2:123456789012:aurora-restore",
        "AURORA_RESTORE_METRICS_NAMESPACE": "Platform/AuroraRestore",
        "AURORA_RESTORE_POLL_INTERVAL": "10s",
        "AURORA_RESTORE_REPLACE_ALLOWED": "staging-*,qa-*",
        "AURORA_RESTORE_WORKERS": "64",
        "AURORA_RESTORE_RECORDS_INTERVAL": "500ms",
        "AURORA_RESTORE_POLL_FLOOR": "1s",
        "AURORA_RESTORE_AWS_RATE_LIMIT": "20",
        "AURORA_RESTORE_AWS_RATE_BURST": "300",
        "AURORA_RESTORE_SSM_PATH": "/platform/aurora-restore",
        "AURORA_RESTORE_METRICS_PORT": "9090",
        "AURORA_RESTORE_LOG_LEVEL": "DEBUG",
        "AURORA_RESTORE_LOG_FORMAT": "text",
        "AURORA_RESTORE_DB_SSLMODE": "verify-full",
        "AWS_REGION": "us-west-2",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_ENDPOINT_URL": "http://moto.moto.svc:5000",
        "AURORA_RESTORE_SOURCE_ROLE_ARNS": "arn:aws:iam::111122223333:role/aurora-restore-source,"
        "arn:aws:iam::444455556666:role/aurora-restore-*",
        "AWS_STS_REGIONAL_ENDPOINTS": "regional",
    }
    assert container["envFrom"] == [{"secretRef": {"name": "aurora-restore-extra"}}]
    assert container["ports"][0]["containerPort"] == 9090
    assert container["livenessProbe"]["failureThreshold"] == 6
    assert container["resources"]["limits"]["memory"] == "1Gi"
    assert pod["metadata"]["annotations"] == {"example.com/team": "platform"}
    assert pod["metadata"]["labels"]["team"] == "platform"
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "restore-bot"
    assert spec["imagePullSecrets"] == [{"name": "registry-creds"}]
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in spec["affinity"]

    sa = one(docs, "ServiceAccount")
    assert sa["metadata"]["name"] == "restore-bot"
    assert sa["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/aurora-restore-operator"
    }

    svc = one(docs, "Service")
    assert svc["spec"]["ports"][0]["port"] == 9091
    assert svc["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}


def test_service_monitor():
    docs = helm_template("custom.yaml")
    sm = one(docs, "ServiceMonitor")
    svc = one(docs, "Service")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    # it selects the metrics Service and scrapes its named port
    labels = svc["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [RELEASE_NAMESPACE]}
    assert sm["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}
    ]
    assert svc["spec"]["ports"][0]["name"] == "metrics"
    assert set(sm["spec"]) == {"namespaceSelector", "selector", "endpoints"}


def test_service_monitor_needs_the_service(tmp_path):
    values = tmp_path / "v.yaml"
    metrics = {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}
    values.write_text(yaml.safe_dump({"metrics": metrics}))
    args = helm_args(None) + ["--values", str(values)]
    proc = run(args, check=False)
    assert proc.returncode != 0 and "metrics.service.enabled" in proc.stderr


WRONG = [
    ({"image": {"tag": 1.0}}, "/image/tag"),
    ({"watchNamespaces": "databases"}, "/watchNamespaces"),
    ({"watchNamespaces": ["team-*"]}, "/watchNamespaces/0"),
    ({"dynamodb": {"createTables": "yes"}}, "/dynamodb/createTables"),
    ({"metrics": {"port": "8080"}}, "/metrics/port"),
    ({"replaceAllowed": "staging-*"}, "/replaceAllowed"),
    ({"pollInterval": 30}, "/pollInterval"),
    ({"tuning": {"workers": 0}}, "/tuning/workers"),
    ({"tuning": {"recordsInterval": "soon"}}, "/tuning/recordsInterval"),
    ({"tuning": {"awsRateLimit": "fast"}}, "/tuning/awsRateLimit"),
    ({"serviceAccount": {"annotations": {"a": 1}}}, "/serviceAccount/annotations/a"),
    ({"logging": {"format": "xml"}}, "/logging/format"),
    ({"aws": {"endpointUrl": "moto:5000"}}, "/aws/endpointUrl"),
    ({"aws": {"sourceRoleArns": "arn:aws:iam::1:role/x"}}, "/aws/sourceRoleArns"),
    ({"aws": {"sourceRoleArns": ["a,b"]}}, "/aws/sourceRoleArns/0"),
    ({"metrics": {"serviceMonitor": {"enabled": "true"}}}, "/metrics/serviceMonitor/enabled"),
    ({"tolerations": {"key": "x"}}, "/tolerations"),
    ({"replicaCount": 2}, "replicaCount"),
]


@pytest.mark.parametrize(("values", "where"), WRONG, ids=[w for _, w in WRONG])
def test_schema_rejects_wrong_values(tmp_path, values, where):
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    proc = run([*helm_args(None), "--values", str(path)], check=False)
    assert proc.returncode != 0, f"schema accepted {values}"
    assert "schema" in proc.stderr.lower() and where in proc.stderr, proc.stderr


def test_schema_rejects_wrong_types_file():
    proc = run(helm_args("wrong-types.yaml"), check=False)
    assert proc.returncode != 0
    for where in ("/image/tag", "/watchNamespaces", "/dynamodb/createTables", "/metrics/port"):
        assert where in proc.stderr, proc.stderr


def _leaf_values(values: dict, schema: dict, prefix: str = "") -> list[str]:
    """Dotted keys of values.yaml, descending only where the schema has properties."""
    out = []
    for key, value in values.items():
        node = schema.get("properties", {}).get(key, {})
        if isinstance(value, dict) and "properties" in node:
            out += _leaf_values(value, node, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def test_every_value_is_documented():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    leaves = _leaf_values(values, schema)
    assert len(leaves) > 30
    text = (REPO / "docs" / "install.md").read_text()
    section = text.split("## Helm values", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)
    assert sorted(set(documented)) == sorted(documented), "a value is documented twice"
    missing = sorted(set(leaves) - set(documented))
    stale = sorted(set(documented) - set(leaves))
    assert missing == [], f"values missing from docs/install.md's Configuration table: {missing}"
    assert stale == [], f"docs/install.md documents values that do not exist: {stale}"


def test_notes_render_and_show_a_first_restore():
    args = [
        tool("helm"), "install", RELEASE, str(CHART), "--dry-run=client",
        "--namespace", RELEASE_NAMESPACE, "--values", str(VALUES / "custom.yaml"),
    ]  # fmt: skip
    out = run(args).stdout
    notes = out.split("NOTES:", 1)[1]
    assert "kind: AuroraRestore" in notes
    assert "kubectl get aurorarestores" in notes
    assert "kubectl apply -n databases" in notes
    assert "databases, staging" in notes
    assert "aws.region is empty" not in notes and "no IRSA role" not in notes


@pytest.mark.parametrize("values_file", VALUE_FILES)
def test_every_setting_the_chart_renders_is_one_the_operator_reads(values_file):
    """A misspelt variable would be ignored silently by the operator: each must be a field of
    the settings, and the rendered values must load."""
    from aurora_restore.settings import PREFIX, Settings, load

    container = one(helm_template(values_file), "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]
    env = {k: v for k, v in env_of(container).items() if v is not None}
    ours = [k for k in env if k.startswith(PREFIX)]
    unknown = [k for k in ours if k[len(PREFIX) :].lower() not in Settings.model_fields]
    assert ours and unknown == []
    settings = load(env)
    if values_file == "custom.yaml":
        assert settings.workers == 64 and settings.records_interval == 0.5
        assert settings.aws_rate_limit == 20 and settings.aws_rate_burst == 300
