"""Fixtures for the ingest tests: a Salesforce simulator with short long polls, a REST client
playing the sales rep, and ``billsync ingest`` run in-process (a thread), as the demo runs it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from tests.conftest import SF_CLIENT, SF_SECRET, Backend, salesforce_sim, settings_for

PUSH_TOKEN = "push-token-for-tests-0123456789"
ACCOUNT_FIELDS = {
    "CurrencyIsoCode": "USD",
    "LogiSense_Sync__c": True,
    "LogiSense_Account_Status__c": "Active",
    "LogiSense_Bill_Group__c": "Monthly 1st",
    "LogiSense_AR_Term__c": "Net 30",
}


@pytest.fixture
def salesforce() -> Iterator[Any]:
    """A fresh Salesforce simulator whose long polls last 2 s."""
    with salesforce_sim() as sim:
        yield sim


def rep_api(sim: Any) -> Salesforce:
    """A simple-salesforce client acting as a sales rep (not billsync: no call client)."""
    http = requests.Session()
    http.verify = sim.ca_file
    http.trust_env = False
    return Salesforce(
        instance_url=sim.base_url, session_id=sim.new_session(), session=http, version="59.0"
    )


@pytest.fixture
def rep(salesforce: Any) -> Salesforce:
    """The sales rep's REST client."""
    return rep_api(salesforce)


def ingest_settings(backend: Backend, logisense: Any, sim: Any, **overrides: Any) -> Any:
    """Settings for ingest and workers against the simulators and the backend."""
    values: dict[str, Any] = {
        "sf_instance_url": sim.base_url,
        "sf_client_id": SF_CLIENT,
        "sf_client_secret": SF_SECRET,
        "sf_ca_bundle": sim.ca_file,
        "push_token": PUSH_TOKEN,
    }
    values.update(overrides)
    return settings_for(backend, logisense, **values)


@pytest.fixture
def run_ingest(backend: Backend, logisense: Any, salesforce: Any) -> Iterator[Callable[..., Any]]:
    """Start a StreamIngest thread (settings overridable); stopped cleanly after the test."""
    from billsync.bootstrap import stream_ingest

    running: list[tuple[Any, threading.Event, threading.Thread]] = []

    def start(**overrides: Any) -> Any:
        settings = ingest_settings(backend, logisense, salesforce, **overrides)
        ingest = stream_ingest(settings, broker_url=backend.broker_url)
        stop = threading.Event()
        thread = threading.Thread(target=ingest.run, args=(stop,), daemon=True)
        thread.start()
        running.append((ingest, stop, thread))
        assert ingest.ready.wait(15), "ingest did not subscribe"
        return ingest

    def stop_all() -> None:
        for _ingest, stop, thread in running:
            stop.set()
            thread.join(timeout=15)
            assert not thread.is_alive(), "ingest did not stop"
        running.clear()

    start.stop_all = stop_all  # type: ignore[attr-defined]
    yield start
    stop_all()


def new_account(api: Salesforce, name: str, **fields: Any) -> str:
    """Create an in-scope account (its own invoice recipient) the way a rep would; its id."""
    record_id = str(api.Account.create({"Name": name, **ACCOUNT_FIELDS, **fields})["id"])
    api.Account.update(
        record_id,
        {"Subscription_Invoice_Recipient__c": record_id, "Usage_Invoice_Recipient__c": record_id},
    )
    return record_id


def ls_accounts(sim: Any) -> dict[str, dict[str, Any]]:
    """LogiSense accounts created by billsync, keyed by 15-character Salesforce id."""
    rows = [r for r in sim.state.account_views() if r.get("sfdcid")]
    return {r["sfdcid"][:15]: r for r in rows}


def ls_contacts(sim: Any) -> dict[str, dict[str, Any]]:
    """LogiSense contacts created by billsync, keyed by 15-character Salesforce id."""
    rows = [r for r in sim.state.contact_views() if r.get("sfdcid")]
    return {r["sfdcid"][:15]: r for r in rows}


def silent_account(sim: Any, name: str, **fields: Any) -> str:
    """Write an in-scope account straight into the org's database: no change event (as a
    direct database change or a lost event would leave it)."""
    with sim.store.transaction(emit=False) as tx:
        record_id = str(tx.insert("Account", {"Name": name, **ACCOUNT_FIELDS, **fields}))
        tx.update(
            "Account",
            record_id,
            {
                "Subscription_Invoice_Recipient__c": record_id,
                "Usage_Invoice_Recipient__c": record_id,
            },
        )
    return record_id
