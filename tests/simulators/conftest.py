"""Shared fixtures of the simulator tests (``sf_`` for Salesforce)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from simple_salesforce import Salesforce

from simulators.salesforce import SalesforceSimulator

SF_CLIENT_ID = "billsync"
SF_CLIENT_SECRET = "s3cret"


def sf_http_session(sim: SalesforceSimulator) -> requests.Session:
    """A requests session that trusts the simulator's CA, whatever REQUESTS_CA_BUNDLE says."""
    session = requests.Session()
    session.verify = sim.ca_file
    session.trust_env = False
    return session


def sf_login(sim: SalesforceSimulator, session: requests.Session) -> dict[str, str]:
    """The token endpoint's answer for the client-credentials grant."""
    response = session.post(
        f"{sim.base_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": SF_CLIENT_ID,
            "client_secret": SF_CLIENT_SECRET,
        },
    )
    response.raise_for_status()
    token: dict[str, str] = response.json()
    return token


@pytest.fixture(scope="module")
def sf_sim_shared() -> Iterator[SalesforceSimulator]:
    """One simulator per test module, with a short long-poll timeout."""
    with SalesforceSimulator(
        client_id=SF_CLIENT_ID, client_secret=SF_CLIENT_SECRET, longpoll_timeout_s=2.0
    ) as sim:
        yield sim


@pytest.fixture
def sf_sim(sf_sim_shared: SalesforceSimulator) -> SalesforceSimulator:
    """The module's simulator, reset to the seeded org (data, events, faults, clients)."""
    with sf_http_session(sf_sim_shared) as session:
        session.post(f"{sf_sim_shared.base_url}/__sim/reset").raise_for_status()
    return sf_sim_shared


@pytest.fixture
def sf_http(sf_sim: SalesforceSimulator) -> Iterator[requests.Session]:
    """A requests session trusting the simulator."""
    with sf_http_session(sf_sim) as session:
        yield session


@pytest.fixture
def sf_token(sf_sim: SalesforceSimulator, sf_http: requests.Session) -> dict[str, str]:
    """A fresh access token and instance URL."""
    return sf_login(sf_sim, sf_http)


@pytest.fixture
def sf_client(sf_token: dict[str, str], sf_http: requests.Session) -> Salesforce:
    """simple-salesforce against the simulator, as billsync's adapter builds it."""
    return Salesforce(
        session_id=sf_token["access_token"],
        instance_url=sf_token["instance_url"],
        session=sf_http,
    )
