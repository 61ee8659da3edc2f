#!/usr/bin/env python3
"""Write crds/*.yaml from the models in aurora_restore/api/ (the renderer is api/crd.py).

Usage: python scripts/gen-crd.py          write crds/*.yaml
       python scripts/gen-crd.py --check  exit 1 if crds/*.yaml differ from the output
Then `bash scripts/sync-crds.sh` (make sync-crds) copies them into deploy/ and the chart.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "operator"))

from aurora_restore.api.crd import render  # noqa: E402


def main(argv: list[str]) -> int:
    check = "--check" in argv
    status = 0
    for name, text in render().items():
        path = ROOT / "crds" / name
        if check:
            if not path.exists() or path.read_text() != text:
                print(f"out of date: crds/{name} (run: python scripts/gen-crd.py)")
                status = 1
        else:
            path.write_text(text)
            print(f"wrote crds/{name}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
