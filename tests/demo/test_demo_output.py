"""The demo's rendering, without starting anything."""

from __future__ import annotations

import io
import re
from typing import Any

from aurora_restore.cli import build_parser
from aurora_restore_sandbox.demo import (
    Console,
    Example,
    ProgressView,
    _cut,
    progress_line,
    table_lines,
)
from aurora_restore_sandbox.stack import repo_root

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def status(
    phase: str, pct: int | None = None, running: str = "check-copy-status"
) -> dict[str, Any]:
    st: dict[str, Any] = {
        "phase": phase,
        "message": "Snapshot copy is still in progress",
        "steps": [
            {
                "name": "snapshot-check",
                "state": "Succeeded",
                "startedAt": "2026-01-01T00:00:00Z",
                "finishedAt": "2026-01-01T00:00:01Z",
                "message": "found",
            },
            {"name": running, "state": "Running", "startedAt": "2026-01-01T00:00:01Z"},
            {"name": "setup-db-users", "state": "Pending"},
        ],
    }
    if pct is not None:
        st["copy"] = {"percentProgress": pct}
    return st


def test_plain_lines_only_when_something_changes() -> None:
    out = io.StringIO()
    view = ProgressView(Console(out, color=False, live=False), "staging-refresh")
    view.update(status("CopyingSnapshot", 10), 1)
    view.update(status("CopyingSnapshot", 10), 2)
    view.update(status("CopyingSnapshot", 55), 3)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("[0:03]")
    assert "CopyingSnapshot" in lines[1] and "check-copy-status" in lines[1]
    assert "55%" in lines[1]


def test_live_table_redraws_in_place(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "40")
    out = io.StringIO()
    console = Console(out, color=True, live=True)
    view = ProgressView(console, "staging-refresh")
    view.start()
    view.update(status("CopyingSnapshot", 10), 1)
    first = out.getvalue()
    view.update(status("CopyingSnapshot", 60), 2)
    view.close()
    again = out.getvalue()[len(first) :]
    drawn = len(table_lines(console, "staging-refresh", status("CopyingSnapshot", 10), 1))
    assert again.startswith(f"\x1b[{drawn}F")  # back to the top of the table
    plain = ANSI.sub("", again)
    assert "phase CopyingSnapshot" in plain and "elapsed 0:02" in plain and "60%" in plain
    assert "check-copy-status" in plain
    assert again.endswith("\x1b[?25h")  # the cursor is shown again


def test_no_color_means_no_escapes() -> None:
    console = Console(io.StringIO(), color=False, live=False)
    lines = table_lines(console, "x", status("RestoringCluster", 100, "check-restore-status"), 75)
    assert not any("\x1b" in line for line in lines)
    assert "elapsed 1:15" in lines[0]
    assert "copy 100%" in lines[1]


def test_cut_keeps_escapes_whole() -> None:
    line = "\x1b[32mSucceeded\x1b[0m and more text"
    cut = _cut(line, 5)
    assert ANSI.sub("", cut) == "Succe"
    assert cut.endswith("\x1b[0m")


def test_progress_line_before_any_status() -> None:
    assert progress_line({}, 0).startswith("[0:00]  Pending")


def test_example_without_database_drops_only_database_fields() -> None:
    example = Example.load(repo_root() / "examples" / "demo-cross-region.yaml")
    assert example.master_password()  # the sandbox PostgreSQL is started with it
    spec = example.without_database().restore["spec"]
    assert not {"masterPassword", "users", "sql", "connectionSecret"} & set(spec)
    assert spec["source"] == {"region": "us-east-1", "clusterIdentifier": "prod"}
    assert "users" in example.restore["spec"]  # the original is untouched


def test_commands_and_flags() -> None:
    parser = build_parser()
    args = parser.parse_args(["demo", "--fast", "--keep", "--no-color"])
    assert (args.fast, args.keep, args.no_color) == (True, True, True)
    assert callable(args.func)
    args = parser.parse_args(["sandbox"])
    assert args.delay == 10.0 and callable(args.func)
