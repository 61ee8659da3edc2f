"""One real PostgreSQL server for the whole session, standing in for a restored cluster."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg2
import psycopg2.extensions
import pytest

from aurora_restore.db import Endpoint
from aurora_restore_sandbox.postgres import PostgresSandbox


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresSandbox]:
    if not PostgresSandbox.available():
        pytest.skip(f"no PostgreSQL sandbox: {PostgresSandbox.install_hint()}")
    with PostgresSandbox(databases=("app", "reporting")) as sandbox:
        yield sandbox


@pytest.fixture
def master(pg: PostgresSandbox) -> Endpoint:
    """The master user's endpoint; the sandbox has no TLS."""
    return Endpoint(
        host=pg.host,
        port=pg.port,
        user=pg.master_user,
        password=pg.master_password,
        sslmode="disable",
        connect_timeout=5,
    )


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names that no other test uses, since the server is shared."""
    suffix = uuid.uuid4().hex[:8]
    return lambda prefix: f"{prefix}_{suffix}"


@pytest.fixture
def login(pg: PostgresSandbox) -> Iterator[Callable[..., psycopg2.extensions.connection]]:
    """Open autocommit connections as any user; all are closed after the test."""
    opened: list[psycopg2.extensions.connection] = []

    def _login(
        user: str | None = None, password: str | None = None, dbname: str = "app"
    ) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(pg.dsn(dbname, user, password))
        conn.autocommit = True
        opened.append(conn)
        return conn

    yield _login
    for conn in opened:
        conn.close()


def run_query(conn: psycopg2.extensions.connection, statement: str, *args: object) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(statement, args or None)
        return cur.fetchall() if cur.description else []


@pytest.fixture
def query() -> Callable[..., list[tuple]]:
    """``query(conn, sql, *args)``: run one statement and return its rows, if any."""
    return run_query
