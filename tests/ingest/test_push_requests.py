"""Opportunity push requests from the platform event, the CLI and the HTTP endpoint: the same
message, accepted for an opportunity whose account is not synced yet (it waits in ``validated``
for that account), and rejected clearly for an unknown or malformed id (issue 4, acceptance 6)."""

from __future__ import annotations

from typing import Any

import requests
from typer.testing import CliRunner

from adapters.broker.topology import Topology
from adapters.logisense import LogiSenseClient
from adapters.store.models import SyncRecord
from billsync import clients
from billsync.cli import app
from billsync.cli.common import NOT_FOUND, USAGE
from tests.catalog.rep import Line, Rep, Service, salesforce_client
from tests.conftest import (
    LS_CLIENT,
    LS_PASSWORD,
    LS_USER,
    SF_CLIENT,
    SF_SECRET,
    backend_env,
    logisense_env,
    salesforce_env,
    wait_until,
)
from tests.core.helpers import Store
from tests.ingest.conftest import PUSH_TOKEN, ingest_settings
from workers.catalog.sync import CatalogSync
from workers.ingest.push import BrokerSender, PushDesk, PushEndpoint, PushServer

UNKNOWN = "006000000000042AAA"


def _record(store: Store, sfid: str) -> SyncRecord | None:
    return store.record(sfid) if sfid in store.states("Opportunity") else None


def _price_plans(logisense: Any) -> list[dict[str, Any]]:
    with logisense.state.lock:
        return [dict(r) for r in logisense.state.tables["Account/PricePlan"].values()]


def test_push_requests_from_event_http_and_cli(
    backend: Any, logisense: Any, salesforce: Any, run_worker: Any, run_ingest: Any
) -> None:
    with LogiSenseClient(
        logisense.base_url, username=LS_USER, password=LS_PASSWORD, client_id=LS_CLIENT
    ) as client:
        catalog = CatalogSync(client, salesforce_client(salesforce)).run()
    assert catalog.ok, catalog.errors
    run_worker(
        sf_instance_url=salesforce.base_url,
        sf_client_id=SF_CLIENT,
        sf_client_secret=SF_SECRET,
        sf_ca_bundle=salesforce.ca_file,
    )
    ingest = run_ingest()
    store = Store(backend.database_url)
    rep = Rep(salesforce)
    account = rep.account("Not Synced Yet")  # LogiSense_Sync__c false: never pushed here
    # A valid won opportunity from the LogiSense price book: only its account keeps it back.
    fiber = Line(1, [Service(1, 70.0, quantity=2.0), Service(3, 0.0, one_time=99.0)])
    opportunity = rep.opportunity(account, [fiber])

    # 1. The platform event a Salesforce button publishes: accepted, and the opportunity waits
    #    in validated for its account.
    rep.create("LogiSense_Sync_Request__e", {"Record_Id__c": opportunity})

    def waiting() -> SyncRecord | None:
        record = _record(store, opportunity)
        return record if record is not None and record.waiting_for else None

    first = wait_until(waiting, timeout=30, what="push request from the platform event waits")
    assert first.push_requested_at
    assert first.state == "validated"
    assert f"waits for account {account}" in (first.waiting_for or "")
    assert ingest.metrics.push_requests == 1

    # 2. The HTTP endpoint for an Apex callout or a Flow.
    settings = ingest_settings(backend, logisense, salesforce)
    sender = BrokerSender(backend.broker_url, Topology(prefix=backend.prefix))
    desk = PushDesk(clients.salesforce_client(settings), sender.send)
    server = PushServer(PushEndpoint(desk, PUSH_TOKEN), port=0)
    base = server.start()
    try:
        auth = {"Authorization": f"Bearer {PUSH_TOKEN}"}
        accepted = requests.post(f"{base}/push/opportunity/{opportunity}", headers=auth, timeout=10)
        assert accepted.status_code == 202
        assert accepted.json()["record_id"] == opportunity and accepted.json()["request_id"]
        unknown = requests.post(f"{base}/push/opportunity/{UNKNOWN}", headers=auth, timeout=10)
        assert unknown.status_code == 404 and UNKNOWN in unknown.json()["error"]
        bad = requests.post(f"{base}/push/opportunity/x'OR'1", headers=auth, timeout=10)
        assert bad.status_code == 400 and "not a Salesforce id" in bad.json()["error"]
        anonymous = requests.post(f"{base}/push/opportunity/{opportunity}", timeout=10)
        assert anonymous.status_code == 401
        wrong = requests.post(
            f"{base}/push/opportunity/{opportunity}",
            timeout=10,
            headers={"Authorization": "Bearer nope"},
        )
        assert wrong.status_code == 401
    finally:
        server.stop()
        sender.close()

    # 3. The command line.
    env = {**backend_env(backend), **salesforce_env(salesforce), **logisense_env(logisense)}
    runner = CliRunner()
    done = runner.invoke(app, ["push", "opportunity", opportunity, "--json"], env=env)
    assert done.exit_code == 0, done.output
    missing = runner.invoke(app, ["push", "opportunity", UNKNOWN], env=env)
    assert missing.exit_code == NOT_FOUND
    assert f"no opportunity {UNKNOWN}" in missing.output
    malformed = runner.invoke(app, ["push", "opportunity", "006;DROP"], env=env)
    assert malformed.exit_code == USAGE

    # Every request was accepted and merged; the opportunity still waits for its account and
    # nothing reached LogiSense.
    def requested_again() -> bool:
        record = _record(store, opportunity)
        return record is not None and (record.push_requested_at or 0) > first.push_requested_at

    wait_until(requested_again, what="HTTP and CLI requests merged")
    final = store.record(opportunity)
    assert final.state == "validated" and final.ls_id is None
    assert f"waits for account {account}" in (final.waiting_for or "")
    assert _price_plans(logisense) == []
