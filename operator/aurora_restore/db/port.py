"""The pipeline's Database port on psycopg2: maps endpoints and translates errors."""

from __future__ import annotations

from collections.abc import Sequence

from ..api.status import ErrorType
from ..pipeline.errors import PortError
from ..pipeline.ports import DbEndpoint, DbUserSpec
from .connection import DatabaseError, Endpoint, check_master
from .roles import DbUser, setup_users
from .scripts import SqlScript, run_sql


def _port_error(err: DatabaseError) -> PortError:
    return PortError(ErrorType.DatabaseError, err.message, err.code, err.retryable)


class PostgresDatabase:
    def __init__(self, sslmode: str = "require", endpoint_override: str | None = None) -> None:
        self.sslmode = sslmode
        self.override: tuple[str, int] | None = None
        if endpoint_override:
            host, _, port = endpoint_override.rpartition(":")
            self.override = (host, int(port))

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        return self.override or (host, port)

    def _ep(self, endpoint: DbEndpoint, dbname: str | None = None) -> Endpoint:
        return Endpoint(
            host=endpoint.host,
            port=endpoint.port,
            user=endpoint.user,
            password=endpoint.password,
            dbname=dbname or endpoint.dbname,
            sslmode=self.sslmode,
        )

    def check_master(self, endpoint: DbEndpoint) -> str:
        try:
            return check_master(self._ep(endpoint))
        except DatabaseError as err:
            raise _port_error(err) from None

    def setup_users(self, endpoint: DbEndpoint, users: Sequence[DbUserSpec]) -> list[str]:
        try:
            return setup_users(
                self._ep(endpoint),
                [DbUser(u.name, u.password, u.privileges.value, u.databases) for u in users],
            )
        except DatabaseError as err:
            raise _port_error(err) from None

    def run_sql(self, endpoint: DbEndpoint, name: str, database: str, text: str) -> None:
        try:
            run_sql(self._ep(endpoint, database), SqlScript(name, database, text))
        except DatabaseError as err:
            raise _port_error(err) from None
