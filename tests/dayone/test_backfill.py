"""``billsync backfill`` over records made before billsync started (issue 10, acceptance 1):
LogiSense ends with every in-scope account (right parents) and every marked contact, nothing
else; an account an earlier tool made is adopted; a second backfill writes nothing."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from billsync import clients
from billsync.cli import app
from tests.conftest import cli_env as operator_env
from tests.conftest import salesforce_env, settings_for, wait_until
from tests.core.helpers import Store
from tests.ingest.conftest import ACCOUNT_FIELDS, ls_accounts, ls_contacts, silent_account


def cli_env(backend: Any, logisense: Any, sim: Any) -> dict[str, str]:
    """What an operator exports before running billsync against these servers."""
    return {**operator_env(backend, logisense), **salesforce_env(sim)}


def contact(sim: Any, last: str, account: str, *, marked: bool) -> str:
    values = {"FirstName": "Pat", "LastName": last, "AccountId": account}
    values["LogiSense_Sync__c"] = marked
    return str(sim.store.insert_raw("Contact", values))


def existing_org(sim: Any) -> dict[str, Any]:
    """An org as billsync finds it on day one."""
    top = silent_account(sim, "Top Holdings")
    middle = silent_account(sim, "Middle Group", ParentId=top)
    leaf = silent_account(sim, "Leaf Shop", ParentId=middle)
    adopted = silent_account(sim, "Legacy Customer")
    outside = silent_account(sim, "Prospect", LogiSense_Sync__c=False)
    marked = contact(sim, "Marked", leaf, marked=True)
    unmarked = contact(sim, "Unmarked", middle, marked=False)
    shared = contact(sim, "Shared", top, marked=True)
    sim.store.insert_raw(
        "AccountContactRelation", {"AccountId": leaf, "ContactId": shared, "IsActive": True}
    )
    sim.store.insert_raw(
        "Opportunity",
        {
            "Name": "Won Deal",
            "AccountId": leaf,
            "StageName": "Closed Won",
            "CloseDate": "2026-11-01",
        },
    )
    return {
        "accounts": {top, middle, leaf, adopted},
        "outside": outside,
        "contacts": {marked, shared},
        "unmarked": unmarked,
        "ids": (top, middle, leaf, adopted),
        "shared": shared,
    }


def made_by_an_earlier_tool(backend: Any, logisense: Any, sfid: str) -> int:
    client = clients.logisense_client(settings_for(backend, logisense))
    reference = client.reference_data()
    created = client.create_account(
        {
            "name": "Legacy Customer (old import)",
            "extensions": {"sfdcid": sfid},
            "currencyId": reference.currencies[ACCOUNT_FIELDS["CurrencyIsoCode"]],
            "accountStatusTypeId": reference.account_statuses["Active"],
            "billGroupId": reference.bill_groups["Monthly 1st"],
            "accountsReceivableTermsId": reference.ar_terms["Net 30"],
        }
    )
    client.close()
    return int(created["identity"])


def settled(store: Store, ids: set[str]) -> bool:
    states = store.states()
    return all(states.get(i) == "pushed" for i in ids)


def test_backfill_loads_the_existing_org_once(
    backend: Any, logisense: Any, salesforce: Any, sf_worker: Any
) -> None:
    org = existing_org(salesforce)
    top, middle, leaf, adopted = org["ids"]
    legacy = made_by_an_earlier_tool(backend, logisense, adopted)
    service = sf_worker()
    env = cli_env(backend, logisense, salesforce)
    runner = CliRunner()

    loaded = runner.invoke(app, ["backfill", "--json"], env=env)
    assert loaded.exit_code == 0, loaded.output
    report = {o["object"]: o for o in json.loads(loaded.stdout)["objects"]}
    assert report["Account"]["published"] == 4
    assert report["Contact"]["published"] == 2
    assert report["Opportunity"]["read"] == 1 and report["Opportunity"]["published"] == 0

    store = Store(backend.database_url)
    wait_until(
        lambda: settled(store, org["accounts"] | org["contacts"]),
        timeout=60,
        what="every in-scope record pushed",
    )
    accounts = ls_accounts(logisense)
    assert set(accounts) == {i[:15] for i in org["accounts"]}  # and not the prospect
    assert accounts[middle[:15]]["parentAccountId"] == accounts[top[:15]]["identity"]
    assert accounts[leaf[:15]]["parentAccountId"] == accounts[middle[:15]]["identity"]
    assert accounts[adopted[:15]]["identity"] == legacy  # adopted, not duplicated
    assert accounts[adopted[:15]]["name"] == "Legacy Customer"
    contacts = ls_contacts(logisense)
    assert set(contacts) == {i[:15] for i in org["contacts"]}  # one each: shared not duplicated
    shared_links = sorted(contacts[org["shared"][:15]]["accountIds"])
    assert shared_links == sorted(accounts[i[:15]]["identity"] for i in (top, leaf))
    with logisense.state.lock:
        assert not [p for p in logisense.state.tables["Account/PricePlan"].values()]

    # A second backfill of the unchanged org writes nothing to LogiSense.
    writes = logisense.stats.writes_total
    backfill_again(runner, env, service, store, org)
    assert logisense.stats.writes_total == writes

    # The org changes once more, without an event (as while billsync was not running): the
    # preview says so, and a third backfill makes that one write.
    with salesforce.store.transaction(emit=False) as tx:
        tx.update("Account", leaf, {"Name": "Leaf Shop & Co"})
    preview = runner.invoke(
        app, ["backfill", "--object", "Account", "--dry-run", "--json"], env=env
    )
    assert preview.exit_code == 0, preview.output
    verdicts = json.loads(preview.stdout)
    assert verdicts["totals"] == {"create": 0, "update": 1, "unchanged": 3, "fail": 0, "skip": 0}
    assert verdicts["notes"][0]["sfid"] == leaf and "Name" in verdicts["notes"][0]["reason"]
    backfill_again(runner, env, service, store, org)
    wait_until(
        lambda: ls_accounts(logisense)[leaf[:15]]["name"] == "Leaf Shop & Co", what="the rename"
    )
    assert logisense.stats.writes_total == writes + 1


def backfill_again(runner: Any, env: dict[str, str], service: Any, store: Store, org: Any) -> None:
    """Run ``billsync backfill`` and wait until the worker merged and settled all of it."""
    consumed = service.consumer.consumed
    again = runner.invoke(app, ["backfill", "--json"], env=env)
    assert again.exit_code == 0, again.output
    published = sum(o["published"] for o in json.loads(again.stdout)["objects"])
    wait_until(
        lambda: service.consumer.consumed >= consumed + published, what="the backfill merged"
    )
    wait_until(lambda: store.settled(list(org["accounts"] | org["contacts"])), what="settled")
