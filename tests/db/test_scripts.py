from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurora_restore.db import (
    DatabaseError,
    DbUser,
    ErrorCode,
    SqlScript,
    run_sql,
    setup_users,
    split_statements,
)

# -- splitting (no server) ----------------------------------------------------------------


def test_split_keeps_semicolons_inside_quotes_comments_and_bodies():
    text = """-- leading comment; not a statement
SELECT 'a;b', "odd;name", E'it\\'s;' FROM t;
/* block; /* nested; */ still comment; */
DO $body$ BEGIN PERFORM 1; END $body$;
SELECT $$x;y$$, $1tag;
CREATE FUNCTION f() RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN true THEN 1 ELSE 2 END;
  SELECT 2;
END;
CREATE RULE r AS ON INSERT TO t DO ALSO (NOTIFY a; NOTIFY b);

SELECT 'no trailing semicolon'
"""
    statements = split_statements(text)
    assert [s.line for s in statements] == [2, 4, 5, 6, 11, 13]
    assert statements[0].text == "SELECT 'a;b', \"odd;name\", E'it\\'s;' FROM t"
    assert statements[1].text.endswith("END $body$")
    assert statements[3].text.endswith("SELECT 2;\nEND")
    assert statements[4].text.endswith("NOTIFY b)")
    assert [s.index for s in statements] == [1, 2, 3, 4, 5, 6]


def test_split_handles_empty_and_comment_only_scripts():
    assert split_statements("") == []
    assert split_statements(" ;; -- nothing\n/* at all */ ;") == []


_literal_text = st.text(alphabet="ab;'\"$-/*\n\\ ", max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(_literal_text, min_size=1, max_size=5))
def test_split_finds_every_statement_whatever_its_literals_hold(values):
    statements = [f"SELECT '{value.replace(chr(39), chr(39) * 2)}' AS v" for value in values]
    assert [s.text for s in split_statements(";\n".join(statements) + ";")] == statements


# -- running (against the sandbox) --------------------------------------------------------


@pytest.fixture
def table(login, unique, query):
    """A table of its own for each test, so scripts cannot disturb each other."""
    name = unique("people")
    query(login(), f"CREATE TABLE public.{name} (id int PRIMARY KEY, email text, note text)")
    query(
        login(), f"INSERT INTO public.{name} VALUES (1, 'a@real.com', 'x'), (2, 'b@real.com', 'y')"
    )
    return name


def test_post_restore_sql_is_applied(master, login, query, table):
    script = SqlScript(
        "mask-pii",
        "app",
        f"""-- mask personal data in the staging copy
UPDATE public.{table} SET email = 'user' || id || '@example.invalid';
UPDATE public.{table} SET note = 'masked; really';
""",
    )
    assert run_sql(master, script) == 2
    assert query(login(), f"SELECT email, note FROM public.{table} ORDER BY id") == [
        ("user1@example.invalid", "masked; really"),
        ("user2@example.invalid", "masked; really"),
    ]


def test_failing_script_is_rolled_back_and_names_the_statement(master, login, query, table):
    script = SqlScript(
        "mask-pii",
        "app",
        f"""UPDATE public.{table} SET email = 'masked';

CREATE TABLE public.{table}_side (id int);
-- the third statement divides by zero
UPDATE public.{table}
   SET note = 'n'
 WHERE id = 1 / 0;
UPDATE public.{table} SET note = 'never';
""",
    )
    with pytest.raises(DatabaseError) as caught:
        run_sql(master, script)
    error = caught.value
    assert error.code == ErrorCode.SQL_FAILED and not error.retryable
    assert error.pgcode == "22012"
    assert "'mask-pii'" in error.message and "'app'" in error.message
    assert (
        "statement 3 (line 5) failed: SQLSTATE 22012 (division_by_zero): division by zero"
        in error.message
    )
    # Nothing of the script stayed: not the first UPDATE, not the table.
    assert query(login(), f"SELECT count(*) FROM public.{table} WHERE email = 'masked'") == [(0,)]
    assert query(login(), f"SELECT to_regclass('public.{table}_side')") == [(None,)]


def test_syntax_error_points_at_its_line(master, table):
    script = SqlScript(
        "broken",
        "app",
        f"SELECT 1;\nUPDATE public.{table}\n   SET note = 'x'\n WHERE id = = 1;\n",
    )
    expected = r"statement 2 \(line 4\) failed: SQLSTATE 42601 \(syntax_error\): syntax error"
    with pytest.raises(DatabaseError, match=expected):
        run_sql(master, script)


def test_failure_message_never_quotes_the_statement(master, table):
    secret = "SENTINEL-script-value-9c1e"
    script = SqlScript("s", "app", f"UPDATE public.{table} SET note = '{secret}' WHERE id = 1/0")
    with pytest.raises(DatabaseError) as caught:
        run_sql(master, script)
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert secret not in repr(script)


def test_transaction_control_is_rejected_before_running(master, login, query, table):
    script = SqlScript(
        "wrapped", "app", f"BEGIN;\nUPDATE public.{table} SET note = 'z';\nCOMMIT;\n"
    )
    with pytest.raises(DatabaseError) as caught:
        run_sql(master, script)
    assert caught.value.code == ErrorCode.INVALID_INPUT
    assert "statement 1 (line 1)" in caught.value.message
    assert query(login(), f"SELECT count(*) FROM public.{table} WHERE note = 'z'") == [(0,)]


def test_psql_meta_commands_are_rejected(master):
    with pytest.raises(DatabaseError, match="meta-commands"):
        run_sql(master, SqlScript("psql", "app", "SELECT 1;\n\\connect other\nSELECT 2;"))


def test_permission_denied_is_reported_as_such(master, unique, table):
    name = unique("ro_script")
    setup_users(master, [DbUser(name, "pw-ro-script", "readonly", ("app",))])
    as_reader = dataclasses.replace(master, user=name, password="pw-ro-script")
    with pytest.raises(DatabaseError) as caught:
        run_sql(as_reader, SqlScript("w", "app", f"DELETE FROM public.{table}"))
    assert caught.value.code == ErrorCode.PERMISSION_DENIED
    assert not caught.value.retryable


def test_missing_database(master):
    with pytest.raises(DatabaseError) as caught:
        run_sql(master, SqlScript("x", "no_such_db", "SELECT 1"))
    assert caught.value.code == ErrorCode.DATABASE_NOT_FOUND


def test_empty_script_does_not_connect(master):
    unreachable = dataclasses.replace(master, port=1)
    assert run_sql(unreachable, SqlScript("empty", "app", "-- nothing to do\n")) == 0
