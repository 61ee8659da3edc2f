"""Run Argo CD resource customizations the way Argo CD does, under Lua 5.1 (lupa.lua51; Argo
CD embeds gopher-lua, a Lua 5.1), in Argo CD's own layout and test format:

    resource_customizations/<group>/<Kind>/health.lua
    resource_customizations/<group>/<Kind>/health_test.yaml     tests: [{healthStatus, inputPath}]
    resource_customizations/<group>/<Kind>/actions/discovery.lua
    resource_customizations/<group>/<Kind>/actions/<action>/action.lua
    resource_customizations/<group>/<Kind>/actions/action_test.yaml
        discoveryTests: [{inputPath, result: [ResourceAction]}]
        actionTests:    [{action, inputPath, expectedOutputPath}]

As in Argo CD's own test (util/lua), an action's output matches when every field of the
expected object has that value in the result (fields only the result has, such as a
timestamp annotation, are not compared), and each discovered action must be one of the
expected ones. Scripts get only what Argo CD gives them: `obj`, and of `os` only the safe
subset (`require("os")` works, `io`, `dofile` and `load*` do not exist).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lupa.lua51 as lua51
import yaml

SANDBOX = """
local safe_os = {date = os.date, time = os.time, clock = os.clock}
package.loaded.os = safe_os
package.loaded.io = nil
os = safe_os
io = nil
dofile = nil
loadfile = nil
load = nil
loadstring = nil
"""


def to_python(value: Any) -> Any:
    """A Lua value as plain Python: sequences (keys 1..n) become lists."""
    if lua51.lua_type(value) != "table":
        return value
    items = {k: to_python(v) for k, v in value.items()}
    if (
        items
        and all(isinstance(k, int) for k in items)
        and sorted(items) == list(range(1, len(items) + 1))
    ):
        return [items[i] for i in range(1, len(items) + 1)]
    return items


def run_script(script: str, obj: dict[str, Any]) -> Any:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.execute(SANDBOX)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    return to_python(lua.execute(script))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def contains(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Where `actual` differs from `expected`, for the fields `expected` has."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where or '.'}: expected a map, got {actual!r}"]
        out = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{where}.{key}: missing")
            else:
                out += contains(value, actual[key], f"{where}.{key}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {expected!r}, got {actual!r}"]
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in contains(e, a, f"{where}[{i}]")
        ]
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


def health_cases(kind_dir: Path) -> list[tuple[str, dict[str, Any], Path]]:
    spec = load_yaml(kind_dir / "health_test.yaml")
    return [(t["inputPath"], t["healthStatus"], kind_dir / t["inputPath"]) for t in spec["tests"]]


def health(kind_dir: Path, obj: dict[str, Any]) -> dict[str, Any]:
    return run_script((kind_dir / "health.lua").read_text(), obj)


def discover(kind_dir: Path, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """discovery.lua's table as Argo CD's []ResourceAction (name + the fields set)."""
    found = run_script((kind_dir / "actions" / "discovery.lua").read_text(), obj)
    return [{"name": name, **fields} for name, fields in sorted((found or {}).items())]


def act(kind_dir: Path, action: str, obj: dict[str, Any]) -> dict[str, Any]:
    return run_script((kind_dir / "actions" / action / "action.lua").read_text(), obj)
