"""``billsync sim salesforce|logisense`` as real processes: they print their URL, serve the
credentials they were given, and exit 0 on SIGTERM; the Salesforce certificate covers the names
clients use."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from simulators.salesforce import SalesforceSimulator

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m billsync sim ...``; the process and the base URL it printed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "billsync", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=START_TIMEOUT_S):
            process.kill()
            pytest.fail(f"no URL printed within {START_TIMEOUT_S} s: {process.communicate()}")
    line = process.stdout.readline().strip()
    if not line.startswith(("http://", "https://")):
        process.kill()
        pytest.fail(f"expected a URL line, got {line!r}: {process.communicate()}")
    return process, line


def stop_cli(process: subprocess.Popen[str]) -> int:
    """SIGTERM, then the exit code (the process must end within a few seconds)."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A requests session that ignores REQUESTS_CA_BUNDLE (each test sets ``verify``)."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.mark.parametrize(
    "bind",
    [[], ["--host", "0.0.0.0", "--tls-name", "localhost"]],
    ids=["default-host", "all-interfaces"],
)
def test_salesforce_cli_serves_its_credentials_and_stops_on_sigterm(
    tmp_path: Path, http: requests.Session, bind: list[str]
) -> None:
    ca_file = tmp_path / "ca.pem"
    process, url = start_cli(
        "salesforce",
        "--port",
        "0",
        "--ca-file",
        str(ca_file),
        "--client-id",
        "X",
        "--client-secret",
        "Y",
        "--username",
        "ops@example.com",
        "--password",
        "Secret1",
        "--security-token",
        "TKN",
        *bind,
    )
    try:
        assert url.startswith("https://127.0.0.1:" if not bind else "https://localhost:")
        http.verify = str(ca_file)
        token_url = f"{url}/services/oauth2/token"
        refused = http.post(
            token_url,
            data={"grant_type": "client_credentials", "client_id": "X", "client_secret": "no"},
        )
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_client"
        token = http.post(
            token_url,
            data={"grant_type": "client_credentials", "client_id": "X", "client_secret": "Y"},
        )
        assert token.status_code == 200
        assert token.json()["instance_url"] == url
        user = {"grant_type": "password", "client_id": "X", "client_secret": "Y"}
        user["username"] = "ops@example.com"
        assert http.post(token_url, data={**user, "password": "Secret1TKN"}).status_code == 200
        refused = http.post(token_url, data={**user, "password": "Secret1"})
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
        limits = http.get(
            f"{url}/services/data/v59.0/limits",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert limits.status_code == 200
        assert limits.json()["DailyApiRequests"]["Max"] > 0
    finally:
        code = stop_cli(process)
    assert code == 0


def test_logisense_cli_serves_its_credentials_and_stops_on_sigterm(
    http: requests.Session,
) -> None:
    process, url = start_cli(
        "logisense", "--port", "0", "--username", "U", "--password", "P", "--client-id", "C"
    )
    try:
        assert url.startswith("http://127.0.0.1:")
        login_url = f"{url}/AuthorizationServer/api/v1/Access/Login"
        form = {"username": "U", "password": "P", "grant_type": "password", "client_id": "C"}
        assert http.post(login_url, data={**form, "password": "wrong"}).status_code == 401
        login = http.post(login_url, data=form)
        assert login.status_code == 200
        accounts = http.get(
            f"{url}/ResourceServer/api/v7/Account",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
        assert accounts.status_code == 200
        assert accounts.json()["totalCount"] >= 1
    finally:
        code = stop_cli(process)
    assert code == 0


def test_logisense_cli_serves_a_deployments_mapping(http: requests.Session, tmp_path: Any) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[resources]\npackage_frequency = "PackageFrequency"\n')
    process, url = start_cli(
        "logisense",
        "--port",
        "0",
        "--username",
        "U",
        "--password",
        "P",
        "--client-id",
        "C",
        "--mapping",
        str(mapping),
    )
    try:
        form = {"username": "U", "password": "P", "grant_type": "password", "client_id": "C"}
        login = http.post(f"{url}/AuthorizationServer/api/v1/Access/Login", data=form)
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        base = f"{url}/ResourceServer/api/v10"
        assert http.get(f"{base}/PackageFrequency", headers=auth).json()["totalCount"] == 10
        assert http.get(f"{base}/Package/Frequency", headers=auth).status_code == 404
    finally:
        code = stop_cli(process)
    assert code == 0


def _handshake(port: int, ca_file: str, server_name: str) -> None:
    context = ssl.create_default_context(cafile=ca_file)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_name),
    ):
        pass


def test_certificate_covers_the_bind_host_and_the_given_names() -> None:
    with SalesforceSimulator(host="0.0.0.0", tls_names=["salesforce-sim", "sf.internal"]) as sim:
        assert sim.base_url.startswith("https://salesforce-sim:")
        port = int(sim.base_url.rsplit(":", 1)[1])
        for name in ("localhost", "127.0.0.1", "salesforce-sim", "sf.internal"):
            _handshake(port, sim.ca_file, name)
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(port, sim.ca_file, "elsewhere.example")
