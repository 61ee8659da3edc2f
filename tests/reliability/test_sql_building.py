"""SQL is built only with psycopg2.sql: a static scan of the operator's database code.

Every ``execute`` (and its relatives) gets either a string literal, with values passed as
parameters, or a ``psycopg2.sql`` composition whose template is a literal (or a loop
variable over literals) and whose identifiers go through ``sql.Identifier``. No f-string,
``%`` formatting, ``.format`` on a plain string or concatenation builds a statement. The
one exception is the user's own post-restore script, which runs as written, by design."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "operator" / "aurora_restore"
EXECUTORS = {"execute", "executemany", "mogrify", "copy_expert", "callproc"}
# (file, function, source of the argument): the post-restore SQL of the spec, run verbatim.
USER_SQL = {("scripts.py", "run_sql", "current.text")}


def _sources() -> list[Path]:
    found = sorted((ROOT / "db").glob("*.py"))
    # Anything else that talks to PostgreSQL belongs in this scan too.
    for path in sorted(ROOT.rglob("*.py")):
        if "sandbox" in path.parts or path in found:
            continue
        if "psycopg2" in path.read_text():
            found.append(path)
    return found


class _Scan(ast.NodeVisitor):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.function = ""
        # Loop variables bound to tuples/lists of string literals, per function.
        self.literal_names: set[str] = set()
        self.calls: list[tuple[str, int, str]] = []
        self.problems: list[str] = []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer, names = self.function, self.literal_names
        self.function, self.literal_names = node.name, set()
        self.generic_visit(node)
        self.function, self.literal_names = outer, names

    def visit_For(self, node: ast.For) -> None:
        if (
            isinstance(node.target, ast.Name)
            and isinstance(node.iter, ast.Tuple | ast.List)
            and all(_is_literal(e) for e in node.iter.elts)
        ):
            self.literal_names.add(node.target.id)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in EXECUTORS and node.args:
            arg = node.args[0]
            where = f"{self.path.name}:{node.lineno} {self.function}"
            self.calls.append((self.path.name, node.lineno, ast.unparse(arg)))
            if (self.path.name, self.function, ast.unparse(arg)) in USER_SQL:
                pass
            elif not self._safe_statement(arg):
                self.problems.append(f"{where}: execute({ast.unparse(arg)})")
        self.generic_visit(node)

    def _safe_statement(self, node: ast.expr) -> bool:
        if _is_literal(node):
            return True
        return self._safe_composable(node)

    def _safe_composable(self, node: ast.expr) -> bool:
        """sql.SQL(<literal>), sql.Identifier(...), sql.Literal(...), and their .format()
        and .join() with safe composables."""
        if not isinstance(node, ast.Call):
            return False
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "format":
            return self._safe_composable(func.value) and all(
                self._safe_part(a) for a in [*node.args, *(k.value for k in node.keywords)]
            )
        if isinstance(func, ast.Attribute) and func.attr == "join":
            return self._safe_composable(func.value)
        if isinstance(func, ast.Attribute) and _is_sql_module(func.value):
            if func.attr == "SQL":
                arg = node.args[0] if node.args else None
                return arg is not None and (
                    _is_literal(arg) or (isinstance(arg, ast.Name) and arg.id in self.literal_names)
                )
            return func.attr in {"Identifier", "Literal", "Placeholder", "Composed"}
        return False

    def _safe_part(self, node: ast.expr) -> bool:
        # Arguments of .format(): composables, or local helpers that return them.
        if self._safe_composable(node):
            return True
        if isinstance(node, ast.Name):
            return True  # a variable: checked where it is assigned (see test below)
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name)


def _is_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_sql_module(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "sql"


def _scan() -> list[_Scan]:
    scans = []
    for path in _sources():
        scan = _Scan(path)
        scan.visit(ast.parse(path.read_text(), str(path)))
        scans.append(scan)
    return scans


def test_every_statement_is_a_literal_or_a_psycopg2_sql_composition() -> None:
    scans = _scan()
    calls = [c for s in scans for c in s.calls]
    assert len(calls) >= 10, calls  # the scan sees the real code
    assert [p for s in scans for p in s.problems] == []


def test_no_string_building_near_sql() -> None:
    """No f-string, % formatting, str.format or + on a string inside an execute call, and
    the helpers that make composables return psycopg2.sql objects."""
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in EXECUTORS
                and node.args
            ):
                continue
            for inner in ast.walk(node.args[0]):
                bad = (
                    isinstance(inner, ast.JoinedStr)
                    or (isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Mod | ast.Add))
                    or (
                        isinstance(inner, ast.Call)
                        and isinstance(inner.func, ast.Attribute)
                        and inner.func.attr == "format"
                        and _is_literal(inner.func.value)
                    )
                )
                if bad:
                    offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(node.args[0])}")
    assert offenders == []
    roles = (ROOT / "db" / "roles.py").read_text()
    for helper in ("_keywords", "_identifiers"):
        tree = ast.parse(roles)
        fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == helper)
        assert ast.unparse(fn.returns) == "sql.Composable", helper


@pytest.mark.parametrize(
    "snippet",
    [
        'cur.execute(f"CREATE ROLE {name}")',
        'cur.execute("CREATE ROLE " + name)',
        'cur.execute("CREATE ROLE %s" % name)',
        'cur.execute("CREATE ROLE {}".format(name))',
        "cur.execute(sql.SQL(f'CREATE ROLE {name}'))",
        "cur.execute(sql.SQL(text).format(sql.Identifier(name)))",
        "cur.execute(statement)",
    ],
)
def test_the_scan_catches_string_built_sql(snippet: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text(f"def f(cur, name, text, statement):\n    {snippet}\n")
    scan = _Scan(path)
    scan.visit(ast.parse(path.read_text()))
    assert scan.problems, snippet
