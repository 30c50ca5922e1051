"""The contract suite: independent Salesforce clients against the Salesforce simulator.

The Node clients (jsforce, the official CometD client) live in ``tests/contract/js`` with a
committed lockfile; ``npm ci`` installs them the first time (when ``node_modules`` is missing).
Without Node or npm the Node tests skip locally and fail under ``CI=true``. The Node clients
trust the simulator's CA through ``NODE_EXTRA_CA_CERTS``.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import pytest
import requests

from simulators.salesforce import SalesforceSimulator
from tests.node_packages import installed

JS_DIR = Path(__file__).parent / "js"
CLIENT_ID, CLIENT_SECRET = "contract-app", "contract-Secret-9021"
USERNAME, PASSWORD, SECURITY_TOKEN = "integration@contract.example", "Pw-5512", "TOKEN77"


@pytest.fixture(scope="session")
def node_clients() -> Path:
    """``tests/contract/js`` with its packages installed (``npm ci`` when missing)."""
    return installed(JS_DIR, "the JavaScript contract clients")


@pytest.fixture(scope="module")
def contract_sim() -> Iterator[SalesforceSimulator]:
    """A simulator with its own Connected App and integration user."""
    with SalesforceSimulator(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        username=USERNAME,
        password=PASSWORD,
        security_token=SECURITY_TOKEN,
        longpoll_timeout_s=2.0,
    ) as sim:
        yield sim


@pytest.fixture
def sim(contract_sim: SalesforceSimulator) -> SalesforceSimulator:
    """The module's simulator, reset to the seeded org."""
    with trusting_session(contract_sim) as http:
        http.post(f"{contract_sim.base_url}/__sim/reset").raise_for_status()
    return contract_sim


def trusting_session(sim: SalesforceSimulator) -> requests.Session:
    """A requests session that trusts the simulator's CA whatever the environment says."""
    session = requests.Session()
    session.verify, session.trust_env = sim.ca_file, False
    return session


def create(sim: SalesforceSimulator, sobject: str, values: dict[str, Any]) -> str:
    """Write a record (or publish a platform event) as a user would, with its change event."""
    with sim.store.transaction() as tx:
        return tx.insert(sobject, values)


def node_env(sim: SalesforceSimulator, **extra: str) -> dict[str, str]:
    """The environment a Node client runs with: the simulator's URL, app, user and CA."""
    return {
        **os.environ,
        "NODE_EXTRA_CA_CERTS": sim.ca_file,
        "NODE_NO_WARNINGS": "1",
        "SF_URL": sim.base_url,
        "SF_CLIENT_ID": CLIENT_ID,
        "SF_CLIENT_SECRET": CLIENT_SECRET,
        "SF_USERNAME": USERNAME,
        "SF_PASSWORD": PASSWORD + SECURITY_TOKEN,
        **extra,
    }


class NodeClient:
    """A running Node script whose JSON-lines output is read as it comes."""

    def __init__(self, script: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["node", str(script)],
            cwd=script.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: Queue[dict[str, Any]] = Queue()
        self.pending: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def next_step(self, step: str, timeout: float = 30.0) -> dict[str, Any]:
        """The first line of ``step`` not taken yet, in output order, waiting for it if needed.

        Lines of other steps stay for later calls (a replayed event may be printed before the
        subscribe confirmation); an ``error`` line fails the test with its message.
        """
        for index, line in enumerate(self.pending):
            if line["step"] == step:
                return self.pending.pop(index)
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except Empty:
                self.stop()
                pytest.fail(
                    f"no {step!r} from {self.process.args} within {timeout} s: {self._err()}"
                )
            if line["step"] == "error":
                self.stop()
                pytest.fail(f"{self.process.args} failed: {line} {self._err()}")
            if line["step"] == step:
                return line
            self.pending.append(line)

    def finish(self, timeout: float = 30.0) -> int:
        """Wait for the script to exit; its exit code."""
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.stop()

    def stop(self) -> None:
        """End the script if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def _err(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read()[-2000:]


@pytest.fixture
def run_node(node_clients: Path) -> Iterator[Any]:
    """Start a Node contract client by script name; every one started is ended afterwards."""
    started: list[NodeClient] = []

    def start(script: str, env: dict[str, str]) -> NodeClient:
        client = NodeClient(node_clients / script, env)
        started.append(client)
        return client

    yield start
    for client in started:
        client.stop()
