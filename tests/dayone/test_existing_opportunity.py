"""A won opportunity and its account that existed before billsync: a push request alone (no
change event was ever seen for either) reads both and ends with the price plan in LogiSense."""

from __future__ import annotations

from typing import Any

from billsync.messages import push_request
from tests.conftest import wait_until
from tests.core.helpers import Store, ls_accounts
from tests.ingest.conftest import ACCOUNT_FIELDS
from tests.opportunities.conftest import rep, sf_sim, sync_worker  # noqa: F401  (fixtures)
from tests.opportunities.test_push import internet, plans


def test_push_request_for_an_opportunity_billsync_never_saw(
    backend: Any,
    logisense: Any,
    rep: Any,  # noqa: F811
    sync_worker: Any,  # noqa: F811
    publish: Any,
) -> None:
    sync_worker()
    store = Store(backend.database_url)
    account = rep.create("Account", {"Name": "Old Customer", **ACCOUNT_FIELDS})
    rep.update(
        "Account",
        account,
        {"Subscription_Invoice_Recipient__c": account, "Usage_Invoice_Recipient__c": account},
    )
    opp = rep.opportunity(account, [internet()])
    publish([push_request(opp[:15])])  # as copied from a Salesforce URL
    wait_until(lambda: store.settled([opp, account], ("pushed",)), timeout=60, what="pushed")
    plan = plans(logisense)[opp]
    assert plan["accountId"] == ls_accounts(logisense)[account]["identity"]
