"""Connections to the restored cluster, and the one error type the rest of the operator sees.

psycopg2's own exceptions are never let out: their text can quote the statement that
failed, and their cause chain would carry it into tracebacks. Every failure becomes a
``DatabaseError`` whose message is assembled from parts known to be safe.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from ..api.names import COMPONENT
from ..pipeline.errors import (
    CONNECT_TRANSIENT_MARKERS,
    SQLSTATE_CONNECTION_LOST,
    sqlstate_retryable,
)
from ..pipeline.ports import DbEndpoint

__all__ = [
    "DatabaseError",
    "Endpoint",
    "ErrorCode",
    "check_master",
    "connect",
    "fetch_databases",
    "list_databases",
    "redact",
    "translate_error",
]

log = logging.getLogger(__name__)

_SSLMODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
# Never user databases: rdsadmin is RDS's own and refuses connections from the master.
_EXCLUDED_DATABASES = ("rdsadmin",)
_MAX_MESSAGE = 300
APPLICATION_NAME = COMPONENT


class ErrorCode:
    """Values of ``DatabaseError.code``; they end up in ``status.error.code``."""

    CONNECTION_FAILED = "ConnectionFailed"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    DATABASE_NOT_FOUND = "DatabaseNotFound"
    PERMISSION_DENIED = "PermissionDenied"
    SQL_FAILED = "SqlFailed"
    INVALID_INPUT = "InvalidInput"


class DatabaseError(Exception):
    """A database step failed. ``message`` is safe to show a user: it never holds a secret."""

    def __init__(
        self, code: str, message: str, *, retryable: bool = False, pgcode: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.pgcode = pgcode

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"DatabaseError(code={self.code!r}, message={self.message!r}, "
            f"retryable={self.retryable!r}, pgcode={self.pgcode!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments need help to survive pickling (e.g. across processes).
        return (_rebuild_error, (self.code, self.message, self.retryable, self.pgcode))


def _rebuild_error(code: str, message: str, retryable: bool, pgcode: str | None) -> DatabaseError:
    return DatabaseError(code, message, retryable=retryable, pgcode=pgcode)


@dataclass(frozen=True)
class Endpoint(DbEndpoint):
    """Where and as whom to connect (the pipeline's DbEndpoint, whose password is left out
    of ``repr``), and how: libpq's TLS mode and connect timeout."""

    sslmode: str = "require"
    connect_timeout: int = 10

    def __post_init__(self) -> None:
        if not self.host:
            raise DatabaseError(ErrorCode.INVALID_INPUT, "endpoint host is empty")
        if not 0 < self.port < 65536:
            raise DatabaseError(ErrorCode.INVALID_INPUT, f"endpoint port {self.port} is invalid")
        if not self.user:
            raise DatabaseError(ErrorCode.INVALID_INPUT, "endpoint user is empty")
        if self.sslmode not in _SSLMODES:
            raise DatabaseError(
                ErrorCode.INVALID_INPUT, f"sslmode {self.sslmode!r} is not a libpq sslmode"
            )

    def describe(self, dbname: str | None = None) -> str:
        """Where this connects, for messages: no password, nothing secret."""
        return f"{self.user}@{self.host}:{self.port}/{dbname or self.dbname}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Blank out secrets in text that came from outside (libpq, the server)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _libpq_reason(raw: str) -> str:
    """The useful sentence of a libpq connection error, e.g. "Connection refused"."""
    lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    first = lines[0]
    # 'connection to server at "h" (1.2.3.4), port 5432 failed: FATAL:  <reason>'
    if " failed: " in first:
        first = first.rsplit(" failed: ", 1)[1]
    first = re.sub(r"^(FATAL|ERROR):\s+", "", first)
    return first or lines[0]


# Server refusals that are permanent for the given endpoint and credentials; anything else
# on connect (refused, timeout, DNS not yet propagated, server starting) is worth retrying.
_AUTH_MARKERS = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "pam authentication failed",
    "authentication failed for user",
    "is not permitted to log in",
)
_MISSING_ROLE = re.compile(r'role ".*" does not exist')
_SSL_MARKERS = ("server does not support ssl", "ssl error", "certificate")


def _connect_error(exc: psycopg2.Error, ep: Endpoint, dbname: str) -> DatabaseError:
    raw = str(exc) or exc.__class__.__name__
    reason = _clip(redact(_libpq_reason(raw), [ep.password]))
    where = ep.describe(dbname)
    lowered = raw.lower()
    if any(marker in lowered for marker in CONNECT_TRANSIENT_MARKERS):
        return DatabaseError(
            ErrorCode.CONNECTION_FAILED, f"cannot connect to {where}: {reason}", retryable=True
        )
    if any(marker in lowered for marker in _AUTH_MARKERS) or _MISSING_ROLE.search(lowered):
        return DatabaseError(
            ErrorCode.AUTHENTICATION_FAILED,
            f"cannot log in as {where}: {reason}",
            retryable=False,
            pgcode="28P01" if "password" in lowered else "28000",
        )
    if 'database "' in lowered and "does not exist" in lowered:
        return DatabaseError(
            ErrorCode.DATABASE_NOT_FOUND,
            f"cannot connect to {where}: {reason}",
            retryable=False,
            pgcode="3D000",
        )
    if any(marker in lowered for marker in _SSL_MARKERS):
        return DatabaseError(
            ErrorCode.CONNECTION_FAILED,
            f"cannot connect to {where} with sslmode={ep.sslmode}: {reason}",
            retryable=False,
        )
    return DatabaseError(
        ErrorCode.CONNECTION_FAILED, f"cannot connect to {where}: {reason}", retryable=True
    )


