"""The naming and format rules of the AuroraRestore contract: AWS identifiers, regions,
ARNs, durations, dates, PostgreSQL names. Each rule is written once, as a type: its
validator (with the message a user reads) and, beside it, what the CRD says about it
(``Crd``: the RE2 pattern, the length bounds, the CEL rule). ``restore.py`` builds the
models from these types and ``crd.py`` renders the CRD from the models.

Patterns in ``Crd`` are evaluated by Kubernetes with Go's RE2 (and by CEL's ``matches``),
so they use no lookaround, backreferences or named groups, and no repetition count above
1000. Every string carries a maxLength and every list a maxItems: the API server
estimates the worst-case cost of each CEL rule from those bounds and refuses a CRD whose
rules could be too expensive.

The rules mirror AWS's own naming rules (and the seed pipeline's ``validate_*``
helpers), so that a bad spec is rejected before anything reaches AWS.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import durationpy
from pydantic import AfterValidator, Field

from .schema import Crd, rule
from .source_method import RESTORE_TIME, validate_restore_time

# --- identifier rules -------------------------------------------------------------------

_AWS_ID_RULE = (
    "letters, digits or hyphens, starting with a letter, with no two consecutive hyphens "
    "and no trailing hyphen"
)
# Every pattern is ASCII-only and is used with ``fullmatch``: Python's ``\d`` would otherwise
# accept non-ASCII digits (which ``int()`` then happily parses) and ``$`` would accept a
# trailing newline. Kubernetes evaluates the CRD's copies of these patterns with Go's RE2,
# where neither happens, so the model must not accept what the API server rejects.
_A = re.ASCII
# A letter, then letters or digits with at most one hyphen between two of them: "starts
# with a letter, no two consecutive hyphens, no trailing hyphen" in one RE2-safe pattern.
_AWS_ID = re.compile(r"^[A-Za-z](?:-?[A-Za-z0-9])*$")
AWS_ID = _AWS_ID
AUTOMATED_SNAPSHOT = re.compile(
    r"^rds:(?P<cluster>[a-z][a-z0-9-]{0,62})-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}$", _A
)
REGION = re.compile(
    r"^(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso|-isob|-isof|-isoe)?"
    r"-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9]$"
)
_PARTITION = r"arn:aws(-cn|-us-gov|-iso|-iso-b|-iso-f|-iso-e)?"
_REGION_RE = REGION.pattern[1:-1]
_PARTITION_RE2 = r"arn:aws(?:-cn|-us-gov|-iso|-iso-b|-iso-f|-iso-e)?"
_AUTOMATED_RE2 = r"rds:[a-z][a-z0-9-]{0,62}-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}"
# The CRD's form of a source snapshot: a manual name, an automated rds: name, or either
# inside a snapshot ARN (the model checks the same with SNAPSHOT_ARN and the rules below).
SOURCE_SNAPSHOT_RE2 = (
    rf"^(?:{_PARTITION_RE2}:rds:{_REGION_RE}:[0-9]{{12}}:cluster-snapshot:)?"
    rf"(?:[A-Za-z](?:-?[A-Za-z0-9])*|{_AUTOMATED_RE2})$"
)
# The longest ARN prefix ("arn:aws-us-gov:rds:<19-char region>:<account>:cluster-snapshot:")
# is 69 characters, and the name inside is at most 255.
SOURCE_SNAPSHOT_MAX = 69 + 255
SNAPSHOT_ARN = re.compile(
    rf"^{_PARTITION}:rds:(?P<region>{_REGION_RE}):\d{{12}}:cluster-snapshot:(?P<id>.+)$", _A
)
KMS_KEY = re.compile(
    r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|mrk-[0-9a-f]{32}"
    r"|alias/[A-Za-z0-9/_-]{1,250}"
    rf"|{_PARTITION}:kms:{_REGION_RE}:\d{{12}}:(?:key/[A-Za-z0-9-]{{1,64}}|alias/[A-Za-z0-9/_-]{{1,250}}))$",
    _A,
)
# source.roleArn: an IAM role (paths allowed) in the account that owns the snapshot.
ROLE_ARN = re.compile(rf"^{_PARTITION}:iam::\d{{12}}:role/[A-Za-z0-9+=,.@_/-]{{1,512}}$", _A)
# sts:ExternalId's own character set; at most 1224 characters (a maxLength: RE2 counts
# repetitions only to 1000).
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9+=,.@:/_-]{2,}$", _A)
SNS_TOPIC_ARN = re.compile(
    rf"^{_PARTITION}:sns:{_REGION_RE}:\d{{12}}:[A-Za-z0-9_-]{{1,256}}(\.fifo)?$", _A
)
VPC_ID = re.compile(r"^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
SUBNET_ID = re.compile(r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
SG_ID = re.compile(r"^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
# Bounded so that the CRD can give these strings a maxLength (needed for CEL cost limits).
INSTANCE_CLASS = re.compile(r"^db\.[a-z0-9]{1,32}(\.[a-z0-9]{1,32})?$")
ENGINE_VERSION = re.compile(r"^\d{1,4}(\.\d{1,4}){0,2}$", _A)
SUBNET_GROUP = re.compile(r"^[A-Za-z0-9 ._-]{1,255}$")
# Go's duration grammar (``time.ParseDuration``, the one Kubernetes users know: ``1h30m``,
# ``500ms``, ``2s``, ``1.5h``), without a sign: units h, m, s, ms, us, ns in any order, or a
# bare ``0``. The same pattern is the CRD's, and settings use it too. At most 6 digits per
# unit (as before: no restore waits 114 years) keep every value inside ``timedelta``.
DURATION = re.compile(r"^(?:0|(?:[0-9]{1,6}(?:\.[0-9]{1,9})?(?:h|ms|m|s|us|ns))+)$", _A)
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
K8S_KEY = re.compile(r"^[-._A-Za-z0-9]{1,253}$")
PG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
SECRETS_MANAGER_ID = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")
# RE2 caps repetition counts at 1000, so in the CRD the 2048 limit lives in maxLength.
SECRETS_MANAGER_ID_RE2 = r"^[A-Za-z0-9/_+=.@:-]+$"
# AWS allows letters, digits and spaces plus _.:/=+-@; ``\w\s`` also let tabs and newlines in.
# ASCII only, so that the CRD (RE2) and the model agree character for character.
TAG_KEY = re.compile(r"^[A-Za-z0-9_ .:/=+@-]{1,128}$")
TAG_VALUE = re.compile(r"^[A-Za-z0-9_ .:/=+@-]{0,256}$")
RESERVED_PG_USERS = ("postgres", "rdsadmin", "rdsrepladmin", "rds_superuser", "public")


def _aws_identifier(value: str, what: str, max_len: int) -> str:
    if not 1 <= len(value) <= max_len:
        raise ValueError(f"{what} must be 1-{max_len} {_AWS_ID_RULE} (got {len(value)} characters)")
    if not _AWS_ID.fullmatch(value):
        raise ValueError(f"{what} must be 1-{max_len} {_AWS_ID_RULE} (got {value!r})")
    return value.lower()


def validate_cluster_id(value: str) -> str:
    """AWS DB cluster identifier; stored lower-case, as AWS does."""
    return _aws_identifier(value, "a DB cluster identifier", 63)


def validate_snapshot_id(value: str) -> str:
    """A cluster snapshot identifier this operator may create (a copy's name)."""
    return _aws_identifier(value, "a cluster snapshot identifier", 255)


def validate_source_snapshot_id(value: str) -> str:
    """A source snapshot: a manual name, an automated ``rds:`` name, or a snapshot ARN."""
    arn = SNAPSHOT_ARN.fullmatch(value)
    if arn:
        # The name inside an ARN follows the same rules as a bare name (and is not itself an
        # ARN); it is kept as given because ARNs are compared verbatim by AWS.
        _source_snapshot_name(arn["id"])
        return value
    return _source_snapshot_name(value)


def _source_snapshot_name(value: str) -> str:
    if value.startswith("rds:"):
        if AUTOMATED_SNAPSHOT.fullmatch(value):
            return value
        raise ValueError(
            "an automated snapshot identifier must look like rds:<cluster>-YYYY-MM-DD-HH-MM "
            f"(got {value!r})"
        )
    return validate_snapshot_id(value)


def validate_region(value: str) -> str:
    if not REGION.fullmatch(value):
        raise ValueError(
            f"must be an AWS region name such as us-east-1 or eu-central-2 (got {value!r})"
        )
    return value


def _pattern(regex: re.Pattern[str], allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise ValueError(f"must be {allowed} (got {shown!r})")
        return value

    return AfterValidator(check)


@dataclass(frozen=True)
class _Matches:
    """A string of at most ``max_length`` characters that ``regex`` matches: the validator
    (its message: "must be ``allowed``") and the CRD's keywords, from the one pattern.

    Pydantic unpacks it as annotated-types' grouped metadata, the protocol it follows
    (``__is_annotated_types_grouped_metadata__`` and ``__iter__``).
    """

    regex: re.Pattern[str]
    allowed: str
    max_length: int

    @property
    def __is_annotated_types_grouped_metadata__(self) -> bool:
        return True

    def __iter__(self) -> Iterator[object]:
        yield _pattern(self.regex, self.allowed)
        yield Crd(maxLength=self.max_length, pattern=self.regex.pattern)


def parse_duration(value: str) -> dt.timedelta:
    """The one duration parser of the operator, for the resources and the settings alike:
    the grammar is ``DURATION``; durationpy (Go's semantics) computes the value."""
    if not isinstance(value, str) or len(value) > 64 or not DURATION.fullmatch(value):
        raise ValueError(
            f"must be a duration such as 90m, 2h, 1h30m or 500ms (got {str(value)[:80]!r})"
        )
    try:
        return durationpy.from_str(value)
    except (ValueError, OverflowError):
        raise ValueError(f"is too long a duration (got {value!r})") from None


def _duration(value: str) -> str:
    parse_duration(value)
    return value


def _date(value: str) -> str:
    if value == "latest":
        return value
    try:
        dt.date.fromisoformat(value)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value, re.ASCII):
            raise ValueError
    except ValueError:
        raise ValueError(f"must be a UTC date YYYY-MM-DD or 'latest' (got {value!r})") from None
    return value


def _pg_user(value: str) -> str:
    if not PG_NAME.fullmatch(value):
        raise ValueError(
            "must be 1-63 letters, digits, '_', '$' or '-', starting with a letter or '_' "
            f"(got {value[:80]!r})"
        )
    lowered = value.lower()
    if lowered in RESERVED_PG_USERS or lowered.startswith(("pg_", "rds_", "rds")):
        raise ValueError(f"{value!r} is reserved by PostgreSQL or RDS; choose another name")
    return value


# --- CEL rules of single values -------------------------------------------------------

# A calendar check for YYYY-MM-DD (the pattern already guarantees the shape, the month
# 01-12 and the day 01-31); written out because timestamp() would fail with an evaluation
# error instead of a message. Year 0000 is rejected as Python's date() does.
_Y = "int(self.substring(0, 4))"
_CALENDAR = (
    f"{_Y} >= 1 && int(self.substring(8, 10)) <= (self.substring(5, 7) == '02'"
    f" ? (({_Y} % 4 == 0 && {_Y} % 100 != 0) || {_Y} % 400 == 0 ? 29 : 28)"
    " : (self.substring(5, 7) in ['04', '06', '09', '11'] ? 30 : 31)))"
)
DATE_RULE = rule(  # mirrors _date's dt.date.fromisoformat
    "self == 'latest' || !self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}$') || (" + _CALENDAR,
    "must be a UTC date YYYY-MM-DD that exists in the calendar, or 'latest'",
)
RESTORE_TIME_RULE = rule(  # mirrors validate_restore_time: the same check on its date part
    "self == 'latest' || !self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T.*$') || (" + _CALENDAR,
    "must be an RFC 3339 UTC time that exists in the calendar, or 'latest'",
)
SNAPSHOT_LENGTH_RULE = rule(  # mirrors validate_snapshot_id's 255 inside an ARN
    "size(self) <= 255 || (self.startsWith('arn:')"
    " && size(self) - self.indexOf(':cluster-snapshot:') <= 18 + 255)",
    "a cluster snapshot identifier must be 1-255 characters long",
)
PG_USER_RULE = rule(  # mirrors _pg_user's reserved names
    "!(self.lowerAscii() in ['postgres', 'public']) && !self.lowerAscii().startsWith('pg_')"
    " && !self.lowerAscii().startsWith('rds')",
    "the user name is reserved by PostgreSQL or RDS (postgres, public, pg_*, rds*); "
    "choose another name",
)

# --- the types --------------------------------------------------------------------------

_AWS_ID_CRD = Crd(pattern=AWS_ID.pattern, minLength=1)
ClusterId = Annotated[str, AfterValidator(validate_cluster_id), _AWS_ID_CRD, Crd(maxLength=63)]
SnapshotId = Annotated[str, AfterValidator(validate_snapshot_id), _AWS_ID_CRD, Crd(maxLength=255)]
ParameterGroup = Annotated[
    str,
    AfterValidator(lambda v: _aws_identifier(v, "a parameter group name", 255)),
    _AWS_ID_CRD,
    Crd(maxLength=255),
]
SourceSnapshotId = Annotated[
    str,
    AfterValidator(validate_source_snapshot_id),
    Crd(
        SNAPSHOT_LENGTH_RULE,
        minLength=1,
        maxLength=SOURCE_SNAPSHOT_MAX,
        pattern=SOURCE_SNAPSHOT_RE2,
    ),
]
Region = Annotated[str, AfterValidator(validate_region), Crd(maxLength=32, pattern=REGION.pattern)]
Duration = Annotated[
    str, AfterValidator(_duration), Crd(minLength=1, maxLength=64, pattern=DURATION.pattern)
]
SnapshotDate = Annotated[
    str,
    AfterValidator(_date),
    Crd(
        DATE_RULE,
        maxLength=10,
        pattern=r"^(?:latest|[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))$",
    ),
]
RestoreTime = Annotated[
    str,
    AfterValidator(validate_restore_time),
    Crd(RESTORE_TIME_RULE, maxLength=27, pattern=f"^(?:latest|{RESTORE_TIME.pattern[1:-1]})$"),
]
KmsKeyId = Annotated[
    str, _Matches(KMS_KEY, "a KMS key id, alias/NAME, or a KMS key or alias ARN", 512)
]
SnsTopicArn = Annotated[str, _Matches(SNS_TOPIC_ARN, "an SNS topic ARN", 512)]
VpcId = Annotated[str, _Matches(VPC_ID, "a VPC id such as vpc-0123abcd", 21)]
SubnetId = Annotated[
    str,
    _Matches(SUBNET_ID, "a subnet id such as subnet-0123abcd", 24),
    Field(description="Subnet id."),
]
SecurityGroupId = Annotated[
    str,
    _Matches(SG_ID, "a security group id such as sg-0123abcd", 20),
    Field(description="Security group id."),
]
InstanceClass = Annotated[
    str, _Matches(INSTANCE_CLASS, "a DB instance class such as db.r6g.large", 68)
]
SubnetGroup = Annotated[
    str, _Matches(SUBNET_GROUP, "1-255 letters, digits, spaces, '.', '_' or '-'", 255)
]
EngineVersion = Annotated[str, _Matches(ENGINE_VERSION, "an engine version such as 15.4", 14)]
SecretsManagerId = Annotated[
    str,
    _pattern(SECRETS_MANAGER_ID, "a Secrets Manager secret name or ARN"),
    Crd(minLength=1, maxLength=2048, pattern=SECRETS_MANAGER_ID_RE2),
]
K8sName = Annotated[
    str,
    _Matches(K8S_NAME, "a Kubernetes object name (lower-case letters, digits, '-' and '.')", 253),
]
K8sKey = Annotated[str, _Matches(K8S_KEY, "a key of letters, digits, '-', '_' or '.'", 253)]
PgUser = Annotated[str, AfterValidator(_pg_user), Crd(maxLength=63, pattern=PG_NAME.pattern)]
PgDatabase = Annotated[
    str, _Matches(PG_NAME, "a database name of 1-63 letters, digits, '_', '$' or '-'", 63)
]
RoleArn = Annotated[
    str, _Matches(ROLE_ARN, "an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", 600)
]
ExternalId = Annotated[
    str,
    Field(max_length=1224),
    _pattern(EXTERNAL_ID, "2-1224 letters, digits or +=,.@:/_-"),
    Crd(pattern=EXTERNAL_ID.pattern),
]
TagValue = Annotated[
    str, Crd(maxLength=256, pattern=TAG_VALUE.pattern), Field(description="Tag value.")
]
