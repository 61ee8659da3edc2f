"""`aurora-restore run` with source.method PointInTime and Clone, as a process against the
seeded stand-in (whose prod cluster has three days of continuous backups)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from aurora_restore_sandbox.aws import AwsSandbox, seed_demo_data
from support.cli import run


def restore_file(tmp: Path, name: str, source: dict[str, str]) -> Path:
    doc = {
        "apiVersion": "dbrestore.io/v1alpha1",
        "kind": "AuroraRestore",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "source": {"region": "us-east-1", "clusterIdentifier": "prod", **source},
            "target": {"region": "us-east-1", "clusterIdentifier": name, "instances": 1},
        },
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


YESTERDAY_NOON = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT12:00:00Z")


@pytest.mark.parametrize(
    ("name", "source", "restore_type"),
    [
        ("prod-at-noon", {"method": "PointInTime", "restoreTime": YESTERDAY_NOON}, "full-copy"),
        ("prod-latest", {"method": "PointInTime", "restoreTime": "latest"}, "full-copy"),
        ("prod-clone", {"method": "Clone"}, "copy-on-write"),
    ],
)
def test_run_with_each_method(
    aws: AwsSandbox, tmp_path: Path, name: str, source: dict[str, str], restore_type: str
) -> None:
    seed_demo_data(aws.endpoint_url)
    aws.reset_calls()
    done = run(
        aws, "-f", str(restore_file(tmp_path, name, source)), "--output", "json", tmp=tmp_path
    )
    assert done.returncode == 0, done.stderr + done.stdout
    status = json.loads(done.stdout.strip().splitlines()[-1])
    assert status["phase"] == "Completed"
    assert status["source"]["method"] == source["method"]
    assert status["source"]["restoreType"] == restore_type
    assert status["source"]["restoreTime"]
    if source.get("restoreTime", "latest") != "latest":
        assert status["source"]["restoreTime"] == source["restoreTime"]
    assert aws.count("RestoreDBClusterToPointInTime") == 1
    assert aws.count("CopyDBClusterSnapshot") == aws.count("RestoreDBClusterFromSnapshot") == 0
