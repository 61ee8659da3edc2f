"""What the models tell the CRD beyond pydantic's own JSON schema, written beside the field.

Two small markers, read by ``crd.py`` through ``model_json_schema()``:

- ``Crd(...)`` in ``Annotated[...]``: schema keywords the API server evaluates, in the
  CRD's own spelling (``pattern`` as Go RE2, ``maxLength``, ``minItems``, ``format``,
  ``x-kubernetes-*``) and CEL rules on that value. It changes the rendered schema only:
  the validator beside it still decides, and words the message.
- ``@cel(...)`` on a model validator: the CEL rules (``x-kubernetes-validations``) that
  give the API server the same rule the validator implements, on the object's schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

Rule = dict[str, str]
F = TypeVar("F", bound=Callable[..., Any])
RULES = "x-kubernetes-validations"


def rule(expr: str, message: str, field_path: str | None = None) -> Rule:
    """One CEL rule; ``field_path`` names the field the API server blames."""
    out = {"rule": expr, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    return out


def one_of(a: str, b: str, message: str) -> Rule:
    return rule(f"has(self.{a}) != has(self.{b})", message)


class Crd:
    """Schema keywords and CEL rules for the value it annotates (see the module doc)."""

    def __init__(self, *rules: Rule, **keywords: Any) -> None:
        self.rules = list(rules)
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        target.update(self.keywords)
        if self.rules:
            target[RULES] = [*target.get(RULES, ()), *self.rules]
        return schema


def cel(*rules: Rule) -> Callable[[F], F]:
    """Mark a model validator with the CEL rules that mirror it (under ``@model_validator``)."""

    def mark(func: F) -> F:
        func.__cel__ = rules  # type: ignore[attr-defined]
        return func

    return mark


class CelRules(BaseModel):
    """Base of the models whose validators carry ``@cel`` rules: puts them on the schema."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        validators = cls.__pydantic_decorators__.model_validators.values()
        rules = [r for v in validators for r in getattr(v.func, "__cel__", ())]
        if rules:
            handler.resolve_ref_schema(schema)[RULES] = rules
        return schema
