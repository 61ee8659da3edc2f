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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Generic, TypeVar

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

T = TypeVar("T")


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


# -- what the tables and the targets read of a run -------------------------------------------


@dataclass(frozen=True)
class Measure:
    """A number one run measured: its column header, how it is read, and its digits."""

    header: str
    value: Callable[[Result], float]
    digits: int = 1

    def of_run(self) -> Column[Result]:
        return Column(self.header, lambda r: _f(self.value(r), self.digits))

    def over_runs(self) -> Column[list[Result]]:
        """The median over a case's runs, with their spread."""
        return Column(self.header, lambda runs: over(runs, self.value).text(self.digits))


# Read alike by the tables and the targets, so that a target shows what the tables show.
ADDED_MEDIAN = Measure("added median s", lambda r: r.added_median)
ADDED_P95 = Measure("added p95 s", lambda r: r.added_p95)
ADDED_MAX = Measure("added max s", lambda r: r.added_max)
RDS_PER_RESTORE = Measure("RDS calls/restore", lambda r: r.per_restore(r.rds_calls), 2)
RECORD_WRITES_PER_RESTORE = Measure(
    "record writes/restore", lambda r: r.per_restore(r.record_writes), 2
)
PATCHES_PER_RESTORE = Measure(
    "K8s patches/restore", lambda r: r.per_restore(r.kube_verb("patch")), 2
)
CPU_CORES = Measure("CPU cores avg", lambda r: r.cpu_cores, 2)
PEAK_RSS = Measure("peak RSS MiB", lambda r: r.peak_rss_mib)


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

# What a target's check makes of the runs it is about: the measured text, and whether met.
Check = Callable[[list[T]], tuple[str, bool]]


def _judge(target: str, runs: list[T], what: str, check: Check[T]) -> Verdict:
    """``target`` judged by ``check``; not measured when the bench ran no ``what``."""
    if not runs:
        return Verdict(target, f"no {what} in this run", None)
    measured, met = check(runs)
    return Verdict(target, measured, met)


def _median_at_most(measure: Measure, limit: float, unit: str = "") -> Check[Result]:
    """Met when the median of ``measure`` over the runs is at most ``limit``."""

    def check(runs: list[Result]) -> tuple[str, bool]:
        spread = over(runs, measure.value)
        return f"{spread.text(measure.digits)}{unit}", spread.median <= limit

    return check


def _ratio_to(requeue: list[Result]) -> Check[Result]:
    def check(ours: list[Result]) -> tuple[str, bool]:
        theirs = over(requeue, ADDED_MEDIAN.value).median
        mine = over(ours, ADDED_MEDIAN.value).median
        ratio = theirs / mine if mine > 0 else float("inf")
        return f"{ratio:.1f}× ({_f(theirs)} s ÷ {_f(mine)} s)", ratio >= RATIO_TO_REQUEUE30_MIN

    return check


def _max_within_p95(ours: list[Result]) -> tuple[str, bool]:
    worst = max(ours, key=lambda r: r.added_max / r.added_p95 if r.added_p95 > 0 else 0)
    ratio = worst.added_max / worst.added_p95 if worst.added_p95 > 0 else 0.0
    return (
        f"worst: max {_f(worst.added_max)} s, p95 {_f(worst.added_p95)} s "
        f"({ratio:.2f}×, run {worst.repeat})",
        all(r.added_max <= MAX_OVER_P95_MAX * r.added_p95 for r in ours),
    )


def _all_complete(large: list[Result]) -> tuple[str, bool]:
    done = min(r.completed for r in large)
    return f"{done}/{LARGE_N}", all(r.completed == r.n for r in large)


def _idle_as_with_none(pair: list[Idle]) -> tuple[str, bool]:
    none, full = pair
    return (
        f"RSS {_f(full.rss_mib)} vs {_f(none.rss_mib)} MiB, CPU "
        f"{full.cpu_percent:.2f} vs {none.cpu_percent:.2f} %",
        full.rss_mib <= IDLE_RSS_RATIO_MAX * none.rss_mib
        and full.cpu_percent <= none.cpu_percent + IDLE_CPU_POINTS_MAX,
    )


