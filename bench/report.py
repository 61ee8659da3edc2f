"""The scale bench's results: what one run measured, the tables, and the issue's targets.

``bench/scale.py`` measures; this module only computes and renders, with no I/O but the
command line at the bottom, so that a saved ``results.json`` can be rendered again and the
reporting can be tested on synthetic results (tests/benchmark).

    .venv/bin/python -m bench.report WORKDIR                       # print the tables again
    .venv/bin/python -m bench.report WORKDIR --docs docs/benchmarks.md

``--docs`` rewrites the part of the page between the two ``bench:results`` markers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# The three status Describes; the other RDS calls of a restore are its mutating calls.
DESCRIBES = ("DescribeDBClusterSnapshots", "DescribeDBClusters", "DescribeDBInstances")
# The calls that write the records every operation leaves (audit and state items,
# metrics). The target lease (UpdateItem, GetItem, DeleteItem) is not a record.
RECORD_WRITES = (
    "dynamodb.PutItem",
    "dynamodb.BatchWriteItem",
    "dynamodb.TransactWriteItems",
    "monitoring.PutMetricData",
)
# Settings that change the client-side RDS budget: a run with any of them is not "under
# the default budget".
BUDGET_SETTINGS = ("AURORA_RESTORE_AWS_RATE_LIMIT", "AURORA_RESTORE_AWS_RATE_BURST")
BASELINE = "batched"  # the policy the others are compared with
DOCS_BEGIN = "<!-- bench:results:begin (written by python -m bench.report) -->"
DOCS_END = "<!-- bench:results:end -->"


@dataclass
class Idle:
    """The operator over a quiet interval after every restore of a run finished."""

    finished: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rss_mib: float = 0.0
    threads: int = 0
    aws_calls: int = 0
    kube_calls: int = 0

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu_seconds / self.seconds if self.seconds else 0.0


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
    # Which case of the bench this run belongs to, and which of its repeats it is.
    case: str = ""
    repeat: int = 1
    delay: float = 0.0
    # Operator settings the case adds to its policy's (e.g. a raised budget at N = 1000).
    settings: dict[str, str] = field(default_factory=dict)
    load_average_end: float = 0.0
    threads: int = 0  # the operator's threads when the last restore finished
    idle: Idle | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """A result from results.json; keys it does not know (an older or newer bench's)
        are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("idle"), dict):
            values["idle"] = Idle(**values["idle"])
        return cls(**values)

    @property
    def key(self) -> str:
        return self.case or f"{self.policy}-{self.n}"

    @property
    def rds_calls(self) -> int:
        return sum(v for k, v in self.aws_calls.items() if k.startswith("rds."))

    @property
    def describes(self) -> int:
        return sum(self.aws_calls.get(f"rds.{op}", 0) for op in DESCRIBES)

    @property
    def record_writes(self) -> int:
        return sum(self.aws_calls.get(op, 0) for op in RECORD_WRITES)

    @property
    def kube_total(self) -> int:
        return sum(self.kube_calls.values())

    def kube_verb(self, verb: str) -> int:
        return sum(v for k, v in self.kube_calls.items() if k.split(" ", 1)[0] == verb)

    @property
    def cpu_cores(self) -> float:
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def default_budget(self) -> bool:
        return not any(name in self.settings for name in BUDGET_SETTINGS)

    @property
    def label(self) -> str:
        """The policy, with what the case changes in the operator's settings."""
        extra = ", ".join(
            f"{k.removeprefix('AURORA_RESTORE_')}={v}" for k, v in sorted(self.settings.items())
        )
        return f"{self.policy} ({extra})" if extra else self.policy

    def per_restore(self, value: float) -> float:
        return value / self.n if self.n else 0.0


