"""Operator settings: environment first, then an SSM Parameter Store path shared by a fleet."""

from __future__ import annotations

import pytest

from aurora_restore.cli import load_settings
from aurora_restore.settings import SettingsError, load
from aurora_restore_sandbox.aws import AwsSandbox


def test_defaults_follow_the_design() -> None:
    s = load({})
    assert (s.state_table, s.audit_table, s.create_tables) == (
        "aurora-restore-state",
        "aurora-restore-audit",
        False,
    )
    assert (s.sns_topic_arn, s.metrics_namespace, s.poll_interval) == (None, "AuroraRestore", "30s")
    assert (s.replace_allowed, s.ssm_path, s.metrics_port) == ((), None, 8080)


def test_ssm_parameters_fill_in_and_the_environment_wins(
    aws: AwsSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssm = aws.client("ssm", "us-east-1")
    ssm.put_parameter(Name="/aurora-restore/POLL_INTERVAL", Value="45s", Type="String")
    ssm.put_parameter(Name="/aurora-restore/STATE_TABLE", Value="fleet-state", Type="String")
    ssm.put_parameter(
        Name="/aurora-restore/REPLACE_ALLOWED", Value="qa-*,staging-*", Type="SecureString"
    )
    monkeypatch.setenv("AURORA_RESTORE_SSM_PATH", "/aurora-restore")
    monkeypatch.setenv("AURORA_RESTORE_POLL_INTERVAL", "10s")
    settings = load_settings()
    assert settings.state_table == "fleet-state"
    assert settings.replace_allowed == ("qa-*", "staging-*")
    assert settings.poll_interval == "10s"


def test_a_bad_setting_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="AURORA_RESTORE_POLL_INTERVAL"):
        load({"AURORA_RESTORE_POLL_INTERVAL": "soon"})
    with pytest.raises(SettingsError, match="AURORA_RESTORE_SNS_TOPIC_ARN"):
        load({"AURORA_RESTORE_SNS_TOPIC_ARN": "my-topic"})


@pytest.mark.parametrize(
    ("env", "attribute", "seconds"),
    [
        ({"AURORA_RESTORE_POLL_INTERVAL": "500ms"}, "poll_seconds", 0.5),
        ({"AURORA_RESTORE_POLL_INTERVAL": "1m30s"}, "poll_seconds", 90.0),
        ({"AURORA_RESTORE_POLL_FLOOR": "1.5s"}, "poll_floor_seconds", 1.5),
        ({"AURORA_RESTORE_AWS_BATCH_WINDOW": "1m"}, "aws_batch_window", 60.0),
        ({"AURORA_RESTORE_AWS_BATCH_WINDOW": "20ms"}, "aws_batch_window", 0.02),
        ({"AURORA_RESTORE_AWS_BATCH_WINDOW": "0.5"}, "aws_batch_window", 0.5),
        ({"AURORA_RESTORE_AWS_CACHE_TTL": "250ms"}, "aws_cache_ttl", 0.25),
    ],
)
def test_durations_share_the_spec_grammar(env: dict, attribute: str, seconds: float) -> None:
    assert getattr(load(env), attribute) == seconds


@pytest.mark.parametrize(
    ("name", "value"),
    [("POLL_INTERVAL", "0s"), ("POLL_INTERVAL", "1d"), ("AWS_BATCH_WINDOW", "soon"),
     ("AWS_BATCH_WINDOW", "-1s"), ("POLL_FLOOR", "2 s")],
)  # fmt: skip
def test_bad_durations_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"AURORA_RESTORE_{name}"):
        load({f"AURORA_RESTORE_{name}": value})


def test_every_setting_is_in_the_readme_table() -> None:
    """README's settings table is the user's reference: every field of the settings there
    (the region comes from AWS_REGION, its own row), and no row for a setting that is gone."""
    import re
    from pathlib import Path

    from aurora_restore.settings import PREFIX, Settings

    text = (Path(__file__).parents[2] / "README.md").read_text()
    documented = set(re.findall(rf"^\| `{PREFIX}([A-Z0-9_]+)` \|", text, flags=re.M))
    fields = {name.upper() for name in Settings.model_fields} - {"REGION"}
    assert "| `AWS_REGION` / `AWS_DEFAULT_REGION` |" in text
    assert sorted(fields - documented) == [] and sorted(documented - fields) == []
