from __future__ import annotations

import dataclasses
import pickle

import pytest

from aurora_restore.db import DatabaseError, ErrorCode, check_master, list_databases
from aurora_restore_sandbox.harness import free_port
from aurora_restore_sandbox.postgres import PostgresSandbox


def test_check_master_returns_the_server_version(master):
    version = check_master(master)
    assert version.split(".")[0].isdigit()


def test_list_databases_skips_templates(master):
    names = list_databases(master)
    assert {"app", "reporting", "postgres"} <= set(names)
    assert not {"template0", "template1", "rdsadmin"} & set(names)


def test_wrong_master_password_is_authentication_failed(master):
    bad = dataclasses.replace(master, password="not-the-password-6f1d")
    with pytest.raises(DatabaseError) as caught:
        check_master(bad)
    assert caught.value.code == ErrorCode.AUTHENTICATION_FAILED
    assert not caught.value.retryable
    assert "not-the-password-6f1d" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_unreachable_port_is_a_retryable_connection_failure(master):
    with pytest.raises(DatabaseError) as caught:
        check_master(dataclasses.replace(master, port=free_port(), connect_timeout=2))
    assert caught.value.code == ErrorCode.CONNECTION_FAILED
    assert caught.value.retryable


def test_missing_database_is_not_retryable(master):
    with pytest.raises(DatabaseError) as caught:
        check_master(dataclasses.replace(master, dbname="no_such_db"))
    assert caught.value.code == ErrorCode.DATABASE_NOT_FOUND
    assert not caught.value.retryable


def test_tls_required_against_a_server_without_tls_is_not_retryable(master):
    with pytest.raises(DatabaseError) as caught:
        check_master(dataclasses.replace(master, sslmode="require"))
    assert caught.value.code == ErrorCode.CONNECTION_FAILED
    assert not caught.value.retryable
    assert "sslmode=require" in str(caught.value)


def test_endpoint_validation_and_repr_hide_the_password(master):
    assert master.password not in repr(master)
    with pytest.raises(DatabaseError, match="sslmode"):
        dataclasses.replace(master, sslmode="sometimes")
    with pytest.raises(DatabaseError, match="port"):
        dataclasses.replace(master, port=0)


def test_database_error_survives_pickling():
    error = DatabaseError("SqlFailed", "statement 1 failed", retryable=True, pgcode="40001")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.message, copy.retryable, copy.pgcode) == (
        "SqlFailed",
        "statement 1 failed",
        True,
        "40001",
    )


def test_reset_master_password_like_modify_db_cluster(pg: PostgresSandbox, master):
    original = pg.master_password
    try:
        pg.set_master_password("reset-by-modify-db-cluster")
        with pytest.raises(DatabaseError) as caught:
            check_master(master)  # still the old password
        assert caught.value.code == ErrorCode.AUTHENTICATION_FAILED
        check_master(dataclasses.replace(master, password="reset-by-modify-db-cluster"))
    finally:
        pg.set_master_password(original)
    check_master(master)


def test_sandbox_helpers(pg: PostgresSandbox):
    assert PostgresSandbox.available()
    assert "available" in PostgresSandbox.install_hint()
    dsn = pg.dsn("app", "someone", "pw with 'quote")
    assert "sslmode=disable" in dsn and f"port={pg.port}" in dsn and "host=127.0.0.1" in dsn
    assert pg.running


def test_a_busy_server_is_retryable_even_though_it_names_the_role(pg, master, login, query, unique):
    name = unique("limited")
    query(login(), f"CREATE ROLE {name} LOGIN CONNECTION LIMIT 0 PASSWORD 'pw-limited'")
    with pytest.raises(DatabaseError) as caught:
        check_master(dataclasses.replace(master, user=name, password="pw-limited"))
    assert "too many connections" in caught.value.message
    assert caught.value.code == ErrorCode.CONNECTION_FAILED and caught.value.retryable
