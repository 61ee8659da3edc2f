"""Hostile and bad input: a corpus of invalid resources and property tests on the spec
models. Every invalid document is rejected with a message naming its field, and a rejected
restore reaches neither AWS (beyond its own records) nor the database nor any Secret.

The rule-by-rule unit tests of the models are in tests/spec; these are the adversarial
view: injection strings, wrong types, huge values and unicode, fed to every field."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aurora_restore.api.restore import MAX_PROBLEM_CHARS, SpecError, validate_spec
from aurora_restore.aws.clients import Clients
from aurora_restore.driver import Driver, Resource
from aurora_restore.pipeline.ports import DbEndpoint, DbUserSpec
from aurora_restore.settings import load
from support.fakes import FakeKube
from support.world import SOURCE, TARGET, World

DELETE = object()
Path = tuple[str | int, ...]

# A valid resource that sets every field (the subnet group and snapshotIdentifier forms are
# mutually exclusive with what is here; see BASE_BY_SNAPSHOT and the corpus).
BASE: dict[str, Any] = {
    "source": {
        "region": SOURCE,
        "clusterIdentifier": "prod",
        "date": "2026-11-26",
        "snapshotType": "manual",
        "waitTimeout": "2h",
    },
    "copy": {"kmsKeyId": "alias/staging", "targetSnapshotIdentifier": "staging-copy"},
    "target": {
        "region": TARGET,
        "clusterIdentifier": "staging",
        "existingCluster": "Replace",
        "instanceClass": "db.r6g.large",
        "instances": 2,
        "vpcId": "vpc-0123abcd",
        "subnetIds": ["subnet-0123abcd", "subnet-4567ef01"],
        "vpcSecurityGroupIds": ["sg-0123abcd"],
        "engineVersion": "15.4",
        "kmsKeyId": "alias/staging",
        "dbClusterParameterGroupName": "staging-params",
        "deletionProtection": False,
        "finalSnapshot": False,
        "tags": {"team": "payments", "env": "staging"},
    },
    "masterPassword": {"secretRef": {"name": "staging-master", "key": "password"}},
    "users": [
        {
            "name": "app",
            "passwordSecretRef": {"name": "app-db", "key": "password"},
            "privileges": "readwrite",
            "databases": ["app"],
        },
        {
            "name": "reporting",
            "passwordSecretsManagerSecretId": "reporting",
            "privileges": "readonly",
        },
    ],
    "sql": [
        {"configMapRef": {"name": "mask-pii", "key": "mask.sql"}, "database": "app"},
        {"inline": "SELECT 1;", "database": "app"},
    ],
    "archive": {"policy": "Delete"},
    "notification": {
        "snsTopicArn": "arn:aws:sns:us-west-2:123456789012:restores",
        "events": ["Completed", "Failed"],
    },
    "connectionSecret": {"name": "staging-db", "database": "app"},
    "deletionPolicy": "Retain",
    "timeouts": {"total": "6h"},
}
BASE_BY_SNAPSHOT: dict[str, Any] = {
    **BASE,
    "source": {"region": SOURCE, "snapshotIdentifier": "prod-manual-1", "waitTimeout": "1h"},
}

INJECTIONS = [
    "staging'; DROP TABLE users; --",
    'app"; DROP ROLE postgres; --',
    "$(rm -rf /)",
    "`reboot`",
    "a\nb",
    "x\x00y",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "{{ .Values.secret }}",
    "${jndi:ldap://evil/a}",
    "ＳＴＡＧＩＮＧ",  # fullwidth letters
    "stagíng",
    "staging\u200b",  # zero-width space
    "١٢٣",  # Arabic-Indic digits
    "ß" * 10,
    " staging",
    "",
]


def mutate(base: Mapping[str, Any], path: Path, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(dict(base))
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


def _case(
    path: str, value: Any, field: str | None = None, base: Mapping[str, Any] = BASE
) -> tuple[str, Path, Any, str, Mapping[str, Any]]:
    parts: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        parts.append(int(part[1:-1]) if part.startswith("[") else part)
    shown = repr(value) if value is not DELETE else "<missing>"
    if len(shown) > 40:
        shown = shown[:37] + "..."
    label = f"{path}={shown}"
    where = path if field is None else field
    return label, tuple(parts), value, f"spec.{where}".rstrip("."), base


HUGE = "a" * 100_000
# (label, path, value, field the message must name, base document)
CORPUS = [
    # source
    _case("source.region", "us-east-1; DROP TABLE x"),
    _case("source.region", 123),
    _case("source.region", "US-EAST-1"),
    _case("source.region", HUGE),
    _case("source.region", DELETE),
    _case("source.clusterIdentifier", "prod'; --"),
    _case("source.clusterIdentifier", ["prod"]),
    _case("source.date", "2026-02-30"),
    _case("source.date", "yesterday"),
    _case("source.date", "２０２６-11-26"),
    _case("source.date", HUGE),
    _case("source.snapshotType", "weekly"),
    _case("source.waitTimeout", "1d"),
    _case("source.waitTimeout", "-1h"),
    _case("source.waitTimeout", "9999999h"),
    _case("source.waitTimeout", 3600),
    _case("source.snapshotIdentifier", "prod'; DROP TABLE x; --", base=BASE_BY_SNAPSHOT),
    _case("source.snapshotIdentifier", "rds:" + HUGE, base=BASE_BY_SNAPSHOT),
    _case("source.snapshotIdentifier", "a" * 256, base=BASE_BY_SNAPSHOT),
    _case("source.snapshotIdentifier", "prod-manual-1\n", base=BASE_BY_SNAPSHOT),
    _case(
        "source.snapshotIdentifier",
        "arn:aws:rds:us-west-2:123456789012:cluster-snapshot:prod-manual-1",
        "source",
        base=BASE_BY_SNAPSHOT,
    ),
    _case("source.date", "2026-11-26", "source", base=BASE_BY_SNAPSHOT),
    _case("source.snapshotIdentifier", "prod-manual-1", "source"),  # both ways to find it
    # copy
    _case("copy.kmsKeyId", "alias/../../etc"),
    _case("copy.kmsKeyId", "key with spaces"),
    _case("copy.targetSnapshotIdentifier", "x--y"),
    _case("copy.targetSnapshotIdentifier", "staging-copy; DROP"),
    # target
    _case("target.region", "mars-north-1"),
    _case("target.clusterIdentifier", "staging; rm -rf /"),
    _case("target.clusterIdentifier", "ＳＴＡＧＩＮＧ"),
    _case("target.clusterIdentifier", "a" * 64),
    _case("target.clusterIdentifier", "-staging"),
    _case("target.clusterIdentifier", "staging-"),
    _case("target.clusterIdentifier", "1staging"),
    _case("target.clusterIdentifier", None),
    _case("target.clusterIdentifier", 42),
    _case(
        "target.clusterIdentifier",
        "prod",
        "",
        base={**BASE, "target": {**BASE["target"], "region": SOURCE}, "copy": {}},
    ),
    _case("target.existingCluster", "replace"),
    _case("target.existingCluster", "Delete"),
    _case("target.instanceClass", "db.r6g.large; x"),
    _case("target.instances", "2"),
    _case("target.instances", True),
    _case("target.instances", 2.5),
    _case("target.instances", -1),
    _case("target.instances", 17),
    _case("target.instances", 10**12),
    _case("target.dbSubnetGroupName", "a\tb", "target"),
    _case("target.vpcId", "vpc-xyz"),
    _case("target.subnetIds", ["subnet-0123abcd"], "target"),
    _case("target.subnetIds", "subnet-0123abcd"),
    _case("target.subnetIds", ["subnet-0123abcd", "subnet-0123abcd; x"]),
    _case("target.vpcSecurityGroupIds", ["sg-0123abcd"] * 6),
    _case("target.vpcSecurityGroupIds", ["sg-bad"]),
    _case("target.engineVersion", "15.4; DROP"),
    _case("target.kmsKeyId", "alias/a b"),
    _case("target.dbClusterParameterGroupName", "pg--x"),
    _case("target.deletionProtection", "true"),
    _case("target.deletionProtection", 1),
    _case("target.finalSnapshot", "yes"),
    _case("target.tags", {"aws:createdBy": "me"}),
    _case("target.tags", {"dbrestore.io/managed-by": "aurora-restore-operator"}),
    _case("target.tags", {"dbrestore.io/owner": "other-namespace/x"}),
    _case("target.tags", {"k": "v\n"}),
    _case("target.tags", {"k": "<script>"}),
    _case("target.tags", {f"k{i}": "v" for i in range(41)}),
    _case("target.tags", {"k": 5}),
    _case("target.tags", {"k" * 200: "v"}),
    _case("target.tags", ["team=payments"]),
    _case("target.clusterIdentifer", "typo", "target.clusterIdentifer"),
    # master password
    _case("masterPassword", {"secretRef": {"name": "m"}, "secretsManagerSecretId": "m"}),
    _case("masterPassword", {}),
    _case("masterPassword.secretRef.name", "../etc/passwd"),
    _case("masterPassword.secretRef.name", "Name_With_Caps"),
    _case("masterPassword.secretRef.key", "a/b"),
    _case(
        "masterPassword",
        {"secretsManagerSecretId": "id with space"},
        "masterPassword.secretsManagerSecretId",
    ),
    _case(
        "masterPassword",
        {"secretsManagerSecretId": "x" * 3000},
        "masterPassword.secretsManagerSecretId",
    ),
    _case("masterPassword", DELETE, ""),  # users, sql and connectionSecret need it
    # users
    _case("users[0].name", "app; DROP ROLE postgres"),
    _case("users[0].name", 'app"'),
    _case("users[0].name", "postgres"),
    _case("users[0].name", "pg_monitor"),
    _case("users[0].name", "rdsadmin"),
    _case("users[0].name", "rds_superuser"),
    _case("users[0].name", "a" * 64),
    _case("users[0].name", "ü"),
    _case("users[0].name", ""),
    _case("users[0].name", "app\x00"),
    _case("users[0].name", "REPORTING", ""),  # a duplicate, case-insensitively
    _case("users[0].privileges", "superuser"),
    _case("users[0].databases", ["app; DROP"]),
    _case("users[0].databases", ["a" * 64]),
    _case("users[0].databases", "app"),
    _case("users[0].passwordSecretRef", DELETE, "users[0]"),
    _case("users[0].passwordSecretsManagerSecretId", "app", "users[0]"),
    _case("users", [{"name": f"u{i}", "passwordSecretRef": {"name": "s"}} for i in range(101)]),
    _case("users", {"name": "app"}),
    # sql
    _case("sql[1].inline", ""),
    _case("sql[1].inline", "x" * 262_145),
    _case("sql[1].database", "app'; --"),
    _case("sql[1].configMapRef", {"name": "m", "key": "k"}, "sql[1]"),
    _case("sql[0].configMapRef.name", "Bad Name"),
    _case("sql[0].configMapRef.key", "../k"),
    _case("sql", [{"inline": "SELECT 1"}] * 51),
    # the rest
    _case("archive.policy", "Destroy"),
    _case("notification.snsTopicArn", "arn:aws:sns:us-east-1:1:restores"),
    _case("notification.snsTopicArn", "https://evil.example/hook"),
    _case("notification.events", ["Started"]),
    _case("notification.events", ["Completed", "Completed"]),
    _case("connectionSecret.name", "Bad_Name"),
    _case("connectionSecret.database", "app; --"),
    _case("deletionPolicy", "delete"),
    _case("timeouts.total", "forever"),
    _case("timeouts.total", None),
    _case("extra", "field", "extra"),
]


def _problems(doc: Any) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_spec(doc)
    return info.value.problems


def _names(problems: Sequence[str], field: str, path: Path) -> bool:
    """Some problem is about ``field`` (or inside it); a rule over several fields, reported
    on the whole spec, names the field in its sentence."""
    if field == "spec":
        keys = [k for k in path if isinstance(k, str)]
        return any(p.startswith("spec:") and any(k in p for k in keys) for p in problems)
    return any(p.startswith((field + ":", field + ".", field + "[")) for p in problems)


def test_the_base_documents_are_valid() -> None:
    validate_spec(BASE)
    validate_spec(BASE_BY_SNAPSHOT)


@pytest.mark.parametrize(
    ("label", "path", "value", "field", "base"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_corpus_is_rejected_naming_the_field(
    label: str, path: Path, value: Any, field: str, base: Mapping[str, Any]
) -> None:
    problems = _problems(mutate(base, path, value))
    assert _names(problems, field, path), (field, problems)
    assert all(len(p) <= MAX_PROBLEM_CHARS for p in problems)
    assert all("\n" not in p and "\x00" not in p for p in problems)


@pytest.mark.parametrize("document", [None, [], "spec", 42, [BASE]], ids=repr)
def test_a_spec_that_is_not_a_mapping(document: Any) -> None:
    assert _problems(document) == ["spec must be a mapping"]


# --- through the driver: nothing reaches AWS, the database or a Secret ----------------------


class NoDatabase:
    """The Database port of a rejected restore: any call is a test failure."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        self.calls.append("endpoint")
        return host, port

    def check_master(self, endpoint: DbEndpoint) -> str:
        self.calls.append("check_master")
        return ""

    def setup_users(self, endpoint: DbEndpoint, users: Sequence[DbUserSpec]) -> list[str]:
        self.calls.append("setup_users")
        return []

    def run_sql(self, endpoint: DbEndpoint, name: str, database: str, text: str) -> None:
        self.calls.append("run_sql")


