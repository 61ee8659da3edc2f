"""Secrets, operator process: sentinel passwords in Kubernetes Secrets (read through the API)
and Secrets Manager; the operator logs at DEBUG. After a restore that reads them all,
creates users, runs SQL and writes the connection Secret, no sentinel (nor its base64,
URL-encoded or JSON-escaped form) is in the operator's log, the events, the status, the
audit and state items, the SNS message or /metrics."""

from __future__ import annotations

import json
import urllib.request

import pytest

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.postgres import PostgresSandbox
from support.cluster import (
    TARGET,
    AwsWorld,
    Cluster,
    Operator,
    master_password,
    wait_finished,
)

from ..helpers import assert_no_secret

pytestmark = pytest.mark.e2e

MASTER = "ProcMaster-S3ntinel-4b1e"
APP = "ProcApp'S3ntinel%9c2f"
REPORTING = "ProcReporting-S3ntinel-0d7a"


def test_no_sentinel_in_the_operator_process_channels(
    aws: AwsSandbox,
    aws_world: AwsWorld,
    postgres: PostgresSandbox | None,
    operator: Operator,
    cluster: Cluster,
) -> None:
    master_password(postgres, cluster, MASTER)
    cluster.secret("app-db", {"password": APP})
    aws.client("secretsmanager", TARGET).create_secret(
        Name="reporting",
        SecretString=json.dumps({"password": REPORTING}),
        Tags=[{"Key": "dbrestore.io/namespace", "Value": "databases"}],
    )
    cluster.config_map("mask-pii", {"mask.sql": "UPDATE public.customers SET full_name = 'x';"})
    spec = {
        "source": {"region": "us-east-1", "snapshotIdentifier": "prod-manual-1"},
        "copy": {"kmsKeyId": "alias/staging"},
        "target": {"region": TARGET, "clusterIdentifier": "secrets-test"},
        "masterPassword": {"secretRef": {"name": "staging-master"}},
        "users": [
            {"name": "app", "passwordSecretRef": {"name": "app-db"}, "privileges": "owner"},
            {"name": "reporting", "passwordSecretsManagerSecretId": "reporting"},
        ],
        "sql": [{"configMapRef": {"name": "mask-pii", "key": "mask.sql"}, "database": "app"}],
        "connectionSecret": {"name": "secrets-test-db", "database": "app"},
        "notification": {"snsTopicArn": aws_world.topic_arn},
    }
    cluster.apply_restore("secrets-test", spec)
    obj = wait_finished(cluster, "secrets-test")
    status = obj["status"]
    assert status["phase"] == "Completed", (status.get("error"), operator.logs()[-3000:])
    # The connection Secret holds the password: the positive control.
    written = cluster.core.read_namespaced_secret("secrets-test-db", cluster.namespace)
    assert "password" in written.data
    metrics = (
        urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    op = status["operationId"]
    channels = {
        "operator log (DEBUG)": operator.logs(),
        "events": json.dumps([e.message for e in cluster.events("secrets-test")]),
        "status": json.dumps(obj),
        "audit": json.dumps(aws_world.audit(op), default=str),
        "state": json.dumps(aws_world.state(op), default=str),
        "sns": json.dumps(aws_world.sns_messages()),
        "metrics": metrics,
    }
    assert '"level": "DEBUG"' in channels["operator log (DEBUG)"]
    for name, text in channels.items():
        assert text, name
        try:
            assert_no_secret(text, (MASTER, APP, REPORTING))
        except AssertionError as exc:
            raise AssertionError(f"a secret reached the {name}: {exc}") from None
