"""Secrets: sentinel passwords in every secret source (Kubernetes Secrets and Secrets
Manager, for the master and for users, JSON and plain text), run through success and every
kind of failure; no sentinel, nor its base64, URL-encoded or JSON-escaped form, appears in
the logs (the operator's own setup, at DEBUG), events, status, audit items, state items, SNS
messages or the Prometheus metrics. The operator-process variant is in
process/test_secrets_process.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import generate_latest

from aurora_restore.api.status import ErrorType
from aurora_restore.driver import Driver
from aurora_restore.k8s import metrics
from aurora_restore.logs import setup
from aurora_restore.pipeline.errors import PortError
from aurora_restore.pipeline.ports import DbEndpoint, DbUserSpec
from aurora_restore_sandbox.postgres import PostgresSandbox
from support.world import SOURCE, World

from .helpers import (
    APP_K8S,
    AUDITOR_SM,
    MASTER_K8S,
    MASTER_SM,
    REPORTING_SM,
    Inject,
    assert_no_secret,
    events_of,
    run_ticks,
)


@pytest.fixture
def sentinel_world(world: World, postgres: PostgresSandbox) -> World:
    world.env["AURORA_RESTORE_DB_ENDPOINT_OVERRIDE"] = f"{postgres.host}:{postgres.port}"
    world.env["AURORA_RESTORE_DB_SSLMODE"] = "disable"
    world.kube.secrets.update(
        {"staging-master": {"password": MASTER_K8S}, "app-db": {"password": APP_K8S}}
    )
    world.kube.config_maps["mask-pii"] = {
        "mask.sql": "UPDATE public.customers SET email = 'masked-' || id || '@example.com';"
    }
    sm = world.client("secretsmanager", SOURCE)  # the target region of spec()
    ours = [{"Key": "dbrestore.io/namespace", "Value": "databases"}]
    sm.create_secret(
        Name="staging-master-sm", SecretString=json.dumps({"password": MASTER_SM}), Tags=ours
    )
    sm.create_secret(
        Name="reporting",
        SecretString=json.dumps({"username": "reporting", "password": REPORTING_SM}),
        Tags=ours,
    )
    sm.create_secret(Name="auditor", SecretString=AUDITOR_SM, Tags=ours)
    return world


def spec(world: World, master: str = "k8s") -> dict[str, Any]:
    return {
        "source": {"region": "us-east-1", "snapshotIdentifier": "prod-manual-1"},
        "target": {"region": "us-east-1", "clusterIdentifier": "staging"},
        "masterPassword": (
            {"secretRef": {"name": "staging-master"}}
            if master == "k8s"
            else {"secretsManagerSecretId": "staging-master-sm"}
        ),
        "users": [
            {
                "name": "app",
                "passwordSecretRef": {"name": "app-db"},
                "privileges": "readwrite",
                "databases": ["app"],
            },
            {
                "name": "reporting",
                "passwordSecretsManagerSecretId": "reporting",
                "privileges": "readonly",
            },
            {"name": "auditor", "passwordSecretsManagerSecretId": "auditor"},
        ],
        "sql": [{"configMapRef": {"name": "mask-pii", "key": "mask.sql"}, "database": "app"}],
        "connectionSecret": {"name": "staging-db", "database": "app"},
        "notification": {"snsTopicArn": world.topic_arn},
    }


class EchoingDatabase:
    """A database adapter whose errors quote the passwords it was given (the engine must
    scrub them anyway: defence in depth)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        return self.inner.endpoint(host, port)

    def check_master(self, endpoint: DbEndpoint) -> str:
        return str(self.inner.check_master(endpoint))

    def setup_users(self, endpoint: DbEndpoint, users: Sequence[DbUserSpec]) -> list[str]:
        raise PortError(
            ErrorType.DatabaseError,
            f"could not set {', '.join(u.password for u in users)} for {endpoint.password}",
            "SqlFailed",
        )

    def run_sql(self, endpoint: DbEndpoint, name: str, database: str, text: str) -> None:
        self.inner.run_sql(endpoint, name, database, text)


