"""The rules of the contract, at admission and in the operator.

- Every CEL rule in the CRDs has documents in RULE_CASES that break it (and nothing else):
  the OpenAPI part of the schema accepts them, so the rule is what catches them, and the
  models reject them with the matching message. With celpy installed, the rules are also
  evaluated and must report exactly that rule.
- Property tests, for the fields whose CRD form (an RE2 pattern and a CEL rule) is not the
  model's own check (a Python validator): random values are accepted by the models iff
  the CRD accepts them. Fields whose pattern, bounds and default the CRD takes from the
  model itself (api/crd.py) need no such test: there is one copy.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_crd_support import (
    FIELD_RULES,
    RESTORE_CRD,
    SCHEDULE_CRD,
    all_rules,
    at,
    base_spec,
    cel_holds,
    cel_messages,
    celpy_module,
    field_accepts,
    model_accepts,
    resource,
    root_schema,
    schema_errors,
)

from aurora_restore.api import rules
from aurora_restore.api import schedule as schedule_api
from aurora_restore.api.restore import SpecError, validate_spec
from aurora_restore.api.schedule import validate_schedule_spec

MASTER = {"secretRef": {"name": "master"}}
SAME_REGION = {"region": "us-east-1", "clusterIdentifier": "staging"}
SUBNETS = ["subnet-0123abcd", "subnet-4567ef01"]


def user(name: str = "app") -> dict[str, Any]:
    return {"name": name, "passwordSecretRef": {"name": "app-db"}}


def target(**fields: Any) -> dict[str, Any]:
    return {"region": "us-west-2", "clusterIdentifier": "staging", **fields}


SNAP_ARN = "arn:aws:rds:us-east-1:123456789012:cluster-snapshot:"
ROLE = "arn:aws:iam::111122223333:role/prod-snapshots"


def from_cluster(method: str = "PointInTime", **source: Any) -> dict[str, Any]:
    """A source.method PointInTime (or Clone) source, in us-east-1."""
    doc: dict[str, Any] = {"region": "us-east-1", "method": method, "clusterIdentifier": "prod"}
    if method == "PointInTime":
        doc["restoreTime"] = "2026-11-26T03:00:00Z"
    return {k: v for k, v in {**doc, **source}.items() if v is not None}


def near(method: str = "PointInTime", **target_fields: Any) -> dict[str, Any]:
    """A PointInTime or Clone spec with the target beside the source (us-east-1)."""
    return base_spec(
        source=from_cluster(method), target=target(region="us-east-1", **target_fields)
    )


# CEL rule message -> [(spec document that breaks only that rule, model message substring)].
RULE_CASES: dict[str, list[tuple[dict[str, Any], str]]] = {
    "set exactly one of snapshotIdentifier (an exact snapshot) or clusterIdentifier (pick "
    "that cluster's snapshot by date)": [
        (base_spec(source={"region": "us-east-1"}), "set exactly one of snapshotIdentifier"),
        (
            base_spec(
                source={"region": "us-east-1", "snapshotIdentifier": "s", "clusterIdentifier": "p"}
            ),
            "set exactly one of snapshotIdentifier",
        ),
    ],
    "date only applies with clusterIdentifier, not snapshotIdentifier": [
        (
            base_spec(source={"region": "us-east-1", "snapshotIdentifier": "s", "date": "latest"}),
            "date only applies with clusterIdentifier",
        )
    ],
    "snapshotIdentifier is an ARN in another region than source.region; give the snapshot's "
    "own region": [
        (
            base_spec(source={"region": "us-west-2", "snapshotIdentifier": SNAP_ARN + "snap"}),
            "snapshotIdentifier is an ARN in us-east-1 but region is us-west-2",
        )
    ],
    "a cluster snapshot identifier must be 1-255 characters long": [
        (
            base_spec(source={"region": "us-east-1", "snapshotIdentifier": "s" * 256}),
            "a cluster snapshot identifier must be 1-255",
        ),
        (
            base_spec(source={"region": "us-east-1", "snapshotIdentifier": SNAP_ARN + "s" * 256}),
            "a cluster snapshot identifier must be 1-255",
        ),
    ],
    "must be a UTC date YYYY-MM-DD that exists in the calendar, or 'latest'": [
        (
            base_spec(source={"region": "us-east-1", "clusterIdentifier": "p", "date": day}),
            "must be a UTC date YYYY-MM-DD",
        )
        for day in ("2026-02-30", "2025-02-29", "1900-02-29", "2026-04-31", "0000-01-01")
    ],
    "restoreTime is required with method PointInTime and only applies to it": [
        (
            base_spec(source=from_cluster(restoreTime=None), target=SAME_REGION),
            "restoreTime is required",
        ),
        (
            base_spec(source=from_cluster("Clone", restoreTime="latest"), target=SAME_REGION),
            "restoreTime is required",
        ),
        (
            base_spec(
                source={"region": "us-east-1", "clusterIdentifier": "p", "restoreTime": "latest"}
            ),
            "restoreTime is required",
        ),
    ],
    "snapshotIdentifier, date and snapshotType only apply to method Snapshot; PointInTime and "
    "Clone take clusterIdentifier": [
        (
            base_spec(source=from_cluster(method, **fields), target=SAME_REGION),
            "only apply to method Snapshot",
        )
        for method in ("PointInTime", "Clone")
        for fields in (
            {"clusterIdentifier": None, "snapshotIdentifier": "prod-manual-1"},
            {"date": "latest"},
            {"snapshotType": "manual"},
        )
    ],
    "must be an RFC 3339 UTC time that exists in the calendar, or 'latest'": [
        (
            base_spec(source=from_cluster(restoreTime=when), target=SAME_REGION),
            "must be an RFC 3339 UTC time",
        )
        for when in ("2026-02-30T03:00:00Z", "2025-02-29T00:00:00Z", "2026-04-31T12:00:00.5Z")
    ],
    "source.method PointInTime and Clone need target.region equal to source.region: only a "
    "snapshot is copied across regions": [
        (base_spec(source=from_cluster(method)), f"source.method {method} needs target.region")
        for method in ("PointInTime", "Clone")
    ],
    "copy does not apply to source.method PointInTime or Clone: no snapshot is copied": [
        (
            {**near(method), "copy": {"targetSnapshotIdentifier": "c"}},
            "copy does not apply to source.method",
        )
        for method in ("PointInTime", "Clone")
    ],
    "target.engineVersion does not apply to source.method PointInTime or Clone: the new cluster "
    "runs the source cluster's engine version": [
        (near(method, engineVersion="16.4"), "target.engineVersion does not apply")
        for method in ("PointInTime", "Clone")
    ],
    "set either dbSubnetGroupName or vpcId with subnetIds, not both": [
        (
            base_spec(
                target=target(dbSubnetGroupName="g", vpcId="vpc-0123abcd", subnetIds=SUBNETS)
            ),
            "set either dbSubnetGroupName or vpcId with subnetIds, not both",
        )
    ],
    "vpcId and subnetIds go together: set both or neither": [
        (base_spec(target=target(vpcId="vpc-0123abcd")), "vpcId and subnetIds go together"),
        (base_spec(target=target(subnetIds=SUBNETS)), "vpcId and subnetIds go together"),
    ],
    "tag keys must be 1-128 letters, digits, spaces or _.:/=+-@": [
        (base_spec(target=target(tags={key: "v"})), "must be 1-128 letters, digits, spaces")
        for key in ("a\tb", "bad!", "", "k" * 129, "ä")
    ],
    "tag keys must not start with aws:": [
        (base_spec(target=target(tags={"AWS:x": "v"})), "and not start with aws:")
    ],
    "tag keys starting with dbrestore.io/ are reserved for the operator": [
        (base_spec(target=target(tags={"dbrestore.io/x": "v"})), "is reserved for the operator")
    ],
    "set exactly one of secretRef or secretsManagerSecretId": [
        (base_spec(masterPassword={}), "set exactly one of secretRef or secretsManagerSecretId"),
        (
            base_spec(masterPassword={**MASTER, "secretsManagerSecretId": "x"}),
            "set exactly one of secretRef or secretsManagerSecretId",
        ),
    ],
    "users lists a name more than once": [
        (base_spec(masterPassword=MASTER, users=[user("App"), user("app")]), "users lists app")
    ],
    "the user name is reserved by PostgreSQL or RDS (postgres, public, pg_*, rds*); choose "
    "another name": [
        (base_spec(masterPassword=MASTER, users=[user(name)]), "is reserved by PostgreSQL or RDS")
        for name in ("postgres", "PUBLIC", "pg_x", "rdsadmin", "rds_superuser", "RDSx")
    ],
    "set exactly one of passwordSecretRef or passwordSecretsManagerSecretId": [
        (
            base_spec(masterPassword=MASTER, users=[{"name": "app"}]),
            "set exactly one of passwordSecretRef or passwordSecretsManagerSecretId",
        )
    ],
    "set exactly one of configMapRef or inline": [
        (base_spec(masterPassword=MASTER, sql=[{}]), "set exactly one of configMapRef or inline"),
        (
            base_spec(
                masterPassword=MASTER,
                sql=[{"inline": "x", "configMapRef": {"name": "m", "key": "k"}}],
            ),
            "set exactly one of configMapRef or inline",
        ),
    ],
    "target.clusterIdentifier is the source cluster itself in the same region; restore to a "
    "different cluster": [
        (base_spec(target=target(region="us-east-1", clusterIdentifier="Prod")), "source cluster"),
        (near("PointInTime", clusterIdentifier="prod"), "source cluster"),
        (near("Clone", clusterIdentifier="prod"), "source cluster"),
    ],
    "target.clusterIdentifier is the cluster the source snapshot was taken from; restore to a "
    "different cluster": [
        (
            base_spec(
                source={"region": "us-east-1", "snapshotIdentifier": snapshot},
                target=target(region="us-east-1", clusterIdentifier="prod-db"),
            ),
            "the cluster the source snapshot was taken from",
        )
        for snapshot in (
            "rds:prod-db-2026-11-26-03-05",
            SNAP_ARN + "rds:prod-db-2026-11-26-03-05",
        )
    ],
    "copy.kmsKeyId only applies when target.region differs from source.region or "
    "source.roleArn is set; remove it or use target.kmsKeyId": [
        (base_spec(copy={"kmsKeyId": "alias/x"}, target=SAME_REGION), "copy.kmsKeyId only applies")
    ],
    "externalId only applies with roleArn": [
        (
            base_spec(
                source={"region": "us-east-1", "snapshotIdentifier": "p", "externalId": "x1"}
            ),
            "externalId only applies with roleArn",
        )
    ],
    "roleArn only applies to method Snapshot: a cluster in another account is restored "
    "through a snapshot it shares": [
        (
            base_spec(source=from_cluster(method, roleArn=ROLE), target=SAME_REGION),
            "roleArn only applies to method Snapshot",
        )
        for method in ("PointInTime", "Clone")
    ],
    "with roleArn, snapshotType must be manual or any: AWS shares only manual snapshots with "
    "another account": [
        (
            base_spec(source={"region": "us-east-1", "clusterIdentifier": "prod", **extra}),
            "snapshotType must be manual or any",
        )
        for extra in ({"roleArn": ROLE}, {"roleArn": ROLE, "snapshotType": "automated"})
    ],
    "masterPassword is required when users, sql or connectionSecret are set: the restored "
    "cluster keeps the source's master password": [
        (base_spec(**extra), "masterPassword is required")
        for extra in (
            {"users": [user()]},
            {"sql": [{"inline": "ANALYZE;"}]},
            {"connectionSecret": {"name": "db"}},
        )
    ],
    "connectionSecret.user must be the name of one of spec.users": [
        (
            base_spec(
                masterPassword=MASTER, users=users, connectionSecret={"name": "db", "user": "app"}
            ),
            "must be the name of one of spec.users",
        )
        for users in ([], [user("other")], [user("App")])
    ],
}
# Near misses: documents the rules must accept (and the models too).
RULE_NEAR_MISSES: list[dict[str, Any]] = [
    base_spec(target=target(region="us-east-1", clusterIdentifier="prod-2")),
    base_spec(target=target(clusterIdentifier="prod")),  # same name, other region
    base_spec(
        source={"region": "us-east-1", "snapshotIdentifier": "rds:prod-db-2026-11-26-03-05"},
        target=target(region="us-east-1", clusterIdentifier="prod"),
    ),
    base_spec(
        source={
            "region": "us-east-1",
            "snapshotIdentifier": SNAP_ARN + "rds:prod-2026-11-26-03-05",
        },
        target=target(region="us-east-1", clusterIdentifier="prod-db"),
    ),
    base_spec(
        source={"region": "us-east-1", "snapshotIdentifier": SNAP_ARN + "prod-2026-11-26-03-05"},
        target=target(region="us-east-1", clusterIdentifier="prod"),
    ),
    base_spec(source={"region": "us-east-1", "snapshotIdentifier": SNAP_ARN + "s" * 255}),
    base_spec(source={"region": "us-east-1", "clusterIdentifier": "p", "date": "2024-02-29"}),
    base_spec(source={"region": "us-east-1", "clusterIdentifier": "p", "date": "2000-02-29"}),
    base_spec(target=target(tags={"Name": "x", "aws-team": "y", "dbrestore.io": "z"})),
    base_spec(masterPassword=MASTER, users=[user("app"), user("app2"), user("postgres_app")]),
    base_spec(masterPassword=MASTER, users=[user("rd_s")], connectionSecret={"name": "db"}),
    base_spec(users=[], sql=[]),
    base_spec(
        masterPassword=MASTER,
        users=[user("other"), user("app")],
        connectionSecret={"name": "db", "user": "app"},
    ),
    base_spec(copy={"kmsKeyId": "alias/x"}),
    near("PointInTime"),
    near("Clone"),
    base_spec(source=from_cluster(restoreTime="latest"), target=target(region="us-east-1")),
    base_spec(source=from_cluster(restoreTime="2024-02-29T23:59:59.123456Z"), target=SAME_REGION),
    base_spec(source=from_cluster("Clone", snapshotType="automated"), target=SAME_REGION),
    base_spec(source={"region": "us-east-1", "clusterIdentifier": "p", "method": "Snapshot"}),
    {**near("Clone"), "copy": {}},
]


def _rule_messages(name: str) -> set[str]:
    return {item["message"] for _, item in all_rules(name)}


def test_every_cel_rule_has_cases() -> None:
    restore = _rule_messages(RESTORE_CRD)
    assert restore == set(RULE_CASES)
    # The schedule's template carries the same rules; its own rule is about metadata.name.
    assert _rule_messages(SCHEDULE_CRD) - restore == {
        "an AuroraRestoreSchedule name is at most 63 characters: it labels its runs"
    }


CASES = [(message, doc, expect) for message, cases in RULE_CASES.items() for doc, expect in cases]


@pytest.mark.parametrize(("message", "doc", "expect"), CASES)
def test_cel_rule_case_only_cel_catches_and_the_models_reject(
    message: str, doc: dict[str, Any], expect: str
) -> None:
    for crd, wrapped, validate in (
        (RESTORE_CRD, resource(doc), validate_spec),
        (
            SCHEDULE_CRD,
            resource({"schedule": "0 3 * * *", "template": doc}, "AuroraRestoreSchedule"),
            validate_schedule_spec,
        ),
    ):
        assert schema_errors(wrapped, crd) == [], "the OpenAPI part already rejects it"
        with pytest.raises(SpecError) as info:
            validate(wrapped["spec"])
        assert len(info.value.problems) == 1 and expect in info.value.problems[0], (
            info.value.problems
        )
        if celpy_module():
            assert cel_messages(wrapped, crd) == {message}


@pytest.mark.parametrize("doc", RULE_NEAR_MISSES)
def test_cel_rule_near_misses_are_accepted(doc: dict[str, Any]) -> None:
    validate_spec(doc)
    assert schema_errors(resource(doc)) == []
    if celpy_module():
        assert cel_messages(resource(doc)) == set()


def test_schedule_name_rule() -> None:
    if not celpy_module():
        pytest.skip("celpy not installed")
    template = base_spec()
    ok = resource({"schedule": "@daily", "template": template}, "AuroraRestoreSchedule", "a" * 63)
    long = resource({"schedule": "@daily", "template": template}, "AuroraRestoreSchedule", "a" * 64)
    assert cel_messages(ok, SCHEDULE_CRD) == set()
    assert len(cel_messages(long, SCHEDULE_CRD)) == 1


# --- property tests: field by field ---------------------------------------------------------

FAST = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def noisy(*regexes: str, alphabet: str, max_size: int) -> st.SearchStrategy[str]:
    """Valid-looking values (from regexes) mixed with near misses and noise."""
    valid = st.one_of(*(st.from_regex(r, fullmatch=True) for r in regexes))
    mutated = st.tuples(valid, st.text(alphabet=alphabet, max_size=3), st.integers(0, 80)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
    )
    return st.one_of(valid, mutated, st.text(alphabet=alphabet, max_size=max_size))


ID_CHARS = string.ascii_letters[:6] + "XYZxyz019-_.: \n\t" + "ä"


def spec_accepted(doc: dict[str, Any]) -> bool:
    try:
        validate_spec(doc)
    except SpecError:
        return False
    return True


@dataclass(frozen=True)
class Field:
    """A field whose CRD form is not the model's own check: its path in the CRD, the values
    to try, and whether the model takes one."""

    path: str
    values: st.SearchStrategy[str]
    model_ok: Callable[[str], bool]


AGREEING_FIELDS = [
    Field(
        "spec.source.snapshotIdentifier",
        noisy(
            r"[a-z](-?[a-z0-9]){0,10}",
            r"[a-z]{250,260}",
            r"rds:[a-z][a-z0-9-]{0,8}-20[0-9]{2}-[01][0-9]-[0-3][0-9]-[0-2][0-9]-[0-5][0-9]",
            r"arn:aws(-cn|-us-gov)?:rds:us-(east|gov-west)-[1-9]:[0-9]{12}:cluster-snapshot:"
            r"(rds:)?[a-z](-?[a-z0-9]){0,8}",
            alphabet="arnds:-0123456789" + "aws",
            max_size=60,
        ),
        lambda value: model_accepts(rules.SourceSnapshotId, value),
    ),
    Field(
        "spec.source.date",
        noisy(
            r"[0-9]{4}-(0[0-9]|1[0-3])-([0-3][0-9])",
            r"latest",
            alphabet="0123456789-latesT\n",
            max_size=12,
        ),
        lambda value: spec_accepted(
            base_spec(source={"region": "us-east-1", "clusterIdentifier": "p", "date": value})
        ),
    ),
    Field(
        "spec.source.restoreTime",
        noisy(
            r"[0-9]{4}-(0[0-9]|1[0-3])-([0-3][0-9])T([0-2][0-9]):[0-6][0-9]:[0-6][0-9](\.[0-9]{1,7})?Z",
            r"latest",
            alphabet="0123456789-:.TZz+ latest",
            max_size=30,
        ),
        lambda value: spec_accepted(
            base_spec(source=from_cluster(restoreTime=value), target=SAME_REGION)
        ),
    ),
    Field(
        "spec.users.[].name",
        noisy(
            r"[a-zA-Z_][a-zA-Z0-9_$-]{0,65}",
            r"(pg_|rds|postgres|public|PUBLIC|RDS)[a-z_]{0,4}",
            alphabet="apPgrRdsu_$-;'\" 1",
            max_size=66,
        ),
        lambda value: model_accepts(rules.PgUser, value),
    ),
]


@pytest.mark.parametrize("field", AGREEING_FIELDS, ids=lambda field: field.path)
@FAST
@given(data=st.data())
def test_model_and_crd_agree_on(field: Field, data: st.DataObject) -> None:
    value = data.draw(field.values, label=field.path)
    assert field.model_ok(value) == field_accepts(field.path, value)


@FAST
@given(
    st.dictionaries(
        noisy(r"[a-zA-Z0-9 _.:/=+@-]{1,6}", r"(aws|AWS|dbrestore\.io/)[a-z:]{0,3}",
              alphabet="abAW:s/. \t!", max_size=8),
        noisy(r"[a-z ]{0,5}", alphabet="ab \n!", max_size=5),
        max_size=3,
    )
)  # fmt: skip
def test_tags_agree(tags: dict[str, str]) -> None:
    model_ok = spec_accepted(base_spec(target=target(tags=tags)))
    path = "spec.target.tags"
    crd_ok = not schema_errors(tags, RESTORE_CRD, path) and all(_tag_key_ok(key) for key in tags)
    assert model_ok == crd_ok


def _tag_key_ok(key: str) -> bool:
    # Python equivalents of the three tag-key CEL rules (checked against CEL below).
    return (
        rules.TAG_KEY.fullmatch(key) is not None
        and not key.lower().startswith("aws:")
        and not key.startswith("dbrestore.io/")
    )


@FAST
@given(
    noisy(
        r"([0-9]{1,2}|\*)( ([0-9]{1,2}|\*|[0-9]-[0-9]|\*/[0-9])){4}",
        r"@(daily|hourly|weekly|monthly|yearly|annually|midnight|reboot)",
        alphabet="0123456789*/-, @LW#?MONsun",
        max_size=20,
    )
)
def test_cron_model_accepts_only_what_the_crd_accepts(value: str) -> None:
    # The CRD checks the shape; croniter then checks ranges, which a regex cannot say
    # briefly, so here the model may reject more than the CRD, never less.
    if model_accepts(schedule_api.CronSchedule, value):
        assert field_accepts("spec.schedule", value, SCHEDULE_CRD)


def test_every_time_zone_the_model_accepts_fits_the_crd() -> None:
    import zoneinfo

    zones = zoneinfo.available_timezones()
    assert "Europe/Berlin" in zones
    for zone in zones:
        if model_accepts(schedule_api.TimeZone, zone):
            assert field_accepts("spec.timeZone", zone, SCHEDULE_CRD), zone


# --- the Python equivalents of CEL rules are faithful ---------------------------------------


@pytest.fixture(scope="module")
def field_rules() -> dict[str, str]:
    if not celpy_module():
        pytest.skip("celpy not installed: CEL rules are checked by the case table only")
    return {
        item["message"]: item["rule"]
        for _, item in all_rules(RESTORE_CRD)
        if item["message"] in FIELD_RULES
    }


@settings(max_examples=150, deadline=None, database=None)
@given(
    st.one_of(
        st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
        st.from_regex(r"(rds|RDS|pg_|PG_|postgres|public|arn:)[a-z_:-]{0,20}", fullmatch=True),
        st.text(alphabet="arn:cluster-snapshot0129", min_size=250, max_size=300),
        st.text(max_size=20),
    )
)
def test_python_equivalents_match_cel(field_rules: dict[str, str], value: str) -> None:
    for message, rule in field_rules.items():
        assert FIELD_RULES[message](value) == cel_holds(rule, value), (message, value)


@settings(max_examples=100, deadline=None, database=None)
@given(st.text(alphabet="awsAWS:dbrestore.io/ \tx!", max_size=16))
def test_tag_key_equivalent_matches_cel(key: str) -> None:
    if not celpy_module():
        pytest.skip("celpy not installed")
    tags = at(root_schema(RESTORE_CRD), "spec.target.tags")
    cel_ok = all(cel_holds(item["rule"], {key: "v"}) for item in tags["x-kubernetes-validations"])
    assert cel_ok == _tag_key_ok(key)
