"""The target's downtime during a refresh: existingCluster Replace against Swap, in one run.

Each mode refreshes the same managed cluster ``staging`` (one instance) from the same
snapshot, on the stand-ins, with the real operator as a child process (started by
``aurora_restore_sandbox.harness``, as everywhere), and every simulated RDS state (cluster
creating, instance creating, deleting, renaming) lasting ``--delay`` seconds in both modes. A
probe
asks the AWS stand-in every ``--probe`` seconds whether the target answers: a cluster under
the name ``staging``, available, with an available instance. Downtime is the time it did
not, between the restore's creation and its completion.

    .venv/bin/python -m bench.downtime                  # delay 10 s, once per mode
    .venv/bin/python -m bench.downtime --delay 5 --repeat 3

No database step (setup-db-users) runs here: with users and SQL, Replace is down for that
too, Swap is not (it configures the new cluster before the renames).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aurora_restore_sandbox.aws import AwsSandbox

from .standins import SOURCE, AwsProcess, operator_running, seed_aws, source_cluster

NAMESPACE = "bench"
NAME = "staging-refresh"
MODES = ("Replace", "Swap")


@dataclass
class Run:
    mode: str
    phase: str = ""
    wall_seconds: float = 0.0
    downtime_seconds: float = 0.0
    outages: int = 0
    # What the operator itself recorded (Swap only: status.swap.downtimeSeconds).
    reported_downtime: float | None = None
    samples: int = 0
    error: str = ""
    timeline: list[tuple[float, bool]] = field(default_factory=list)


def existing_target(aws: AwsSandbox) -> None:
    """The cluster to refresh, managed by the operator (as after an earlier run)."""
    rds = source_cluster(
        aws,
        "staging",
        "bench-old-pw",
        Tags=[
            {"Key": "dbrestore.io/managed-by", "Value": "aurora-restore-operator"},
            {"Key": "dbrestore.io/owner", "Value": f"{NAMESPACE}/{NAME}"},
        ],
    )
    rds.create_db_instance(
        DBInstanceIdentifier="staging-old-1",
        DBClusterIdentifier="staging",
        Engine="aurora-postgresql",
        DBInstanceClass="db.r6g.large",
    )


def answers(rds: Any) -> bool:
    """The target answers: available under its name, with an available instance."""
    try:
        clusters = rds.describe_db_clusters(
            Filters=[{"Name": "db-cluster-id", "Values": ["staging"]}]
        )["DBClusters"]
        if not clusters or clusters[0]["Status"] != "available":
            return False
        members = [m["DBInstanceIdentifier"] for m in clusters[0]["DBClusterMembers"]]
        if not members:
            return False
        found = rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": members}])[
            "DBInstances"
        ]
        return any(i["DBInstanceStatus"] == "available" for i in found)
    except Exception:  # a refused describe is "not answering"
        return False


def run_mode(
    aws: AwsSandbox, mode: str, delay: float, probe: float, workdir: Path, timeout: float
) -> Run:
    run = Run(mode)
    seed_aws(aws, 0)
    existing_target(aws)
    aws.settle()
    aws.set_delays(delay)
    with operator_running(aws, workdir, mode, {}) as (kube, _):
        stop = threading.Event()
        rds = aws.client("rds", SOURCE)
        start = time.monotonic()

        def watch() -> None:
            while not stop.is_set():
                run.timeline.append((time.monotonic() - start, answers(rds)))
                stop.wait(probe)

        prober = threading.Thread(target=watch, name="probe", daemon=True)
        try:
            time.sleep(2.0)
            prober.start()
            kube.create(
                "aurorarestores",
                {
                    "apiVersion": "dbrestore.io/v1alpha1",
                    "kind": "AuroraRestore",
                    "metadata": {"name": NAME, "namespace": NAMESPACE},
                    "spec": {
                        "source": {"region": SOURCE, "snapshotIdentifier": "prod-manual-1"},
                        "target": {
                            "region": SOURCE,
                            "clusterIdentifier": "staging",
                            "existingCluster": mode,
                            "instances": 1,
                        },
                    },
                },
                namespace=NAMESPACE,
            )
            status: dict[str, Any] = {}
            deadline = start + timeout
            while time.monotonic() < deadline:
                time.sleep(0.2)
                [obj] = kube.list("aurorarestores", NAMESPACE)
                status = obj.get("status") or {}
                if status.get("phase") in ("Completed", "Failed"):
                    break
            run.wall_seconds = time.monotonic() - start
            run.phase = status.get("phase", "timeout")
            run.error = str((status.get("error") or {}).get("message", ""))
            run.reported_downtime = (status.get("swap") or {}).get("downtimeSeconds")
        finally:
            stop.set()
            if prober.is_alive():
                prober.join(10)
    run.samples = len(run.timeline)
    # Downtime: the sum of the intervals between samples that saw it down, and the count of
    # separate outages. The probe's period bounds the error.
    for (t1, up), (t2, _) in zip(run.timeline, run.timeline[1:], strict=False):
        if not up:
            run.downtime_seconds += t2 - t1
    previous = True
    for _, up in run.timeline:
        if previous and not up:
            run.outages += 1
        previous = up
    return run


def report(runs: list[Run], args: argparse.Namespace, elapsed: float) -> str:
    machine = (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    lines = [
        f"Machine: {machine}. Every simulated RDS state lasts {args.delay:g} s; probe every "
        f"{args.probe:g} s. Bench wall time: {elapsed / 60:.1f} min.",
        "",
        "| mode | result | refresh wall s | target down s | outages "
        "| status.swap.downtimeSeconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in runs:
        reported = f"{r.reported_downtime:.1f}" if r.reported_downtime is not None else "-"
        lines.append(
            f"| {r.mode} | {r.phase} | {r.wall_seconds:.1f} | {r.downtime_seconds:.1f} "
            f"| {r.outages} | {reported} |"
        )
    by_mode = {m: [r.downtime_seconds for r in runs if r.mode == m] for m in MODES}
    if all(by_mode.values()) and len(runs) > len(MODES):
        lines += [
            "",
            "Median downtime: "
            + ", ".join(f"{m} {statistics.median(v):.1f} s" for m, v in by_mode.items()),
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.downtime",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--delay", type=float, default=10.0, help="seconds per RDS state")
    parser.add_argument("--probe", type=float, default=0.25, help="seconds between probes")
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--workdir", type=Path, help="keep the logs here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="aurora-downtime-"))
    workdir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    server = AwsProcess(workdir / "aws.log")
    runs: list[Run] = []
    try:
        for _ in range(args.repeat):
            for mode in MODES:
                print(f"-- {mode} ...", file=sys.stderr, flush=True)
                run = run_mode(server.sandbox, mode, args.delay, args.probe, workdir, args.timeout)
                print(
                    f"   {mode}: {run.phase} in {run.wall_seconds:.1f}s, target down "
                    f"{run.downtime_seconds:.1f}s ({run.outages} outage(s))",
                    file=sys.stderr,
                    flush=True,
                )
                runs.append(run)
    finally:
        server.stop()
    text = report(runs, args, time.monotonic() - began)
    print(text)
    (workdir / "downtime.md").write_text(text + "\n")
    print(f"logs and downtime.md: {workdir}", file=sys.stderr)
    return 0 if all(r.phase == "Completed" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
