"""Shared helpers for the resource-contract tests: the CRDs, an API-server-like validator,
the examples, and CEL evaluation.

The API server validates a custom resource in three ways that plain ``jsonschema`` does not
reproduce, so this module adds them:

- patterns are Go RE2 regexes (``$`` is the end of text, ``\\d`` is ASCII);
- unknown fields are rejected by kubectl's default strict field validation (a structural
  schema cannot say ``additionalProperties: false``);
- ``x-kubernetes-validations`` CEL rules run on the defaulted object. When the optional
  ``celpy`` package (PyPI: cel-python, which matches with RE2 like the API server) is
  installed they are really evaluated; otherwise the tests fall back to a table of
  documents per rule (see test_spec_agreement.py).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic import TypeAdapter, ValidationError

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
RESTORE_CRD = "aurorarestores.dbrestore.io.yaml"
SCHEDULE_CRD = "aurorarestoreschedules.dbrestore.io.yaml"

Schema = dict[str, Any]


# --- CRDs -----------------------------------------------------------------------------------


@functools.cache
def load_crd(name: str) -> Schema:
    docs = [d for d in yaml.safe_load_all((CRD_DIR / name).read_text()) if d]
    assert len(docs) == 1, f"{name} holds {len(docs)} documents"
    return docs[0]


def root_schema(name: str) -> Schema:
    return load_crd(name)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def spec_schema(name: str = RESTORE_CRD) -> Schema:
    return root_schema(name)["properties"]["spec"]


def restore_spec_schema() -> Schema:
    return spec_schema(RESTORE_CRD)


def at(schema: Schema, path: str) -> Schema:
    """The sub-schema at a dotted path; ``[]`` steps into array items."""
    node = schema
    for part in path.split("."):
        if part == "[]":
            node = node["items"]
        else:
            node = node["properties"][part]
    return node


def walk(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node with its path (``.a.b[]`` style)."""
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from walk(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from walk(schema["additionalProperties"], f"{path}{{}}")


# --- an API-server-like validator -----------------------------------------------------------


@functools.cache
def go_regex(pattern: str) -> re.Pattern[str]:
    # RE2 semantics in Python: ASCII classes, and a final $ that does not match before a
    # trailing newline. The CRD's patterns only use $ at their end.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern, re.ASCII)


def _go_pattern(validator: Any, pattern: str, instance: Any, schema: Schema) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not go_regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} should match {pattern!r}")


_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _go_pattern})


def strict(schema: Schema) -> Schema:
    """A copy where objects with declared properties reject unknown ones (kubectl's
    default --validate=strict), except where unknown fields are preserved."""
    out = copy.deepcopy(schema)

    def visit(node: Schema) -> None:
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for sub in node.get("properties", {}).values():
            visit(sub)
        if isinstance(node.get("items"), dict):
            visit(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            visit(node["additionalProperties"])

    visit(out)
    return out


@functools.cache
def _validator(name: str, path: str | None) -> Any:
    schema = root_schema(name) if path is None else at(root_schema(name), path)
    return _Validator(strict(schema))


def schema_errors(instance: Any, name: str = RESTORE_CRD, path: str | None = None) -> list[str]:
    """OpenAPI (not CEL) errors for a whole resource, or for the node at ``path``."""
    return [e.message for e in _validator(name, path).iter_errors(instance)]


def apply_defaults(schema: Schema, instance: Any) -> Any:
    """What the API server stores: missing fields with a default get it, recursively."""
    if isinstance(instance, dict):
        out = dict(instance)
        for key, sub in schema.get("properties", {}).items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = apply_defaults(sub, out[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            out = {k: apply_defaults(extra, v) for k, v in out.items()}
        return out
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], item) for item in instance]
    return instance


# --- CEL ------------------------------------------------------------------------------------


def celpy_module() -> Any | None:
    try:
        import celpy  # type: ignore[import-not-found]
    except ImportError:
        return None
    return celpy


def _ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


@functools.cache
def _cel_program(rule: str) -> Any:
    celpy = celpy_module()
    assert celpy is not None
    types = celpy.celtypes
    # The Kubernetes CEL environment adds the cel-go strings extension; these are the
    # members of it that the CRDs use.
    functions = {
        "lowerAscii": lambda s: types.StringType(_ascii_lower(s)),
        "substring": lambda s, a, b=None: types.StringType(s[int(a) : None if b is None else b]),
        "indexOf": lambda s, sub: types.IntType(s.find(sub)),
    }
    env = celpy.Environment()
    return env.program(env.compile(rule), functions=functions)


