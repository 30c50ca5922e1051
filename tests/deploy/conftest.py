"""Fixtures of the deployment tests: both simulators and the settings that point at them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER

SF_CLIENT_ID = "billsync"
SF_CLIENT_SECRET = "doctor-secret"


@pytest.fixture(scope="module")
def sf_sim() -> Iterator[Any]:
    """A Salesforce simulator of this module's own (tests change its CDC selection)."""
    from simulators.salesforce import SalesforceSimulator

    with SalesforceSimulator(client_id=SF_CLIENT_ID, client_secret=SF_CLIENT_SECRET) as sim:
        yield sim


def sf_admin(sim: Any, name: str, body: dict[str, Any]) -> Any:
    """POST one ``/__sim/<name>`` admin route."""
    session = requests.Session()
    session.trust_env = False
    response = session.post(
        f"{sim.base_url}/__sim/{name}", json=body, verify=sim.ca_file, timeout=10
    )
    response.raise_for_status()
    return response.json()


@pytest.fixture
def env(sf_sim: Any, logisense: Any, tmp_path: Path) -> dict[str, str]:
    """BILLSYNC_* for a deployment on both simulators, the embedded broker and a fresh store."""
    from adapters.store.db import migrate

    database = f"sqlite:///{tmp_path / 'billsync.db'}"
    migrate(database)
    sf_admin(sf_sim, "reset", {})
    return {
        "BILLSYNC_SF_INSTANCE_URL": sf_sim.base_url,
        "BILLSYNC_SF_CLIENT_ID": SF_CLIENT_ID,
        "BILLSYNC_SF_CLIENT_SECRET": SF_CLIENT_SECRET,
        "BILLSYNC_SF_CA_BUNDLE": sf_sim.ca_file,
        "BILLSYNC_LS_BASE_URL": logisense.base_url,
        "BILLSYNC_LS_USERNAME": LS_USER,
        "BILLSYNC_LS_PASSWORD": LS_PASSWORD,
        "BILLSYNC_LS_CLIENT_ID": LS_CLIENT,
        "BILLSYNC_DATABASE_URL": database,
        "BILLSYNC_BROKER_URL": "memory://",
        "BILLSYNC_QUEUE_PREFIX": f"doctor-{uuid.uuid4().hex[:8]}",
    }
