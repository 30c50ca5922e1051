"""``billsync drift`` with Salesforce configured: values are read back from Salesforce, a change
the store missed is reported as ``store-behind``, and ``--fix`` enqueues a snapshot from Salesforce
that a worker writes to LogiSense."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from billsync import messages
from tests.conftest import salesforce_env, salesforce_sim, wait_until
from tests.core.helpers import Store, ls_accounts


@pytest.fixture
def sf_sim() -> Iterator[Any]:
    """A fresh HTTPS Salesforce simulator."""
    with salesforce_sim() as sim:
        yield sim


def _account_values(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "CurrencyIsoCode": "USD",
        "LogiSense_Sync__c": True,
        "LogiSense_Account_Status__c": "Active",
        "LogiSense_Bill_Group__c": "Monthly 1st",
        "LogiSense_AR_Term__c": "Net 30",
    }


def test_missed_salesforce_change_is_reported_and_fixed_from_salesforce(
    backend: Any, logisense: Any, run_worker: Any, publish: Any, cli: Any, sf_sim: Any
) -> None:
    sfid = sf_sim.store.insert_raw("Account", _account_values("Name In Salesforce"))
    row = sf_sim.store.get("Account", sfid)  # made its own invoice recipient, with no event
    row.update(Subscription_Invoice_Recipient__c=sfid, Usage_Invoice_Recipient__c=sfid)
    stale = _account_values("Name Before")
    stale.update(Subscription_Invoice_Recipient__c=sfid, Usage_Invoice_Recipient__c=sfid)
    run_worker()
    publish([messages.change("Account", sfid, stale, change_type="CREATE")])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([sfid], ("pushed",)), what="account pushed")
    sf_env = salesforce_env(sf_sim)

    result = cli("drift", "--json", **sf_env)
    assert result.exit_code == 1, result.stdout
    report = json.loads(result.stdout)
    assert report["source"] == "salesforce"
    kinds = {(d["kind"], d["field"]): d for d in report["differences"]}
    assert set(kinds) == {("store-behind", "Name"), ("field", "name")}
    assert kinds[("field", "name")]["salesforce"] == "Name In Salesforce"
    assert kinds[("field", "name")]["logisense"] == "Name Before"
    assert kinds[("store-behind", "Name")]["written"] == "Name Before"

    fixed = cli("drift", "--json", "--fix", **sf_env)
    assert json.loads(fixed.stdout)["requeued"] == [sfid]
    wait_until(
        lambda: (
            ls_accounts(logisense)[sfid]["name"] == "Name In Salesforce"
            and store.settled([sfid], ("pushed",))
        ),
        what="Salesforce's name in LogiSense",
    )
    assert store.record(sfid).values["Name"] == "Name In Salesforce"
    again = cli("drift", "--json", **sf_env)
    assert again.exit_code == 0, again.stdout
