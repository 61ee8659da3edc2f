"""What platform tooling sees of the operator process: its events (who posted them), its
Prometheus metrics (labels, timestamps, promtool's lint, a restart) and kstatus health."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aurora_restore.pipeline.context import parse_iso
from kstatus_rules import Current, Failed, kstatus
from support.cluster import GROUP, PLURAL, VERSION, Cluster, Operator, cross_region

POD = "aurora-restore-operator-5f7c9d8b6-x2k4q"


@pytest.fixture
def operator_env(operator_env: dict[str, str]) -> dict[str, str]:
    # What the chart's downward API gives the container.
    return {**operator_env, "POD_NAME": POD}


def scrape(operator: Operator) -> str:
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    return urllib.request.urlopen(url, timeout=5).read().decode()


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


def create_run_of_schedule(
    cluster: Cluster, name: str, schedule: str, spec: dict[str, Any]
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AuroraRestore",
        "metadata": {"name": name, "labels": {"dbrestore.io/schedule": schedule}},
        "spec": spec,
    }
    cluster.created.append(name)
    cluster.custom.create_namespaced_custom_object(GROUP, VERSION, cluster.namespace, PLURAL, body)


def finished(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.wait_phase(name, "Completed", "Failed", timeout=90)


def test_events_metrics_and_health_survive_a_restart(
    kube: object,  # on the emulator: a real server refuses the invalid spec at admission
    operator: Operator,
    cluster: Cluster,
) -> None:
    cluster.apply_restore("plain", cross_region(clusterIdentifier="staging-a"))
    create_run_of_schedule(
        cluster, "nightly-202611260330", "nightly", cross_region(clusterIdentifier="staging-b")
    )
    cluster.apply_restore("bad", cross_region(clusterIdentifier="Bad--Name"))
    plain, run, bad = (finished(cluster, n) for n in ("plain", "nightly-202611260330", "bad"))
    assert (plain["status"]["phase"], run["status"]["phase"]) == ("Completed", "Completed"), (
        operator.logs()[-3000:]
    )
    assert bad["status"]["phase"] == "Failed"

    # kstatus (Flux, kpt) reads the same health as Argo CD.
    assert kstatus(plain)[0] == Current and kstatus(bad)[0] == Failed

    # Events name the operator and its pod, in every field tools read.
    cluster.wait_events("plain", "RestoreStarted", "RestoreCompleted")
    events = cluster.events("plain")
    assert {e.reason for e in events} >= {"RestoreStarted", "RestoreCompleted"}
    for event in events:
        assert event.reporting_component == "aurora-restore-operator", event
        assert event.source.component == "aurora-restore-operator", event
        assert event.reporting_instance == POD, event
        assert event.metadata.name.startswith("aurora-restore-operator-")

    text = scrape(operator)
    assert "_created" not in text
    total = samples(text, "aurora_restore_restores_total")
    assert total == {
        labels(namespace="databases", schedule="", result="Completed", error_type=""): 1.0,
        labels(namespace="databases", schedule="nightly", result="Completed", error_type=""): 1.0,
        labels(
            namespace="databases", schedule="", result="Failed", error_type="ValidationError"
        ): 1.0,
    }
    success = samples(text, "aurora_restore_last_success_timestamp_seconds")
    failure = samples(text, "aurora_restore_last_failure_timestamp_seconds")
    done = {n: parse_iso(o["status"]["completedAt"]).timestamp() for n, o in
            (("plain", plain), ("run", run), ("bad", bad))}  # fmt: skip
    assert success == {
        labels(namespace="databases", name="plain", schedule=""): done["plain"],
        # A schedule's runs share one series, named after the schedule.
        labels(namespace="databases", name="nightly", schedule="nightly"): done["run"],
    }
    assert failure == {labels(namespace="databases", name="bad", schedule=""): done["bad"]}
    # No operation id, no run name: every label is bounded.
    assert "op-" not in text and "202611260330" not in text
    promtool(text)

    # A restart resets the counters, and rebuilds the timestamps from the statuses.
    operator.stop()
    operator.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = scrape(operator)
        if len(samples(text, "aurora_restore_last_success_timestamp_seconds")) == 2:
            break
        time.sleep(0.3)
    assert samples(text, "aurora_restore_last_success_timestamp_seconds") == success
    assert samples(text, "aurora_restore_last_failure_timestamp_seconds") == failure
    assert samples(text, "aurora_restore_restores_total") == {}
    promtool(text)

    # A deleted restore takes its series with it.
    cluster.delete("plain")
    deadline = time.monotonic() + 30
    while cluster.get("plain") is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.get("plain") is None
    success = samples(scrape(operator), "aurora_restore_last_success_timestamp_seconds")
    assert list(success) == [labels(namespace="databases", name="nightly", schedule="nightly")]


def promtool(text: str) -> None:
    """Prometheus's own linter over the real /metrics output."""
    if shutil.which("promtool") is None:
        pytest.skip("promtool not found (Debian: apt-get install prometheus)")
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result
