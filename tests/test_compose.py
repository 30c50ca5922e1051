"""docker-compose.yml, its development override and the Dockerfile cannot be run here (no
Docker engine), so they are checked as files: the compose files against the compose
specification's JSON schema (check-jsonschema's vendored copy, no network), and each rule of
docs/operations.md "Deployment" as a test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from billsync.cli import app
from billsync.config import Settings
from tests.conftest import CI

ROOT = Path(__file__).parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DEV = yaml.safe_load((ROOT / "docker-compose.dev.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
BILLSYNC = [name for name, s in SERVICES.items() if "build" in s]
DEPLOYED = [name for name, s in SERVICES.items() if "dev" not in s.get("profiles", [])]
SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN|SESSION_ID")
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _check_jsonschema() -> str:
    found = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    if Path(found).exists():
        return found
    if CI:
        pytest.fail("check-jsonschema is not installed (it is in the test extra)")
    pytest.skip("check-jsonschema is not installed")


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.dev.yml"])
def test_compose_files_match_the_compose_specification(name: str) -> None:
    done = subprocess.run(
        [_check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(ROOT / name)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_service_has_a_health_check() -> None:
    for name, service in SERVICES.items():
        assert "healthcheck" in service, name
        assert service["healthcheck"]["test"], name
    assert "management" in SERVICES["rabbitmq"]["image"]
    for name in ("ingest", "worker"):
        assert "/readyz" in " ".join(SERVICES[name]["healthcheck"]["test"])


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
    assert SERVICES["worker"]["deploy"]["replicas"] >= 2


def test_store_gauges_are_exported_by_one_process_only() -> None:
    assert SERVICES["ingest"]["environment"]["BILLSYNC_STORE_METRICS"] == "true"
    assert SERVICES["worker"]["environment"]["BILLSYNC_STORE_METRICS"] == "false"


def test_certificates_only_with_the_simulators_in_development() -> None:
    for name in DEPLOYED:
        mounts = " ".join(SERVICES[name].get("volumes", []))
        assert "certs" not in mounts, name
        env = SERVICES[name].get("environment", {})
        assert "/certs" not in str(env.get("BILLSYNC_SF_CA_BUNDLE", "")), name
    for name in ("salesforce-sim", "logisense-sim"):
        assert SERVICES[name]["profiles"] == ["dev"]
        assert "0.0.0.0" in SERVICES[name]["command"]
    assert set(DEV["services"]) == {"ingest", "worker"}
    for service in DEV["services"].values():
        assert service["volumes"] == ["sim-certs:/certs:ro"]
    dev_env = (ROOT / "ops" / "dev.env").read_text()
    assert "BILLSYNC_SF_CA_BUNDLE=/certs/sf-ca.pem" in dev_env  # mounted above, in dev only
    assert "sim-certs:/certs" in " ".join(SERVICES["salesforce-sim"]["volumes"])


def test_no_fixed_password_outside_development() -> None:
    for name in DEPLOYED:
        for key, value in (SERVICES[name].get("environment") or {}).items():
            text = str(value)
            if SECRET_KEY.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*|:-)?\}", text), (name, key, text)
            assert not re.search(r"://[^/${}]*:[^/${}]*@", text), (name, key, text)
    for key, value in COMPOSE["x-billsync-env"].items():
        if SECRET_KEY.search(key) or key.endswith("_URL"):
            assert str(value) in (f"${{{key}:-}}", f"${{{key}}}"), key


def test_prometheus_and_grafana_in_the_ops_profile() -> None:
    for name in ("prometheus", "grafana"):
        assert SERVICES[name]["profiles"] == ["ops"]
        for mount in SERVICES[name]["volumes"]:
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), mount


def _env_name(name: str, field: Any) -> str:
    """The variable a setting is read from: BILLSYNC_<NAME>, or its alias (HTTPS_PROXY...)."""
    alias = field.validation_alias
    if alias is not None:
        return str(alias.choices[0]).upper()
    return f"BILLSYNC_{name.upper()}"


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    wanted = {_env_name(name, field) for name, field in Settings.model_fields.items()}
    listed = set(re.findall(r"^([A-Z0-9_]+)=", text, re.M))
    assert wanted <= listed, sorted(wanted - listed)
    assert {n for n in listed if n.startswith("BILLSYNC_")} <= wanted  # nothing stale
    values = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    for key, value in values.items():
        if SECRET_KEY.search(key):
            assert value == "", key


def test_dockerfile_is_multi_stage_pinned_with_dependencies_before_sources() -> None:
    stages = re.findall(r"^FROM (\S+) AS (\w+)", DOCKERFILE, re.M)
    assert [name for _, name in stages] == ["build", "runtime", "sim"]
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE, re.M)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base[1])
    dependencies = DOCKERFILE.index("pip install -r /tmp/runtime.txt")
    first_source = DOCKERFILE.index("COPY billsync")
    assert dependencies < first_source
    assert DOCKERFILE.index("COPY pyproject.toml") < dependencies
    runtime = DOCKERFILE.split("AS runtime", 1)[1].split("AS sim", 1)[0]
    assert "HEALTHCHECK" in runtime and "USER billsync" in runtime
    assert "[test]" not in DOCKERFILE and "pip install ." not in DOCKERFILE.replace(
        "--no-deps .", ""
    )


def test_runtime_dependencies_leave_out_simulators_bench_and_tests() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    runtime = {re.split(r"[<>=\[ ]", s)[0] for s in project["dependencies"]}
    assert {"werkzeug", "trustme", "lark"} == {re.split(r"[<>=]", s)[0] for s in extras["sim"]}
    assert "psutil" not in runtime and "pytest" not in runtime
    assert "billsync[sim,bench]" in extras["test"]
