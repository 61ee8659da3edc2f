"""Operator settings from the environment (prefix ``AURORA_RESTORE_``), which the Helm
chart's values map onto. Settings may also come from an SSM Parameter Store path shared by
a fleet of clusters; the environment wins over SSM."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from .api.rules import SNS_TOPIC_ARN, parse_duration

PREFIX = "AURORA_RESTORE_"


def _seconds(value: str) -> str:
    if parse_duration(value).total_seconds() <= 0:
        raise ValueError(f"must be a positive duration such as 30s, 2m or 500ms (got {value!r})")
    return value


def _fine_seconds(value: object) -> object:
    """Sub-second settings: a duration (``500ms``, ``2s``, ``1m``) or plain seconds (``0.5``)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return parse_duration(text).total_seconds()
        except ValueError:
            raise ValueError(
                f"must be a duration such as 500ms, 2s or 1m, or seconds such as 0.5 "
                f"(got {value!r})"
            ) from None
    return value


FineSeconds = Annotated[float, BeforeValidator(_fine_seconds), Field(ge=0)]


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    state_table: str = "aurora-restore-state"
    audit_table: str = "aurora-restore-audit"
    create_tables: bool = False
    sns_topic_arn: str | None = None
    metrics_namespace: str = "AuroraRestore"
    poll_interval: Annotated[str, AfterValidator(_seconds)] = "30s"
    # Never poll AWS faster than this, even right after starting an operation.
    poll_floor: Annotated[str, AfterValidator(_seconds)] = "2s"
    # While AWS works, look again after this fraction of the time already waited in the step
    # (a copy reporting progress: when it should be done), between POLL_FLOOR and
    # POLL_INTERVAL. 0 looks again at POLL_FLOOR every time.
    poll_backoff: float = Field(0.25, ge=0, le=10)
    # Status checks of all restores in a region share one Describe per kind (filters with
    # lists of identifiers) and a short-lived cache; off means one Describe per check.
    aws_batching: bool = True
    # How long a batched answer is reused; unset means half of POLL_FLOOR.
    aws_cache_ttl: FineSeconds | None = None
    # How long the first check waits for others to join its Describe.
    aws_batch_window: FineSeconds = 0.02
    # Client-side budget for RDS calls, per region: calls per second (0: no limit) and burst.
    # AWS allows an account 12 calls/s per region with bursts of 300, shared with everyone
    # else; the operator stays below. A Throttling answer halves the rate (and makes shared
    # status checks less frequent); it then recovers over a minute.
    aws_rate_limit: float = Field(10.0, ge=0)
    aws_rate_burst: int = Field(200, ge=1)
    # Threads for the blocking calls (AWS, PostgreSQL, Kubernetes) of all restores; they
    # mostly wait on the network, so many more than the CPUs.
    workers: int = Field(32, ge=1, le=512)
    # How long the records writer lets audit, state and metric records gather before it
    # writes them in batches (aws/record_writer.py): fewer calls, records a moment later.
    records_interval: FineSeconds = 1.0
    replace_allowed: tuple[str, ...] = ()
    # Glob patterns of the roles in other accounts that source.roleArn may name.
    source_role_arns: tuple[str, ...] = ()
    ssm_path: str | None = None
    metrics_port: int = Field(8080, ge=0, le=65535)
    # All interfaces in a pod (the kubelet probes it); 127.0.0.1 for local runs and tests.
    metrics_host: str = "0.0.0.0"
    namespaces: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_format: str = "json"
    db_sslmode: str = "require"
    # host:port to connect to instead of every cluster endpoint: a tunnel, or a local
    # stand-in in tests and the demo.
    db_endpoint_override: str | None = None
    region: str = "us-east-1"
    max_retries: int = Field(8, ge=0, le=100)
    # A run holds a lease on its target cluster identifier (pipeline/tenancy.py) and renews
    # it at least every third of this; another run takes over only after it expired, so
    # this is how long a target stays blocked after its operator died.
    lease_duration: Annotated[str, AfterValidator(_seconds)] = "5m"
    history_limit: int = Field(5, ge=0, le=50)

    @field_validator("replace_allowed", "source_role_arns", "namespaces", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("sns_topic_arn", "ssm_path", "db_endpoint_override", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("sns_topic_arn")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is not None and not SNS_TOPIC_ARN.match(value):
            raise ValueError(f"must be an SNS topic ARN (got {value!r})")
        return value

    @field_validator("log_format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value not in ("json", "text"):
            raise ValueError("must be json or text")
        return value

    @field_validator("db_sslmode")
    @classmethod
    def _sslmode(cls, value: str) -> str:
        allowed = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    @property
    def poll_seconds(self) -> float:
        return parse_duration(self.poll_interval).total_seconds()

    @property
    def lease_seconds(self) -> float:
        return parse_duration(self.lease_duration).total_seconds()

    @property
    def poll_floor_seconds(self) -> float:
        return parse_duration(self.poll_floor).total_seconds()

    @property
    def cache_ttl_seconds(self) -> float:
        if self.aws_cache_ttl is not None:
            return self.aws_cache_ttl
        return min(self.poll_floor_seconds, self.poll_seconds) / 2


class SettingsError(ValueError):
    pass


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    values = {k[len(PREFIX) :].lower(): v for k, v in env.items() if k.startswith(PREFIX)}
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region and "region" not in values:
        values["region"] = region
    return values


SsmLoader = Callable[[str], Mapping[str, str]]


def load(env: Mapping[str, str] | None = None, ssm: SsmLoader | None = None) -> Settings:
    """Read settings; ``ssm`` loads ``{name: value}`` under a path (see aws.ssm)."""
    env = os.environ if env is None else env
    values: dict[str, str] = _from_env(env)
    path = values.get("ssm_path")
    if path and ssm is not None:
        shared = {k.lower().replace("-", "_"): v for k, v in ssm(path).items()}
        values = {**shared, **values}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = [
            f"{PREFIX}{'.'.join(str(p) for p in e['loc']).upper()}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        raise SettingsError("; ".join(problems)) from None
