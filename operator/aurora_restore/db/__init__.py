"""The database side of the ``setup-db-users`` step: psycopg2, and nothing of AWS or Kubernetes.

Plain data in (``Endpoint``, ``DbUser``, ``SqlScript``), summaries out, and one error
type, ``DatabaseError``, whose message never holds a secret. Calls block: the operator
runs them off its event loop.
"""

from .connection import DatabaseError, Endpoint, ErrorCode, check_master, list_databases
from .roles import DbUser, Privileges, setup_users
from .scripts import SqlScript, run_sql, split_statements

__all__ = [
    "DatabaseError",
    "DbUser",
    "Endpoint",
    "ErrorCode",
    "Privileges",
    "SqlScript",
    "check_master",
    "list_databases",
    "run_sql",
    "setup_users",
    "split_statements",
]