# scenario -> (expected phase, expected error code)
SCENARIOS: dict[str, tuple[str, str | None]] = {
    "completed-kubernetes-master": ("Completed", None),
    "completed-secrets-manager-master": ("Completed", None),
    "wrong-master-password": ("Failed", "AuthenticationFailed"),
    "failing-sql": ("Failed", "SqlFailed"),
    "aws-error-echoes-the-password": ("Failed", "InvalidParameterValue"),
    "database-error-echoes-passwords": ("Failed", "SqlFailed"),
    "database-unreachable-then-retried": ("Completed", None),
    "secrets-manager-denied": ("Failed", "AccessDeniedException"),
    "invalid-spec": ("Failed", "InvalidSpec"),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_sentinel_leaves_through_any_channel(
    sentinel_world: World,
    postgres: PostgresSandbox,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    scenario: str,
) -> None:
    world = sentinel_world
    postgres.set_master_password(MASTER_SM if "secrets-manager-master" in scenario else MASTER_K8S)
    doc = spec(world, "sm" if "secrets-manager-master" in scenario else "k8s")
    driver: Driver = world.driver()
    driver.clients.observers.append(metrics.observe_aws)
    injected: list[Inject] = []
    between = None
    if scenario == "wrong-master-password":
        postgres.set_master_password("what-the-database-really-has")
    elif scenario == "failing-sql":
        world.kube.config_maps["mask-pii"] = {"mask.sql": f"SELECT '{APP_K8S}'::int;"}
    elif scenario == "aws-error-echoes-the-password":
        injected.append(
            Inject(
                world.session,
                "rds",
                "ModifyDBCluster",
                "InvalidParameterValue",
                times=None,
                message=f"The parameter MasterUserPassword {MASTER_K8S} is not valid",
            )
        )
    elif scenario == "database-error-echoes-passwords":
        driver.database = EchoingDatabase(driver.database)
    elif scenario == "database-unreachable-then-retried":
        real = driver.database.override  # type: ignore[attr-defined]
        driver.database.override = ("127.0.0.1", 1)  # type: ignore[attr-defined]
        tries: list[int] = []

        def between(d: Driver, status: dict[str, Any]) -> None:
            if "cannot connect" in str(status.get("message")):
                tries.append(1)
            if len(tries) >= 2:
                d.database.override = real  # type: ignore[attr-defined]

    elif scenario == "secrets-manager-denied":
        injected.append(
            Inject(
                world.session,
                "secretsmanager",
                "GetSecretValue",
                "AccessDeniedException",
                400,
                times=None,
            )
        )
    elif scenario == "invalid-spec":
        doc["users"][0]["name"] = "app; DROP ROLE postgres"

    # The operator's own logging setup, at its most verbose.
    setup("DEBUG", "json")
    caplog.set_level(logging.DEBUG)
    try:
        status, ticks = run_ticks(world, doc, between, driver)
    finally:
        for inject in injected:
            inject.remove()
        logging.getLogger().handlers[:] = [
            h for h in logging.getLogger().handlers if h.get_name() != "aurora-restore"
        ]
    phase, code = SCENARIOS[scenario]
    assert status["phase"] == phase, status.get("error")
    assert (status.get("error") or {}).get("code") == code
    if "echoes" in scenario:
        assert "***" in status["error"]["message"]  # it was there, and was scrubbed
    if phase == "Completed":
        # The one place the master password belongs: the connection Secret.
        assert world.kube.written["staging-db"]["password"] in (MASTER_K8S, MASTER_SM)

    state = world.client("dynamodb").get_item(
        TableName="aurora-restore-state", Key={"operation_id": {"S": status["operationId"]}}
    )["Item"]
    channels = {
        "status": json.dumps([t.status.to_dict() for t in ticks]),
        "events": json.dumps(events_of(ticks)),
        "audit": json.dumps(world.audit(status["operationId"]), default=str),
        "state": json.dumps(state),
        "sns": json.dumps(world.sns_messages()),
        "metrics": generate_latest().decode(),
        "logs": caplog.text + capsys.readouterr().err,
    }
    for name, text in channels.items():
        assert text or name in ("logs", "sns"), name
        try:
            assert_no_secret(text)
        except AssertionError as exc:
            raise AssertionError(f"a secret reached the {name}: {exc}") from None
    # The checks look at real content.
    assert "staging" in channels["audit"] and "operationId" in channels["status"]
    assert "aurora_restore_aws_calls_total" in channels["metrics"]
