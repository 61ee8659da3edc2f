"""Database faults during setup-db-users, against a real PostgreSQL standing in for the
restored cluster: an endpoint that is unreachable for a while, a wrong master password, a
failing post-restore statement, and connections dropped in the middle of the setup.

Related, in tests/pipeline/test_database.py: an endpoint that never becomes reachable
(retried, then Failed) and a missing password Secret."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

from aurora_restore.db.connection import APPLICATION_NAME
from aurora_restore.db.port import PostgresDatabase
from aurora_restore_sandbox.postgres import PostgresSandbox
from support.world import APP, MASTER, REPORTING, World, db_spec

from .helpers import assert_audit_complete, events_of
from .helpers import run_ticks as run


@pytest.fixture
def db_world(db_world: World) -> World:
    """support's ``db_world``, masking nothing: these tests choose their own SQL."""
    db_world.kube.config_maps["mask-pii"] = {"mask.sql": "SELECT 1;"}
    return db_world


def spec_with(users: list[str], sql: list[str], world: World) -> dict[str, Any]:
    """db_spec with fresh role names (the PostgreSQL sandbox lives for the whole session)."""
    spec = db_spec()
    spec["users"] = [
        {
            "name": name,
            "passwordSecretRef": {"name": "app-db" if n == 0 else "reporting-db"},
            "privileges": "readwrite" if n == 0 else "readonly",
            "databases": ["app"],
        }
        for n, name in enumerate(users)
    ]
    spec["sql"] = [{"inline": text, "database": "app"} for text in sql]
    spec["notification"] = {"snsTopicArn": world.topic_arn}
    return spec


def master(pg: PostgresSandbox, dbname: str = "app") -> Any:
    conn = psycopg2.connect(pg.dsn(dbname, password=MASTER))
    conn.autocommit = True
    return conn


def can_login(pg: PostgresSandbox, user: str, password: str) -> bool:
    try:
        psycopg2.connect(pg.dsn("app", user=user, password=password)).close()
    except psycopg2.OperationalError:
        return False
    return True


def names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"app_{tag}", f"reporting_{tag}"


def test_endpoint_unreachable_for_a_while_then_completes(
    db_world: World, postgres: PostgresSandbox
) -> None:
    app, reporting = names()
    spec = spec_with([app, reporting], [], db_world)
    db_world.env["AURORA_RESTORE_DB_ENDPOINT_OVERRIDE"] = "127.0.0.1:1"  # nothing listens
    failures: list[str] = []

    def between(driver: Any, status: dict[str, Any]) -> None:
        step = next(s for s in status["steps"] if s["name"] == "setup-db-users")
        if "ConnectionFailed" in str(status.get("message")) or "cannot connect" in str(
            step.get("message")
        ):
            failures.append(step["message"])
        if len(failures) >= 2:  # DNS propagated, security group fixed: reachable now
            assert isinstance(driver.database, PostgresDatabase)
            driver.database.override = (postgres.host, postgres.port)

    status, ticks = run(db_world, spec, between)
    assert status["phase"] == "Completed", status.get("error")
    retries = [e for e in events_of(ticks) if e[1] == "Retrying"]
    assert len(retries) >= 2 and all("cannot connect" in e[2] for e in retries)
    assert can_login(postgres, app, APP) and can_login(postgres, reporting, REPORTING)
    assert_audit_complete(db_world, status)


def database_failure(status: dict[str, Any], code: str) -> dict[str, Any]:
    """The error of a run that failed as a DatabaseError ``code`` in setup-db-users."""
    assert status["phase"] == "Failed"
    error = status["error"]
    assert (error["type"], error["step"]) == ("DatabaseError", "setup-db-users"), error
    assert error["code"] == code, error
    return error


def test_wrong_master_password_fails_at_once_with_sns(db_world: World) -> None:
    db_world.kube.secrets["staging-master"] = {"password": "not-the-S3ntinel-db-password"}
    app, reporting = names()
    status, ticks = run(db_world, spec_with([app, reporting], [], db_world))
    database_failure(status, "AuthenticationFailed")
    assert not [e for e in events_of(ticks) if e[1] == "Retrying"]  # permanent: no retry
    assert_audit_complete(db_world, status)
    [message] = db_world.sns_messages()
    assert message["details"]["error_code"] == "AuthenticationFailed"
    assert "S3ntinel" not in str(status) + str(events_of(ticks)) + str(message)


