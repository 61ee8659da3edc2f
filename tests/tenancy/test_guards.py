"""The pure parts of tenancy, no servers: the status checks, the AWS-tag checks, values
removed from database messages, the Secrets Manager namespace tag, the lease's wait."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from aurora_restore.api.restore import validate_spec
from aurora_restore.api.status import (
    AuroraRestoreStatus,
    ClusterStatus,
    CopyStatus,
    ErrorInfo,
    ErrorType,
    Phase,
)
from aurora_restore.aws.secrets import allowed_namespaces
from aurora_restore.db.connection import condition_name, without_values
from aurora_restore.pipeline import guards, tenancy
from aurora_restore.pipeline.conditions import update_conditions
from aurora_restore.pipeline.context import operation_id
from aurora_restore.pipeline.errors import StepFailure
from aurora_restore.pipeline.ports import Cluster, LeaseHolder

KEY = b"k" * 32
UID = "uid-evil"
SPEC: dict[str, Any] = {
    "source": {"region": "us-east-1", "snapshotIdentifier": "prod-manual-1"},
    "target": {"region": "us-east-1", "clusterIdentifier": "evil-db"},
}


def _status(generation: int = 1, spec: dict[str, Any] | None = None) -> AuroraRestoreStatus:
    run_spec = validate_spec(spec or SPEC).model_dump(mode="json", by_alias=True, exclude_none=True)
    status = AuroraRestoreStatus(
        phase=Phase.ConfiguringDatabase,
        operation_id=operation_id(UID, generation),
        observed_generation=generation,
        run_spec=run_spec,
    )
    guards.sign(status, KEY, UID)
    return status


def _refused(status: AuroraRestoreStatus, generation: int = 1, spec: Any = None) -> str:
    with pytest.raises(StepFailure) as caught:
        guards.verified_spec(status, UID, generation, spec or SPEC, KEY)
    assert (caught.value.type.value, caught.value.code) == ("SafetyViolation", "StatusTampered")
    return caught.value.message


def test_a_signed_status_of_this_resource_is_accepted() -> None:
    spec = guards.verified_spec(_status(), UID, 1, SPEC, KEY)
    assert spec.target.cluster_identifier == "evil-db"
    # A spec change during the run: the frozen spec still runs, it is signed.
    assert guards.verified_spec(_status(), UID, 2, {**SPEC, "target": {}}, KEY) == spec


def test_another_resources_operation_id_is_refused() -> None:
    status = _status()
    status.operation_id = operation_id("uid-team-a", 1)
    assert "is not this object's run" in _refused(status)


def test_a_generation_from_the_future_is_refused() -> None:
    status = _status()
    status.observed_generation = 7
    status.operation_id = operation_id(UID, 7)
    assert "observedGeneration 7" in _refused(status, generation=1)


def test_a_changed_run_spec_is_refused_even_with_a_correct_operation_id() -> None:
    status = _status()
    status.run_spec = {**(status.run_spec or {}), "target": {"clusterIdentifier": "team-a-db"}}
    assert "digest" in _refused(status)


def test_a_digest_made_with_another_key_is_refused() -> None:
    status = _status()
    guards.sign(status, b"x" * 32, UID)
    assert "digest" in _refused(status)


def test_an_unsigned_status_is_accepted_only_as_the_current_spec() -> None:
    status = _status()
    status.run_spec_digest = None
    assert guards.verified_spec(status, UID, 1, SPEC, KEY).target.cluster_identifier == "evil-db"
    other = {**SPEC, "target": {"region": "us-east-1", "clusterIdentifier": "team-a-db"}}
    assert "no digest" in _refused(status, spec=other)
    assert "no digest" in _refused(status, generation=2)


def test_aws_names_in_the_status_must_follow_from_the_spec() -> None:
    status = _status()
    status.cluster = ClusterStatus(identifier="team-a-db", region="us-east-1")
    assert "status.cluster names team-a-db" in _refused(status)
    status = _status()
    status.copy_ = CopyStatus(identifier="team-a-snap", region="us-east-1")
    assert "status.copy names team-a-snap" in _refused(status)


def test_only_the_operators_own_refusal_is_final() -> None:
    status = _status()
    assert not guards.stopped_as_tampered(status)
    status.phase = Phase.Failed
    status.error = ErrorInfo(
        type=ErrorType.SafetyViolation, step="snapshot-check", message="m", code="StatusTampered"
    )
    assert guards.stopped_as_tampered(status)


def _ctx(op: str = "op-mine", owner: str = "evil/e") -> Any:
    target = SimpleNamespace(cluster_identifier="t", region="us-east-1")
    return SimpleNamespace(operation_id=op, owner=owner, spec=SimpleNamespace(target=target))


def _cluster(tags: dict[str, str]) -> Cluster:
    return Cluster(identifier="t", arn="arn", region="us-east-1", status="available", tags=tags)


def test_a_cluster_is_ours_only_if_aws_says_so() -> None:
    ctx = _ctx()
    mine = {"dbrestore.io/operation-id": "op-mine", "dbrestore.io/owner": "evil/e"}
    assert guards.confirm_own_cluster(ctx, _cluster(mine), "x").identifier == "t"
    for tags in ({}, {"dbrestore.io/operation-id": "op-theirs"}):
        with pytest.raises(StepFailure) as caught:
            guards.confirm_own_cluster(ctx, _cluster(tags), "reset its master password")
        assert caught.value.code == "ForeignRun"
    assert guards.deletable(ctx, mine)
    assert not guards.deletable(ctx, {**mine, "dbrestore.io/owner": "team-a/a"})
    assert not guards.deletable(ctx, {**mine, "dbrestore.io/operation-id": "op-theirs"})


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            'invalid input syntax for type integer: "ada@example.com"',
            "invalid input syntax for type integer: …",
        ),
        (
            "value too long for type character varying(5)",
            "value too long for type character varying(5)",
        ),
        ("Key (email)=(ada@example.com) already exists", "Key (email)=(…) already exists"),
        ("unquoted ada@example.com and 4111111111111111", "unquoted … and …"),
        ("literal 'it''s secret' here", "literal … here"),
    ],
)
def test_database_messages_lose_their_values(message: str, expected: str) -> None:
    assert without_values(message) == expected


def test_condition_names() -> None:
    assert condition_name("22P02") == "invalid_text_representation"
    assert condition_name("23505") == "unique_violation"
    assert condition_name(None) is None and condition_name("ZZZZZ") is None


def test_secrets_manager_namespace_tag() -> None:
    tag = "dbrestore.io/namespace"
    assert allowed_namespaces([{"Key": tag, "Value": "team-b, team-c"}]) == {"team-b", "team-c"}
    assert allowed_namespaces([{"Key": "other", "Value": "evil"}]) == set()
    assert allowed_namespaces(None) == set()


class _Leases:
    def __init__(self, holder: LeaseHolder | None) -> None:
        self.holder = holder
        self.asked: list[tuple[str, str, str, str]] = []

    def hold(self, region: str, cluster: str, owner: str, op: str) -> LeaseHolder | None:
        self.asked.append((region, cluster, owner, op))
        return self.holder

    def release(self, region: str, cluster: str, op: str) -> None:
        raise AssertionError("not here")


def test_the_lease_is_asked_from_the_first_phase_that_changes_the_target() -> None:
    holder = LeaseHolder("team-a/r1", "op-first", 0)
    leases = _Leases(holder)
    ctx = SimpleNamespace(**vars(_ctx()), ports=SimpleNamespace(leases=leases))
    assert tenancy.hold_target(ctx, Phase.CheckingSnapshot) is None
    assert tenancy.hold_target(ctx, Phase.CopyingSnapshot) is None
    assert leases.asked == []
    busy = tenancy.hold_target(ctx, Phase.DeletingExistingCluster)
    assert busy and "op-first" in busy and "team-a/r1" in busy
    assert leases.asked == [("us-east-1", "t", "evil/e", "op-mine")]
    leases.holder = None
    assert tenancy.hold_target(ctx, Phase.ConfiguringDatabase) is None


def test_waiting_is_progressing_with_its_reason() -> None:
    status = AuroraRestoreStatus(phase=Phase.DeletingExistingCluster, message="waiting")
    update_conditions(status, 1, dt.datetime.now(dt.UTC).isoformat())
    tenancy.mark_waiting(status, tenancy.TARGET_BUSY)
    progressing = next(c for c in status.conditions if c.type == "Progressing")
    assert (progressing.status, progressing.reason) == ("True", "TargetBusy")
