"""How the operator's cost grows with the number of restores in flight.

Runs N concurrent cross-region restores (copy, restore, one instance, archive) end to end on
the stand-ins: the AWS sandbox (moto in server mode, its own process, with every RDS
in-progress state lasting ``--delay`` seconds), the Kubernetes API emulator (in this
process) and the real operator as a child process, exactly as ``tests/e2e`` starts it (one
harness, ``aurora_restore_sandbox.harness``). The
same workload runs under three polling policies:

- ``batched``: this operator's defaults (batched status checks, shared cache, wake-ups,
  adaptive look-again between POLL_FLOOR and POLL_INTERVAL);
- ``seed``: like the seed's Step Functions, one Describe per restore every 60 s
  (batching off, POLL_FLOOR = POLL_INTERVAL = 60s);
- ``requeue30``: like a per-resource 30 s requeue (ACK): batching off, 30 s.

For each policy and N it reports: wall time until all are Completed, the added latency
per restore beyond the simulated AWS time (median, p95), AWS calls per restore by
operation (counted by the AWS stand-in), Kubernetes API calls per restore (counted by the
emulator), and the operator's CPU seconds and peak RSS (from /proc).

    .venv/bin/python -m bench.scale                   # N = 1, 10, 100, 500 (about 20 min)
    .venv/bin/python -m bench.scale --quick           # N = 1, 10, 50: a smoke run
    .venv/bin/python -m bench.scale --sizes 100 --policies batched
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.harness import OperatorProcess, free_port, operator_env
from aurora_restore_sandbox.kube import KubeSandbox

ROOT = Path(__file__).resolve().parents[1]
SOURCE, TARGET = "us-east-1", "us-west-2"
NAMESPACE = "bench"
# Simulated AWS states each restore waits through: the copy, the cluster, the instance.
WAITS_PER_RESTORE = 3
DESCRIBES = ("DescribeDBClusterSnapshots", "DescribeDBClusters", "DescribeDBInstances")


@dataclass(frozen=True)
class Policy:
    name: str
    label: str
    env: dict[str, str]


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy("batched", "this operator (batched, adaptive)", {}),
        Policy(
            "seed",
            "seed-like: a Describe per restore every 60 s",
            {
                "AURORA_RESTORE_AWS_BATCHING": "false",
                "AURORA_RESTORE_POLL_INTERVAL": "60s",
                "AURORA_RESTORE_POLL_FLOOR": "60s",
            },
        ),
        Policy(
            "requeue30",
            "per-resource 30 s requeue (ACK-like)",
            {
                "AURORA_RESTORE_AWS_BATCHING": "false",
                "AURORA_RESTORE_POLL_INTERVAL": "30s",
                "AURORA_RESTORE_POLL_FLOOR": "30s",
            },
        ),
    )
}


@dataclass
class Result:
    policy: str
    n: int
    completed: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    added_median: float = 0.0
    added_p95: float = 0.0
    added_max: float = 0.0
    aws_calls: dict[str, int] = field(default_factory=dict)
    rds_peak_per_second: float = 0.0
    kube_calls: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    # The stand-ins' CPU: the AWS server process and the Kubernetes API emulator's thread;
    # and the machine's load average (1 min) when the run started.
    aws_cpu_seconds: float = 0.0
    kube_cpu_seconds: float = 0.0
    load_average: float = 0.0
    timed_out: bool = False
    log: str = ""

    @property
    def rds_calls(self) -> int:
        return sum(v for k, v in self.aws_calls.items() if k.startswith("rds."))

    @property
    def describes(self) -> int:
        return sum(self.aws_calls.get(f"rds.{op}", 0) for op in DESCRIBES)

    @property
    def kube_total(self) -> int:
        return sum(self.kube_calls.values())

    def per_restore(self, value: float) -> float:
        return value / self.n if self.n else 0.0


# -- the stand-ins and the operator -------------------------------------------------------


class AwsProcess:
    """The AWS sandbox in its own process, so that it does not share our interpreter."""

    def __init__(self, log_path: Path) -> None:
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.aws_server", "--port", str(free_port())],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=ROOT,
            )
        assert self.proc.stdout is not None
        url = ""
        for line in self.proc.stdout:
            if line.startswith("AWS_ENDPOINT_URL="):
                url = line.strip().split("=", 1)[1]
                break
        if not url:
            raise RuntimeError("the AWS sandbox did not start")
        self.sandbox = AwsSandbox.attach(url)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def seed_aws(aws: AwsSandbox, delay: float) -> None:
    aws.reset()
    rds = aws.client("rds", SOURCE)
    rds.create_db_cluster(
        DBClusterIdentifier="prod",
        Engine="aurora-postgresql",
        MasterUsername="postgres",
        MasterUserPassword="bench-source-pw",
    )
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="prod", DBClusterSnapshotIdentifier="prod-manual-1"
    )
    aws.settle()
    aws.set_delays(delay)
    aws.reset_calls()


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the line; 3 is the first after the name.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(kube: KubeSandbox) -> float:
    """CPU of the Kubernetes API emulator's thread (in this process)."""
    thread = kube._thread
    if thread is None or thread.native_id is None:
        return 0.0
    path = Path(f"/proc/self/task/{thread.native_id}/stat")
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def restore_body(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "dbrestore.io/v1alpha1",
        "kind": "AuroraRestore",
        "metadata": {"name": f"bench-{index:04d}", "namespace": NAMESPACE},
        "spec": {
            "source": {"region": SOURCE, "snapshotIdentifier": "prod-manual-1"},
            "target": {"region": TARGET, "clusterIdentifier": f"bench-{index:04d}"},
        },
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


# -- one run ---------------------------------------------------------------------------------


def run_one(
    aws: AwsSandbox,
    policy: Policy,
    n: int,
    delay: float,
    workdir: Path,
    extra_env: dict[str, str],
    timeout: float,
    aws_pid: int | None = None,
) -> Result:
    result = Result(policy.name, n)
    seed_aws(aws, delay)
    log_path = workdir / f"operator-{policy.name}-{n}.log"
    result.log = str(log_path)
    with KubeSandbox(crds=sorted((ROOT / "crds").glob("*.yaml"))) as kube:
        kubeconfig = kube.write_kubeconfig(workdir / f"kubeconfig-{policy.name}-{n}")
        env = operator_env(
            kubeconfig=kubeconfig,
            aws_endpoint=aws.endpoint_url,
            region=SOURCE,
            home=workdir,
            settings={"AURORA_RESTORE_LOG_LEVEL": "INFO", **policy.env, **extra_env},
        )
        operator = OperatorProcess(env, log_path, cwd=ROOT, stop_timeout=30)
        operator.start()
        try:
            # Let kopf list and start watching, then count only what the restores cost.
            time.sleep(2.0)
            aws.reset_calls()
            kube.reset_api_calls()
            cpu_before = proc_cpu_seconds(operator.pid)
            aws_cpu_before = proc_cpu_seconds(aws_pid) if aws_pid else 0.0
            kube_cpu_before = thread_cpu_seconds(kube)
            result.load_average = os.getloadavg()[0]

            created: dict[str, float] = {}
            start = time.monotonic()
            for i in range(n):
                body = restore_body(i)
                kube.create("aurorarestores", body, namespace=NAMESPACE)
                created[body["metadata"]["name"]] = time.monotonic()
            finished: dict[str, tuple[float, str]] = {}
            rds_samples: list[tuple[float, int]] = [(start, 0)]
            next_sample = start + 5.0
            deadline = start + timeout
            while len(finished) < n and time.monotonic() < deadline:
                time.sleep(0.5)
                now = time.monotonic()
                for obj in kube.list("aurorarestores", NAMESPACE):
                    name = obj["metadata"]["name"]
                    phase = (obj.get("status") or {}).get("phase")
                    if name not in finished and phase in ("Completed", "Failed"):
                        finished[name] = (now, phase)
                if now >= next_sample:
                    rds = sum(1 for svc, _, _ in aws.call_records() if svc == "rds")
                    rds_samples.append((now, rds))
                    next_sample = now + 5.0
                if operator.exited():
                    raise RuntimeError(f"operator exited during the run; see {log_path}")
            end = max((t for t, _ in finished.values()), default=time.monotonic())
            result.timed_out = len(finished) < n
            result.wall_seconds = end - start
            result.cpu_seconds = proc_cpu_seconds(operator.pid) - cpu_before
            result.aws_cpu_seconds = (proc_cpu_seconds(aws_pid) - aws_cpu_before) if aws_pid else 0
            result.kube_cpu_seconds = thread_cpu_seconds(kube) - kube_cpu_before
            result.peak_rss_mib = proc_peak_rss_mib(operator.pid)
            result.completed = sum(1 for _, p in finished.values() if p == "Completed")
            result.failed = sum(1 for _, p in finished.values() if p == "Failed")
            simulated = WAITS_PER_RESTORE * delay
            added = [
                t - created[name] - simulated
                for name, (t, phase) in finished.items()
                if phase == "Completed"
            ]
            result.added_median = statistics.median(added) if added else 0.0
            result.added_p95 = percentile(added, 0.95)
            result.added_max = max(added, default=0.0)
            result.aws_calls = dict(
                Counter(f"{svc}.{op}" for svc, op, _ in aws.call_records()).most_common()
            )
            result.kube_calls = {
                f"{verb} {resource}": count
                for (verb, resource), count in kube.api_calls().most_common()
            }
            rates = [
                (c2 - c1) / (t2 - t1)
                for (t1, c1), (t2, c2) in zip(rds_samples, rds_samples[1:], strict=False)
                if t2 > t1
            ]
            result.rds_peak_per_second = max(rates, default=0.0)
        finally:
            operator.stop()
    return result


# -- reporting -------------------------------------------------------------------------------


def _f(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def main_table(results: list[Result]) -> str:
    lines = [
        "| N | policy | completed | wall s | added median s | added p95 s | RDS calls/restore "
        "| Describes/restore | Describes/min | peak RDS calls/s | K8s calls/restore "
        "| CPU s | CPU cores avg | peak RSS MiB | AWS stand-in CPU s | K8s stand-in CPU s "
        "| load avg |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        minutes = r.wall_seconds / 60 if r.wall_seconds else 1
        lines.append(
            f"| {r.n} | {r.policy} | {r.completed}/{r.n}{' (timeout)' if r.timed_out else ''} "
            f"| {_f(r.wall_seconds)} | {_f(r.added_median)} | {_f(r.added_p95)} "
            f"| {_f(r.per_restore(r.rds_calls), 2)} | {_f(r.per_restore(r.describes), 2)} "
            f"| {_f(r.describes / minutes)} | {_f(r.rds_peak_per_second)} "
            f"| {_f(r.per_restore(r.kube_total))} | {_f(r.cpu_seconds)} "
            f"| {_f(r.cpu_seconds / r.wall_seconds if r.wall_seconds else 0, 2)} "
            f"| {_f(r.peak_rss_mib)} | {_f(r.aws_cpu_seconds)} | {_f(r.kube_cpu_seconds)} "
            f"| {_f(r.load_average)} |"
        )
    return "\n".join(lines)


def ops_table(results: list[Result], prefix: str, per: str) -> str:
    """Calls per restore by operation (AWS) or by verb and resource (Kubernetes)."""
    source = "aws_calls" if prefix == "aws" else "kube_calls"
    keys: list[str] = []
    for r in results:
        for key in getattr(r, source):
            if key not in keys:
                keys.append(key)
    header = "| N | policy | " + " | ".join(keys) + " |"
    lines = [header, "|---:|---|" + "---:|" * len(keys)]
    for r in results:
        calls = getattr(r, source)
        cells = " | ".join(_f(r.per_restore(calls.get(k, 0)), 2) for k in keys)
        lines.append(f"| {r.n} | {r.policy} | {cells} |")
    return f"{per}\n\n" + "\n".join(lines)


def ratio_table(results: list[Result]) -> str:
    lines = [
        "| N | baseline | RDS calls × | Describes × | added median × | added p95 × "
        "| K8s calls × | CPU × |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.1f}" if b > 0 else "n/a"

    by_key = {(r.policy, r.n): r for r in results}
    for r in results:
        if r.policy == "batched":
            continue
        ours = by_key.get(("batched", r.n))
        if ours is None:
            continue
        lines.append(
            f"| {r.n} | {r.policy} | {ratio(r.rds_calls, ours.rds_calls)} "
            f"| {ratio(r.describes, ours.describes)} "
            f"| {ratio(r.added_median, ours.added_median)} "
            f"| {ratio(r.added_p95, ours.added_p95)} "
            f"| {ratio(r.kube_total, ours.kube_total)} "
            f"| {ratio(r.cpu_seconds, ours.cpu_seconds)} |"
        )
    return "\n".join(lines)


def report(results: list[Result], args: argparse.Namespace, elapsed: float) -> str:
    machine = (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    return "\n\n".join(
        [
            f"Machine: {machine}. Simulated AWS state duration: {args.delay:g} s "
            f"({WAITS_PER_RESTORE} per restore). Bench wall time: {elapsed / 60:.1f} min.",
            main_table(results),
            "Ratios (baseline ÷ batched; above 1 means the baseline costs more):\n\n"
            + ratio_table(results),
            ops_table(results, "aws", "AWS calls per restore, by operation:"),
            ops_table(results, "kube", "Kubernetes API calls per restore:"),
        ]
    )


def parse_sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sizes", type=parse_sizes, help="numbers of restores (1,10,100,500)")
    parser.add_argument(
        "--baseline-sizes",
        type=parse_sizes,
        help="sizes at which the baselines run too (default: 10,100; quick: the largest)",
    )
    parser.add_argument("--quick", action="store_true", help="N = 1, 10, 50: a smoke run")
    parser.add_argument(
        "--policies",
        default="batched,seed,requeue30",
        help="comma-separated: batched, seed, requeue30",
    )
    parser.add_argument(
        "--serial-baselines",
        action="store_true",
        help="run the baselines one after the other (default: side by side, each with its "
        "own stand-ins and operator: they mostly sleep, and it halves the bench's time)",
    )
    parser.add_argument(
        "--delay", type=float, default=10.0, help="seconds each simulated RDS state lasts"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra operator setting for every run, e.g. AURORA_RESTORE_AWS_RATE_LIMIT=50",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    parser.add_argument("--json", type=Path, help="write the raw results here too")
    parser.add_argument("--markdown", type=Path, help="write the report here too")
    parser.add_argument("--workdir", type=Path, help="keep logs and results here")
    args = parser.parse_args(argv)

    sizes = args.sizes or ([1, 10, 50] if args.quick else [1, 10, 100, 500])
    default_baselines = [max(sizes)] if args.quick else [n for n in sizes if n in (10, 100)]
    baseline_sizes = set(args.baseline_sizes or default_baselines)
    policies = [POLICIES[p.strip()] for p in args.policies.split(",") if p.strip()]
    extra_env = dict(item.split("=", 1) for item in args.env)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="aurora-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)

    began = time.monotonic()
    results: list[Result] = []
    servers: dict[str, AwsProcess] = {}

    def server(policy: Policy) -> AwsProcess:
        if policy.name not in servers:
            servers[policy.name] = AwsProcess(workdir / f"aws-{policy.name}.log")
        return servers[policy.name]

    def run(policy: Policy, n: int) -> Result:
        aws = server(policy)
        print(f"-- {policy.name} N={n} ...", file=sys.stderr, flush=True)
        result = run_one(
            aws.sandbox,
            policy,
            n,
            args.delay,
            workdir,
            extra_env,
            args.timeout,
            aws.proc.pid,
        )
        print(
            f"   {policy.name} N={n}: {result.completed}/{n} completed in "
            f"{result.wall_seconds:.1f}s; added median {result.added_median:.1f}s "
            f"p95 {result.added_p95:.1f}s; RDS calls/restore "
            f"{result.per_restore(result.rds_calls):.2f}; CPU {result.cpu_seconds:.1f}s; "
            f"RSS {result.peak_rss_mib:.0f} MiB",
            file=sys.stderr,
            flush=True,
        )
        return result

    try:
        for n in sizes:
            ours = [p for p in policies if p.name == "batched"]
            baselines = [p for p in policies if p.name != "batched" and n in baseline_sizes]
            for policy in ours:
                results.append(run(policy, n))
            if args.serial_baselines or len(baselines) < 2:
                for policy in baselines:
                    results.append(run(policy, n))
            else:
                for policy in baselines:
                    server(policy)
                with ThreadPoolExecutor(max_workers=len(baselines)) as pool:
                    results += list(pool.map(run, baselines, [n] * len(baselines)))
    finally:
        for aws in servers.values():
            aws.stop()
    text = report(results, args, time.monotonic() - began)
    print(text)
    raw = json.dumps([asdict(r) for r in results], indent=2) + "\n"
    (workdir / "report.md").write_text(text + "\n")
    (workdir / "results.json").write_text(raw)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(raw)
    print(f"logs, report.md and results.json: {workdir}", file=sys.stderr)
    return 0 if all(r.completed == r.n for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
