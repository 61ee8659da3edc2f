"""The one harness that starts the operator as a child process: its environment keeps
nothing that could point the operator at a real account or cluster, and a start that fails
says why (the end of the operator's log), rather than waiting out a timeout."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from aurora_restore_sandbox.harness import OperatorProcess, StartError, free_port, operator_env


def test_the_environment_inherits_nothing_that_points_somewhere_real(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AURORA_RESTORE_SSM_PREFIX", "/prod/aurora-restore")
    monkeypatch.setenv("KUBECONFIG", "/home/someone/.kube/prod")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = operator_env(
        kubeconfig=tmp_path / "kubeconfig",
        aws_endpoint="http://127.0.0.1:5000",
        region="eu-west-1",
        db_endpoint="127.0.0.1:5432",
        settings={"AURORA_RESTORE_LOG_LEVEL": "DEBUG", "AURORA_RESTORE_DB_SSLMODE": "require"},
        inherit=True,
    )
    assert "AWS_PROFILE" not in env and "AURORA_RESTORE_SSM_PREFIX" not in env
    assert env["KUBECONFIG"] == str(tmp_path / "kubeconfig")
    assert env["LANG"] == "C.UTF-8"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AURORA_RESTORE_DB_ENDPOINT_OVERRIDE"] == "127.0.0.1:5432"
    # The caller's settings come last.
    assert env["AURORA_RESTORE_LOG_LEVEL"] == "DEBUG"
    assert env["AURORA_RESTORE_DB_SSLMODE"] == "require"
    assert int(env["AURORA_RESTORE_METRICS_PORT"]) > 0


def test_without_inherit_only_path_and_home_come_from_outside(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = operator_env(
        kubeconfig=tmp_path / "kubeconfig",
        aws_endpoint="http://127.0.0.1:5000",
        region="us-east-1",
        metrics_port=18080,
        home=tmp_path,
    )
    assert "LANG" not in env
    assert env["HOME"] == str(tmp_path)
    assert env["AURORA_RESTORE_METRICS_PORT"] == "18080"
    assert "AURORA_RESTORE_DB_ENDPOINT_OVERRIDE" not in env


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_start_that_fails_says_why_at_once(tmp_path: Path) -> None:
    env = operator_env(
        kubeconfig=tmp_path / "missing-kubeconfig",
        aws_endpoint="http://127.0.0.1:9",
        region="us-east-1",
        home=tmp_path,
        settings={"AURORA_RESTORE_POLL_INTERVAL": "bogus"},
    )
    operator = OperatorProcess(env, tmp_path / "operator.log", start_timeout=60)
    began = time.monotonic()
    with pytest.raises(StartError, match="exited at startup") as failed:
        operator.start()
    assert "AURORA_RESTORE_POLL_INTERVAL" in str(failed.value)
    assert time.monotonic() - began < 50
    assert operator.exited() and not operator.alive() and operator.starts == 1
    operator.stop()  # a no-op on an exited process
