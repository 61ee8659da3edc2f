"""All the local stand-ins plus the operator, started and stopped as one: what
``aurora-restore demo`` and ``aurora-restore sandbox`` run.

- AWS: :class:`~.aws.AwsSandbox` (moto with RDS in-progress states) in a thread, seeded by
  :func:`~.aws.seed_demo_data`, plus an SNS topic with an SQS queue subscribed to it so the
  notification can be read back;
- Kubernetes: :class:`~.kube.KubeSandbox` in a thread, with the CRDs of ``crds/``;
- PostgreSQL: :class:`~.postgres.PostgresSandbox` when its binaries are installed;
- the operator: ``python -m aurora_restore.cli operator --all-namespaces`` as a child
  process (:class:`~.harness.OperatorProcess`, as the tests and benchmarks start it), the
  same command as the container's, configured by environment variables only.

Everything listens on 127.0.0.1; nothing here can reach real AWS or a real cluster, because
the operator's environment is rebuilt from scratch rather than inherited.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from .aws import DEFAULT_ACCOUNT_ID, AwsSandbox, sandbox_client, seed_demo_data
from .harness import OperatorProcess, free_port, operator_env
from .harness import StartError as StackError
from .kube import KubeSandbox
from .postgres import PostgresSandbox, SandboxError

SOURCE_REGION = "us-east-1"
TARGET_REGION = "us-west-2"
TOPIC_NAME = "db-restores"
QUEUE_NAME = "db-restores-demo"
DEMO_NAMESPACE = "databases"
DEMO_DATABASE = "app"
DEMO_EXAMPLE = "demo-cross-region.yaml"
CRD_FILES = ("aurorarestores.dbrestore.io.yaml", "aurorarestoreschedules.dbrestore.io.yaml")


def repo_root() -> Path:
    """The checkout this package runs from (an editable install), else the working directory.

    The CRDs and the examples are files of the repository, not of the Python package.
    """
    here = Path(__file__).resolve()
    for candidate in (*here.parents, Path.cwd()):
        if (candidate / "crds" / CRD_FILES[0]).is_file():
            return candidate
    raise StackError(
        f"crds/{CRD_FILES[0]} not found: run this from a clone of aurora-restore-operator "
        "(the demo needs its crds/ and examples/ directories)"
    )


@dataclass(frozen=True)
class StackOptions:
    rds_delay: float
    """Seconds each RDS in-progress state (copying, creating, deleting) lasts."""
    poll_interval: str = "2s"
    poll_floor: str = "1s"
    postgres: bool = True
    """Start the throwaway PostgreSQL (when its binaries are installed)."""
    master_password: str | None = None
    """The throwaway PostgreSQL's superuser password: the restore resets the master password
    to its Secret's value, and then connects with it, so the two must agree."""