# -- statistics ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class Spread:
    """A value over the repeats of a case: the median, and the lowest and highest."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        seq = list(values)
        if not seq:
            return cls(0.0, 0.0, 0.0, 0)
        return cls(statistics.median(seq), min(seq), max(seq), len(seq))

    def text(self, digits: int = 1) -> str:
        if self.count < 2:
            return _f(self.median, digits)
        return f"{_f(self.median, digits)} ({_f(self.low, digits)}–{_f(self.high, digits)})"


def cases(results: Iterable[Result]) -> dict[str, list[Result]]:
    """The runs of each case (its repeats), cases in the order they first ran."""
    grouped: dict[str, list[Result]] = {}
    for r in results:
        grouped.setdefault(r.key, []).append(r)
    return grouped


def runs_of(
    results: Iterable[Result], policy: str, n: int, default_budget: bool = False
) -> list[Result]:
    return [
        r
        for r in results
        if r.policy == policy and r.n == n and (r.default_budget or not default_budget)
    ]


def over(runs: list[Result], value: Callable[[Result], float]) -> Spread:
    return Spread.of(value(r) for r in runs)


# -- the targets of issue 20 -----------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: the run did not include the case the target is about

    @property
    def mark(self) -> str:
        return {True: "met", False: "**not met**", None: "not measured"}[self.met]


# Each target's threshold, once: the table below and the check read them from here.
ADDED_MEDIAN_MAX_S = 2.0
RATIO_TO_REQUEUE30_MIN = 20.0
ADDED_P95_MAX_S = 4.0
MAX_OVER_P95_MAX = 2.0
RECORD_WRITES_MAX = 8.0
KUBE_PATCHES_MAX = 10.0
RDS_CALLS_MAX = {100: 5.5, 200: 6.0}
LARGE_N = 1000
LARGE_RSS_MAX_MIB = 250.0
LARGE_CPU_MAX_CORES = 0.3
# Idle with 1000 finished "within a few percent of none", read as: RSS within 5 % and
# CPU within 0.05 % of a core (the quiet interval's CPU is a few ticks of 10 ms).
IDLE_RSS_RATIO_MAX = 1.05
IDLE_CPU_POINTS_MAX = 0.05


def _missing(target: str, what: str) -> Verdict:
    return Verdict(target, f"no {what} in this run", None)


def evaluate(results: list[Result]) -> list[Verdict]:
    """Every target of issue 20 against the measured values (medians over repeats)."""
    verdicts: list[Verdict] = []
    ours = runs_of(results, BASELINE, 100, default_budget=True)
    requeue = runs_of(results, "requeue30", 100, default_budget=True)
    runs_text = f"median of {len(ours)} runs" if len(ours) > 1 else "1 run"
    if ours:  # latency is what a loaded machine changes first: show how loaded it was
        low = min(min(r.load_average, r.load_average_end) for r in ours)
        high = max(max(r.load_average, r.load_average_end) for r in ours)
        runs_text += f"; load average {_f(low)}–{_f(high)}"

    target = f"N = 100: added median ≤ {ADDED_MEDIAN_MAX_S:g} s"
    if ours:
        median = over(ours, lambda r: r.added_median)
        verdicts.append(
            Verdict(
                target,
                f"{median.text()} s ({runs_text})",
                median.median <= ADDED_MEDIAN_MAX_S,
            )
        )
    else:
        verdicts.append(_missing(target, "batched N = 100"))

    target = f"N = 100: ratio to requeue30 ≥ {RATIO_TO_REQUEUE30_MIN:g}×"
    if ours and requeue:
        theirs = over(requeue, lambda r: r.added_median).median
        mine = over(ours, lambda r: r.added_median).median
        ratio = theirs / mine if mine > 0 else float("inf")
        verdicts.append(
            Verdict(
                target,
                f"{ratio:.1f}× ({_f(theirs)} s ÷ {_f(mine)} s)",
                ratio >= RATIO_TO_REQUEUE30_MIN,
            )
        )
    else:
        verdicts.append(_missing(target, "requeue30 and batched N = 100"))

    target = f"N = 100: added p95 ≤ {ADDED_P95_MAX_S:g} s"
    if ours:
        p95 = over(ours, lambda r: r.added_p95)
        verdicts.append(Verdict(target, f"{p95.text()} s", p95.median <= ADDED_P95_MAX_S))
    else:
        verdicts.append(_missing(target, "batched N = 100"))

    # Every run, not the median: a lost wake-up shows as one run's outlier.
    target = f"N = 100: added max ≤ {MAX_OVER_P95_MAX:g} × p95, every run"
    if ours:
        worst = max(ours, key=lambda r: r.added_max / r.added_p95 if r.added_p95 > 0 else 0)
        ratio = worst.added_max / worst.added_p95 if worst.added_p95 > 0 else 0.0
        verdicts.append(
            Verdict(
                target,
                f"worst: max {_f(worst.added_max)} s, p95 {_f(worst.added_p95)} s "
                f"({ratio:.2f}×, run {worst.repeat})",
                all(r.added_max <= MAX_OVER_P95_MAX * r.added_p95 for r in ours),
            )
        )
    else:
        verdicts.append(_missing(target, "batched N = 100"))

    for target, value, parts, limit in (
        (
            f"N = 100: ≤ {RECORD_WRITES_MAX:g} record-write calls per restore",
            lambda r: r.per_restore(r.record_writes),
            lambda r: {op: r.aws_calls.get(op, 0) for op in RECORD_WRITES},
            RECORD_WRITES_MAX,
        ),
        (
            f"N = 100: ≤ {KUBE_PATCHES_MAX:g} Kubernetes patches per restore",
            lambda r: r.per_restore(r.kube_verb("patch")),
            lambda r: {k: v for k, v in r.kube_calls.items() if k.startswith("patch ")},
            KUBE_PATCHES_MAX,
        ),
    ):
        if ours:
            spread = over(ours, value)
            verdicts.append(
                Verdict(
                    target,
                    f"{spread.text(2)}: {breakdown(ours, parts)}",
                    spread.median <= limit,
                )
            )
        else:
            verdicts.append(_missing(target, "batched N = 100"))

    for n, limit in RDS_CALLS_MAX.items():
        target = f"N = {n}: ≤ {limit:g} RDS calls per restore, default budget"
        runs = runs_of(results, BASELINE, n, default_budget=True)
        if runs:
            spread = over(runs, lambda r: r.per_restore(r.rds_calls))
            verdicts.append(Verdict(target, spread.text(2), spread.median <= limit))
        else:
            verdicts.append(_missing(target, f"batched N = {n} under the default budget"))

    large = runs_of(results, BASELINE, LARGE_N)
    what = f"batched N = {LARGE_N}"
    target = f"N = {LARGE_N}: all complete"
    if large:
        done = min(r.completed for r in large)
        verdicts.append(
            Verdict(target, f"{done}/{LARGE_N}", all(r.completed == r.n for r in large))
        )
    else:
        verdicts.append(_missing(target, what))
    target = f"N = {LARGE_N}: peak RSS ≤ {LARGE_RSS_MAX_MIB:g} MiB"
    if large:
        rss = over(large, lambda r: r.peak_rss_mib)
        verdicts.append(Verdict(target, f"{rss.text()} MiB", rss.median <= LARGE_RSS_MAX_MIB))
    else:
        verdicts.append(_missing(target, what))
    target = f"N = {LARGE_N}: CPU ≤ {LARGE_CPU_MAX_CORES:g} core averaged over the run"
    if large:
        cores = over(large, lambda r: r.cpu_cores)
        verdicts.append(
            Verdict(target, f"{cores.text(2)} core", cores.median <= LARGE_CPU_MAX_CORES)
        )
    else:
        verdicts.append(_missing(target, what))

    target = (
        f"idle with {LARGE_N} finished as with none: RSS ≤ {IDLE_RSS_RATIO_MAX:g} ×, "
        f"CPU ≤ + {IDLE_CPU_POINTS_MAX:g} % of a core"
    )
    idle = {i.finished: i for i in idle_results(results)}
    if 0 in idle and LARGE_N in idle:
        none, full = idle[0], idle[LARGE_N]
        verdicts.append(
            Verdict(
                target,
                f"RSS {_f(full.rss_mib)} vs {_f(none.rss_mib)} MiB, CPU "
                f"{full.cpu_percent:.2f} vs {none.cpu_percent:.2f} %",
                full.rss_mib <= IDLE_RSS_RATIO_MAX * none.rss_mib
                and full.cpu_percent <= none.cpu_percent + IDLE_CPU_POINTS_MAX,
            )
        )
    else:
        verdicts.append(_missing(target, f"idle measurement with 0 and {LARGE_N} finished"))
    return verdicts


def breakdown(runs: list[Result], parts: Callable[[Result], dict[str, int]]) -> str:
    """What a per-restore count is made of: each part's median over the runs."""
    keys: list[str] = []
    for r in runs:
        keys += [k for k, v in parts(r).items() if v and k not in keys]
    shown = []
    for key in keys:
        median = statistics.median(r.per_restore(parts(r).get(key, 0)) for r in runs)
        shown.append(f"{key.split('.', 1)[-1]} {median:.2f}")
    return ", ".join(shown)


