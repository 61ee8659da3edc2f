"""The ``aws`` and ``postgres`` of the operator-process suites (tests/e2e,
tests/reliability/process, tests/tenancy): their folders' conftests import these two, which
override the driver-level fixtures of the same names for that folder.

Not a plugin: registered globally, they would replace the driver-level ones everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aurora_restore_sandbox.aws import AwsSandbox
from aurora_restore_sandbox.postgres import PostgresSandbox

from .aws import TARGET, create_source
from .cluster import MASTER_PW


@pytest.fixture(name="aws")
def operator_aws(aws_server: AwsSandbox) -> Iterator[AwsSandbox]:
    """A source cluster and snapshot, a KMS key in the target region; hooks a test set on
    the stand-in are removed after it."""
    aws_server.reset()
    create_source(aws_server, "prod-source-pw", StorageEncrypted=True)
    kms = aws_server.client("kms", TARGET)
    kms.create_alias(
        AliasName="alias/staging", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"]
    )
    aws_server.reset_calls()
    yield aws_server
    aws_server.clear_hooks()


@pytest.fixture(name="postgres", scope="session")
def operator_postgres() -> Iterator[PostgresSandbox | None]:
    """The throwaway PostgreSQL, or None without its binaries (the restores then have no
    database step to run)."""
    if not PostgresSandbox.available():
        yield None
        return
    with PostgresSandbox(master_password=MASTER_PW, databases=("app",)) as pg:
        yield pg
