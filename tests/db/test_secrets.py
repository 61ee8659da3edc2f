"""A password must never surface in an error or a log line, whatever fails."""

from __future__ import annotations

import dataclasses
import logging
import traceback

import pytest

from aurora_restore.db import (
    DatabaseError,
    DbUser,
    SqlScript,
    check_master,
    list_databases,
    run_sql,
    setup_users,
)
from aurora_restore.db import roles as roles_module

SENTINEL = "SENTINEL-pw-7Hq2;'\"--"


def _everything_said(error: BaseException) -> str:
    """What any logger or traceback could ever print about this error."""
    return "\n".join(
        [str(error), repr(error), "".join(traceback.format_exception(error)), str(error.args)]
    )


def test_sentinel_password_never_appears(master, unique, caplog, monkeypatch, login, query):
    caplog.set_level(logging.DEBUG)
    name = unique("secretive")
    errors: list[DatabaseError] = []

    def expect_failure(call, *args) -> None:
        with pytest.raises(DatabaseError) as caught:
            call(*args)
        errors.append(caught.value)

    # Success paths log too.
    lines = setup_users(master, [DbUser(name, SENTINEL, "readwrite", ("app",))])
    lines += setup_users(master, [DbUser(name, SENTINEL, "owner")])
    as_user = dataclasses.replace(master, user=name, password=SENTINEL)
    check_master(as_user)
    list_databases(as_user)

    # A master password that is wrong...
    expect_failure(check_master, dataclasses.replace(master, password=SENTINEL))
    # ...a connection that cannot be made...
    expect_failure(list_databases, dataclasses.replace(as_user, port=1, connect_timeout=1))
    # ...role statements that fail: this user may not create roles, and the statement
    # carries the password (as a hash)...
    other = DbUser(unique("other"), SENTINEL, "readonly", ("app",))
    expect_failure(setup_users, as_user, [other])
    # ...a connection lost in the middle of granting...
    killer = login()

    def kill_then_grant(cur, *args, **kwargs):
        query(killer, "SELECT pg_terminate_backend(%s)", cur.connection.get_backend_pid())
        return real_grant(cur, *args, **kwargs)

    real_grant = roles_module._grant
    monkeypatch.setattr(roles_module, "_grant", kill_then_grant)
    expect_failure(setup_users, master, [DbUser(name, SENTINEL, "readwrite", ("app",))])
    monkeypatch.undo()
    # ...and a failing script, run by a user whose password is the sentinel.
    expect_failure(run_sql, as_user, SqlScript("s", "app", "SELECT 1/0"))

    assert [e.code for e in errors] == [
        "AuthenticationFailed",
        "ConnectionFailed",
        "PermissionDenied",
        "ConnectionFailed",
        "SqlFailed",
    ]
    for error in errors:
        said = _everything_said(error)
        assert SENTINEL not in said
        assert "SCRAM-SHA-256$" not in said and "md5" not in said
    assert SENTINEL not in "\n".join(lines)
    assert caplog.records, "the adapter is expected to log at debug level"
    for record in caplog.records:
        assert SENTINEL not in record.getMessage()
    assert SENTINEL not in caplog.text
    assert SENTINEL not in repr(DbUser(name, SENTINEL, "readonly"))