class Stack:
    """The stand-ins and the operator; use as a context manager (stops all on exit)."""

    def __init__(self, options: StackOptions, say: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.say = say or (lambda _line: None)
        self.root = repo_root()
        self.workdir = Path(tempfile.mkdtemp(prefix="aurora-restore-demo-"))
        self.aws = AwsSandbox(delay_seconds=0)
        self.kube = KubeSandbox(crds=[self.root / "crds" / name for name in CRD_FILES])
        self.postgres: PostgresSandbox | None = None
        self.postgres_error: str | None = None
        self.operator: OperatorProcess | None = None
        self.seeded: dict[str, Any] = {}
        self.topic_arn = ""
        self.queue_url = ""
        self.kubeconfig = self.workdir / "kubeconfig"
        self.metrics_port = free_port()

    @property
    def endpoint_url(self) -> str:
        return self.aws.endpoint_url

    @property
    def operator_log(self) -> Path:
        return self.workdir / "operator.log"

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        # initdb takes a few seconds: run it while moto imports and the data is seeded.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-start") as pool:
            pg_future = self._start_postgres(pool)
            self._start_aws()
            self._start_kube()
            if pg_future is not None:
                self._await_postgres(pg_future)
        self._start_operator()

    def _start_postgres(self, pool: ThreadPoolExecutor) -> Future[PostgresSandbox] | None:
        if not self.options.postgres or not PostgresSandbox.available():
            return None
        # Kept before it starts, so that stop() cleans up after a failure elsewhere.
        self.postgres = PostgresSandbox(
            master_password=self.options.master_password, databases=(DEMO_DATABASE,)
        )
        return pool.submit(self.postgres.start)

    def _await_postgres(self, future: Future[PostgresSandbox]) -> None:
        try:
            pg = future.result()
        except SandboxError as exc:
            # A broken local PostgreSQL should not spoil the rest: go on without it.
            self.postgres_error = str(exc).splitlines()[0]
            if self.postgres is not None:
                self.postgres.stop()
            self.postgres = None
            self.say(f"PostgreSQL      did not start ({self.postgres_error})")
            return
        self.say(f"PostgreSQL      {pg.host}:{pg.port}  stands in for the restored cluster")

    def _start_aws(self) -> None:
        url = self.aws.start()
        self.seeded = seed_demo_data(url, SOURCE_REGION, TARGET_REGION)
        # Set after seeding: seeded objects are history and must not be "creating".
        self.aws.set_delays(self.options.rds_delay)
        sns = sandbox_client(url, "sns", TARGET_REGION)
        sqs = sandbox_client(url, "sqs", TARGET_REGION)
        self.topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
        self.queue_url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        queue_arn = f"arn:aws:sqs:{TARGET_REGION}:{DEFAULT_ACCOUNT_ID}:{QUEUE_NAME}"
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        source, target = self.seeded["source"], self.seeded["target"]
        self.say(f"AWS (moto)      {url}  RDS phases take {self.options.rds_delay:g}s each")
        self.say(
            f"  {source['region']}: cluster {source['cluster']} (encrypted), automated "
            f"snapshots {', '.join(sorted(source['automated_snapshots']))}"
        )
        self.say(
            f"  {target['region']}: KMS {target['kms_alias']}, subnet group "
            f"{target['db_subnet_group']}, SNS topic {TOPIC_NAME} -> SQS queue {QUEUE_NAME}"
        )

    def _start_kube(self) -> None:
        url = self.kube.start()
        self.kube.create("namespaces", {"metadata": {"name": DEMO_NAMESPACE}})
        self.kube.write_kubeconfig(self.kubeconfig, namespace=DEMO_NAMESPACE)
        self.say(f"Kubernetes API  {url}  CRDs aurorarestores, aurorarestoreschedules")

    def operator_env(self) -> dict[str, str]:
        """Only what the operator needs: no AWS profile, SSM path or kubeconfig of the user's
        can leak in and point it at something real."""
        return operator_env(
            kubeconfig=self.kubeconfig,
            aws_endpoint=self.endpoint_url,
            region=SOURCE_REGION,
            metrics_port=self.metrics_port,
            # Every restored cluster's endpoint is reached at the throwaway PostgreSQL.
            db_endpoint=f"{self.postgres.host}:{self.postgres.port}" if self.postgres else None,
            settings={
                "AURORA_RESTORE_POLL_INTERVAL": self.options.poll_interval,
                "AURORA_RESTORE_POLL_FLOOR": self.options.poll_floor,
                "AURORA_RESTORE_LOG_FORMAT": "text",
                "AURORA_RESTORE_LOG_LEVEL": "INFO",
            },
            inherit=True,
        )

    def _start_operator(self) -> None:
        self.operator = OperatorProcess(
            self.operator_env(), self.operator_log, cwd=self.root, new_session=True
        )
        self.operator.start()
        self.say(
            f"operator        pid {self.operator.pid}, "
            f"metrics http://127.0.0.1:{self.metrics_port}/metrics, log {self.operator_log}"
        )

    def stop(self) -> None:
        """Operator first (so it does not log errors about vanished stand-ins), then the rest."""
        if self.operator is not None:
            self.operator.stop()
        self.kube.stop()
        self.aws.stop()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def api_client(self) -> Any:
        """An official Kubernetes client for the emulator, as kubectl would reach it."""
        import kubernetes

        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(
            config_file=str(self.kubeconfig), client_configuration=configuration
        )
        return kubernetes.client.ApiClient(configuration)

    def client(self, service: str, region: str = SOURCE_REGION) -> Any:
        return sandbox_client(self.endpoint_url, service, region)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a CI timeout) runs the same cleanup as Ctrl-C."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM (raised as KeyboardInterrupt by the handler above)."""
    while True:
        time.sleep(3600)
