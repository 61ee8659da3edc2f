"""A throwaway local PostgreSQL server that stands in for a restored Aurora cluster.

The tests and the demo point the restored cluster's endpoint at this server, so the
``setup-db-users`` step runs real SQL against a real PostgreSQL. It has no TLS: connect
with ``sslmode=disable`` (or ``prefer``).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import logging
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from .harness import free_port
from .lifecycle import Service

__all__ = ["PostgresSandbox", "SandboxError"]

log = logging.getLogger(__name__)

# Lets a machine with an unusual layout point at its server binaries without code changes.
BINDIR_ENV = "AURORA_RESTORE_PG_BINDIR"
_OS_USER = "postgres"
_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
_START_ATTEMPTS = 3
_LOG_TAIL_LINES = 30

# Tables every created database gets when ``sample_data`` is on: one in ``public`` and one
# in another schema, so grants over "all non-system schemas" are exercised, plus a sequence
# (the serial columns) that INSERT needs privileges on.
_SAMPLE_DDL = (
    "CREATE TABLE public.customers ("
    " id bigserial PRIMARY KEY, email text NOT NULL, full_name text NOT NULL)",
    "INSERT INTO public.customers (email, full_name) VALUES"
    " ('ada@example.com', 'Ada Lovelace'),"
    " ('alan@example.com', 'Alan Turing'),"
    " ('grace@example.com', 'Grace Hopper')",
    "CREATE SCHEMA billing",
    "CREATE TABLE billing.invoices ("
    " id serial PRIMARY KEY,"
    " customer_id bigint NOT NULL REFERENCES public.customers (id),"
    " amount numeric(12, 2) NOT NULL)",
    "INSERT INTO billing.invoices (customer_id, amount) VALUES (1, 10.50), (2, 99.00)",
)


class SandboxError(RuntimeError):
    """The sandbox server could not be created, started or changed."""


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path)) or (0,)


def _has_server_binaries(bindir: str | os.PathLike[str]) -> bool:
    return all(os.access(Path(bindir, name), os.X_OK) for name in _REQUIRED_BINARIES)


def _find_bindir() -> str | None:
    """Locate initdb/pg_ctl/postgres; Debian keeps them off PATH, so PATH alone is not enough."""
    candidates: list[str] = []
    override = os.environ.get(BINDIR_ENV)
    if override:
        candidates.append(override)
    pg_config = shutil.which("pg_config")
    if pg_config:
        # libpq-dev's pg_config can name a bindir without a server in it, hence the check below.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(out.stdout.strip())
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    candidates.extend(
        sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    )
    candidates.extend(sorted(glob.glob("/usr/pgsql-*/bin"), key=_version_key, reverse=True))
    for candidate in candidates:
        if candidate and _has_server_binaries(candidate):
            return candidate
    return None


def _is_root() -> bool:
    return os.geteuid() == 0


def _os_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(_OS_USER)
    except KeyError:
        return None


def _conf_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


class PostgresSandbox(Service):
    """A PostgreSQL cluster in a temporary directory, on a free port of 127.0.0.1.

    TCP connections need a password (scram-sha-256). ``master_user`` is the superuser,
    like Aurora's master user. Use it as a context manager, or call ``start``/``stop``.
    """

    def __init__(
        self,
        master_password: str | None = None,
        *,
        master_user: str = "postgres",
        databases: Sequence[str] = (),
        sample_data: bool = True,
        bindir: str | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.master_user = master_user
        self._master_password = master_password or secrets.token_urlsafe(18)
        self.databases = tuple(databases)
        self.sample_data = sample_data
        self._bindir = bindir
        self._port: int | None = None
        self._base: Path | None = None

    # -- discovery -----------------------------------------------------------------

    @staticmethod
    def available() -> bool:
        """True when this machine can run a sandbox (binaries, and a user to run them as)."""
        if _find_bindir() is None:
            return False
        if _is_root():
            return _os_user() is not None and shutil.which("runuser") is not None
        return True

    @staticmethod
    def install_hint() -> str:
        """What to do when ``available()`` is False, for skip reasons and error messages."""
        if _find_bindir() is None:
            return (
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: "
                "install them with `apt-get install -y postgresql-15` (Debian/Ubuntu), "
                f"or set {BINDIR_ENV} to their directory"
            )
        if _is_root() and (_os_user() is None or shutil.which("runuser") is None):
            return (
                f"running as root needs an OS user {_OS_USER!r} and `runuser` "
                "(initdb refuses to run as root): "
                "`apt-get install -y postgresql-15` creates the user"
            )
        return "PostgreSQL sandbox is available"

    # -- properties ----------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise SandboxError("the sandbox is not running")
        return self._port

    @property
    def master_password(self) -> str:
        return self._master_password

    @property
    def running(self) -> bool:
        return self._port is not None

    def dsn(
        self, dbname: str = "postgres", user: str | None = None, password: str | None = None
    ) -> str:
        """A libpq connection string; the sandbox has no TLS, hence sslmode=disable."""
        return psycopg2.extensions.make_dsn(
            host=self.host,
            port=self.port,
            dbname=dbname,
            user=user if user is not None else self.master_user,
            password=password if password is not None else self._master_password,
            sslmode="disable",
            connect_timeout=5,
        )

    def server_log(self) -> str:
        """The server's log so far, to explain a failure."""
        if self._base is None:
            return ""
        try:
            return (self._base / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> PostgresSandbox:
        if self._base is not None:
            raise SandboxError("the sandbox is already started")
        bindir = self._bindir or _find_bindir()
        if bindir is None or (_is_root() and (_os_user() is None or not shutil.which("runuser"))):
            raise SandboxError(self.install_hint())
        self._bindir = bindir
        self._base = Path(tempfile.mkdtemp(prefix="aurora-pg-"))
        # Registered before anything can fail, so a half-started server is never orphaned.
        atexit.register(self.stop)
        try:
            self._prepare_base()
            self._initdb()
            self._start_server()
            self._create_databases()
        except BaseException:
            self.stop()
            raise
        log.info("PostgreSQL sandbox listening on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop the server at once (no checkpoint: the data is thrown away) and delete it."""
        atexit.unregister(self.stop)
        base = self._base
        if base is None:
            return
        # Checked on disk rather than via _port: a start that timed out may still be running.
        if self._bindir is not None and (base / "data" / "postmaster.pid").exists():
            with contextlib.suppress(SandboxError, OSError, subprocess.SubprocessError):
                self._run_pg("pg_ctl", "-D", str(base / "data"), "-m", "immediate", "-w", "stop")
        self._base = None
        self._port = None
        shutil.rmtree(base, ignore_errors=True)

    def set_master_password(self, password: str) -> None:
        """Change the master password, as AWS ModifyDBCluster(MasterUserPassword) does."""
        if not password:
            raise ValueError("the master password must not be empty")
        conn = psycopg2.connect(self.dsn())
        try:
            conn.autocommit = True
            # Hashed here so the plain password never reaches the server or its logs.
            verifier = psycopg2.extensions.encrypt_password(password, self.master_user, conn)
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(self.master_user)),
                    (verifier,),
                )
        finally:
            conn.close()
        self._master_password = password

    # -- internals -----------------------------------------------------------------

    def _prepare_base(self) -> None:
        assert self._base is not None
        if _is_root():
            user = _os_user()
            assert user is not None
            # initdb refuses root, so the server's user must own (and traverse) its directory.
            os.chown(self._base, user.pw_uid, user.pw_gid)
        os.chmod(self._base, 0o700)

    def _run_pg(self, program: str, *args: str, timeout: float = 60) -> str:
        assert self._bindir is not None and self._base is not None
        command = [str(Path(self._bindir, program)), *args]
        if _is_root():
            command = ["runuser", "-u", _OS_USER, "--", *command]
        try:
            # cwd: the server's user may be unable to enter the caller's working directory.
            done = subprocess.run(
                command,
                cwd=self._base,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "LC_ALL": "C"},
            )
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"{program} timed out after {timeout:.0f}s") from exc
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()
            raise SandboxError(f"{program} failed (exit {done.returncode}): {output}")
        return done.stdout

    def _write_private(self, path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        if _is_root():
            user = _os_user()
            assert user is not None
            os.chown(path, user.pw_uid, user.pw_gid)

    def _initdb(self) -> None:
        assert self._base is not None
        pwfile = self._base / "pwfile"
        # A file rather than an argument: command lines are visible to every local user.
        self._write_private(pwfile, self._master_password + "\n")
        try:
            self._run_pg(
                "initdb",
                "-D",
                str(self._base / "data"),
                "-U",
                self.master_user,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self._base),
            "password_encryption": "scram-sha-256",
            "max_connections": "50",
            "shared_buffers": "16MB",
            # Throwaway data: durability only costs test time.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            # A failing ALTER ROLE ... PASSWORD would otherwise be copied into the log.
            "log_min_error_statement": "panic",
        }
        with open(self._base / "data" / "postgresql.conf", "a") as conf:
            conf.write("\n# aurora-restore sandbox\n")
            for key, value in settings.items():
                conf.write(f"{key} = {_conf_quote(value)}\n")

    def _start_server(self) -> None:
        assert self._base is not None
        last_error: SandboxError | None = None
        # The port is free when chosen but another process may take it before the server
        # binds it; a fresh port on retry resolves that race.
        for _ in range(_START_ATTEMPTS):
            port = free_port()
            try:
                self._run_pg(
                    "pg_ctl",
                    "-D",
                    str(self._base / "data"),
                    "-l",
                    str(self._base / "server.log"),
                    "-o",
                    f"-p {port}",
                    "-w",
                    "-t",
                    "30",
                    "start",
                )
            except SandboxError as exc:
                last_error = exc
                continue
            self._port = port
            return
        tail = "\n".join(self.server_log().splitlines()[-_LOG_TAIL_LINES:])
        raise SandboxError(f"PostgreSQL did not start: {last_error}\n{tail}")

    def _connect(self, dbname: str = "postgres") -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.dsn(dbname))
        conn.autocommit = True
        return conn

    def _create_databases(self) -> None:
        if not self.databases:
            return
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                for name in self.databases:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
        if not self.sample_data:
            return
        for name in self.databases:
            conn = self._connect(name)
            try:
                with conn.cursor() as cur:
                    for statement in _SAMPLE_DDL:
                        cur.execute(statement)
            finally:
                conn.close()
