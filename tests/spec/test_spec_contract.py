"""A field is added by editing one class: the CRD is rendered from the models (api/crd.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import pytest
import yaml
from pydantic import Field, model_validator

from aurora_restore.api import crd, names
from aurora_restore.api.restore import AuroraRestoreSpec, SpecError, Target, validate_spec
from aurora_restore.api.schema import Crd, cel, rule
from aurora_restore.api.status import AuroraRestoreStatus, Time

BACKUP_RULE = rule("self.backupRetentionDays <= 14 || self.instances > 0", "keep a reader", ".x")


class TargetWithRetention(Target):
    backup_retention_days: int = Field(
        7, ge=1, le=35, description="Days of automated backups on the restored cluster."
    )
    maintenance_window: Annotated[str, Crd(maxLength=19, pattern=r"^[a-z]{3}:[0-9:]+$")] | None = (
        Field(None, description="Preferred maintenance window, e.g. sun:03:00-sun:04:00.")
    )

    @model_validator(mode="after")
    @cel(BACKUP_RULE)
    def _retention(self) -> TargetWithRetention:
        return self


class SpecWithRetention(AuroraRestoreSpec):
    __doc__ = AuroraRestoreSpec.__doc__  # the spec's description; a subclass has none
    target: TargetWithRetention = Field(description="The cluster to create from the snapshot.")


class StatusWithBackup(AuroraRestoreStatus):
    __doc__ = AuroraRestoreStatus.__doc__
    last_backup_at: Time | None = Field(None, description="When the last backup ran.")


def _rendered(kind: crd.Kind) -> dict:
    text = crd.render((kind,))[f"{kind.plural}.{names.GROUP}.yaml"]
    return yaml.safe_load(text.split("---\n", 1)[1])


def test_a_new_field_appears_with_its_description_default_bounds_and_rules() -> None:
    kind = replace(crd.RESTORE, spec=SpecWithRetention, status=StatusWithBackup)
    root = _rendered(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    target = root["properties"]["spec"]["properties"]["target"]
    assert target["properties"]["backupRetentionDays"] == {
        "type": "integer",
        "description": "Days of automated backups on the restored cluster.",
        "default": 7,
        "minimum": 1,
        "maximum": 35,
    }
    assert target["properties"]["maintenanceWindow"] == {
        "type": "string",
        "description": "Preferred maintenance window, e.g. sun:03:00-sun:04:00.",
        "maxLength": 19,
        "pattern": "^[a-z]{3}:[0-9:]+$",
    }
    # Optional: not required, and the rules of the class and of its new validator both apply.
    assert target["required"] == ["region", "clusterIdentifier"]
    assert target["x-kubernetes-validations"][-1] == BACKUP_RULE
    assert len(target["x-kubernetes-validations"]) == 3
    status = root["properties"]["status"]["properties"]["lastBackupAt"]
    assert status == {
        "type": "string",
        "format": "date-time",
        "description": "When the last backup ran.",
    }
    # Everything else is as committed: only the new fields differ.
    committed = _rendered(crd.RESTORE)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    del target["properties"]["backupRetentionDays"], target["properties"]["maintenanceWindow"]
    target["x-kubernetes-validations"].pop()
    del root["properties"]["status"]["properties"]["lastBackupAt"]
    assert root == committed


def test_the_model_enforces_the_same_bounds() -> None:
    doc = {
        "source": {"region": "us-east-1", "clusterIdentifier": "prod"},
        "target": {"region": "us-east-1", "clusterIdentifier": "staging"},
    }
    assert validate_spec(doc).target.instances == 1
    parsed = SpecWithRetention.model_validate(doc)
    assert parsed.target.backup_retention_days == 7
    with pytest.raises(ValueError, match="less than or equal to 35"):
        SpecWithRetention.model_validate(
            {**doc, "target": {**doc["target"], "backupRetentionDays": 36}}
        )
    with pytest.raises(SpecError, match="spec.target.backupRetentionDays: is not a known field"):
        validate_spec({**doc, "target": {**doc["target"], "backupRetentionDays": 7}})


def test_unknown_schema_keywords_are_refused_not_dropped() -> None:
    class Odd(Target):
        odd: Annotated[str, Crd(exclusiveMinimum=1)] = Field("x", description="Odd.")

    class OddSpec(AuroraRestoreSpec):
        target: Odd

    with pytest.raises(AssertionError, match="exclusiveMinimum"):
        crd.schema_of(OddSpec)
