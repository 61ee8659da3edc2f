"""The example resources of examples/ (and the invalid ones of examples/invalid/, each naming
in its header what should refuse it): read by the model tests and by the API-server tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
INVALID = EXAMPLES / "invalid"


def valid_examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def invalid_examples() -> list[Path]:
    return sorted(INVALID.glob("*.yaml"))


def header(path: Path, key: str) -> str | None:
    """The value of a ``# key: value`` comment at the top of a file."""
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        match = re.match(rf"#\s*{key}:\s*(.+)$", line)
        if match:
            return match.group(1).strip()
    return None