# What a server message may quote from the data: "literals" and 'values', key lists such
# as (email)=(x), and, in case a value is quoted in no way at all, anything shaped like an
# e-mail address or a long number.
_QUOTED = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|=\([^)]*\)')
_BARE_VALUES = re.compile(r"[^\s\"'(),:;]+@[^\s\"'(),:;]+|\b\d{5,}\b")


def without_values(text: str) -> str:
    """A server message with every quoted literal and value removed: status, events,
    audit, SNS and logs may carry it even when a masking script fails on personal data."""
    return _BARE_VALUES.sub("…", _QUOTED.sub(lambda m: "=(…)" if m[0][0] == "=" else "…", text))


def condition_name(pgcode: str | None) -> str | None:
    """PostgreSQL's condition name of a SQLSTATE (Appendix A), e.g. unique_violation."""
    if not pgcode:
        return None
    from psycopg2 import errorcodes

    try:
        name = errorcodes.lookup(pgcode)
    except KeyError:  # a code newer than psycopg2's table
        return None
    return name.lower() if isinstance(name, str) else None


def translate_error(
    exc: psycopg2.Error, *, context: str, secrets: Iterable[str] = ()
) -> DatabaseError:
    """Map a psycopg2 error raised after connecting to a DatabaseError.

    Only the SQLSTATE, its condition name and the server's primary message without the
    values it quotes are used: the full text of a psycopg2 error quotes the statement
    ("LINE 1: ALTER ROLE ... PASSWORD ..."), the detail line quotes row values, and even
    the primary message can (``invalid input syntax for type integer: "<value>"``).
    """
    pgcode = getattr(exc, "pgcode", None)
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    conn = getattr(getattr(exc, "cursor", None), "connection", None)
    closed = bool(getattr(conn, "closed", 0))
    if primary is None:
        # No server message: a client-side failure such as a dropped connection, whose
        # libpq text does not quote statements.
        primary = _libpq_reason(str(exc)) if str(exc) else exc.__class__.__name__
    text = _clip(without_values(redact(primary, secrets)))
    name = condition_name(pgcode)
    detail = f"SQLSTATE {pgcode}{f' ({name})' if name else ''}: {text}" if pgcode else text
    message = f"{context}: {detail}"
    if (
        isinstance(exc, psycopg2.InterfaceError | psycopg2.OperationalError)
        and (pgcode is None or closed)
    ) or (pgcode or "").startswith(SQLSTATE_CONNECTION_LOST):
        return DatabaseError(
            ErrorCode.CONNECTION_FAILED,
            f"{context}: connection lost: {text}",
            retryable=True,
            pgcode=pgcode,
        )
    if pgcode == "42501":
        return DatabaseError(ErrorCode.PERMISSION_DENIED, message, pgcode=pgcode)
    if pgcode == "3D000":
        return DatabaseError(ErrorCode.DATABASE_NOT_FOUND, message, pgcode=pgcode)
    return DatabaseError(
        ErrorCode.SQL_FAILED, message, retryable=sqlstate_retryable(pgcode), pgcode=pgcode
    )


@contextmanager
def connect(ep: Endpoint, dbname: str | None = None) -> Iterator[psycopg2.extensions.connection]:
    """Open a connection (not autocommit) to ``dbname`` or ``ep.dbname``; close it on exit.

    Only connection failures are translated here; errors inside the block are the
    caller's to translate, because only the caller knows which step failed.
    """
    target = dbname or ep.dbname
    log.debug("connecting to %s (sslmode=%s)", ep.describe(target), ep.sslmode)
    error: DatabaseError | None = None
    try:
        conn = psycopg2.connect(
            host=ep.host,
            port=ep.port,
            user=ep.user,
            password=ep.password,
            dbname=target,
            sslmode=ep.sslmode,
            connect_timeout=ep.connect_timeout,
            application_name=APPLICATION_NAME,
            # Notice a dead peer (e.g. an instance failover) instead of waiting forever.
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
    except psycopg2.Error as exc:
        error = _connect_error(exc, ep, target)
    if error is not None:
        # Raised outside the except block, so the psycopg2 error is not even the context.
        raise error
    try:
        yield conn
    finally:
        conn.close()


def check_master(ep: Endpoint) -> str:
    """Log in as the master user; return the server version, e.g. "15.4"."""
    with connect(ep) as conn:
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                row = cur.fetchone()
            conn.rollback()
        except psycopg2.Error as exc:
            raise translate_error(
                exc, context=f"checking {ep.describe()}", secrets=[ep.password]
            ) from None
    return str(row[0]).split(" ", 1)[0] if row else ""


def fetch_databases(cur: psycopg2.extensions.cursor) -> list[str]:
    """The cluster's user databases: not templates, accepting connections, not rdsadmin."""
    cur.execute(
        "SELECT datname FROM pg_catalog.pg_database"
        " WHERE NOT datistemplate AND datallowconn AND datname <> ALL(%s)"
        " ORDER BY datname",
        (list(_EXCLUDED_DATABASES),),
    )
    return [str(row[0]) for row in cur.fetchall()]


def list_databases(ep: Endpoint) -> list[str]:
    """The cluster's user databases: not templates, accepting connections, not rdsadmin."""
    with connect(ep) as conn:
        try:
            with conn.cursor() as cur:
                names = fetch_databases(cur)
            conn.rollback()
        except psycopg2.Error as exc:
            raise translate_error(
                exc, context=f"listing databases on {ep.describe()}", secrets=[ep.password]
            ) from None
    return names
