"""Embed docs/argocd/*.lua into argocd-cm-patch.yaml and the README's snippet.

Run after editing a health script: `.venv/bin/python scripts/gen-argocd.py`.
tests/ship checks that the copies match the scripts.
"""

from __future__ import annotations

import re
from pathlib import Path

ARGOCD = Path(__file__).resolve().parents[1] / "docs" / "argocd"
KEY = "resource.customizations.health.dbrestore.io_"
SCRIPTS = {"AuroraRestore": "health.lua", "AuroraRestoreSchedule": "health-schedule.lua"}
HEADER = (
    "# Patch for Argo CD's argocd-cm ConfigMap: health checks for the operator's kinds.\n"
    "#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file "
    "docs/argocd/argocd-cm-patch.yaml\n"
    "# Generated from health.lua and health-schedule.lua; tests/ship checks they match.\n"
)


def data_block() -> str:
    lines = ["data:"]
    for kind, name in SCRIPTS.items():
        lines.append(f"  {KEY}{kind}: |")
        for line in (ARGOCD / name).read_text().splitlines():
            lines.append(f"    {line}" if line else "")
    return "\n".join(lines) + "\n"


def main() -> None:
    block = data_block()
    (ARGOCD / "argocd-cm-patch.yaml").write_text(HEADER + block)
    readme = ARGOCD / "README.md"
    text = readme.read_text()
    pattern = re.compile(r"```yaml\ndata:\n.*?```", re.S)
    if not pattern.search(text):
        raise SystemExit("README.md has no ```yaml data: block to replace")
    readme.write_text(pattern.sub(lambda _: f"```yaml\n{block}```", text, count=1))


if __name__ == "__main__":
    main()
