"""Everyday commands, as ``aurora-restore <command>`` and as the kubectl plugin
``kubectl aurorarestore <command>`` (the console script ``kubectl-aurorarestore``):

status NAME [-o json]    a restore at a glance: phase, snapshot, copy, target, steps, events
history NAME             the runs of a restore, or of a schedule
rerun NAME               run a restore again (the dbrestore.io/rerun annotation)
run-now SCHEDULE         start a schedule's run now (dbrestore.io/run-now), per its policy
suspend|resume SCHEDULE  stop or start a schedule's runs (spec.suspend)

Everything goes through the user's kubeconfig (``--kubeconfig``, ``--context``, ``-n``, as
kubectl), so the user's own RBAC applies. An API error is one line (``not found``,
``forbidden``, ``cannot reach``) and a non-zero exit code, never a stack trace.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from . import __version__
from .api.names import (
    GROUP,
    RESTORE_PLURAL,
    RUN_NOW_ANNOTATION,
    SCHEDULE_LABEL,
    SCHEDULE_PLURAL,
    VERSION,
)
from .api.status import Phase
from .pipeline.context import parse_time

RESTORE_KIND, SCHEDULE_KIND = "aurorarestore", "aurorarestoreschedule"
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
EVENTS_SHOWN = 8

_COLORS = {"green": "32", "red": "31", "yellow": "33", "dim": "2", "bold": "1"}
_STATE_COLOR = {
    "Succeeded": "green",
    "Completed": "green",
    "True": "green",
    "Skipped": "dim",
    "Pending": "dim",
    "Running": "yellow",
    "Failed": "red",
    "Warning": "red",
}


class CommandError(Exception):
    """One line for the user, and the exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message, self.code = message, code


# --- the API --------------------------------------------------------------------------------


