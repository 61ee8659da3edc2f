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

For each run it reports: wall time until all are Completed, the added latency per restore
beyond the simulated AWS time (median, p95, max), calls per restore by kind (RDS by
operation and AWS's other services, counted by the AWS stand-in; Kubernetes requests by
verb and resource, counted by the emulator), the operator's CPU, peak RSS and threads (from
/proc), the stand-ins' CPU and the load average; after some cases, the operator's idle cost
over a quiet interval. The cases (``--cases``, see ``CASES``) cover N = 1 to 1000, with the
N = 100 cases run three times; bench/report.py renders the tables and checks the targets
of issue 20.

    .venv/bin/python -m bench.scale                   # every case (about 35 min)
    .venv/bin/python -m bench.scale --quick           # idle, N = 1, 10, 100 once: a smoke run
    .venv/bin/python -m bench.scale --cases n100,requeue30-100 --repeats 1
    .venv/bin/python -m bench.scale --sizes 100 --policies batched
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.kube import KubeSandbox

from .report import (
    BASELINE,
    Idle,
    Result,
    evaluate,
    percentile,
    render,
    targets_table,
    to_json,
    update_docs,
)
from .standins import SOURCE, TARGET, AwsProcess, operator_running, seed_aws

NAMESPACE = "bench"
# Simulated AWS states each restore waits through: the copy, the cluster, the instance.
WAITS_PER_RESTORE = 3


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


# A budget that lets the large cases measure the operator rather than the default 10 RDS
# calls/s (at which the ~5,500 RDS calls of 1000 restores alone take 9 minutes); AWS grants
# such a rate only with a raised quota.
LARGE_BUDGET = {"AURORA_RESTORE_AWS_RATE_LIMIT": "50", "AURORA_RESTORE_AWS_RATE_BURST": "300"}


@dataclass(frozen=True)
class Case:
    """One workload of the bench: a policy, N restores, and how to run it."""

    name: str
    policy: str
    n: int  # 0: no restores, only the idle measurement of a fresh operator
    repeats: int = 1
    idle: bool = False  # measure the idle cost after the first run's restores finished
    delay: float | None = None  # seconds per simulated state; None: --delay
    settings: tuple[tuple[str, str], ...] = ()
    # Cases of the same group run side by side (each with its own stand-ins and operator).
    group: str = ""
    timeout: float | None = None  # None: --timeout


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case("idle-0", "batched", 0, idle=True),
        Case("n1", "batched", 1),
        Case("n10", "batched", 10),
        Case("n100", "batched", 100, repeats=3, idle=True),
        # The baselines mostly sleep: side by side they halve the bench's time.
        Case("seed-100", "seed", 100, repeats=3, group="baselines-100"),
        Case("requeue30-100", "requeue30", 100, repeats=3, group="baselines-100"),
        # The default budget, where deferred restores could repeat their reads.
        Case("n200", "batched", 200),
        Case("n500", "batched", 500, settings=tuple(LARGE_BUDGET.items())),
        # 30 s per state, so that all 1000 wait on AWS at once; meant to stay under 15 min.
        Case(
            "n1000",
            "batched",
            1000,
            idle=True,
            delay=30.0,
            settings=tuple(LARGE_BUDGET.items()),
            timeout=1200.0,
        ),
    )
}
FULL = list(CASES)
QUICK = ["idle-0", "n1", "n10", "n100"]


# -- what the operator and the stand-ins cost, from /proc ---------------------------------


