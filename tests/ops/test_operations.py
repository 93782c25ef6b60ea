"""Operations: the shipped Prometheus rules pass promtool and name only metrics that exist, the Grafana dashboard
queries only metrics that exist, and docker-compose.yml passes dclint with no errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client import REGISTRY

import shared.metrics  # noqa: F401 - registers every metric the services export
from tests.conftest import REPO_ROOT

RULES = REPO_ROOT / "ops" / "prometheus" / "tripwire-alerts.yml"
DASHBOARD = REPO_ROOT / "ops" / "grafana" / "tripwire-dashboard.json"
COMPOSE = REPO_ROOT / "docker-compose.yml"
METRIC = re.compile(r"\btripwire_[a-z_]+")


def exported_metrics() -> set[str]:
    """Every sample name the services can expose (counters' _total, histograms' _bucket/_sum/_count)."""
    names: set[str] = set()
    for collector in REGISTRY.collect():
        names.update(sample.name for sample in collector.samples)
        names.add(collector.name)
        if collector.type == "counter":
            names.add(f"{collector.name}_total")
        if collector.type == "histogram":
            names.update(f"{collector.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    return names


def test_the_rules_pass_promtool():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not found: install it (Debian: apt-get install prometheus) to check the rules")
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_the_rules_cover_what_operators_need_and_use_real_metrics():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} == {
        "TripwireFeedFailing", "TripwireConsumerLagNearStreamCap", "TripwireDeadLettersGrowing",
        "TripwireDeliveriesFailing", "TripwireNoNewItems",
    }  # fmt: skip
    used = {name for rule in rules for name in METRIC.findall(rule["expr"])}
    assert used and used <= exported_metrics(), used - exported_metrics()
    assert all(rule["annotations"]["summary"] and rule["labels"]["severity"] for rule in rules)


def test_the_dashboard_queries_only_metrics_that_exist():
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    exprs = [target["expr"] for panel in panels for target in panel["targets"]]
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used <= exported_metrics(), used - exported_metrics()
    # Every metric family the services export appears on some panel.
    families = {collector.name for collector in REGISTRY.collect() if collector.name.startswith("tripwire_")}
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert families - {"tripwire_topic_score", "tripwire_classifier_batch_size", "tripwire_alerts_unrouted"} <= shown


def dclint() -> list[str] | None:
    """dclint from PATH or an npm install in node_modules; None when neither is there."""
    found = shutil.which("dclint")
    if found:
        return [found]
    local = REPO_ROOT / "node_modules" / ".bin" / "dclint"
    return [str(local)] if local.exists() else None


def test_docker_compose_passes_dclint_without_errors():
    command = dclint()
    if command is None:
        pytest.skip("dclint not found: install it with `npm install -g dclint@3.1.0` to lint docker-compose.yml")
    result = subprocess.run([*command, str(COMPOSE)], capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert (result.returncode == 0 and "0 errors" in output) or "(0 errors" in output, output
