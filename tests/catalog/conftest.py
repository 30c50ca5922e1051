"""Fixtures for the catalog sync tests: a Salesforce simulator, billsync's clients for both
simulators, and a rep who reads the org through its REST API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.logisense import LogiSenseClient
from adapters.salesforce.rest import SalesforceClient
from tests.catalog.rep import Rep, salesforce_client
from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER, salesforce_sim


@pytest.fixture(scope="session")
def sf_sim() -> Iterator[Any]:
    """One HTTPS Salesforce simulator for the session (tests reset it)."""
    with salesforce_sim() as sim:
        yield sim


@pytest.fixture
def rep(sf_sim: Any) -> Iterator[Rep]:
    """A reset org (the standard price book only) and a rep reading it."""
    person = Rep(sf_sim)
    person.admin("reset", {})
    yield person
    person.http.close()


@pytest.fixture
def salesforce(sf_sim: Any, rep: Rep) -> SalesforceClient:
    """billsync's Salesforce client for the reset org."""
    return salesforce_client(sf_sim)


@pytest.fixture
def ls_client(logisense: Any) -> Iterator[LogiSenseClient]:
    """billsync's LogiSense client for the reset LogiSense simulator."""
    with LogiSenseClient(
        logisense.base_url, username=LS_USER, password=LS_PASSWORD, client_id=LS_CLIENT
    ) as client:
        yield client
