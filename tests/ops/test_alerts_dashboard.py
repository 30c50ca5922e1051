"""The ops assets: Prometheus alert rules (``promtool check rules`` and the ``promtool test
rules`` unit tests), the Prometheus configuration, and the Grafana dashboard (structure, valid
PromQL, only metrics billsync exports, provisioned from compose)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.ops.tools import promtool

ROOT = Path(__file__).parent.parent.parent
PROMETHEUS = ROOT / "ops" / "prometheus"
GRAFANA = ROOT / "ops" / "grafana"
DASHBOARD: dict[str, Any] = json.loads((GRAFANA / "dashboards" / "billsync.json").read_text())
METRIC = re.compile(r"\b((?:billsync|process|python)_[a-z0-9_]+)")
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def _exported_names() -> set[str]:
    """Metric names billsync defines (as string literals in its metrics modules)."""
    text = "".join(
        (ROOT / "billsync" / name).read_text() for name in ("metrics.py", "metrics_collectors.py")
    )
    names = set(re.findall(r'"(billsync_[a-z0-9_]+)"', text))
    names |= {f"billsync_ingest_{n}" for n in re.findall(r'"([a-z_]+)":', _ingest_counters())}
    return names | {"billsync_build_info"}


def _ingest_counters() -> str:
    return (ROOT / "workers" / "ingest" / "counters.py").read_text()


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _expressions() -> list[str]:
    return [t["expr"] for p in DASHBOARD["panels"] for t in p["targets"]]


def test_alert_rules_pass_promtool_check_and_unit_tests() -> None:
    checked = promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(PROMETHEUS / "alerts.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    config = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_alert_has_a_unit_test_and_known_metrics() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    tested = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert {r["alert"] for r in rules} == tested
    exported = _exported_names()
    for rule in rules:
        assert rule["annotations"]["runbook"].startswith("docs/operations.md#")
        for name in METRIC.findall(rule["expr"]):
            assert _base(name) in exported, (rule["alert"], name)


def test_dashboard_structure() -> None:
    assert DASHBOARD["uid"] and DASHBOARD["title"] and DASHBOARD["schemaVersion"] >= 36
    panels = DASHBOARD["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
        assert panel["datasource"]["uid"] == "prometheus"
        assert panel["targets"] and all(t["refId"] and t["expr"] for t in panel["targets"])
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("queue lag", "state", "failure", "push latency", "api errors", "salesforce api"):
        assert topic in titles, topic


def test_dashboard_queries_are_valid_promql_on_exported_metrics(tmp_path: Path) -> None:
    exported = _exported_names()
    for expr in _expressions():
        for name in METRIC.findall(expr):
            assert _base(name) in exported, (expr, name)
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": expr}
                    for i, expr in enumerate(_expressions())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dashboard_is_provisioned_from_compose() -> None:
    datasource = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["uid"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "billsync.yml").read_text()
    )["providers"][0]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    mounts = dict(m.rsplit(":", 1)[0].split(":", 1) for m in compose["volumes"] if "./" in m)
    assert mounts["./ops/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./ops/grafana/provisioning"] == "/etc/grafana/provisioning"
