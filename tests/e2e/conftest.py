"""tests/e2e: the operator as its own process (the harness is tests/support/cluster.py,
registered for every folder), with the operator-process AWS world and PostgreSQL."""

from support.operator_world import operator_aws, operator_postgres  # noqa: F401  (fixtures)
