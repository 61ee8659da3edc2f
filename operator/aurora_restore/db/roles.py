"""Login roles for the restored cluster, and their grants (the ``users`` of the spec).

Grants are additive: a run never revokes, so running twice changes nothing, and a role
that came with the snapshot keeps what it had. Lowering a user's level (readwrite to
readonly) therefore does not take privileges away.

Passwords are hashed on this side (``encrypt_password``, with the server's
``password_encryption``) so the plain text never reaches the server, where a failing
statement could be written to its log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from .connection import (
    DatabaseError,
    Endpoint,
    ErrorCode,
    connect,
    fetch_databases,
    translate_error,
)

__all__ = ["DbUser", "Privileges", "setup_users"]

log = logging.getLogger(__name__)

Privileges = Literal["readonly", "readwrite", "owner"]

# PostgreSQL silently truncates longer names, which would grant to a different role.
_MAX_NAME_BYTES = 63
_RESERVED_NAMES = frozenset({"public", "none", "current_user", "session_user", "current_role"})
# pg_ is PostgreSQL's own prefix; rds_ and rdsadmin are kept by AWS on RDS and Aurora.
_RESERVED_PREFIXES = ("pg_", "rds_", "rdsadmin")


@dataclass(frozen=True)
class DbUser:
    """A login role to create or update. No databases means every user database."""

    name: str
    password: str = field(repr=False)
    privileges: Privileges
    databases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept any sequence (a list from YAML) but keep the instance hashable.
        object.__setattr__(self, "databases", tuple(self.databases))


@dataclass(frozen=True)
class _Level:
    database: tuple[str, ...]
    schema: tuple[str, ...]
    tables: tuple[str, ...]
    sequences: tuple[str, ...]


# Privilege keywords are constants here, never input, so composing them as SQL is safe.
_LEVELS: dict[str, _Level] = {
    "readonly": _Level(("CONNECT",), ("USAGE",), ("SELECT",), ("SELECT",)),
    "readwrite": _Level(
        ("CONNECT", "TEMPORARY"),
        ("USAGE",),
        ("SELECT", "INSERT", "UPDATE", "DELETE"),
        ("USAGE", "SELECT", "UPDATE"),
    ),
    "owner": _Level(
        ("ALL PRIVILEGES",), ("USAGE", "CREATE"), ("ALL PRIVILEGES",), ("ALL PRIVILEGES",)
    ),
}
# Fails at import if the Literal and the table ever drift apart.
assert set(_LEVELS) == set(get_args(Privileges))


def _keywords(words: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL(word) for word in words)


def _identifiers(names: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def _invalid(message: str) -> DatabaseError:
    return DatabaseError(ErrorCode.INVALID_INPUT, message)


def _validate(users: Sequence[DbUser], master: str, databases: Sequence[str]) -> None:
    """Reject the whole request before changing anything."""
    seen: set[str] = set()
    for user in users:
        name = user.name
        if not name or "\x00" in name:
            raise _invalid(f"user name {name!r} is empty or contains a NUL character")
        if len(name.encode()) > _MAX_NAME_BYTES:
            raise _invalid(f"user name {name!r} is longer than {_MAX_NAME_BYTES} bytes")
        if name in _RESERVED_NAMES or name.startswith(_RESERVED_PREFIXES):
            raise _invalid(f"user name {name!r} is reserved by PostgreSQL or RDS")
        if name == master:
            raise _invalid(f"user {name!r} is the master user, whose password AWS manages")
        if name in seen:
            raise _invalid(f"user {name!r} is listed twice")
        seen.add(name)
        if not user.password:
            raise _invalid(f"user {name!r} has an empty password")
        if user.privileges not in _LEVELS:
            raise _invalid(
                f"user {name!r} has privileges {user.privileges!r};"
                f" expected one of {', '.join(_LEVELS)}"
            )
        missing = [db for db in user.databases if db not in databases]
        if missing:
            raise DatabaseError(
                ErrorCode.DATABASE_NOT_FOUND,
                f"user {name!r}: database(s) {', '.join(map(repr, missing))} not found"
                f" (the cluster has {', '.join(map(repr, databases)) or 'none'})",
            )


def _ensure_role(cur: psycopg2.extensions.cursor, user: DbUser, master: str) -> str:
    role = sql.Identifier(user.name)
    cur.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (user.name,))
    exists = cur.fetchone() is not None
    verifier = psycopg2.extensions.encrypt_password(user.password, user.name, cur.connection)
    if exists:
        # VALID UNTIL: a role from the snapshot may carry an expiry that already passed.
        cur.execute(
            sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD %s VALID UNTIL 'infinity'").format(role),
            (verifier,),
        )
    else:
        cur.execute(sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD %s").format(role), (verifier,))
    if user.privileges == "owner":
        # The master joins owner roles so it can still manage what they create, and so it
        # may set default privileges FOR ROLE them (which needs membership).
        cur.execute(
            "SELECT 1 FROM pg_catalog.pg_auth_members m"
            " JOIN pg_catalog.pg_roles r ON r.oid = m.roleid"
            " JOIN pg_catalog.pg_roles u ON u.oid = m.member"
            " WHERE r.rolname = %s AND u.rolname = %s",
            (user.name, master),
        )
        if cur.fetchone() is None:
            cur.execute(sql.SQL("GRANT {} TO {}").format(role, sql.Identifier(master)))
    action = "password updated" if exists else "created"
    return f"role {user.name!r}: {action} ({user.privileges})"


def _user_schemas(cur: psycopg2.extensions.cursor) -> list[str]:
    """Schemas that hold user data: not system schemas, not created by an extension."""
    cur.execute(
        "SELECT n.nspname FROM pg_catalog.pg_namespace n"
        " WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
        " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
        "   WHERE d.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass"
        "   AND d.objid = n.oid AND d.deptype = 'e')"
        " ORDER BY n.nspname"
    )
    return [str(row[0]) for row in cur.fetchall()]


def _grant(
    cur: psycopg2.extensions.cursor,
    database: str,
    user: DbUser,
    schemas: Sequence[str],
    creators: Sequence[str],
) -> None:
    level = _LEVELS[user.privileges]
    role = sql.Identifier(user.name)
    cur.execute(
        sql.SQL("GRANT {} ON DATABASE {} TO {}").format(
            _keywords(level.database), sql.Identifier(database), role
        )
    )
    if schemas:
        names = _identifiers(schemas)
        for statement in (
            "GRANT {privs} ON SCHEMA {names} TO {role}",
            "GRANT {tables} ON ALL TABLES IN SCHEMA {names} TO {role}",
            "GRANT {sequences} ON ALL SEQUENCES IN SCHEMA {names} TO {role}",
        ):
            cur.execute(
                sql.SQL(statement).format(
                    privs=_keywords(level.schema),
                    tables=_keywords(level.tables),
                    sequences=_keywords(level.sequences),
                    names=names,
                    role=role,
                )
            )
    # Default privileges belong to the role that creates an object, so they are set for
    # each role expected to create tables later: the master and the owner users.
    others = [creator for creator in creators if creator != user.name]
    if others:
        for statement in (
            "ALTER DEFAULT PRIVILEGES FOR ROLE {creators} GRANT {privs} ON SCHEMAS TO {role}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {creators} GRANT {tables} ON TABLES TO {role}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {creators} GRANT {sequences} ON SEQUENCES TO {role}",
        ):
            cur.execute(
                sql.SQL(statement).format(
                    creators=_identifiers(others),
                    privs=_keywords(level.schema),
                    tables=_keywords(level.tables),
                    sequences=_keywords(level.sequences),
                    role=role,
                )
            )


def _grant_in_database(
    ep: Endpoint, database: str, users: Sequence[DbUser], creators: Sequence[str]
) -> list[str]:
    """All grants of one database, in one transaction."""
    lines: list[str] = []
    with connect(ep, database) as conn:
        try:
            with conn.cursor() as cur:
                schemas = _user_schemas(cur)
                for user in users:
                    _grant(cur, database, user, schemas, creators)
                    where = ", ".join(schemas) if schemas else "no schemas"
                    lines.append(
                        f"database {database!r}: granted {user.privileges} to {user.name!r}"
                        f" ({where})"
                    )
            conn.commit()
        except psycopg2.Error as exc:
            error = translate_error(
                exc,
                context=f"granting privileges in database {database!r}",
                secrets=[ep.password, *(user.password for user in users)],
            )
            if error.code == ErrorCode.PERMISSION_DENIED:
                # Aurora's master is no superuser: objects that came with the snapshot
                # owned by another role are out of its reach, which is not obvious.
                error = DatabaseError(
                    error.code,
                    f"{error.message} (the master user can grant only on objects it owns"
                    " or whose owner role it is a member of)",
                    pgcode=error.pgcode,
                )
            raise error from None
        # A GRANT on an object the master does not own is skipped with a WARNING rather
        # than failing; surface those so a half-granted user is not a mystery.
        lines.extend(
            f"database {database!r}: {' '.join(notice.split())}"
            for notice in conn.notices
            if notice.startswith("WARNING")
        )
    return lines


def setup_users(ep: Endpoint, users: Sequence[DbUser]) -> list[str]:
    """Create or update each user's login role and grant its privileges in its databases.

    ``ep`` is the master user's endpoint. Safe to run again (e.g. after a retry). Returns
    one human line per change, without secrets.
    """
    users = list(users)
    if not users:
        return []
    secrets = [ep.password, *(user.password for user in users)]
    lines: list[str] = []
    with connect(ep) as conn:
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT current_user")
                row = cur.fetchone()
                master = str(row[0]) if row else ep.user
                databases = fetch_databases(cur)
                _validate(users, master, databases)
                # All roles in one transaction: none exist until every one can be made.
                for user in users:
                    lines.append(_ensure_role(cur, user, master))
            conn.commit()
        except psycopg2.Error as exc:
            raise translate_error(exc, context="creating roles", secrets=secrets) from None
    log.debug("roles ready: %s", ", ".join(user.name for user in users))
    for database in databases:
        in_scope = [user for user in users if not user.databases or database in user.databases]
        if not in_scope:
            continue
        creators = [master, *(user.name for user in in_scope if user.privileges == "owner")]
        lines.extend(_grant_in_database(ep, database, in_scope, creators))
    return lines