def test_failing_statement_is_rolled_back_and_named_by_position_not_text(
    db_world: World, postgres: PostgresSandbox
) -> None:
    app, reporting = names()
    table = f"half_{uuid.uuid4().hex[:8]}"
    script = (
        f"CREATE TABLE public.{table} (x int);\n"
        f"INSERT INTO public.{table} VALUES (1);\n"
        "-- the third statement fails, and quotes a secret-looking literal\n"
        "UPDATE public.customers\n   SET email = 'S3ntinel-' || (1/0)::text;\n"
    )
    spec = spec_with([app, reporting], ["SELECT 1;", script, "SELECT 2;"], db_world)
    status, ticks = run(db_world, spec)
    error = database_failure(status, "SqlFailed")
    assert "sql[1]" in error["message"] and "statement 3 (line 4)" in error["message"]
    assert "22012" in error["message"]  # division_by_zero: the SQLSTATE, not the statement
    # (The inline script itself is part of the spec, kept in status.runSpec.)
    shown = {k: v for k, v in status.items() if k != "runSpec"}
    assert "S3ntinel" not in str(shown) + str(events_of(ticks))
    assert status["sqlApplied"] == 1  # the first script committed, the failing one did not
    with master(postgres) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f"public.{table}",))
        assert cur.fetchone() == (None,)
        cur.execute("SELECT count(*) FROM public.customers WHERE email LIKE 'S3ntinel%%'")
        assert cur.fetchone() == (0,)
    # Roles were made before the scripts ran, and stay correct.
    assert can_login(postgres, app, APP)
    assert_audit_complete(db_world, status)
    [message] = db_world.sns_messages()
    assert message["status"] == "failure" and "S3ntinel" not in str(message)


def test_connection_dropped_mid_script_is_retried_and_applied_once(
    db_world: World, postgres: PostgresSandbox
) -> None:
    """The script's backend is terminated after its first statement ran; the transaction is
    lost with it, and the retry applies the whole script exactly once."""
    app, reporting = names()
    seq, table = f"chaos_{uuid.uuid4().hex[:8]}", f"marker_{uuid.uuid4().hex[:8]}"
    with master(postgres) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE SEQUENCE public.{seq}")  # sequences ignore rollbacks
        cur.execute(f"CREATE TABLE public.{table} (at timestamptz DEFAULT now())")
    script = (
        f"INSERT INTO public.{table} DEFAULT VALUES;\n"
        f"SELECT CASE WHEN nextval('public.{seq}') = 1"
        " THEN pg_terminate_backend(pg_backend_pid()) END;\n"
    )
    status, ticks = run(db_world, spec_with([app, reporting], [script], db_world))
    assert status["phase"] == "Completed", status.get("error")
    retries = [e for e in events_of(ticks) if e[1] == "Retrying"]
    assert len(retries) == 1 and "connection lost" in retries[0][2], retries
    with master(postgres) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM public.{table}")
        assert cur.fetchone() == (1,)
    assert status["sqlApplied"] == 1
    assert can_login(postgres, app, APP) and can_login(postgres, reporting, REPORTING)


@pytest.fixture
def role_blocker(postgres: PostgresSandbox) -> Iterator[Any]:
    """Another session creates the role first and keeps its transaction open, so the
    operator's CREATE ROLE waits on it; a watcher terminates the waiting backend (a dropped
    connection in the middle of the role setup), then the other session rolls back."""
    state: dict[str, Any] = {}

    def start(role: str) -> None:
        blocker = psycopg2.connect(postgres.dsn(password=MASTER))
        with blocker.cursor() as cur:
            cur.execute(f'CREATE ROLE "{role}"')  # not committed
        state["blocker"] = blocker

        def watch() -> None:
            # Not ``with conn``: that opens a transaction, whose statistics snapshot would
            # never show the operator's backend starting to wait.
            conn = master(postgres, "postgres")
            with conn.cursor() as cur:
                for _ in range(500):
                    cur.execute(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
                        " AND wait_event_type = 'Lock'",
                        (APPLICATION_NAME,),
                    )
                    row = cur.fetchone()

                    if row:
                        cur.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                        state["terminated"] = row[0]
                        break
                    time.sleep(0.02)
            conn.close()
            blocker.rollback()
            blocker.close()

        state["thread"] = threading.Thread(target=watch, daemon=True)
        state["thread"].start()

    yield start
    if "thread" in state:
        state["thread"].join(10)


def test_connection_dropped_mid_role_setup_is_retried_and_users_are_correct(
    db_world: World, postgres: PostgresSandbox, role_blocker: Any
) -> None:
    app, reporting = names()
    spec = spec_with([app, reporting], [], db_world)
    role_blocker(reporting)  # app is created, then the backend dies waiting for reporting
    status, ticks = run(db_world, spec)
    assert status["phase"] == "Completed", status.get("error")
    retries = [e for e in events_of(ticks) if e[1] == "Retrying"]
    assert len(retries) == 1 and "connection lost" in retries[0][2], retries
    assert can_login(postgres, app, APP) and can_login(postgres, reporting, REPORTING)
    with psycopg2.connect(postgres.dsn("app", user=reporting, password=REPORTING)) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM public.customers")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("DELETE FROM public.customers")
    with psycopg2.connect(postgres.dsn("app", user=app, password=APP)) as conn:
        with conn.cursor() as cur:
            cur.execute("UPDATE public.customers SET full_name = full_name")
    assert_audit_complete(db_world, status)
