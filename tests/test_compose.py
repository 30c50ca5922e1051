"""docker-compose.yml cannot be run here (no Docker engine), so it is checked by parsing: every
service is well formed, depends on healthy stores, and runs a real billsync command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from billsync.cli import app

COMPOSE = yaml.safe_load((Path(__file__).parent.parent / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
BILLSYNC = [name for name, s in SERVICES.items() if "build" in s]


def test_infrastructure_has_health_checks() -> None:
    for name in ("rabbitmq", "postgres"):
        assert "healthcheck" in SERVICES[name], name
    assert "management" in SERVICES["rabbitmq"]["image"]


@pytest.mark.parametrize("name", BILLSYNC)
def test_billsync_services_run_real_commands(name: str) -> None:
    command = SERVICES[name]["command"]
    words = [w for w in command if not w.startswith("-")][:2]
    result = CliRunner().invoke(app, [*words[: 2 if words[0] == "sim" else 1], "--help"])
    assert result.exit_code == 0, (name, result.output)
    options = [w.split("=")[0] for w in command if w.startswith("--")]
    for option in options:
        assert option in result.output, (name, option)


def test_ingest_and_workers_wait_for_healthy_stores() -> None:
    for name in ("ingest", "worker"):
        depends = SERVICES[name]["depends_on"]
        assert depends["rabbitmq"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
        env = SERVICES[name]["environment"]
        assert env["BILLSYNC_BROKER_URL"].startswith("amqp://")
        assert env["BILLSYNC_DATABASE_URL"].startswith("postgresql://")
    assert SERVICES["worker"]["deploy"]["replicas"] >= 2


def test_simulators_are_dev_only_and_reachable_from_other_containers() -> None:
    for name in ("salesforce-sim", "logisense-sim"):
        assert SERVICES[name]["profiles"] == ["dev"]
        assert "0.0.0.0" in SERVICES[name]["command"]