def idle_results(results: Iterable[Result]) -> list[Idle]:
    return sorted((r.idle for r in results if r.idle is not None), key=lambda i: i.finished)


# -- tables ----------------------------------------------------------------------------------


def _f(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]], text: frozenset[int] = frozenset({1})) -> str:
    """A Markdown table; the columns at the ``text`` indexes are left-aligned, the others
    (numbers) right-aligned."""
    align = ["---" if i in text else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def runs_table(results: list[Result]) -> str:
    """One row per run."""
    header = [
        "N",
        "policy",
        "run",
        "completed",
        "wall s",
        "added median s",
        "added p95 s",
        "added max s",
        "RDS calls/restore",
        "Describes/restore",
        "Describes/min",
        "peak RDS calls/s",
        "record writes/restore",
        "K8s patches/restore",
        "K8s requests/restore",
        "CPU s",
        "CPU cores avg",
        "peak RSS MiB",
        "threads",
        "AWS stand-in CPU s",
        "K8s stand-in CPU s",
        "load avg start→end",
    ]
    rows = [
        [
            str(r.n),
            r.label,
            str(r.repeat),
            f"{r.completed}/{r.n}{' (timeout)' if r.timed_out else ''}",
            _f(r.wall_seconds),
            _f(r.added_median),
            _f(r.added_p95),
            _f(r.added_max),
            _f(r.per_restore(r.rds_calls), 2),
            _f(r.per_restore(r.describes), 2),
            _f(60 * r.describes / r.wall_seconds if r.wall_seconds else 0.0),
            _f(r.rds_peak_per_second),
            _f(r.per_restore(r.record_writes), 2),
            _f(r.per_restore(r.kube_verb("patch")), 2),
            _f(r.per_restore(r.kube_total), 1),
            _f(r.cpu_seconds),
            _f(r.cpu_cores, 2),
            _f(r.peak_rss_mib),
            str(r.threads),
            _f(r.aws_cpu_seconds),
            _f(r.kube_cpu_seconds),
            f"{_f(r.load_average)}→{_f(r.load_average_end)}",
        ]
        for r in results
        if r.n
    ]
    return _table(header, rows)


def repeats_table(results: list[Result]) -> str:
    """The cases that ran more than once: median over the runs (lowest–highest)."""
    header = [
        "N",
        "policy",
        "runs",
        "added median s",
        "added p95 s",
        "added max s",
        "RDS calls/restore",
        "record writes/restore",
        "K8s patches/restore",
        "CPU cores avg",
        "peak RSS MiB",
    ]
    rows = []
    for runs in cases(results).values():
        if len(runs) < 2:
            continue
        first = runs[0]
        rows.append(
            [
                str(first.n),
                first.label,
                str(len(runs)),
                over(runs, lambda r: r.added_median).text(),
                over(runs, lambda r: r.added_p95).text(),
                over(runs, lambda r: r.added_max).text(),
                over(runs, lambda r: r.per_restore(r.rds_calls)).text(2),
                over(runs, lambda r: r.per_restore(r.record_writes)).text(2),
                over(runs, lambda r: r.per_restore(r.kube_verb("patch"))).text(2),
                over(runs, lambda r: r.cpu_cores).text(2),
                over(runs, lambda r: r.peak_rss_mib).text(),
            ]
        )
    return _table(header, rows) if rows else ""


def ratio_table(results: list[Result]) -> str:
    """Each baseline against this operator at the same N (medians over the repeats)."""

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.1f}" if b > 0 else "n/a"

    rows = []
    for runs in cases(results).values():
        first = runs[0]
        if first.policy == BASELINE or not first.n:
            continue
        ours = runs_of(results, BASELINE, first.n, default_budget=first.default_budget)
        if not ours:
            continue
        row = [str(first.n), first.policy]
        for value in (
            lambda r: r.rds_calls,
            lambda r: r.describes,
            lambda r: r.added_median,
            lambda r: r.added_p95,
            lambda r: r.kube_total,
            lambda r: r.cpu_seconds,
        ):
            row.append(ratio(over(runs, value).median, over(ours, value).median))
        rows.append(row)
    header = [
        "N",
        "baseline",
        "RDS calls ×",
        "Describes ×",
        "added median ×",
        "added p95 ×",
        "K8s requests ×",
        "CPU ×",
    ]
    return _table(header, rows) if rows else ""


