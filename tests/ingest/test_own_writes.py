"""billsync's own writes to Salesforce (the catalog mirrors) are not ingested back
(issue 4, acceptance 5): their change events carry billsync's client id in changeOrigin."""

from __future__ import annotations

from typing import Any

from billsync import clients
from tests.conftest import wait_until
from tests.ingest.conftest import ingest_settings, ls_accounts, new_account, rep_api


def test_own_writes_are_skipped(
    backend: Any, logisense: Any, salesforce: Any, run_worker: Any, run_ingest: Any
) -> None:
    run_worker()
    ingest = run_ingest(sf_channels=("/data/ChangeEvents",))
    billsync = clients.salesforce_client(ingest_settings(backend, logisense, salesforce))
    results = billsync.upsert_many(
        "Product2", "LogiSense_Package_Id__c", [{"Name": "Gold", "LogiSense_Package_Id__c": "P-1"}]
    )
    assert results[0]["success"]

    rep = rep_api(salesforce)
    account = new_account(rep, "Original Name")
    wait_until(lambda: account[:15] in ls_accounts(logisense), what="rep's account")
    # The same account changed by a client that calls itself billsync: not ingested.
    rep.session.headers["Sforce-Call-Options"] = "client=billsync"
    rep.Account.update(account, {"Name": "Written By Billsync"})
    rep.session.headers["Sforce-Call-Options"] = "client=someone-else"
    rep.Account.update(account, {"Type": "Customer"})
    wait_until(lambda: ingest.metrics.events_received >= 5, what="all events received")
    wait_until(lambda: ingest.metrics.skipped_own_writes == 2, what="own writes skipped")
    assert ls_accounts(logisense)[account[:15]]["name"] == "Original Name"