def evaluate(results: list[Result]) -> list[Verdict]:
    """Every target of issue 20 against the measured values (medians over repeats)."""
    ours = runs_of(results, BASELINE, 100, default_budget=True)
    requeue = runs_of(results, "requeue30", 100, default_budget=True)
    large = runs_of(results, BASELINE, LARGE_N)
    idle = {i.finished: i for i in idle_results(results)}
    runs_text = f"median of {len(ours)} runs" if len(ours) > 1 else "1 run"
    if ours:  # latency is what a loaded machine changes first: show how loaded it was
        low = min(min(r.load_average, r.load_average_end) for r in ours)
        high = max(max(r.load_average, r.load_average_end) for r in ours)
        runs_text += f"; load average {_f(low)}–{_f(high)}"
    batched, batched_large = "batched N = 100", f"batched N = {LARGE_N}"
    record_writes = breakdown(ours, lambda r: {op: r.aws_calls.get(op, 0) for op in RECORD_WRITES})
    patches = breakdown(
        ours, lambda r: {k: v for k, v in r.kube_calls.items() if k.startswith("patch ")}
    )
    return [
        _judge(
            f"N = 100: added median ≤ {ADDED_MEDIAN_MAX_S:g} s",
            ours,
            batched,
            _median_at_most(ADDED_MEDIAN, ADDED_MEDIAN_MAX_S, f" s ({runs_text})"),
        ),
        _judge(
            f"N = 100: ratio to requeue30 ≥ {RATIO_TO_REQUEUE30_MIN:g}×",
            ours if requeue else [],
            "requeue30 and batched N = 100",
            _ratio_to(requeue),
        ),
        _judge(
            f"N = 100: added p95 ≤ {ADDED_P95_MAX_S:g} s",
            ours,
            batched,
            _median_at_most(ADDED_P95, ADDED_P95_MAX_S, " s"),
        ),
        # Every run, not the median: a lost wake-up shows as one run's outlier.
        _judge(
            f"N = 100: added max ≤ {MAX_OVER_P95_MAX:g} × p95, every run",
            ours,
            batched,
            _max_within_p95,
        ),
        _judge(
            f"N = 100: ≤ {RECORD_WRITES_MAX:g} record-write calls per restore",
            ours,
            batched,
            _median_at_most(RECORD_WRITES_PER_RESTORE, RECORD_WRITES_MAX, f": {record_writes}"),
        ),
        _judge(
            f"N = 100: ≤ {KUBE_PATCHES_MAX:g} Kubernetes patches per restore",
            ours,
            batched,
            _median_at_most(PATCHES_PER_RESTORE, KUBE_PATCHES_MAX, f": {patches}"),
        ),
        *(
            _judge(
                f"N = {n}: ≤ {limit:g} RDS calls per restore, default budget",
                runs_of(results, BASELINE, n, default_budget=True),
                f"batched N = {n} under the default budget",
                _median_at_most(RDS_PER_RESTORE, limit),
            )
            for n, limit in RDS_CALLS_MAX.items()
        ),
        _judge(f"N = {LARGE_N}: all complete", large, batched_large, _all_complete),
        _judge(
            f"N = {LARGE_N}: peak RSS ≤ {LARGE_RSS_MAX_MIB:g} MiB",
            large,
            batched_large,
            _median_at_most(PEAK_RSS, LARGE_RSS_MAX_MIB, " MiB"),
        ),
        _judge(
            f"N = {LARGE_N}: CPU ≤ {LARGE_CPU_MAX_CORES:g} core averaged over the run",
            large,
            batched_large,
            _median_at_most(CPU_CORES, LARGE_CPU_MAX_CORES, " core"),
        ),
        _judge(
            f"idle with {LARGE_N} finished as with none: RSS ≤ {IDLE_RSS_RATIO_MAX:g} ×, "
            f"CPU ≤ + {IDLE_CPU_POINTS_MAX:g} % of a core",
            [idle[0], idle[LARGE_N]] if 0 in idle and LARGE_N in idle else [],
            f"idle measurement with 0 and {LARGE_N} finished",
            _idle_as_with_none,
        ),
    ]