def _columns(results: list[Result], names: Callable[[Result], Iterable[str]]) -> list[str]:
    keys: list[str] = []
    for r in results:
        for key in names(r):
            if key not in keys:
                keys.append(key)
    return keys


def calls_table(results: list[Result], prefixes: tuple[str, ...]) -> str:
    """AWS calls per restore by operation, for the services named (``rds.`` ...)."""
    measured = [r for r in results if r.n]
    keys = _columns(measured, lambda r: (k for k in r.aws_calls if k.startswith(prefixes)))
    if not keys:
        return ""
    rows = [
        [str(r.n), r.label, str(r.repeat)]
        + [_f(r.per_restore(r.aws_calls.get(k, 0)), 2) for k in keys]
        for r in measured
    ]
    return _table(["N", "policy", "run", *(k.split(".", 1)[1] for k in keys)], rows)


def kube_table(results: list[Result]) -> str:
    """Kubernetes requests per restore by verb and resource."""
    measured = [r for r in results if r.n]
    keys = _columns(measured, lambda r: r.kube_calls)
    if not keys:
        return ""
    rows = [
        [str(r.n), r.label, str(r.repeat)]
        + [_f(r.per_restore(r.kube_calls.get(k, 0)), 2) for k in keys]
        for r in measured
    ]
    return _table(["N", "policy", "run", *keys], rows)


