"""The real adapters behind the pipeline's ports and the records, and the settings the
pipeline sees.

Built once per operator (``Adapters``, which ``Driver`` extends); ``ports`` hands a tick
the ones of a resource's namespace. Tests replace an adapter by assigning the attribute.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .api.restore import ConfigMapKeyRef, SecretKeyRef
from .aws.checks import PreflightChecks
from .aws.clients import Clients
from .aws.leases import DynamoLeases
from .aws.network import NetworkAdapter
from .aws.notify import SnsNotifier
from .aws.rds import RdsAdapter, RdsTuning
from .aws.records import Records
from .aws.secrets import SecretsManagerReader
from .aws.source import SourceAccountsAdapter
from .db.port import PostgresDatabase
from .pipeline.context import PipelineConfig
from .pipeline.ports import Database, Ports
from .settings import Settings


class KubeSource(Protocol):
    def kubernetes_secret(self, ref: SecretKeyRef) -> str: ...

    def config_map(self, ref: ConfigMapKeyRef) -> str: ...

    def write_connection_secret(self, name: str, data: Mapping[str, str]) -> None: ...


@dataclass
class SecretSources:
    """The Secrets port: Kubernetes objects of the resource's namespace, or Secrets Manager."""

    kube: KubeSource
    manager: SecretsManagerReader
    # The resource's namespace: a Secrets Manager secret is read only if tagged for it.
    namespace: str

    def kubernetes_secret(self, ref: SecretKeyRef) -> str:
        return self.kube.kubernetes_secret(ref)

    def secrets_manager(self, region: str, secret_id: str) -> str:
        return self.manager.password(region, secret_id, self.namespace)

    def config_map(self, ref: ConfigMapKeyRef) -> str:
        return self.kube.config_map(ref)

    def write_connection_secret(self, name: str, data: Mapping[str, str]) -> None:
        self.kube.write_connection_secret(name, data)


def pipeline_config(settings: Settings) -> PipelineConfig:
    """The settings the pipeline's decisions depend on."""
    return PipelineConfig(
        replace_allowed=settings.replace_allowed,
        source_role_arns=settings.source_role_arns,
        default_topic_arn=settings.sns_topic_arn,
        poll_interval=settings.poll_seconds,
        poll_floor=settings.poll_floor_seconds,
        poll_backoff=settings.poll_backoff,
        max_retries=settings.max_retries,
        history_limit=settings.history_limit,
    )


class Adapters:
    def __init__(
        self,
        settings: Settings,
        clients: Clients | None = None,
        database: Database | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self.clients = clients or Clients(workers=settings.workers)
        self.rds = RdsAdapter(
            self.clients, RdsTuning.from_settings(settings), lambda: self.clock().timestamp()
        )
        self.network = NetworkAdapter(self.clients)
        self.checks = PreflightChecks(self.clients, self.rds)
        self.source_accounts = SourceAccountsAdapter(self.clients)
        self.notifier = SnsNotifier(self.clients)
        self.secrets_manager = SecretsManagerReader(self.clients)
        self.database = database or PostgresDatabase(
            settings.db_sslmode, settings.db_endpoint_override
        )
        self.leases = DynamoLeases(
            self.clients, settings.region, settings.state_table, settings.lease_seconds
        )
        self.records = Records(
            self.clients,
            settings.region,
            settings.state_table,
            settings.audit_table,
            settings.metrics_namespace,
        )
        self.clock = clock
        self.config = pipeline_config(settings)

    def ports(self, kube: KubeSource, namespace: str) -> Ports:
        return Ports(
            rds=self.rds,
            network=self.network,
            secrets=SecretSources(kube, self.secrets_manager, namespace),
            database=self.database,
            notifier=self.notifier,
            leases=self.leases,
            checks=self.checks,
            source_accounts=self.source_accounts,
        )
