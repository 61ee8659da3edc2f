"""The ``aurora-restore`` command.

aurora-restore run -f restore.yaml [--output json]   one restore, in this process
aurora-restore operator [--namespace NS ...]          the Kubernetes operator
aurora-restore demo                                   a whole restore on local stand-ins
aurora-restore sandbox                                the stand-ins, for your own tries
aurora-restore status|history|rerun NAME              everyday commands (kubectl.py), also
aurora-restore run-now|suspend|resume SCHEDULE        as ``kubectl aurorarestore ...``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .api.names import API_VERSION, COMPONENT, GROUP, RESTORE_KIND
from .settings import Settings, SettingsError, load

log = logging.getLogger("aurora_restore")

EXIT_COMPLETED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def load_settings() -> Settings:
    """Settings from the environment, plus SSM Parameter Store when SSM_PATH is set."""
    from .aws.clients import Clients
    from .aws.ssm import parameters

    def ssm(path: str) -> dict[str, str]:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return parameters(Clients(), region, path)

    return load(ssm=ssm)


def read_restore(path: str) -> dict[str, Any]:
    """The AuroraRestore document of a file (which may hold Secrets and ConfigMaps too)."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    restores = [d for d in docs if d.get("kind") == RESTORE_KIND]
    if len(restores) != 1:
        raise ValueError(f"{path} must hold exactly one AuroraRestore (found {len(restores)})")
    doc = restores[0]
    if not str(doc.get("apiVersion", "")).startswith(f"{GROUP}/"):
        raise ValueError(f"{path}: apiVersion must be {API_VERSION}")
    return doc


