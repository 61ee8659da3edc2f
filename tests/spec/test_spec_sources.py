"""source.method and source.restoreTime in the models (the CRD side is in test_spec_agreement)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aurora_restore.api.restore import SpecError, resolve_snapshot_date, validate_spec
from aurora_restore.api.source_method import SourceMethod, parse_restore_time


def spec(method: str | None = None, **source: Any) -> dict[str, Any]:
    src: dict[str, Any] = {"region": "us-east-1", "clusterIdentifier": "prod", **source}
    if method:
        src["method"] = method
    return {"source": src, "target": {"region": "us-east-1", "clusterIdentifier": "staging"}}


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_spec(doc)
    return info.value.problems


def test_snapshot_is_the_default_method() -> None:
    parsed = validate_spec(spec())
    assert parsed.source.method is SourceMethod.Snapshot and not parsed.source.from_cluster


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-26T03:00:00Z", dt.datetime(2026, 11, 26, 3, tzinfo=dt.UTC)),
        ("2024-02-29T23:59:59.5Z", dt.datetime(2024, 2, 29, 23, 59, 59, 500000, tzinfo=dt.UTC)),
    ],
)
def test_restore_time_is_rfc3339_utc(value: str, expected: dt.datetime) -> None:
    parsed = validate_spec(spec("PointInTime", restoreTime=value))
    assert parsed.source.restore_time == value
    assert parse_restore_time(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-26T03:00:00+00:00",  # UTC, but written with Z only
        "2026-11-26T03:00:00",
        "2026-11-26 03:00:00Z",
        "2026-11-26",
        "2026-02-30T03:00:00Z",
        "2026-11-26T24:00:00Z",
        "2026-11-26T03:00:60Z",
        "２026-11-26T03:00:00Z",
        "Latest",
        "now",
    ],
)
def test_restore_time_invalid(value: str) -> None:
    [problem] = problems(spec("PointInTime", restoreTime=value))
    assert problem.startswith("spec.source.restoreTime: must be an RFC 3339 UTC time")


def test_point_in_time_and_clone_take_no_snapshot_date() -> None:
    parsed = validate_spec(spec("Clone"))
    assert resolve_snapshot_date(parsed, dt.datetime(2026, 11, 27, tzinfo=dt.UTC)) is None
    snapshot = validate_spec(spec())
    assert resolve_snapshot_date(snapshot, dt.datetime(2026, 11, 27, tzinfo=dt.UTC)) == "2026-11-26"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (spec("PointInTime"), "restoreTime is required with method PointInTime"),
        (spec("Clone", restoreTime="latest"), "restoreTime is required with method PointInTime"),
        (spec("Clone", date="latest"), "only apply to method Snapshot"),
        (spec("PointInTime", restoreTime="latest", snapshotType="any"), "only apply to method"),
    ],
)
def test_source_rules_name_the_fields(doc: dict[str, Any], message: str) -> None:
    [problem] = problems(doc)
    assert problem.startswith("spec.source: ") and message in problem


def test_cross_region_names_both_regions() -> None:
    doc = spec("Clone")
    doc["target"]["region"] = "eu-west-1"
    [problem] = problems(doc)
    assert "source.method Clone needs target.region equal to source.region" in problem
    assert "us-east-1, not eu-west-1" in problem
