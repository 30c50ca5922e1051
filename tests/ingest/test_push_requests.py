"""Opportunity push requests from the platform event, the CLI and the HTTP endpoint: the same
message, accepted for an opportunity whose account is not synced yet (it waits), and rejected
clearly for an unknown or malformed id (issue 4, acceptance 6)."""

from __future__ import annotations

from typing import Any

import requests
from sqlalchemy import select
from typer.testing import CliRunner

from adapters.broker.topology import Topology
from adapters.salesforce.rest import SalesforceClient
from adapters.store.db import make_engine, session_factory
from adapters.store.models import SyncRecord
from billsync.cli import app
from billsync.cli.common import NOT_FOUND, USAGE
from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER, SF_CLIENT, SF_SECRET, wait_until
from tests.ingest.conftest import PUSH_TOKEN, ingest_settings, rep_api
from workers.ingest_push import BrokerSender, PushDesk, PushEndpoint, PushServer

UNKNOWN = "006000000000042AAA"


def _opportunity_record(database_url: str, sfid: str) -> SyncRecord | None:
    sessions = session_factory(make_engine(database_url, pool_size=1))
    with sessions() as session:
        found = session.scalars(select(SyncRecord).where(SyncRecord.sfid == sfid)).first()
    return found


def test_push_requests_from_event_http_and_cli(
    backend: Any, logisense: Any, salesforce: Any, run_worker: Any, run_ingest: Any
) -> None:
    run_worker()
    ingest = run_ingest()
    rep = rep_api(salesforce)
    account = rep.Account.create({"Name": "Not Synced Yet", "CurrencyIsoCode": "USD"})["id"]
    opportunity = rep.Opportunity.create(
        {
            "Name": "Big Deal",
            "AccountId": account,
            "StageName": "Closed Won",
            "CloseDate": "2026-01-31",
        }
    )["id"]

    # 1. The platform event a Salesforce button publishes.
    rep.LogiSense_Sync_Request__e.create({"Record_Id__c": opportunity})
    wait_until(
        lambda: _opportunity_record(backend.database_url, opportunity),
        what="push request from the platform event",
    )
    first = _opportunity_record(backend.database_url, opportunity)
    assert first is not None and first.push_requested_at
    assert ingest.metrics.push_requests == 1

    # 2. The HTTP endpoint for an Apex callout or a Flow.
    settings = ingest_settings(backend, logisense, salesforce)
    sender = BrokerSender(backend.broker_url, Topology(prefix=backend.prefix))
    desk = PushDesk(SalesforceClient.from_settings(settings), sender.send)
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
    env = {
        "BILLSYNC_BROKER_URL": backend.broker_url,
        "BILLSYNC_DATABASE_URL": backend.database_url,
        "BILLSYNC_QUEUE_PREFIX": backend.prefix,
        "BILLSYNC_SF_INSTANCE_URL": salesforce.base_url,
        "BILLSYNC_SF_CLIENT_ID": SF_CLIENT,
        "BILLSYNC_SF_CLIENT_SECRET": SF_SECRET,
        "BILLSYNC_SF_CA_BUNDLE": salesforce.ca_file,
        "BILLSYNC_LS_BASE_URL": logisense.base_url,
        "BILLSYNC_LS_USERNAME": LS_USER,
        "BILLSYNC_LS_PASSWORD": LS_PASSWORD,
        "BILLSYNC_LS_CLIENT_ID": LS_CLIENT,
    }
    runner = CliRunner()
    done = runner.invoke(app, ["push", "opportunity", opportunity, "--json"], env=env)
    assert done.exit_code == 0, done.output
    missing = runner.invoke(app, ["push", "opportunity", UNKNOWN], env=env)
    assert missing.exit_code == NOT_FOUND
    assert f"no opportunity {UNKNOWN}" in missing.output
    malformed = runner.invoke(app, ["push", "opportunity", "006;DROP"], env=env)
    assert malformed.exit_code == USAGE

    # Every request was accepted; the opportunity waits for its account and is not pushed.
    def requested_three_times() -> bool:
        record = _opportunity_record(backend.database_url, opportunity)
        return record is not None and record.push_requested_at > first.push_requested_at

    wait_until(requested_three_times, what="HTTP and CLI requests merged")
    final = _opportunity_record(backend.database_url, opportunity)
    assert final is not None and final.state != "pushed" and final.ls_id is None
