"""Fixtures for the opportunity push tests: a Salesforce simulator with the catalog synced, a
rep who creates records through its REST API, and a worker that reads Salesforce."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.catalog.rep import Rep, salesforce_client
from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER, SF_CLIENT, SF_SECRET, salesforce_sim
from workers.catalog.sync import CatalogSync


@pytest.fixture(scope="session")
def sf_sim() -> Iterator[Any]:
    """One HTTPS Salesforce simulator for the session (tests reset it)."""
    with salesforce_sim() as sim:
        yield sim


@pytest.fixture
def rep(sf_sim: Any, logisense: Any) -> Iterator[Rep]:
    """A reset org with the LogiSense catalog synced into it, and a rep working in it."""
    person = Rep(sf_sim)
    person.admin("reset", {})
    from adapters.logisense import LogiSenseClient

    with LogiSenseClient(
        logisense.base_url, username=LS_USER, password=LS_PASSWORD, client_id=LS_CLIENT
    ) as client:
        summary = CatalogSync(client, salesforce_client(sf_sim)).run()
    assert summary.ok, summary.errors
    yield person
    person.http.close()


@pytest.fixture
def sync_worker(run_worker: Callable[..., Any], sf_sim: Any) -> Callable[..., Any]:
    """Start a worker that reads opportunities from the Salesforce simulator."""

    def start(**overrides: Any) -> Any:
        return run_worker(
            sf_instance_url=sf_sim.base_url,
            sf_client_id=SF_CLIENT,
            sf_client_secret=SF_SECRET,
            sf_ca_bundle=sf_sim.ca_file,
            **overrides,
        )

    return start
