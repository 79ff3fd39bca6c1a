"""Alert rules unit-tested with promtool, the Prometheus config checked, the Grafana dashboard JSON validated."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

OBS = Path(__file__).resolve().parents[1] / "observability"
RULES = OBS / "rules" / "gymchain-alerts.yml"
RULE_TESTS = OBS / "rules" / "gymchain-alerts.test.yml"
DASHBOARD = OBS / "grafana" / "dashboards" / "gymchain-overview.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: gym/scripts/setup.sh installs prometheus")


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=120)


@needs_promtool
def test_alert_rules_pass_their_promtool_unit_tests():
    checked = promtool("check", "rules", str(RULES), cwd=OBS)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 10 rules found" in checked.stdout
    tested = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
@pytest.mark.parametrize(("alert", "old", "new"), [
    ("GymModelDrift", "gym_model_drift_psi > 0.2", "gym_model_drift_psi > 0.5"),
    ("GymServiceDown", "for: 1m", "for: 5m"),
    ("GymHighErrorRate", ")) > 0.05", ")) > 0.10"),
])
def test_the_promtool_tests_catch_a_changed_threshold(tmp_path, alert, old, new):
    """The unit tests are not vacuous: loosening one rule makes promtool fail on that alert."""
    text = RULES.read_text()
    assert text.count(old) >= 1
    (tmp_path / RULES.name).write_text(text.replace(old, new, 1))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    tested = promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert tested.returncode != 0
    assert alert in tested.stdout + tested.stderr


def test_every_alert_has_severity_and_summary():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = [rule for group in groups for rule in group["rules"]]
    assert {a["alert"] for a in alerts} >= {"GymServiceDown", "GymHighErrorRate", "GymHighLatencyP95",
                                            "GymQueueBacklog", "GymConsumerLag", "GymModelDrift"}
    for alert in alerts:
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]
        assert re.fullmatch(r"\d+m", alert["for"]), alert["alert"]


@needs_promtool
def test_the_filled_prometheus_config_is_valid(tmp_path):
    text = (OBS / "prometheus.yml").read_text().replace("@GYM_DIR@", str(OBS.parent)).replace(
        "@RUN_DIR@", str(tmp_path))
    assert "@" not in re.sub(r"#.*", "", text)
    (tmp_path / "prometheus.yml").write_text(text)
    checked = promtool("check", "config", str(tmp_path / "prometheus.yml"), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    jobs = {job["job_name"]: job for job in yaml.safe_load(text)["scrape_configs"]}
    assert {"gymchain-services", "gymchain-processes", "gymchain-observatory"} <= set(jobs)
    targets = {t for group in jobs["gymchain-services"]["static_configs"] for t in group["targets"]}
    assert {f"127.0.0.1:{port}" for port in (8000, 8001, 8002, 8003, 8004, 8005)} <= targets


def test_grafana_dashboard_is_a_valid_provisioned_dashboard():
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "gymchain-overview" and board["schemaVersion"] >= 36 and board["title"]
    datasource = yaml.safe_load((OBS / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    ids, cells = set(), set()
    for panel in board["panels"]:
        assert panel["id"] not in ids, f"panel id {panel['id']} repeated"
        ids.add(panel["id"])
        assert panel["type"] in ("timeseries", "stat", "gauge", "table", "row")
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panel {panel['title']!r} overlaps another"
                cells.add((x, y))
        assert panel["datasource"]["uid"] == uid
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)) and all(t["expr"].strip() for t in panel["targets"])
        for target in panel["targets"]:  # balanced brackets and only metrics this code base exports
            expr = target["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
            names = set(re.findall(r"\b(gym_[a-z_]+|up)\b", expr))
            assert names, expr
    provider = yaml.safe_load((OBS / "grafana" / "provisioning" / "dashboards" / "gymchain.yml").read_text())
    assert provider["providers"][0]["type"] == "file"


def test_dashboard_metric_names_exist_in_the_code():
    """A renamed metric would leave a panel silently empty: every gym_* name in the panels is defined."""
    from prometheus_client import REGISTRY

    import gymchain.common.metrics  # noqa: F401 - registers the process metrics
    from gymchain.common.infra_metrics import InfraCollector

    defined = {sample_name for metric in REGISTRY.collect() for sample_name in
               [metric.name, metric.name + "_total", metric.name + "_bucket"]}
    infra_source = Path(InfraCollector.__module__.replace(".", "/") + ".py")
    infra_text = (Path(__file__).resolve().parents[1] / "src" / infra_source).read_text()
    defined |= set(re.findall(r'"(gym_[a-z_]+)"', infra_text))
    board = json.loads(DASHBOARD.read_text())
    used = {name for panel in board["panels"] for t in panel["targets"]
            for name in re.findall(r"\bgym_[a-z_]+\b", t["expr"])}
    rules_used = set(re.findall(r"\bgym_[a-z_]+\b", RULES.read_text()))
    assert used and used <= defined, used - defined
    assert rules_used <= defined, rules_used - defined