def _stat_cpu_seconds(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the line; 3 is the first after the name.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def thread_cpu_seconds(kube: KubeSandbox) -> float:
    """CPU of the Kubernetes API emulator's thread (in this process)."""
    thread = kube._thread
    if thread is None or thread.native_id is None:
        return 0.0
    return _stat_cpu_seconds(Path(f"/proc/self/task/{thread.native_id}/stat"))


def proc_peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def proc_status(pid: int) -> dict[str, int]:
    """The numeric fields of /proc/<pid>/status (VmRSS in kB, Threads...)."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        first = rest.split()[:1]
        if first and first[0].isdigit():
            values[name] = int(first[0])
    return values


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


# -- one run ---------------------------------------------------------------------------------

# How often the bench lists the restores to see which finished: the added latency it
# measures is late by up to this much (half on average).
LOOK_EVERY, LOOK_EVERY_UP_TO, LOOK_EVERY_LARGE = 0.25, 200, 1.0
IDLE_SETTLE = 5.0


def run_one(
    aws: AwsSandbox,
    policy: Policy,
    n: int,
    delay: float,
    workdir: Path,
    extra_env: dict[str, str],
    timeout: float,
    aws_pid: int | None = None,
    case: str = "",
    repeat: int = 1,
    idle_seconds: float = 0.0,
) -> Result:
    """One run of N restores; with ``idle_seconds``, then the quiet interval after them."""
    name = f"{case or f'{policy.name}-{n}'}-{repeat}"
    result = Result(policy.name, n, case=case, repeat=repeat, delay=delay, settings=extra_env)
    seed_aws(aws, delay)
    with operator_running(aws, workdir, name, {**policy.env, **extra_env}) as (kube, operator):
        log_path = operator.log_path
        result.log = str(log_path)
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
            time.sleep(LOOK_EVERY if n <= LOOK_EVERY_UP_TO else LOOK_EVERY_LARGE)
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
        result.threads = proc_status(operator.pid).get("Threads", 0)
        result.load_average_end = os.getloadavg()[0]
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
        if idle_seconds > 0 and not result.timed_out:
            result.idle = measure_idle(operator.pid, aws, kube, n, idle_seconds)
    return result


def measure_idle(
    pid: int, aws: AwsSandbox, kube: KubeSandbox, finished: int, seconds: float
) -> Idle:
    """The operator's cost while nothing happens: CPU, RSS, threads and the calls it makes
    over ``seconds``, from ``IDLE_SETTLE`` seconds after the last restore finished (its last
    records and events are written by then)."""
    time.sleep(IDLE_SETTLE)
    cpu, aws_calls = proc_cpu_seconds(pid), len(aws.call_records())
    kube_calls = sum(kube.api_calls().values())
    time.sleep(seconds)
    status = proc_status(pid)
    return Idle(
        finished=finished,
        seconds=seconds,
        cpu_seconds=proc_cpu_seconds(pid) - cpu,
        rss_mib=status.get("VmRSS", 0) / 1024,
        threads=status.get("Threads", 0),
        aws_calls=len(aws.call_records()) - aws_calls,
        kube_calls=sum(kube.api_calls().values()) - kube_calls,
    )


def parse_sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def parse_names(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown case {', '.join(unknown)}; the cases are {', '.join(CASES)}"
        )
    return names


def select_cases(args: argparse.Namespace) -> list[Case]:
    """The cases to run, from --cases/--quick, or ad hoc from the older --sizes."""
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise SystemExit(
            f"unknown policy {', '.join(unknown)}; the policies: {', '.join(POLICIES)}"
        )
    if args.sizes:
        baseline_sizes = set(args.baseline_sizes or [n for n in args.sizes if n == 100])
        chosen = []
        for n in args.sizes:
            chosen.append(Case(f"{BASELINE}-{n}", BASELINE, n))
            chosen += [
                Case(f"{p}-{n}", p, n, group=f"baselines-{n}")
                for p in POLICIES
                if p != BASELINE and n in baseline_sizes
            ]
    else:
        chosen = [CASES[name] for name in (args.cases or (QUICK if args.quick else FULL))]
    if args.repeats is not None:
        chosen = [
            dataclasses.replace(c, repeats=args.repeats if c.repeats > 1 else 1) for c in chosen
        ]
    elif args.quick:
        chosen = [dataclasses.replace(c, repeats=1) for c in chosen]
    return [c for c in chosen if c.policy in policies]


def schedule(chosen: list[Case]) -> list[list[tuple[Case, int]]]:
    """The order of the runs: steps of (case, repeat) run side by side. Consecutive cases
    with repeats take turns (this operator, then the baselines, three times), so that a
    change in the machine's load touches all of them alike."""
    steps: list[list[tuple[Case, int]]] = []
    i = 0
    while i < len(chosen):
        j = i + 1
        if chosen[i].repeats > 1:
            while j < len(chosen) and chosen[j].repeats > 1 and chosen[j].n == chosen[i].n:
                j += 1
        else:
            while j < len(chosen) and chosen[j].group and chosen[j].group == chosen[i].group:
                j += 1
        block = chosen[i:j]
        for repeat in range(1, max(c.repeats for c in block) + 1):
            step: list[tuple[Case, int]] = []
            for case in block:
                if repeat > case.repeats:
                    continue
                if step and not (case.group and case.group == step[-1][0].group):
                    steps.append(step)
                    step = []
                step.append((case, repeat))
            if step:
                steps.append(step)
        i = j
    return steps


# Options whose value is a place on this machine, left out of the command the report shows.
LOCAL_OPTIONS = ("--workdir", "--json", "--markdown", "--docs")


def shown_command(argv: list[str]) -> str:
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in LOCAL_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in LOCAL_OPTIONS)):
            shown.append(arg)
    return " ".join(["python -m bench.scale", *shown])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cases",
        type=parse_names,
        help=f"comma-separated, in this order by default: {','.join(FULL)}",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{','.join(QUICK)}, each once: a smoke run"
    )
    parser.add_argument(
        "--repeats", type=int, help="runs of each repeated (N = 100) case (default 3; quick 1)"
    )
    parser.add_argument(
        "--sizes", type=parse_sizes, help="instead of --cases: this operator at these N"
    )
    parser.add_argument(
        "--baseline-sizes",
        type=parse_sizes,
        help="with --sizes: the sizes at which the baselines run too (default: 100)",
    )
    parser.add_argument(
        "--policies",
        default=",".join(POLICIES),
        help="only the cases of these policies (comma-separated: batched, seed, requeue30)",
    )
    parser.add_argument(
        "--serial-baselines",
        action="store_true",
        help="run the baselines one after the other (default: side by side, each with its "
        "own stand-ins and operator: they mostly sleep, and it halves the bench's time)",
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=10.0,
        help="seconds each simulated RDS state lasts (N = 1000: 30)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        help="the quiet interval of the idle measurements (default 60; quick 20)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra operator setting for every run, e.g. AURORA_RESTORE_AWS_RATE_LIMIT=50",
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds per run (N = 1000: 1200)"
    )
    parser.add_argument("--json", type=Path, help="write the raw results here too")
    parser.add_argument("--markdown", type=Path, help="write the report here too")
    parser.add_argument(
        "--docs", type=Path, help="rewrite the results section of this page (docs/benchmarks.md)"
    )
    parser.add_argument("--workdir", type=Path, help="keep logs and results here")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)

    chosen = select_cases(args)
    steps = schedule(
        chosen if not args.serial_baselines else [dataclasses.replace(c, group="") for c in chosen]
    )
    idle_seconds = (
        args.idle_seconds if args.idle_seconds is not None else (20.0 if args.quick else 60.0)
    )
    extra_env = dict(item.split("=", 1) for item in args.env)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="aurora-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shown_command(argv),
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release().split('-')[0]}",
        "delay": args.delay,
        "waits": WAITS_PER_RESTORE,
        "load_average": os.getloadavg()[0],
    }

    began = time.monotonic()
    results: list[Result] = []
    servers: dict[str, AwsProcess] = {}

    def server(policy: Policy) -> AwsProcess:
        if policy.name not in servers:
            servers[policy.name] = AwsProcess(workdir / f"aws-{policy.name}.log")
        return servers[policy.name]

    def run(job: tuple[Case, int]) -> Result:
        case, repeat = job
        policy = POLICIES[case.policy]
        aws = server(policy)
        print(f"-- {case.name} run {repeat} (N={case.n}) ...", file=sys.stderr, flush=True)
        result = run_one(
            aws.sandbox,
            policy,
            case.n,
            case.delay if case.delay is not None else args.delay,
            workdir,
            {**dict(case.settings), **extra_env},
            case.timeout if case.timeout is not None else args.timeout,
            aws.proc.pid,
            case=case.name,
            repeat=repeat,
            idle_seconds=idle_seconds if case.idle and repeat == 1 else 0.0,
        )
        idle = result.idle
        print(
            f"   {case.name} run {repeat}: {result.completed}/{case.n} completed in "
            f"{result.wall_seconds:.1f}s; added median {result.added_median:.1f}s "
            f"p95 {result.added_p95:.1f}s max {result.added_max:.1f}s; RDS calls/restore "
            f"{result.per_restore(result.rds_calls):.2f}; CPU {result.cpu_seconds:.1f}s; "
            f"RSS {result.peak_rss_mib:.0f} MiB"
            + (f"; idle CPU {idle.cpu_percent:.2f}% RSS {idle.rss_mib:.0f} MiB" if idle else ""),
            file=sys.stderr,
            flush=True,
        )
        return result

    try:
        for step in steps:
            for case, _ in step:
                server(POLICIES[case.policy])  # started before the clock of any run
            if len(step) == 1:
                results.append(run(step[0]))
            else:
                with ThreadPoolExecutor(max_workers=len(step)) as pool:
                    results += list(pool.map(run, step))
    finally:
        for aws in servers.values():
            aws.stop()
    meta["elapsed_seconds"] = time.monotonic() - began
    meta["load_average_end"] = os.getloadavg()[0]
    text = render(results, meta)
    print(text)
    print("\n" + targets_table(evaluate(results)), file=sys.stderr)
    raw = to_json(results)
    (workdir / "report.md").write_text(text + "\n")
    (workdir / "results.json").write_text(raw)
    (workdir / "run.json").write_text(json.dumps(meta, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(raw)
    if args.docs:
        args.docs.write_text(update_docs(args.docs.read_text(), text))
    print(f"logs, report.md, results.json and run.json: {workdir}", file=sys.stderr)
    return 0 if all(r.completed == r.n for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