def cel_holds(rule: str, value: Any) -> bool:
    """A rule holds when it evaluates to true; an evaluation error rejects, as in Kubernetes."""
    celpy = celpy_module()
    assert celpy is not None
    try:
        result = _cel_program(rule).evaluate({"self": celpy.json_to_cel(value)})
    except Exception:  # any evaluation failure is a rejection, as in Kubernetes
        return False
    return result is True or (isinstance(result, celpy.celtypes.BoolType) and bool(result))


def cel_violations(schema: Schema, instance: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, message) of every CEL rule that fails, walking the instance like the server."""
    out: list[tuple[str, str]] = []
    for item in schema.get("x-kubernetes-validations", []):
        if not cel_holds(item["rule"], instance):
            out.append((path, item["message"]))
    if isinstance(instance, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in instance:
                out += cel_violations(sub, instance[key], f"{path}.{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, value in instance.items():
                out += cel_violations(extra, value, f"{path}[{key}]")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(instance):
            out += cel_violations(schema["items"], item, f"{path}[{index}]")
    return out


def cel_messages(instance: Any, name: str = RESTORE_CRD) -> set[str]:
    schema = root_schema(name)
    return {message for _, message in cel_violations(schema, apply_defaults(schema, instance))}


def all_rules(name: str) -> list[tuple[str, Schema]]:
    return [
        (path, item)
        for path, node in walk(root_schema(name))
        for item in node.get("x-kubernetes-validations", [])
    ]


# Python equivalents of the field-level CEL rules, for the property tests (which then run
# without celpy); test_spec_agreement checks them against the real rules when celpy is there.


def _date_rule(value: str) -> bool:
    if value == "latest" or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return True
    year, month, day = int(value[:4]), value[5:7], int(value[8:10])
    leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
    days = (
        (29 if leap else 28) if month == "02" else 30 if month in ("04", "06", "09", "11") else 31
    )
    return year >= 1 and day <= days


def _restore_time_rule(value: str) -> bool:
    # The calendar check of the date part; the pattern has checked the rest.
    if value == "latest" or not re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T", value):
        return True
    return _date_rule(value[:10])


def _snapshot_length_rule(value: str) -> bool:
    return len(value) <= 255 or (
        value.startswith("arn:") and len(value) - value.find(":cluster-snapshot:") <= 18 + 255
    )


def _pg_user_rule(value: str) -> bool:
    lowered = _ascii_lower(value)
    return lowered not in ("postgres", "public") and not lowered.startswith(("pg_", "rds"))


FIELD_RULES: dict[str, Callable[[str], bool]] = {
    "must be a UTC date YYYY-MM-DD that exists in the calendar, or 'latest'": _date_rule,
    "must be an RFC 3339 UTC time that exists in the calendar, or 'latest'": _restore_time_rule,
    "a cluster snapshot identifier must be 1-255 characters long": _snapshot_length_rule,
    "the user name is reserved by PostgreSQL or RDS (postgres, public, pg_*, rds*); "
    "choose another name": _pg_user_rule,
}


def field_accepts(path: str, value: Any, name: str = RESTORE_CRD) -> bool:
    """Whether the CRD accepts ``value`` at ``path`` (OpenAPI part plus field-level CEL)."""
    if schema_errors(value, name, path):
        return False
    node = at(root_schema(name), path)
    return all(FIELD_RULES[r["message"]](value) for r in node.get("x-kubernetes-validations", []))


def model_accepts(type_: Any, value: Any) -> bool:
    """Whether the model's type (a pydantic annotated type) takes the value."""
    try:
        TypeAdapter(type_).validate_python(value)
    except ValidationError:
        return False
    return True


# --- examples -------------------------------------------------------------------------------


def documents(path: Path) -> list[Schema]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def crd_for(kind: str) -> str:
    return {"AuroraRestore": RESTORE_CRD, "AuroraRestoreSchedule": SCHEDULE_CRD}[kind]


def base_spec(**overrides: Any) -> Schema:
    """A small valid AuroraRestore spec; top-level keys are replaced by ``overrides``."""
    doc: Schema = {
        "source": {"region": "us-east-1", "clusterIdentifier": "prod"},
        "target": {"region": "us-west-2", "clusterIdentifier": "staging"},
    }
    doc.update(overrides)
    return doc


def resource(spec: Schema, kind: str = "AuroraRestore", name: str = "test") -> Schema:
    return {
        "apiVersion": "dbrestore.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }
