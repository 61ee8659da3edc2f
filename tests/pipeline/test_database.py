"""setup-db-users against a real PostgreSQL standing in for the restored cluster's endpoint."""

from __future__ import annotations

import psycopg2
import pytest

from aurora_restore_sandbox.postgres import PostgresSandbox
from support.world import APP, MASTER, REPORTING, World, db_spec


def connect(pg: PostgresSandbox, user: str, password: str):
    return psycopg2.connect(pg.dsn("app", user=user, password=password))


def test_users_grants_sql_and_connection_secret(db_world: World, postgres: PostgresSandbox) -> None:
    status, _ = db_world.run(db_spec())
    assert status["phase"] == "Completed", status.get("error")
    step = next(s for s in status["steps"] if s["name"] == "setup-db-users")
    assert step["state"] == "Succeeded"
    assert db_world.aws.count("ModifyDBCluster") == 1
    assert status["sqlApplied"] == 2

    with connect(postgres, "reporting", REPORTING) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM public.customers WHERE email NOT LIKE 'masked-%'")
        assert cur.fetchone() == (0,)
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("INSERT INTO public.restored_marker DEFAULT VALUES")
    with connect(postgres, "app", APP) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO public.restored_marker DEFAULT VALUES")
        cur.execute("SELECT count(*) FROM public.restored_marker")
        assert cur.fetchone()[0] >= 2

    secret = db_world.kube.written["staging-db"]
    assert secret["password"] == MASTER and secret["dbname"] == "app"
    assert secret["uri"].startswith("postgresql://postgres:")
    assert secret["host"] == status["cluster"]["endpoint"]


def test_connection_secret_holds_the_named_users_credentials(
    db_world: World, postgres: PostgresSandbox
) -> None:
    spec = db_spec()
    spec["connectionSecret"] = {"name": "staging-db", "database": "app", "user": "app"}
    status, _ = db_world.run(spec)
    assert status["phase"] == "Completed", status.get("error")
    secret = db_world.kube.written["staging-db"]
    assert secret["username"] == "app" and secret["password"] == APP
    assert secret["uri"].startswith("postgresql://app:")
    assert MASTER not in str(secret)
    # The credentials work, and they are not the superuser's.
    with connect(postgres, secret["username"], secret["password"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (False,)


def test_wrong_master_password_fails_with_database_error(
    db_world: World, postgres: PostgresSandbox
) -> None:
    db_world.kube.secrets["staging-master"] = {"password": "not-what-the-db-has"}
    status, ticks = db_world.run(db_spec())
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "DatabaseError"
    assert status["error"]["step"] == "setup-db-users"
    assert status["error"]["code"] == "AuthenticationFailed"
    assert "not-what-the-db-has" not in str(status) + str([t.events for t in ticks])


def test_failing_sql_names_the_statement_and_is_rolled_back(
    db_world: World, postgres: PostgresSandbox
) -> None:
    spec = db_spec()
    spec["sql"] = [
        {
            "inline": "CREATE TABLE public.half_done (x int);\nSELECT 'S3cretLiteral'::int;",
            "database": "app",
        }
    ]
    status, _ = db_world.run(spec)
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "DatabaseError"
    assert "statement 2 (line 2)" in status["error"]["message"]
    with connect(postgres, "postgres", MASTER) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.half_done')")
        assert cur.fetchone() == (None,)


def test_secret_deleted_after_the_preflight_is_waited_for_with_honest_backoff(
    db_world: World,
) -> None:
    """A Secret that goes away after the preflight: setup-db-users waits for it with the
    step's backoff up to timeouts.step, and every announced wait is the real one."""
    driver = db_world.driver()
    original = driver.ports

    def ports(kube: object, namespace: str) -> object:
        made = original(kube, namespace)
        real = made.secrets.kubernetes_secret

        def kubernetes_secret(ref: object) -> str:
            # Present for the preflight (snapshot-check), gone by setup-db-users.
            if getattr(ref, "name", "") == "app-db" and db_world.aws.count("ModifyDBCluster"):
                return db_world.kube.kubernetes_secret(type(ref)(name="missing-app-db"))
            return real(ref)

        made.secrets.kubernetes_secret = kubernetes_secret  # type: ignore[method-assign]
        return made

    driver.ports = ports  # type: ignore[method-assign]
    spec = db_spec(timeouts={"step": "20m"})
    status, ticks = db_world.run(spec, driver=driver, max_ticks=400)
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "Timeout"
    assert "missing-app-db" in status["error"]["message"]
    retrying = [t for t in ticks if any(e.reason == "Retrying" for e in t.events)]
    assert len(retrying) > 8, "a late Secret is not bounded by MAX_RETRIES"
    step = next(s for s in status["steps"] if s["name"] == "setup-db-users")
    # The last retry's message, status.retries and attempts count the same retries.
    assert status["retries"] == len(retrying)
    assert step["attempts"] == len(retrying) + 1
    for tick in retrying:
        assert tick.exact_wait
        announced = float(tick.status.message.rsplit(" in ", 1)[1].rstrip("s"))
        assert abs(announced - tick.requeue_after) < 1
    # Backoff, not POLL_INTERVAL (30 s): the later waits are longer than the interval.
    assert max(t.requeue_after for t in retrying) > 60


def test_unreachable_database_is_retried_then_fails(world: World) -> None:
    world.env["AURORA_RESTORE_DB_ENDPOINT_OVERRIDE"] = "127.0.0.1:1"
    world.env["AURORA_RESTORE_DB_SSLMODE"] = "disable"
    world.kube.secrets.update(
        {
            "staging-master": {"password": MASTER},
            "app-db": {"password": APP},
            "reporting-db": {"password": REPORTING},
        }
    )
    world.kube.config_maps["mask-pii"] = {"mask.sql": "SELECT 1;"}
    status, ticks = world.run(db_spec(timeouts={"step": "15m"}), max_ticks=400)
    # Waited for with backoff up to the step's timeout, then a clear failure.
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "Timeout"
    assert "cannot connect" in status["error"]["message"]
    waits = [t.requeue_after for t in ticks if any(e.reason == "Retrying" for e in t.events)]
    assert len(waits) > 8 and max(waits) > 60