def idle_table(results: list[Result]) -> str:
    rows = [
        [
            str(i.finished),
            _f(i.seconds, 0),
            f"{i.cpu_percent:.2f}",
            _f(i.rss_mib),
            str(i.threads),
            str(i.aws_calls),
            str(i.kube_calls),
        ]
        for i in idle_results(results)
    ]
    header = [
        "finished restores",
        "quiet s",
        "operator CPU %",
        "RSS MiB",
        "threads",
        "AWS calls",
        "K8s requests",
    ]
    return _table(header, rows, text=frozenset()) if rows else ""


def targets_table(verdicts: list[Verdict]) -> str:
    rows = [[v.target, v.measured, v.mark] for v in verdicts]
    return _table(["target (issue 20)", "measured", ""], rows, text=frozenset({0, 1, 2}))


def render(results: list[Result], meta: dict[str, Any]) -> str:
    """The whole report: the run, the tables, the targets."""
    intro = (
        f"Run on {meta.get('date', '?')} with `{meta.get('command', '?')}` on "
        f"**{meta.get('machine', '?')}**, shared with other work (load average in the runs "
        f"table). Simulated AWS state: {meta.get('delay', '?')} s by default, "
        f"{meta.get('waits', '?')} per restore. The whole bench took "
        f"{float(meta.get('elapsed_seconds', 0)) / 60:.1f} minutes."
    )
    sections = (
        ("Against the targets of issue 20:", targets_table(evaluate(results))),
        ("Every run:", runs_table(results)),
        (
            "Cases run more than once: median (lowest–highest) over the runs:",
            repeats_table(results),
        ),
        ("Baseline ÷ batched at the same N (medians over the runs):", ratio_table(results)),
        ("RDS calls per restore, by operation:", calls_table(results, ("rds.",))),
        (
            "Record writes and the other DynamoDB and CloudWatch calls per restore:",
            calls_table(results, ("dynamodb.", "monitoring.")),
        ),
        ("Kubernetes requests per restore, by verb and resource:", kube_table(results)),
        (
            "Idle: the operator over a quiet interval after the restores of a run finished:",
            idle_table(results),
        ),
    )
    out = [intro] + [f"{title}\n\n{table}" for title, table in sections if table]
    return "\n\n".join(out)


def update_docs(page: str, fragment: str) -> str:
    """The page with the part between the markers replaced by ``fragment``."""
    begin, end = page.find(DOCS_BEGIN), page.find(DOCS_END)
    if begin < 0 or end < begin:
        raise ValueError(f"the page has no {DOCS_BEGIN!r} ... {DOCS_END!r} section to rewrite")
    return page[: begin + len(DOCS_BEGIN)] + "\n\n" + fragment + "\n\n" + page[end:]


def load(workdir: Path) -> tuple[list[Result], dict[str, Any]]:
    results = [Result.from_dict(d) for d in json.loads((workdir / "results.json").read_text())]
    meta_path = workdir / "run.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return results, meta


def to_json(results: list[Result]) -> str:
    return json.dumps([asdict(r) for r in results], indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("workdir", type=Path, help="a bench.scale --workdir (results.json)")
    parser.add_argument("--docs", type=Path, help="rewrite this page's results section")
    args = parser.parse_args(argv)
    try:
        results, meta = load(args.workdir)
    except (OSError, ValueError, TypeError) as err:
        print(f"cannot read the results in {args.workdir}: {err}", file=sys.stderr)
        return 2
    text = render(results, meta)
    print(text)
    if args.docs:
        try:
            args.docs.write_text(update_docs(args.docs.read_text(), text))
        except (OSError, ValueError) as err:
            print(f"cannot update {args.docs}: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
