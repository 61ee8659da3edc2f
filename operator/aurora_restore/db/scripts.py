"""Post-restore SQL (the spec's ``sql``, e.g. masking personal data in a staging copy).

A script runs in one transaction: it applies whole or not at all, so a failed run can
simply be retried. It is split into statements here, the way psql splits them, so that
a failure can name the statement and line without quoting the script, which may hold
data or secrets.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass, field

import psycopg2

from .connection import DatabaseError, Endpoint, ErrorCode, connect, translate_error

__all__ = ["SqlScript", "Statement", "run_sql", "split_statements"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SqlScript:
    """A named script for one database. Its text stays out of ``repr``: it may hold data."""

    name: str
    database: str
    text: str = field(repr=False)


@dataclass(frozen=True)
class Statement:
    index: int  # 1-based position in the script
    line: int  # 1-based line of the statement's first token
    text: str = field(repr=False)


_SPACE = " \t\r\n\f\v"
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$")
_ROUTINE = re.compile(r"create\s+(?:or\s+replace\s+)?(?:function|procedure)\b", re.IGNORECASE)
# A COMMIT or ROLLBACK inside the script would end our transaction early, and the
# statements after it would then commit one by one: the script would no longer be atomic.
_TRANSACTION_CONTROL = re.compile(
    r"(?:begin|start\s+transaction|commit|end|abort|rollback(?!\s+to\b)|prepare\s+transaction)"
    r"(?![A-Za-z0-9_$])",
    re.IGNORECASE,
)


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char in "_$" or ord(char) >= 0x80


def _skip_quoted(text: str, i: int, quote: str, backslash: bool) -> int:
    """Index just past the string or quoted identifier opening at ``i``."""
    i += 1
    while i < len(text):
        char = text[i]
        if backslash and char == "\\":
            i += 2
            continue
        if char == quote:
            if text.startswith(quote, i + 1):  # a doubled quote stands for itself
                i += 2
                continue
            return i + 1
        i += 1
    return len(text)


def _skip_block_comment(text: str, i: int) -> int:
    """Index just past the comment opening at ``i``; PostgreSQL block comments nest."""
    depth = 0
    while i < len(text):
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return len(text)


def split_statements(text: str) -> list[Statement]:
    """Split SQL at top-level semicolons, as psql does.

    Semicolons inside strings, quoted identifiers, dollar quotes, comments, parentheses
    and ``BEGIN ATOMIC ... END`` bodies of functions do not end a statement. Empty
    statements are dropped; the last statement needs no semicolon.
    """
    statements: list[Statement] = []
    start: int | None = None
    parens = 0
    body_depth = 0
    routine = False
    i = 0
    n = len(text)

    def finish(end: int) -> None:
        assert start is not None
        body = text[start:end].rstrip()
        if body:
            line = text.count("\n", 0, start) + 1
            statements.append(Statement(len(statements) + 1, line, body))

    while i < n:
        char = text[i]
        if char in _SPACE:
            i += 1
            continue
        if text.startswith("--", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
            continue
        if text.startswith("/*", i):
            i = _skip_block_comment(text, i)
            continue
        if start is None:
            start, parens, body_depth = i, 0, 0
            routine = bool(_ROUTINE.match(text, i))
        previous = text[i - 1] if i > 0 else " "
        if char == ";" and parens == 0 and body_depth == 0:
            finish(i)
            start = None
            i += 1
        elif char == "'":
            # E'...' strings take backslash escapes; plain ones do not, as
            # standard_conforming_strings has been on by default since PostgreSQL 9.1.
            escaped = previous in "eE" and (i < 2 or not _is_word_char(text[i - 2]))
            i = _skip_quoted(text, i, "'", escaped)
        elif char == '"':
            i = _skip_quoted(text, i, '"', False)
        elif char == "$" and not _is_word_char(previous) and (tag := _DOLLAR_TAG.match(text, i)):
            close = text.find(tag.group(), tag.end())
            i = n if close < 0 else close + len(tag.group())
        elif char == "(":
            parens += 1
            i += 1
        elif char == ")":
            parens = max(0, parens - 1)
            i += 1
        elif _is_word_char(char) and not _is_word_char(previous):
            end = i
            while end < n and _is_word_char(text[end]):
                end += 1
            word = text[i:end].lower()
            if routine and word in ("begin", "case"):
                body_depth += 1
            elif routine and word == "end" and body_depth > 0:
                body_depth -= 1
            i = end
        else:
            i += 1
    if start is not None:
        finish(n)
    return statements


def _where(script: SqlScript, statement: Statement, line: int | None = None) -> str:
    return (
        f"SQL script {script.name!r} (database {script.database!r}):"
        f" statement {statement.index} (line {line or statement.line})"
    )


def _check(script: SqlScript, statements: list[Statement]) -> None:
    for statement in statements:
        if statement.text.startswith("\\"):
            raise DatabaseError(
                ErrorCode.INVALID_INPUT,
                f"{_where(script, statement)}: psql meta-commands are not supported",
            )
        if _TRANSACTION_CONTROL.match(statement.text):
            raise DatabaseError(
                ErrorCode.INVALID_INPUT,
                f"{_where(script, statement)}: transaction control is not allowed;"
                " the whole script already runs in one transaction",
            )


def _error_line(exc: psycopg2.Error, statement: Statement) -> int:
    """The line the server points at (syntax errors), else the statement's first line."""
    diag = getattr(exc, "diag", None)
    position = getattr(diag, "statement_position", None) if diag is not None else None
    try:
        offset = int(position) - 1 if position else -1
    except ValueError:
        offset = -1
    if 0 <= offset <= len(statement.text):
        return statement.line + statement.text.count("\n", 0, offset)
    return statement.line


def run_sql(ep: Endpoint, script: SqlScript) -> int:
    """Run the script in ``script.database`` in one transaction; return its statement count.

    On failure nothing of it stays applied, and the DatabaseError names the statement
    and line with the server's SQLSTATE and primary message, never the statement text.
    """
    statements = split_statements(script.text)
    _check(script, statements)
    if not statements:
        return 0
    log.debug(
        "running SQL script %r (%d statements) in %s",
        script.name,
        len(statements),
        ep.describe(script.database),
    )
    with connect(ep, script.database) as conn:
        current: Statement | None = None
        try:
            with conn.cursor() as cur:
                for current in statements:
                    cur.execute(current.text)
            current = None
            conn.commit()
        except psycopg2.Error as exc:
            # A dead connection cannot roll back, but then the server already has.
            with contextlib.suppress(psycopg2.Error):
                conn.rollback()
            if current is None:
                context = f"SQL script {script.name!r} (database {script.database!r}): commit"
            else:
                context = f"{_where(script, current, _error_line(exc, current))} failed"
            raise translate_error(exc, context=context, secrets=[ep.password]) from None
    return len(statements)