class Kube:
    """The two custom resources and events, through the user's kubeconfig."""

    def __init__(self, args: argparse.Namespace) -> None:
        from kubernetes import client, config

        try:
            config.load_kube_config(config_file=args.kubeconfig, context=args.context)
            contexts, active = config.list_kube_config_contexts(config_file=args.kubeconfig)
            if args.context:
                active = next((c for c in contexts if c["name"] == args.context), active)
            default_ns = (active or {}).get("context", {}).get("namespace")
        except (config.ConfigException, FileNotFoundError, TypeError, ValueError) as exc:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                raise CommandError(f"no usable kubeconfig: {exc}") from None
            default_ns = None
        self.api = client.ApiClient()
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.namespace: str = args.namespace or default_ns or "default"

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise CommandError(api_error(exc, what, self.namespace)) from None

    def get(self, plural: str, kind: str, name: str) -> dict[str, Any]:
        return self.call(
            f'{kind} "{name}"',
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            plural,
            name,
        )

    def find(self, plural: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist (other errors still raise)."""
        try:
            return self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise CommandError(api_error(exc, name, self.namespace)) from None

    def patch(self, plural: str, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.call(
            f'{kind} "{name}"',
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            plural,
            name,
            body,
        )

    def runs_of(self, schedule: str) -> list[dict[str, Any]]:
        found = self.call(
            RESTORE_PLURAL,
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            RESTORE_PLURAL,
            label_selector=f"{SCHEDULE_LABEL}={schedule}",
        )
        return list(found.get("items") or [])

    def events(self, name: str) -> list[dict[str, Any]]:
        """The object's events, oldest first; none when they may not be listed."""
        try:
            found = self.core.list_namespaced_event(
                self.namespace, field_selector=f"involvedObject.name={name}"
            )
        except Exception:
            return []  # events are a help; a user who may not list them still gets a status
        events = [self.api.sanitize_for_serialization(e) for e in found.items]
        events = [e for e in events if (e.get("involvedObject") or {}).get("name") == name]
        return sorted(events, key=_event_time)


def api_error(exc: Exception, what: str, namespace: str) -> str:
    """One line for an API error, in kubectl's words."""
    status = getattr(exc, "status", None)
    message = ""
    body = getattr(exc, "body", None)
    if body:
        try:
            message = json.loads(body).get("message") or ""
        except (ValueError, AttributeError):
            message = ""
    if status == 404:
        return f'{what} not found in namespace "{namespace}"'
    if status == 403:
        return f"forbidden: {message}" if message else f"forbidden: you may not access {what}"
    if status == 401:
        return "unauthorized: the kubeconfig's credentials were refused"
    if status:
        return f"{status} {getattr(exc, 'reason', '')}: {message or what}".strip()
    reason = getattr(exc, "reason", None) or exc
    return f"cannot reach the Kubernetes API: {str(reason).splitlines()[0][:300]}"


# --- formatting -----------------------------------------------------------------------------


class Out:
    """Text with colour only on a terminal (and never with NO_COLOR set)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.color = stream.isatty() and not os.environ.get("NO_COLOR")

    def paint(self, text: str, color: str | None) -> str:
        if not self.color or not color:
            return text
        return f"\033[{_COLORS[color]}m{text}\033[0m"

    def state(self, text: str) -> str:
        return self.paint(text, _STATE_COLOR.get(text))

    def line(self, text: str = "") -> None:
        print(text, file=self.stream)


def age(value: Any, now: dt.datetime) -> str:
    """kubectl's short ages: 45s, 12m, 3h, 2d."""
    moment = parse_time(value)
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def took(start: Any, end: Any, now: dt.datetime) -> str:
    began, ended = parse_time(start), parse_time(end) or now
    if began is None:
        return "-"
    seconds = max(0, int((ended - began).total_seconds()))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _event_time(event: Mapping[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or "")


def _table(out: Out, header: Sequence[str], rows: Sequence[Sequence[str]], paint: int = -1) -> None:
    """Columns as wide as their longest cell; the last column is never padded; column
    ``paint`` is coloured by its value."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    out.line(
        "  ".join([*(h.ljust(w) for h, w in zip(header[:-1], widths, strict=False)), header[-1]])
    )
    for row in rows:
        cells = []
        for i, cell in enumerate(row[:-1]):
            padded = cell.ljust(widths[i])
            cells.append(out.state(cell) + padded[len(cell) :] if i == paint else padded)
        out.line("  ".join([*cells, row[-1]]).rstrip())


def _condition(obj: Mapping[str, Any], type_: str) -> str | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return str(condition.get("status"))
    return None


def status_view(obj: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What ``status`` shows, as data (``-o json``): no runSpec, nothing secret (the status
    never holds a secret)."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    status = obj.get("status") or {}
    target = spec.get("target") or {}
    cluster = status.get("cluster") or {}
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "schedule": (meta.get("labels") or {}).get(SCHEDULE_LABEL),
        "phase": status.get("phase", Phase.Pending.value),
        "ready": _condition(obj, "Ready"),
        "message": status.get("message"),
        "operationId": status.get("operationId"),
        "startedAt": status.get("startedAt"),
        "completedAt": status.get("completedAt"),
        "snapshot": status.get("snapshot"),
        "copy": status.get("copy"),
        "target": {
            "clusterIdentifier": cluster.get("identifier") or target.get("clusterIdentifier"),
            "region": cluster.get("region") or target.get("region"),
            "status": cluster.get("status"),
            "endpoint": cluster.get("endpoint"),
            "readerEndpoint": cluster.get("readerEndpoint"),
            "port": cluster.get("port"),
            "instances": cluster.get("instances") or [],
        },
        "steps": status.get("steps") or [],
        "error": status.get("error"),
        "conditions": status.get("conditions") or [],
        "events": [
            {
                "type": e.get("type"),
                "reason": e.get("reason"),
                "message": e.get("message"),
                "count": e.get("count"),
                "lastTimestamp": _event_time(e) or None,
            }
            for e in events[-EVENTS_SHOWN:]
        ],
    }


def _bar(percent: int, width: int = 20) -> str:
    done = max(0, min(width, round(percent * width / 100)))
    return "[" + "#" * done + "." * (width - done) + f"] {percent}%"


def print_status(view: Mapping[str, Any], out: Out, now: dt.datetime) -> None:
    phase = str(view["phase"])
    title = f"{view['name']} ({view['namespace']})"
    ready = view.get("ready") or "Unknown"
    out.line(f"{out.paint(title, 'bold')}  {out.state(phase)}  Ready: {out.state(ready)}")
    if view.get("message"):
        out.line(f"  {view['message']}")
    rows: list[tuple[str, str]] = []
    if view.get("schedule"):
        rows.append(("Schedule", str(view["schedule"])))
    if view.get("operationId"):
        run = f"{view['operationId']}  started {view.get('startedAt') or '-'}"
        run += f" ({age(view.get('startedAt'), now)} ago)" if view.get("startedAt") else ""
        if view.get("completedAt"):
            run += f", ended {view['completedAt']}"
            run += f" after {took(view.get('startedAt'), view['completedAt'], now)}"
        rows.append(("Run", run))
    snapshot = view.get("snapshot") or {}
    if snapshot:
        parts = [snapshot.get("identifier", "?"), snapshot.get("region", "")]
        parts.append("encrypted" if snapshot.get("encrypted") else "not encrypted")
        if snapshot.get("createdAt"):
            parts.append(f"taken {snapshot['createdAt']}")
        rows.append(("Snapshot", "  ".join(p for p in parts if p)))
    copy = view.get("copy") or {}
    if copy:
        parts = [copy.get("identifier", "?"), copy.get("region", ""), copy.get("status") or ""]
        progress = _bar(int(copy.get("percentProgress") or 0))
        rows.append(("Copy", "  ".join(p for p in [*parts, progress] if p)))
    target = view["target"]
    where = f"{target.get('clusterIdentifier') or '?'}  {target.get('region') or ''}"
    if target.get("status"):
        where += f"  {target['status']}"
    rows.append(("Target", where))
    if target.get("endpoint"):
        port = f":{target['port']}" if target.get("port") else ""
        rows.append(("Endpoint", f"{target['endpoint']}{port}"))
    error = view.get("error")
    if error:
        code = f" ({error['code']})" if error.get("code") else ""
        text = f"{error.get('type')} in {error.get('step')}{code}: {error.get('message')}"
        rows.append(("Error", out.paint(text, "red")))
    for label, value in rows:
        out.line(f"{label:<10} {value}")
    steps = view.get("steps") or []
    if steps:
        out.line()
        _table(
            out,
            ["STEP", "STATE", "STARTED", "TOOK", "ATTEMPTS", "MESSAGE"],
            [
                (
                    s.get("name", ""),
                    s.get("state", ""),
                    (s.get("startedAt") or "-"),
                    took(s.get("startedAt"), s.get("finishedAt"), now)
                    if s.get("startedAt")
                    else "-",
                    str(s.get("attempts", 0)),
                    s.get("message") or "",
                )
                for s in steps
            ],
            paint=1,
        )
    events = view.get("events") or []
    out.line()
    if not events:
        out.line("No events.")
        return
    _table(
        out,
        ["AGE", "TYPE", "REASON", "MESSAGE"],
        [
            (
                age(e.get("lastTimestamp"), now),
                e.get("type") or "",
                e.get("reason") or "",
                e.get("message") or "",
            )
            for e in events
        ],  # fmt: skip
        paint=1,
    )


# --- commands -------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, kube: Kube, out: Out) -> int:
    obj = kube.get(RESTORE_PLURAL, RESTORE_KIND, args.name)
    view = status_view(obj, kube.events(args.name))
    if args.output == "json":
        out.line(json.dumps(view, indent=2))
    else:
        print_status(view, out, dt.datetime.now(dt.UTC))
    return EXIT_OK


def cmd_history(args: argparse.Namespace, kube: Kube, out: Out) -> int:
    now = dt.datetime.now(dt.UTC)
    restore = kube.find(RESTORE_PLURAL, args.name)
    if restore is not None:
        status = restore.get("status") or {}
        runs = [status, *(status.get("history") or [])] if status.get("operationId") else []
        header = ["OPERATION", "PHASE", "STARTED", "TOOK", "SNAPSHOT", "MESSAGE"]
        rows = [
            (
                r.get("operationId", ""),
                r.get("phase", ""),
                r.get("startedAt") or "-",
                took(r.get("startedAt"), r.get("completedAt"), now),
                (r.get("snapshot") or {}).get("identifier", "-")
                if isinstance(r.get("snapshot"), dict)
                else (r.get("snapshot") or "-"),
                r.get("message") or "",
            )
            for r in runs
        ]
    elif kube.find(SCHEDULE_PLURAL, args.name) is not None:
        runs = sorted(
            kube.runs_of(args.name),
            key=lambda o: (o.get("metadata") or {}).get("creationTimestamp") or "",
            reverse=True,
        )
        header = ["RUN", "PHASE", "STARTED", "TOOK", "SNAPSHOT", "MESSAGE"]
        rows = []
        for run in runs:
            status = run.get("status") or {}
            rows.append(
                (
                    run["metadata"]["name"],
                    status.get("phase", "Pending"),
                    status.get("startedAt") or "-",
                    took(status.get("startedAt"), status.get("completedAt"), now),
                    (status.get("snapshot") or {}).get("identifier", "-"),
                    status.get("message") or "",
                )
            )
    else:
        raise CommandError(
            f'no aurorarestore or aurorarestoreschedule "{args.name}" in namespace '
            f'"{kube.namespace}"'
        )
    if not rows:
        out.line("No runs yet.")
        return EXIT_OK
    _table(out, header, rows, paint=1)
    return EXIT_OK


def _token() -> str:
    # Any new value asks again; the time says when it was asked for.
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _request(
    kube: Kube, plural: str, kind: str, name: str, annotation: str
) -> tuple[dict[str, Any], str]:
    """Ask the operator for a run by setting ``annotation`` to a new token: the object as
    it was (a missing one fails before anything is written), and the token."""
    obj = kube.get(plural, kind, name)
    token = _token()
    kube.patch(plural, kind, name, {"metadata": {"annotations": {annotation: token}}})
    return obj, token


def cmd_rerun(args: argparse.Namespace, kube: Kube, out: Out) -> int:
    from .k8s.handlers import RERUN_ANNOTATION

    obj, token = _request(kube, RESTORE_PLURAL, RESTORE_KIND, args.name, RERUN_ANNOTATION)
    phase = (obj.get("status") or {}).get("phase")
    note = ""
    if phase and phase not in (Phase.Completed.value, Phase.Failed.value):
        note = f"; it starts when the current run ({phase}) ends"
    out.line(f"{RESTORE_KIND}/{args.name}: rerun requested ({RERUN_ANNOTATION}={token}){note}")
    return EXIT_OK


def cmd_run_now(args: argparse.Namespace, kube: Kube, out: Out) -> int:
    obj, token = _request(kube, SCHEDULE_PLURAL, SCHEDULE_KIND, args.name, RUN_NOW_ANNOTATION)
    policy = (obj.get("spec") or {}).get("concurrencyPolicy", "Forbid")
    out.line(
        f"{SCHEDULE_KIND}/{args.name}: run requested ({RUN_NOW_ANNOTATION}={token}, "
        f"concurrencyPolicy {policy})"
    )
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        status = (kube.get(SCHEDULE_PLURAL, SCHEDULE_KIND, args.name).get("status")) or {}
        if status.get("runNowToken") == token:
            active = status.get("active")
            started = [
                r["metadata"]["name"]
                for r in kube.runs_of(args.name)
                if (r["metadata"].get("annotations") or {}).get(RUN_NOW_ANNOTATION) == token
            ]
            if started:
                out.line(f"started {RESTORE_KIND}/{started[0]}")
                return EXIT_OK
            why = f"{active} is still running" if active else status.get("message") or "refused"
            raise CommandError(f"not started: {why} (concurrencyPolicy {policy})")
        time.sleep(0.5)
    if args.wait:
        out.line(f"the operator has not answered within {args.wait:g}s; see `status` later")
    return EXIT_OK


def _set_suspend(args: argparse.Namespace, kube: Kube, out: Out, suspend: bool) -> int:
    obj = kube.get(SCHEDULE_PLURAL, SCHEDULE_KIND, args.name)
    word = "suspended" if suspend else "resumed"
    if bool((obj.get("spec") or {}).get("suspend")) == suspend:
        out.line(f"{SCHEDULE_KIND}/{args.name} is already {word}")
        return EXIT_OK
    kube.patch(SCHEDULE_PLURAL, SCHEDULE_KIND, args.name, {"spec": {"suspend": suspend}})
    out.line(f"{SCHEDULE_KIND}/{args.name} {word}")
    return EXIT_OK


def cmd_suspend(args: argparse.Namespace, kube: Kube, out: Out) -> int:
    return _set_suspend(args, kube, out, True)


def cmd_resume(args: argparse.Namespace, kube: Kube, out: Out) -> int:
    return _set_suspend(args, kube, out, False)


# --- parsers --------------------------------------------------------------------------------


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube)")
    parser.add_argument("--context", help="kubeconfig context")


def add_commands(sub: Any) -> None:
    """The everyday commands, on a subparsers object (both entry points share them)."""
    specs: list[tuple[str, str, str, Callable[..., int]]] = [
        ("status", "NAME", "show a restore at a glance", cmd_status),
        ("history", "NAME", "list the runs of a restore or of a schedule", cmd_history),
        ("rerun", "NAME", "run a restore again (dbrestore.io/rerun)", cmd_rerun),
        ("run-now", "SCHEDULE", "start a schedule's run now (dbrestore.io/run-now)", cmd_run_now),
        ("suspend", "SCHEDULE", "stop a schedule from starting runs", cmd_suspend),
        ("resume", "SCHEDULE", "let a suspended schedule start runs again", cmd_resume),
    ]
    for command, metavar, help_, func in specs:
        parser = sub.add_parser(command, help=help_, description=help_)
        parser.add_argument("name", metavar=metavar)
        _connection_options(parser)
        if command == "status":
            parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
        if command == "run-now":
            parser.add_argument(
                "--wait",
                type=float,
                default=15.0,
                help="seconds to wait for the operator's answer (0: do not wait)",
            )
        parser.set_defaults(func=_runner(func))


def _runner(func: Callable[[argparse.Namespace, Kube, Out], int]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args, Kube(args), Out(sys.stdout))
        except CommandError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return exc.code
        except KeyboardInterrupt:
            return 130

    return run


def plugin_main(argv: Sequence[str] | None = None) -> int:
    """``kubectl aurorarestore``: kubectl finds ``kubectl-aurorarestore`` on the PATH."""
    parser = argparse.ArgumentParser(
        prog="kubectl aurorarestore",
        description="Everyday commands for AuroraRestore and AuroraRestoreSchedule resources.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(plugin_main())
