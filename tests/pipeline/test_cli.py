"""`aurora-restore run` as a new user would try it: a process against the moto server."""

from __future__ import annotations

import json
from pathlib import Path

from aurora_restore_sandbox.aws import AwsSandbox, seed_demo_data
from support.cli import run

ROOT = Path(__file__).resolve().parents[2]


def test_run_restores_the_example_end_to_end(aws: AwsSandbox, tmp_path: Path) -> None:
    seed_demo_data(aws.endpoint_url)
    done = run(aws, "-f", "examples/local-run.yaml", tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "CheckingSnapshot" in done.stdout and "Completed: Restored staging-local" in done.stdout
    # Each line once (the final one used to come twice), and the instances have their own.
    lines = done.stdout.splitlines()
    assert len(lines) == len(set(lines)), done.stdout
    assert any("Instances available: staging-local-1" in line for line in lines), done.stdout

    again = run(aws, "-f", "examples/local-run.yaml", "--output", "json", tmp=tmp_path)
    # The target now exists and existingCluster defaults to Fail.
    assert again.returncode == 1
    status = json.loads(again.stdout.strip().splitlines()[-1])
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "SafetyViolation"


def test_usage_errors_exit_2(aws: AwsSandbox, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: dbrestore.io/v1alpha1\nkind: AuroraRestore\n"
        "metadata: {name: x}\nspec:\n  source: {region: us-east-1}\n"
        "  target: {region: us-east-1, clusterIdentifier: a--b}\n"
    )
    done = run(aws, "-f", str(bad), tmp=tmp_path)
    assert done.returncode == 2
    assert "spec.target.clusterIdentifier" in done.stderr
    assert run(aws, "-f", str(tmp_path / "missing.yaml"), tmp=tmp_path).returncode == 2


def test_secret_references_without_a_kubeconfig_fail_clearly(
    aws: AwsSandbox, tmp_path: Path
) -> None:
    seed_demo_data(aws.endpoint_url)
    doc = (ROOT / "examples/local-run.yaml").read_text() + (
        "  masterPassword: {secretRef: {name: staging-master}}\n"
        "  connectionSecret: {name: staging-db}\n"
    )
    path = tmp_path / "with-secrets.yaml"
    path.write_text(doc)
    done = run(aws, "-f", str(path), "--output", "json", tmp=tmp_path)
    assert done.returncode == 1
    status = json.loads(done.stdout.strip().splitlines()[-1])
    assert status["error"]["code"] == "NoKubeconfig"
    assert "kubeconfig" in status["error"]["message"]