class CountingKube(FakeKube):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def kubernetes_secret(self, ref: Any) -> str:
        self.reads += 1
        return super().kubernetes_secret(ref)

    def config_map(self, ref: Any) -> str:
        self.reads += 1
        return super().config_map(ref)


# Only the restore's own records may be written for a rejected spec (with the failure
# notification when its notification block names a topic).
# The records of the rejection: audit and state items go out in batches (the records
# writer), the signing key alone with PutItem; metrics; the failure notification.
RECORDS = {
    ("dynamodb", "PutItem"),
    ("dynamodb", "BatchWriteItem"),
    ("monitoring", "PutMetricData"),
    ("sns", "Publish"),
}


class Rejecter:
    """One operator (driver) fed rejected specs: it must touch nothing but its records."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.database = NoDatabase()
        self.kube = CountingKube()
        self.driver = Driver(
            load(world.env),
            clients=Clients(world.session),
            database=self.database,
            clock=world.clock,
        )
        world.aws.reset_calls()

    def reject(self, doc: Any, uid: str) -> dict[str, Any]:
        res = Resource("hostile", "databases", uid, 1, doc, None)
        first = self.driver.tick(res, self.kube)
        status = first.status.to_dict()
        assert first.requeue_after is None
        # The run has ended: a later tick (the operator ticks again) does nothing at all.
        again = self.driver.tick(Resource("hostile", "databases", uid, 1, doc, status), self.kube)
        assert again.status.to_dict() == status and again.events == []
        return status

    def assert_nothing_reached(self) -> None:
        services = {(s, o) for s, o, _ in self.world.aws.call_records()}
        assert services <= RECORDS, services
        assert self.database.calls == [] and self.kube.reads == 0


def test_rejected_corpus_reaches_nothing(world: World) -> None:
    rejecter = Rejecter(world)
    for n, (label, path, value, field, base) in enumerate(CORPUS):
        status = rejecter.reject(mutate(base, path, value), f"uid-{n}")
        assert status["phase"] == "Failed", label
        assert status["error"]["type"] == "ValidationError", label
        assert status["error"]["code"] == "InvalidSpec", label
        assert field.removeprefix("spec.") in status["error"]["message"], label
        step = {s["name"]: s["state"] for s in status["steps"]}
        assert step["snapshot-check"] == "Failed"
        assert step["sns-notification"] in ("Skipped", "Succeeded"), label
    rejecter.assert_nothing_reached()


# --- properties -------------------------------------------------------------------------------


def _leaves(node: Any, path: Path = ()) -> list[Path]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _nodes(node: Any, path: Path = ()) -> list[Path]:
    found = [path] if path else []
    if isinstance(node, dict):
        found += [p for k, v in node.items() for p in _nodes(v, (*path, k))]
    elif isinstance(node, list):
        found += [p for i, v in enumerate(node) for p in _nodes(v, (*path, i))]
    return found


def _dotted(path: Path) -> str:
    out = "spec"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


hostile_text = st.one_of(
    st.sampled_from(INJECTIONS),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="ascii"), max_size=40),
    st.builds(
        lambda c, n: c * n, st.sampled_from(["a", "-", "'", "é", "9"]), st.integers(64, 5000)
    ),
)
hostile_value = st.one_of(
    hostile_text,
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(hostile_text, max_size=3),
    st.dictionaries(hostile_text, hostile_text, max_size=3),
)
BASES = [BASE, BASE_BY_SNAPSHOT]
# Everything that can reach AWS, Kubernetes or PostgreSQL as a name; SQL text is the user's.
SAFE = re.compile(r"[A-Za-z0-9 ._:/=+@$-]*")


def _strings(node: Any, path: Path = ()) -> list[tuple[Path, str]]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _strings(v, (*path, k))]
    if isinstance(node, list):
        return [s for i, v in enumerate(node) for s in _strings(v, (*path, i))]
    return [(path, node)] if isinstance(node, str) else []


def _check(doc: dict[str, Any], path: Path) -> None:
    try:
        parsed = validate_spec(doc)
    except SpecError as err:
        problems = err.problems
        assert problems and all(len(p) <= MAX_PROBLEM_CHARS for p in problems)
        mutated = _dotted(path)
        leaf = next((str(p) for p in reversed(path) if isinstance(p, str)), "")

        def related(problem: str) -> bool:
            where = problem.split(":", 1)[0]
            if where == mutated or where.startswith((mutated + ".", mutated + "[")):
                return True  # the field itself, or inside it
            # A rule over several fields, reported on their parent, names them in words.
            return mutated.startswith(where) and leaf in problem

        assert any(related(p) for p in problems), (mutated, problems)
        return
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    for where, value in _strings(dumped):
        if where[:1] == ("sql",) and where[-1] == "inline":
            continue
        assert SAFE.fullmatch(value), (where, value)


@settings(max_examples=250, deadline=None)
@given(st.sampled_from(range(len(BASES))), st.data(), hostile_value)
def test_any_hostile_leaf_is_rejected_naming_it_or_is_safe(
    which: int, data: st.DataObject, value: Any
) -> None:
    base = BASES[which]
    path = data.draw(st.sampled_from(_leaves(base)))
    _check(mutate(base, path, value), path)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(range(len(BASES))), st.data(), hostile_value)
def test_any_node_replaced_or_removed_is_rejected_naming_it_or_is_safe(
    which: int, data: st.DataObject, value: Any
) -> None:
    base = BASES[which]
    path = data.draw(st.sampled_from(_nodes(base)))
    _check(mutate(base, path, data.draw(st.sampled_from([value, DELETE]))), path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from([*BASE, *BASE["target"], *BASE["source"], "x"]), children, max_size=5
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_any_json_document_gives_a_verdict_not_a_crash(doc: Any) -> None:
    try:
        validate_spec(doc)
    except SpecError as err:
        assert all(p.startswith("spec") and len(p) <= MAX_PROBLEM_CHARS for p in err.problems)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data(), hostile_value)
def test_hostile_specs_through_the_driver_reach_nothing(
    world: World, data: st.DataObject, value: Any
) -> None:
    base = data.draw(st.sampled_from(BASES))
    path = data.draw(st.sampled_from(_leaves(base)))
    doc = mutate(base, path, value)
    try:
        validate_spec(doc)
    except SpecError:
        pass
    else:
        return  # accepted: the restore would run; the property above checked its values
    # One operator for all examples (the world fixture is shared by them).
    if "rejecter" not in world.__dict__:
        world.__dict__["rejecter"] = Rejecter(world)
    rejecter: Rejecter = world.__dict__["rejecter"]
    status = rejecter.reject(doc, f"uid-{data.draw(st.integers(0, 10**9))}")
    assert status["error"]["type"] == "ValidationError"
    rejecter.assert_nothing_reached()