def kube_api_client(pool_size: int | None = None) -> Any | None:
    """In-cluster configuration, then KUBECONFIG / ~/.kube/config; None without either.

    ``pool_size``: connections kept to the API server. The operator passes its worker
    count: every tick may read a Secret or write one from its own thread, and urllib3's
    default (4) would open and drop a connection per call ("Connection pool is full")."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except (config.ConfigException, FileNotFoundError, TypeError):
            return None
    configuration = client.Configuration.get_default_copy()
    if pool_size:
        configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


def check_startup(settings: Settings) -> None:
    """A missing table or topic is a clear error now, not a surprise mid-restore."""
    from .aws.clients import Clients
    from .aws.notify import SnsNotifier
    from .aws.records import Records

    clients = Clients()
    Records(
        clients,
        settings.region,
        settings.state_table,
        settings.audit_table,
        settings.metrics_namespace,
    ).check_tables(settings.create_tables)
    # The status-signing key (pipeline/guards.py) exists before the first run starts, so a
    # later DynamoDB outage delays records, not restores.
    from .aws.leases import DynamoLeases

    DynamoLeases(
        clients, settings.region, settings.state_table, settings.lease_seconds
    ).signing_key()
    if settings.sns_topic_arn:
        SnsNotifier(clients).check_topic(settings.sns_topic_arn)


def cmd_run(args: argparse.Namespace) -> int:
    from .api.restore import SpecError, validate_spec
    from .driver import Driver, Resource
    from .k8s.objects import KubeObjects, NoKubernetes
    from .pipeline.errors import PortError

    try:
        doc = read_restore(args.file)
        validate_spec(doc.get("spec"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        problems = exc.problems if isinstance(exc, SpecError) else [str(exc)]
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = load_settings()
        check_startup(settings)
    except (SettingsError, PortError) as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return EXIT_USAGE
    meta = doc.get("metadata") or {}
    namespace = args.namespace or meta.get("namespace") or "default"
    api = kube_api_client()
    kube = KubeObjects(api, namespace) if api else NoKubernetes()
    driver = Driver(settings)
    status: dict[str, Any] | None = None
    last_line = ""
    name = meta.get("name", "restore")
    # Each invocation is a new run, so it gets its own operation id.
    uid = f"cli/{namespace}/{name}/{time.time_ns()}"
    while True:
        tick = driver.tick(Resource(name, namespace, uid, 1, doc["spec"], status), kube)
        status = tick.status.to_dict()
        if tick.requeue_after is None:
            break
        line = _progress_line(status)
        # A finished run's last line is printed once, below.
        if line != last_line and args.output != "json" and not tick.status.phase.finished:
            print(line, flush=True)
        last_line = line
        time.sleep(max(tick.requeue_after, 0.2))
    assert status is not None
    status.pop("runSpec", None)
    if args.output == "json":
        print(json.dumps(status))
    else:
        print(f"{status['phase']}: {status.get('message', '')}")
    return EXIT_COMPLETED if status["phase"] == "Completed" else EXIT_FAILED


def _progress_line(status: dict[str, Any]) -> str:
    running = next((s for s in status.get("steps", []) if s["state"] == "Running"), None)
    step = f" [{running['name']}]" if running else ""
    copy = status.get("copy") or {}
    pct = f" {copy.get('percentProgress', 0)}%" if status["phase"] == "CopyingSnapshot" else ""
    return f"{status['phase']}{step}{pct}: {status.get('message', '')}"


def cmd_operator(args: argparse.Namespace) -> int:
    import kopf

    from .driver import Driver
    from .k8s import (
        handlers,
        schedules,  # noqa: F401  (importing registers the schedule handlers)
    )
    from .logs import setup
    from .pipeline.errors import PortError

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup(settings.log_level, settings.log_format)
    try:
        check_startup(settings)
    except PortError as exc:
        log.error("startup check failed: %s", exc.message)
        return EXIT_FAILED
    api = kube_api_client(settings.workers)
    if api is None:
        log.error("no Kubernetes configuration: not in a cluster and no kubeconfig")
        return EXIT_USAGE
    namespaces = tuple(args.namespace or ()) or settings.namespaces
    if args.all_namespaces:
        namespaces = ()
    driver = Driver(settings)
    # Records are written by a thread of their own, not inside the restores' ticks.
    driver.writer.start()
    handlers.configure(handlers.Runtime(settings=settings, driver=driver, api_client=api))
    log.info(
        "%s %s watching %s",
        COMPONENT,
        __version__,
        ", ".join(namespaces) if namespaces else "all namespaces",
    )
    try:
        kopf.run(
            standalone=True,
            clusterwide=not namespaces,
            namespaces=namespaces,
        )
    finally:
        # A clean shutdown writes what is queued (a crash is covered by re-derivation).
        driver.writer.stop()
    return EXIT_COMPLETED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aurora-restore",
        description="Restore AWS Aurora PostgreSQL clusters from snapshots.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one restore from a file, in this process")
    run.add_argument("-f", "--file", required=True, help="an AuroraRestore manifest, or -")
    run.add_argument("-n", "--namespace", help="namespace for Secret and ConfigMap references")
    run.add_argument("--output", choices=("text", "json"), default="text")
    run.set_defaults(func=cmd_run)

    op = sub.add_parser("operator", help="run the Kubernetes operator")
    group = op.add_mutually_exclusive_group()
    group.add_argument("--namespace", action="append", help="watch this namespace (repeatable)")
    group.add_argument("--all-namespaces", action="store_true", help="watch every namespace")
    op.set_defaults(func=cmd_operator)

    from . import kubectl

    kubectl.add_commands(sub)

    try:
        from aurora_restore_sandbox import cli as sandbox_cli
    except ImportError as exc:  # the stand-ins are a distribution of their own
        for name in SANDBOX_COMMANDS:
            stub = sub.add_parser(name, help=SANDBOX_HINT)
            stub.set_defaults(func=lambda args, why=str(exc): _without_sandbox(args.command, why))
    else:
        sandbox_cli.add_commands(sub)
    return parser


SANDBOX_COMMANDS = ("demo", "sandbox")
SANDBOX_HINT = (
    "needs the local stand-ins: pip install -e ./sandbox in a clone of the repository "
    "(make setup does it)"
)


def _without_sandbox(command: str, why: str) -> int:
    print(f"aurora-restore {command} {SANDBOX_HINT} ({why})", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SANDBOX_COMMANDS:
        # Before parsing: without the stand-ins their flags are unknown, and the one line
        # saying how to install them is more use than a usage error.
        try:
            import aurora_restore_sandbox  # noqa: F401
        except ImportError as exc:
            return _without_sandbox(argv[0], str(exc))
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        from .logs import setup

        setup(os.environ.get("AURORA_RESTORE_LOG_LEVEL", "WARNING"), "text")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