def _first_seen(items: Iterable[T], keys: Callable[[T], Iterable[str]]) -> list[str]:
    """The keys of all the items, each once, in the order they first appear."""
    seen: list[str] = []
    for item in items:
        seen += [k for k in keys(item) if k not in seen]
    return seen


def breakdown(runs: list[Result], parts: Callable[[Result], dict[str, int]]) -> str:
    """What a per-restore count is made of: each part's median over the runs."""
    shown = []
    for key in _first_seen(runs, lambda r: (k for k, v in parts(r).items() if v)):
        median = statistics.median(r.per_restore(parts(r).get(key, 0)) for r in runs)
        shown.append(f"{key.split('.', 1)[-1]} {median:.2f}")
    return ", ".join(shown)


def idle_results(results: Iterable[Result]) -> list[Idle]:
    return sorted((r.idle for r in results if r.idle is not None), key=lambda i: i.finished)


# -- tables ----------------------------------------------------------------------------------


def _f(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


@dataclass(frozen=True)
class Column(Generic[T]):
    """A table column: its header and its cell for one row's item; text is left-aligned,
    numbers right-aligned."""

    header: str
    cell: Callable[[T], str]
    text: bool = False


def _table(columns: Sequence[Column[T]], items: Iterable[T]) -> str:
    """A Markdown table with a row per item."""
    align = ["---" if c.text else "---:" for c in columns]
    lines = ["| " + " | ".join(c.header for c in columns) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(c.cell(item) for c in columns) + " |" for item in items]
    return "\n".join(lines)


# What names a run in the tables with a row per run.
RUN_NAME: tuple[Column[Result], ...] = (
    Column("N", lambda r: str(r.n)),
    Column("policy", lambda r: r.label, text=True),
    Column("run", lambda r: str(r.repeat)),
)
RUN_COLUMNS: tuple[Column[Result], ...] = (
    *RUN_NAME,
    Column("completed", lambda r: f"{r.completed}/{r.n}{' (timeout)' if r.timed_out else ''}"),
    Measure("wall s", lambda r: r.wall_seconds).of_run(),
    ADDED_MEDIAN.of_run(),
    ADDED_P95.of_run(),
    ADDED_MAX.of_run(),
    RDS_PER_RESTORE.of_run(),
    Measure("Describes/restore", lambda r: r.per_restore(r.describes), 2).of_run(),
    Measure(
        "Describes/min", lambda r: 60 * r.describes / r.wall_seconds if r.wall_seconds else 0.0
    ).of_run(),
    Measure("peak RDS calls/s", lambda r: r.rds_peak_per_second).of_run(),
    RECORD_WRITES_PER_RESTORE.of_run(),
    PATCHES_PER_RESTORE.of_run(),
    Measure("K8s requests/restore", lambda r: r.per_restore(r.kube_total)).of_run(),
    Measure("CPU s", lambda r: r.cpu_seconds).of_run(),
    CPU_CORES.of_run(),
    PEAK_RSS.of_run(),
    Column("threads", lambda r: str(r.threads)),
    Measure("AWS stand-in CPU s", lambda r: r.aws_cpu_seconds).of_run(),
    Measure("K8s stand-in CPU s", lambda r: r.kube_cpu_seconds).of_run(),
    Column("load avg start→end", lambda r: f"{_f(r.load_average)}→{_f(r.load_average_end)}"),
)
REPEATS_COLUMNS: tuple[Column[list[Result]], ...] = (
    Column("N", lambda runs: str(runs[0].n)),
    Column("policy", lambda runs: runs[0].label, text=True),
    Column("runs", lambda runs: str(len(runs))),
    *(
        m.over_runs()
        for m in (
            ADDED_MEDIAN,
            ADDED_P95,
            ADDED_MAX,
            RDS_PER_RESTORE,
            RECORD_WRITES_PER_RESTORE,
            PATCHES_PER_RESTORE,
            CPU_CORES,
            PEAK_RSS,
        )
    ),
)


def _ratio(header: str, value: Callable[[Result], float]) -> Column[tuple[list[Result], ...]]:
    """A baseline's runs ÷ ours, medians over the runs."""

    def cell(pair: tuple[list[Result], ...]) -> str:
        theirs, ours = (over(runs, value).median for runs in pair)
        return f"{theirs / ours:.1f}" if ours > 0 else "n/a"

    return Column(header, cell)


RATIO_COLUMNS: tuple[Column[tuple[list[Result], ...]], ...] = (
    Column("N", lambda pair: str(pair[0][0].n)),
    Column("baseline", lambda pair: pair[0][0].policy, text=True),
    _ratio("RDS calls ×", lambda r: r.rds_calls),
    _ratio("Describes ×", lambda r: r.describes),
    _ratio("added median ×", lambda r: r.added_median),
    _ratio("added p95 ×", lambda r: r.added_p95),
    _ratio("K8s requests ×", lambda r: r.kube_total),
    _ratio("CPU ×", lambda r: r.cpu_seconds),
)
IDLE_COLUMNS: tuple[Column[Idle], ...] = (
    Column("finished restores", lambda i: str(i.finished)),
    Column("quiet s", lambda i: _f(i.seconds, 0)),
    Column("operator CPU %", lambda i: f"{i.cpu_percent:.2f}"),
    Column("RSS MiB", lambda i: _f(i.rss_mib)),
    Column("threads", lambda i: str(i.threads)),
    Column("AWS calls", lambda i: str(i.aws_calls)),
    Column("K8s requests", lambda i: str(i.kube_calls)),
)
TARGET_COLUMNS: tuple[Column[Verdict], ...] = (
    Column("target (issue 20)", lambda v: v.target, text=True),
    Column("measured", lambda v: v.measured, text=True),
    Column("", lambda v: v.mark, text=True),
)


def runs_table(results: list[Result]) -> str:
    """One row per run."""
    return _table(RUN_COLUMNS, [r for r in results if r.n])


def repeats_table(results: list[Result]) -> str:
    """The cases that ran more than once: median over the runs (lowest–highest)."""
    repeated = [runs for runs in cases(results).values() if len(runs) > 1]
    return _table(REPEATS_COLUMNS, repeated) if repeated else ""


def ratio_table(results: list[Result]) -> str:
    """Each baseline against this operator at the same N (medians over the repeats)."""
    pairs = []
    for runs in cases(results).values():
        first = runs[0]
        if first.policy == BASELINE or not first.n:
            continue
        ours = runs_of(results, BASELINE, first.n, default_budget=first.default_budget)
        if ours:
            pairs.append((runs, ours))
    return _table(RATIO_COLUMNS, pairs) if pairs else ""


def _per_restore(
    header: str, counts: Callable[[Result], dict[str, int]], key: str
) -> Column[Result]:
    return Measure(header, lambda r: r.per_restore(counts(r).get(key, 0)), 2).of_run()


def _counts_table(
    results: list[Result],
    counts: Callable[[Result], dict[str, int]],
    header: Callable[[str], str],
) -> str:
    """Per restore, a column for each key of the runs' ``counts``."""
    measured = [r for r in results if r.n]
    keys = _first_seen(measured, counts)
    if not keys:
        return ""
    return _table([*RUN_NAME, *(_per_restore(header(k), counts, k) for k in keys)], measured)


def calls_table(results: list[Result], prefixes: tuple[str, ...]) -> str:
    """AWS calls per restore by operation, for the services named (``rds.`` ...)."""
    return _counts_table(
        results,
        lambda r: {k: v for k, v in r.aws_calls.items() if k.startswith(prefixes)},
        lambda key: key.split(".", 1)[1],
    )


def kube_table(results: list[Result]) -> str:
    """Kubernetes requests per restore by verb and resource."""
    return _counts_table(results, lambda r: r.kube_calls, str)


def idle_table(results: list[Result]) -> str:
    idle = idle_results(results)
    return _table(IDLE_COLUMNS, idle) if idle else ""


def targets_table(verdicts: list[Verdict]) -> str:
    return _table(TARGET_COLUMNS, verdicts)


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
