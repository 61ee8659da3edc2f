"""The operator's wheel (what the image installs) carries the operator only: no stand-in, no
module that imports moto or kmock. The stand-ins are the distribution in sandbox/."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

from ship_support import REPO

# The CLI looks for the sandbox package (to offer `demo`), so only moto and kmock count here.
STAND_IN_IMPORT = re.compile(r"^\s*(from|import)\s+(moto|kmock)\b", re.M)


def _wheel(tmp_path: Path, project: Path) -> zipfile.ZipFile:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(project),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    return zipfile.ZipFile(wheel)


def test_product_wheel_has_no_stand_in(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, REPO)
    modules = [n for n in wheel.namelist() if n.endswith(".py")]
    assert any(n.startswith("aurora_restore/pipeline/") for n in modules), modules
    assert not [n for n in wheel.namelist() if not n.startswith("aurora_restore")], (
        "only the aurora_restore package (and its dist-info) belongs in the wheel"
    )
    assert not [n for n in modules if "sandbox" in n], modules
    importing = [n for n in modules if STAND_IN_IMPORT.search(wheel.read(n).decode())]
    assert importing == [], f"modules of the product that import a stand-in: {importing}"
    requires = wheel.read(next(n for n in wheel.namelist() if n.endswith("METADATA"))).decode()
    runtime = [
        line
        for line in requires.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert not [line for line in runtime if re.search(r"moto|kmock|sandbox", line)], runtime


def test_sandbox_wheel_holds_the_stand_ins(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, REPO / "sandbox")
    names = wheel.namelist()
    for module in ("aws", "kube", "demo", "postgres"):
        assert f"aurora_restore_sandbox/{module}.py" in names or any(
            n.startswith(f"aurora_restore_sandbox/{module}/") for n in names
        ), names
    assert not [n for n in names if n.startswith("aurora_restore/")], names


def test_demo_without_the_stand_ins_says_how_to_install_them() -> None:
    # Run the operator's CLI with the sandbox package hidden, as after `pip install` of the
    # operator's wheel alone.
    hide = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'aurora_restore_sandbox':\n"
        "            raise ImportError('No module named ' + repr(name))\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from aurora_restore.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for command in (["demo"], ["sandbox", "--delay", "1"]):
        proc = subprocess.run(
            [sys.executable, "-c", hide, *command], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2, (proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "pip install -e ./sandbox" in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr
