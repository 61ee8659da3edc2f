from __future__ import annotations

import dataclasses

import psycopg2
import psycopg2.errors
import pytest

from aurora_restore.db import DatabaseError, DbUser, ErrorCode, setup_users
from aurora_restore.db import roles as roles_module


@pytest.fixture
def denied(query):
    def check(conn, statement: str) -> None:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            query(conn, statement)

    return check


def test_readonly_can_select_but_not_write(master, login, unique, query, denied):
    name = unique("ro")
    lines = setup_users(master, [DbUser(name, "ro-pass-1", "readonly", ("app",))])
    assert f"role {name!r}: created (readonly)" in lines

    conn = login(name, "ro-pass-1")
    assert query(conn, "SELECT count(*) FROM public.customers")[0][0] >= 3
    assert query(conn, "SELECT count(*) FROM billing.invoices")[0][0] >= 2
    denied(conn, "INSERT INTO public.customers (email, full_name) VALUES ('x', 'y')")
    denied(conn, "UPDATE billing.invoices SET amount = 0")
    denied(conn, "DELETE FROM public.customers")
    denied(conn, f"CREATE TABLE public.{name}_t (id int)")


def test_readwrite_can_insert_update_delete(master, login, unique, query, denied):
    name = unique("rw")
    setup_users(master, [DbUser(name, "rw-pass-1", "readwrite", ("app",))])

    conn = login(name, "rw-pass-1")
    # The serial column needs USAGE on its sequence, so this proves the sequence grant too.
    (new_id,) = query(
        conn,
        "INSERT INTO public.customers (email, full_name) VALUES (%s, 'Temp') RETURNING id",
        f"{name}@example.com",
    )[0]
    query(conn, "UPDATE public.customers SET full_name = 'Changed' WHERE id = %s", new_id)
    query(conn, "INSERT INTO billing.invoices (customer_id, amount) VALUES (%s, 1)", new_id)
    query(conn, "DELETE FROM billing.invoices WHERE customer_id = %s", new_id)
    query(conn, "DELETE FROM public.customers WHERE id = %s", new_id)
    denied(conn, f"CREATE TABLE public.{name}_t (id int)")
    denied(conn, "TRUNCATE billing.invoices")


def test_future_tables_and_schemas_created_by_the_master_are_covered(
    master, login, unique, query, denied
):
    ro, rw = unique("ro_future"), unique("rw_future")
    setup_users(
        master,
        [DbUser(ro, "pw-ro", "readonly", ("app",)), DbUser(rw, "pw-rw", "readwrite", ("app",))],
    )
    admin = login()
    schema = unique("later_schema")
    query(admin, f"CREATE TABLE public.{ro}_later (id serial PRIMARY KEY, v text)")
    query(admin, f"CREATE TABLE billing.{ro}_later (id int)")
    query(admin, f"CREATE SCHEMA {schema}")
    query(admin, f"CREATE TABLE {schema}.t (id serial PRIMARY KEY, v text)")

    reader = login(ro, "pw-ro")
    for table in (f"public.{ro}_later", f"billing.{ro}_later", f"{schema}.t"):
        assert query(reader, f"SELECT count(*) FROM {table}") == [(0,)]
        denied(reader, f"DELETE FROM {table}")

    writer = login(rw, "pw-rw")
    query(writer, f"INSERT INTO public.{ro}_later (v) VALUES ('a')")
    query(writer, f"INSERT INTO {schema}.t (v) VALUES ('b')")
    query(writer, f"UPDATE {schema}.t SET v = 'c'")
    assert query(reader, f"SELECT v FROM {schema}.t") == [("c",)]


def test_owner_creates_tables_that_the_other_users_can_use(master, login, unique, query, denied):
    owner, ro = unique("own"), unique("ro_of_owner")
    admin = login()
    query(admin, f"CREATE TABLE public.{owner}_existing AS SELECT 1 AS id")
    lines = setup_users(
        master,
        [DbUser(owner, "pw-own", "owner", ("app",)), DbUser(ro, "pw-ro", "readonly", ("app",))],
    )
    assert any(owner in line and "granted owner" in line for line in lines)

    owner_conn = login(owner, "pw-own")
    query(owner_conn, "INSERT INTO public.customers (email, full_name) VALUES ('o', 'o')")
    query(owner_conn, "DELETE FROM public.customers WHERE email = 'o'")
    query(owner_conn, f"TRUNCATE TABLE public.{owner}_existing")
    query(owner_conn, f"CREATE TABLE billing.{owner}_t (id int)")
    query(owner_conn, f"INSERT INTO billing.{owner}_t VALUES (1)")
    query(owner_conn, f"CREATE SCHEMA {owner}_s")
    query(owner_conn, f"CREATE TABLE {owner}_s.t AS SELECT 1 AS id")

    reader = login(ro, "pw-ro")
    assert query(reader, f"SELECT id FROM billing.{owner}_t") == [(1,)]
    assert query(reader, f"SELECT id FROM {owner}_s.t") == [(1,)]
    denied(reader, f"INSERT INTO billing.{owner}_t VALUES (2)")
    # The master may manage what the owner made, through its membership.
    query(admin, f"DROP TABLE billing.{owner}_t")


def test_users_are_scoped_to_their_databases(master, login, unique, query, denied):
    app_only, everywhere = unique("app_only"), unique("everywhere")
    setup_users(
        master,
        [
            DbUser(app_only, "pw-a", "readonly", ["app"]),
            DbUser(everywhere, "pw-e", "readonly"),
        ],
    )
    query(login(app_only, "pw-a", "app"), "SELECT 1 FROM billing.invoices")
    denied(login(app_only, "pw-a", "reporting"), "SELECT 1 FROM billing.invoices")
    query(login(everywhere, "pw-e", "reporting"), "SELECT 1 FROM billing.invoices")


def test_rerun_is_idempotent_and_updates_the_password(master, login, unique, query):
    name = unique("rotate")
    user = DbUser(name, "first-password", "readwrite", ("app",))
    setup_users(master, [user])
    lines = setup_users(master, [dataclasses.replace(user, password="second-password")])
    assert f"role {name!r}: password updated (readwrite)" in lines
    # Running the same request again changes nothing and does not fail.
    assert setup_users(master, [dataclasses.replace(user, password="second-password")]) == lines

    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        login(name, "first-password")
    query(
        login(name, "second-password"),
        "INSERT INTO public.customers (email, full_name) VALUES ('r', 'r')",
    )


def test_hostile_user_name_is_just_a_name(master, login, query):
    admin = login()
    query(admin, "CREATE TABLE IF NOT EXISTS public.x (id int)")
    hostile = 'evil"; DROP TABLE x; --'
    lines = setup_users(master, [DbUser(hostile, "pw'; DROP TABLE x; --", "readonly", ("app",))])

    assert query(admin, "SELECT to_regclass('public.x') IS NOT NULL") == [(True,)]
    assert query(admin, "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", hostile) == [(True,)]
    assert any(hostile in line for line in lines)
    assert query(login(hostile, "pw'; DROP TABLE x; --"), "SELECT count(*) FROM public.x") == [(0,)]


@pytest.mark.parametrize(
    ("user", "code"),
    [
        (DbUser("postgres", "pw", "readonly"), ErrorCode.INVALID_INPUT),
        (DbUser("pg_sneaky", "pw", "readonly"), ErrorCode.INVALID_INPUT),
        (DbUser("rds_superuser", "pw", "readonly"), ErrorCode.INVALID_INPUT),
        (DbUser("public", "pw", "readonly"), ErrorCode.INVALID_INPUT),
        (DbUser("n" * 64, "pw", "readonly"), ErrorCode.INVALID_INPUT),
        (DbUser("ok_name_empty_pw", "", "readonly"), ErrorCode.INVALID_INPUT),
        (DbUser("ok_name_bad_level", "pw", "admin"), ErrorCode.INVALID_INPUT),
        (DbUser("ok_name_no_db", "pw", "readonly", ("nope",)), ErrorCode.DATABASE_NOT_FOUND),
    ],
)
def test_invalid_requests_fail_before_any_change(master, login, unique, query, user, code):
    first = unique("never_created")
    with pytest.raises(DatabaseError) as caught:
        setup_users(master, [DbUser(first, "pw", "readonly"), user])
    assert caught.value.code == code
    assert not caught.value.retryable
    assert query(login(), "SELECT 1 FROM pg_roles WHERE rolname = %s", first) == []


def test_duplicate_users_are_rejected(master, unique):
    name = unique("dup")
    with pytest.raises(DatabaseError, match="listed twice"):
        setup_users(master, [DbUser(name, "a", "readonly"), DbUser(name, "b", "readwrite")])


def test_connection_dropped_mid_setup_is_retryable(master, login, unique, query, monkeypatch):
    name = unique("dropped")
    real_grant = roles_module._grant
    killer = login()

    def grant_after_the_connection_dies(cur, *args, **kwargs):
        # Kill this session from outside, as a failover or network cut would.
        query(killer, "SELECT pg_terminate_backend(%s)", cur.connection.get_backend_pid())
        return real_grant(cur, *args, **kwargs)

    monkeypatch.setattr(roles_module, "_grant", grant_after_the_connection_dies)
    with pytest.raises(DatabaseError) as caught:
        setup_users(master, [DbUser(name, "dropped-secret", "readonly", ("app",))])
    assert caught.value.code == ErrorCode.CONNECTION_FAILED
    assert caught.value.retryable
    assert "dropped-secret" not in str(caught.value)

    monkeypatch.setattr(roles_module, "_grant", real_grant)
    setup_users(master, [DbUser(name, "dropped-secret", "readonly", ("app",))])
    query(login(name, "dropped-secret"), "SELECT 1 FROM public.customers")


def test_no_users_is_a_no_op(master):
    assert setup_users(master, []) == []


def test_works_for_a_master_that_is_not_a_superuser_like_aurora(
    pg, master, login, unique, query, denied
):
    # Aurora's master user has CREATEROLE and CREATEDB (via rds_superuser) but is no
    # superuser; the sandbox's master is, so emulate Aurora's with a second role.
    admin_name, database = unique("aurora_admin"), unique("aurora_db")
    admin = login()
    query(admin, f"CREATE ROLE {admin_name} LOGIN CREATEROLE CREATEDB PASSWORD 'admin-pw'")
    query(admin, f"CREATE DATABASE {database} OWNER {admin_name}")
    aurora = dataclasses.replace(master, user=admin_name, password="admin-pw")
    owned = login(admin_name, "admin-pw", database)
    query(owned, "CREATE SCHEMA data; CREATE TABLE data.t (id serial PRIMARY KEY, v text)")

    ro, own = unique("aro"), unique("aown")
    users = [
        DbUser(ro, "pw-ro", "readonly", (database,)),
        DbUser(own, "pw-own", "owner", (database,)),
    ]
    setup_users(aurora, users)
    setup_users(aurora, users)
    query(login(own, "pw-own", database), "CREATE TABLE data.made_by_owner (id int)")
    query(owned, "CREATE TABLE data.made_by_master (id int)")
    reader = login(ro, "pw-ro", database)
    for table in ("data.t", "data.made_by_owner", "data.made_by_master"):
        query(reader, f"SELECT count(*) FROM {table}")
        denied(reader, f"DELETE FROM {table}")

    # A table owned by a role the master is not a member of cannot be granted on.
    legacy = unique("legacy")
    query(admin, f"CREATE ROLE {legacy}")
    query(
        login(dbname=database),
        f"CREATE TABLE data.old (id int); ALTER TABLE data.old OWNER TO {legacy}",
    )
    with pytest.raises(DatabaseError) as caught:
        setup_users(aurora, users)
    assert caught.value.code == ErrorCode.PERMISSION_DENIED
    assert "permission denied for table old" in caught.value.message
    assert "member of" in caught.value.message
