"""The everyday commands as processes: `kubectl-aurorarestore` (also through a real
`kubectl`, as a plugin) and `aurora-restore`, with a kubeconfig, against the operator."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.harness import free_port
from control_plane_support import ROOT
from kstatus_rules import Current, InProgress, kstatus
from support.cluster import GROUP, VERSION, Cluster, Operator, cross_region

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
PLUGIN = BIN / "kubectl-aurorarestore"
SCHEDULES = "aurorarestoreschedules"


def get_schedule(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.custom.get_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, SCHEDULES, name
    )


def run(
    kubeconfig: Path, *args: str, program: Path = PLUGIN, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(program), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(kubeconfig.parent),
            "KUBECONFIG": str(kubeconfig),
            **(env or {}),
        },
    )


def create_schedule(cluster: Cluster, name: str, **spec: Any) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AuroraRestoreSchedule",
        "metadata": {"name": name},
        # Due once a year: only run-now starts a run in this test.
        "spec": {"schedule": "0 0 1 1 *", "template": cross_region(), **spec},
    }
    cluster.custom.create_namespaced_custom_object(
        GROUP, VERSION, cluster.namespace, SCHEDULES, body
    )


def test_status_history_and_rerun_of_a_restore(
    operator: Operator, cluster: Cluster, kubeconfig: Path
) -> None:
    cluster.apply_restore("staging-refresh", cross_region(instances=1))
    first = cluster.wait_phase("staging-refresh", "Completed", "Failed", timeout=90)
    assert first["status"]["phase"] == "Completed", operator.logs()[-3000:]
    time.sleep(1)  # the last events

    shown = run(kubeconfig, "status", "staging-refresh", "-n", "databases")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "\033[" not in text  # no colour when stdout is not a terminal
    lines = text.splitlines()
    assert lines[0].split() == ["staging-refresh", "(databases)", "Completed", "Ready:", "True"]
    status = first["status"]
    for expected in (
        status["snapshot"]["identifier"],
        status["copy"]["identifier"],
        "[####################] 100%",
        f"{status['cluster']['endpoint']}:{status['cluster']['port']}",
        status["operationId"],
        "RestoreCompleted",
    ):
        assert expected in text, (expected, text)
    step_rows = [line.split() for line in lines if line.split()[:1] and line.split()[0] in
                 {s["name"] for s in status["steps"]}]  # fmt: skip
    assert [row[0] for row in step_rows] == [s["name"] for s in status["steps"]]
    copy_row = next(r for r in step_rows if r[0] == "copy-snapshot")
    assert copy_row[1] == "Succeeded" and copy_row[4] == "1"  # state, ..., attempts

    as_json = run(kubeconfig, "status", "staging-refresh", "-n", "databases", "-o", "json")
    view = json.loads(as_json.stdout)
    assert (view["phase"], view["ready"]) == ("Completed", "True")
    assert view["target"]["endpoint"] == status["cluster"]["endpoint"]
    assert [s["name"] for s in view["steps"]] == [s["name"] for s in status["steps"]]
    assert "RestoreCompleted" in [e["reason"] for e in view["events"]]
    assert "runSpec" not in as_json.stdout

    # The same command through kubectl, as a plugin found on the PATH.
    kubectl = ROOT / ".tools" / "bin" / "kubectl"
    if kubectl.exists():
        plugin = run(kubeconfig, "aurorarestore", "status", "staging-refresh", "-n",
                     "databases", program=kubectl)  # fmt: skip
        assert plugin.returncode == 0, plugin.stderr
        assert plugin.stdout.splitlines()[0] == lines[0]

    rerun = run(kubeconfig, "rerun", "staging-refresh", "-n", "databases")
    assert rerun.returncode == 0, rerun.stderr
    assert "dbrestore.io/rerun=" in rerun.stdout
    second = cluster.wait(
        "staging-refresh",
        lambda o: (
            o["status"].get("operationId") != status["operationId"]
            and o["status"].get("phase") in ("Completed", "Failed")
        ),
        timeout=90,
    )
    history = run(kubeconfig, "history", "staging-refresh", "-n", "databases")
    assert history.returncode == 0, history.stderr
    rows = history.stdout.splitlines()
    assert rows[0].split()[:2] == ["OPERATION", "PHASE"]
    assert [r.split()[0] for r in rows[1:]] == [
        second["status"]["operationId"],
        status["operationId"],
    ]


def test_run_now_suspend_resume_and_history_of_a_schedule(
    aws: AwsSandbox, operator: Operator, cluster: Cluster, kubeconfig: Path
) -> None:
    aws.set_delays(1.5)  # the run lasts long enough to ask again while it runs
    create_schedule(cluster, "nightly")
    started = run(kubeconfig, "run-now", "nightly", "-n", "databases", "--wait", "30")
    assert started.returncode == 0, (started.stdout, started.stderr, operator.logs()[-3000:])
    child = started.stdout.splitlines()[-1].removeprefix("started aurorarestore/")
    assert child.startswith("nightly-")
    run_obj = cluster.get(child)
    assert run_obj is not None
    assert run_obj["metadata"]["labels"]["dbrestore.io/schedule"] == "nightly"

    # Forbid: a second request while that run is in progress is refused, in one line.
    refused = run(kubeconfig, "run-now", "nightly", "-n", "databases", "--wait", "30")
    assert refused.returncode == 1, refused
    assert refused.stderr.splitlines() == [
        f"error: not started: {child} is still running (concurrencyPolicy Forbid)"
    ]
    running = cluster.get(child) or {}
    assert running["status"]["phase"] not in ("Completed", "Failed")
    # Flux and kpt see the run, and its schedule, in progress.
    assert kstatus(running)[0] == InProgress
    assert kstatus(get_schedule(cluster, "nightly"))[0] == InProgress

    done = cluster.wait_phase(child, "Completed", "Failed", timeout=90)
    assert kstatus(done)[0] == Current
    deadline = time.monotonic() + 30
    while kstatus(get_schedule(cluster, "nightly"))[0] != Current and time.monotonic() < deadline:
        time.sleep(0.2)
    assert kstatus(get_schedule(cluster, "nightly"))[0] == Current
    history = run(kubeconfig, "history", "nightly", "-n", "databases")
    assert history.returncode == 0, history.stderr
    assert history.stdout.splitlines()[0].split()[:2] == ["RUN", "PHASE"]
    assert history.stdout.splitlines()[1].split()[:2] == [child, "Completed"]

    suspended = run(kubeconfig, "suspend", "nightly", "-n", "databases")
    assert suspended.returncode == 0 and "suspended" in suspended.stdout
    schedule = cluster.custom.get_namespaced_custom_object(
        GROUP, VERSION, "databases", SCHEDULES, "nightly"
    )
    assert schedule["spec"]["suspend"] is True
    again = run(kubeconfig, "suspend", "nightly", "-n", "databases")
    assert "already suspended" in again.stdout
    resumed = run(kubeconfig, "resume", "nightly", "-n", "databases")
    assert resumed.returncode == 0
    schedule = cluster.custom.get_namespaced_custom_object(
        GROUP, VERSION, "databases", SCHEDULES, "nightly"
    )
    assert schedule["spec"]["suspend"] is False


def test_not_found_is_one_line_and_exit_code_one(cluster: Cluster, kubeconfig: Path) -> None:
    for args in (["status", "nope"], ["rerun", "nope"], ["suspend", "nope"], ["history", "nope"]):
        result = run(kubeconfig, *args, "-n", "databases")
        assert result.returncode == 1, result
        [line] = result.stderr.splitlines()
        assert line.startswith("error: ") and "not found" in line or "no aurorarestore" in line
        assert '"nope"' in line and "databases" in line
    # The aurora-restore CLI has the same commands.
    result = run(kubeconfig, "status", "nope", "-n", "databases", program=BIN / "aurora-restore")
    assert result.returncode == 1
    assert result.stderr.strip() == 'error: aurorarestore "nope" not found in namespace "databases"'


class _Forbidding(http.server.BaseHTTPRequestHandler):
    """An API server that refuses everything, as RBAC does."""

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "Forbidden",
                "code": 403,
                "message": 'aurorarestores.dbrestore.io "x" is forbidden: User "dev" cannot get '
                'resource "aurorarestores" in API group "dbrestore.io" in the namespace "prod"',
            }
        ).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def forbidding_api() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forbidding)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "dev", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "dev",
                                                       "namespace": "prod"}}],
                "current-context": "c",
            }
        )
    )  # fmt: skip
    return path


def test_forbidden_and_unreachable_are_one_line(forbidding_api: str, tmp_path: Path) -> None:
    config = _kubeconfig(tmp_path / "forbidden", forbidding_api)
    result = run(config, "status", "x")  # the namespace comes from the context
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'error: forbidden: aurorarestores.dbrestore.io "x" is forbidden: User "dev" cannot get '
        'resource "aurorarestores" in API group "dbrestore.io" in the namespace "prod"'
    ]
    closed = _kubeconfig(tmp_path / "closed", f"http://127.0.0.1:{free_port()}")
    result = run(closed, "status", "x", env={"NO_PROXY": "*"})
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: cannot reach the Kubernetes API: ")


def test_usage_errors_exit_two(tmp_path: Path) -> None:
    result = run(tmp_path / "none", "status")
    assert result.returncode == 2 and "NAME" in result.stderr
