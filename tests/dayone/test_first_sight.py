"""Records that existed before billsync: the first partial UPDATE completes them by one read
(issue 10, acceptance 2)."""

from __future__ import annotations

from typing import Any

from adapters.store.db import make_engine, session_factory
from tests.conftest import wait_until
from tests.dayone.conftest import soql_reads
from tests.ingest.conftest import ls_accounts, ls_contacts, new_account, silent_account
from workers.ops import admin

RESOLVED = (
    "currencyId",
    "accountStatusTypeId",
    "billGroupId",
    "accountsReceivableTermsId",
)


def silent(sim: Any, sobject: str, values: dict[str, Any]) -> str:
    """A record written straight into the org (it existed before billsync: no event)."""
    return str(sim.store.insert_raw(sobject, values))


def state_of(backend: Any, sfid: str) -> str | None:
    sessions = session_factory(make_engine(backend.database_url, pool_size=1))
    found = admin.entity_status(sessions, sfid)
    return found[0].state if found else None


def test_existing_records_complete_on_first_change(
    backend: Any, logisense: Any, salesforce: Any, rep: Any, sf_worker: Any, run_ingest: Any
) -> None:
    parent = silent_account(salesforce, "Parent Holdings")
    renamed = silent_account(salesforce, "Old Name Inc", ParentId=parent)
    unticked = silent_account(salesforce, "Not Yet Synced", LogiSense_Sync__c=False)
    employer = silent_account(salesforce, "Employer Ltd")
    person = silent(
        salesforce,
        "Contact",
        {
            "FirstName": "Grace",
            "LastName": "Hopper",
            "Title": "Rear Admiral",
            "Email": "grace@example.com",
            "Phone": "+1 555 0100",
            "AccountId": employer,
            "LogiSense_Sync__c": True,
        },
    )
    sf_worker()
    run_ingest()
    control = new_account(rep, "Control Co")  # created while billsync watches: no read needed
    wait_until(lambda: control[:15] in ls_accounts(logisense), what="the control account")
    reads_before = soql_reads(salesforce)

    # A new account under an account that existed before: the CREATE is whole, its parent not.
    old_parent = silent_account(salesforce, "Old Group")
    branch = new_account(rep, "New Branch", ParentId=old_parent)
    rep.Account.update(renamed, {"Name": "New Name Inc"})
    rep.Account.update(unticked, {"LogiSense_Sync__c": True})
    rep.Contact.update(person, {"Title": "Commodore"})

    entities = (parent, renamed, unticked, employer, person, old_parent, branch)
    wait_until(
        lambda: all(state_of(backend, sfid) == "pushed" for sfid in entities),
        timeout=60,
        what="every record pushed",
    )
    first_seen_reads = soql_reads(salesforce) - reads_before
    assert 1 <= first_seen_reads <= len(entities) - 1  # the branch was seen whole

    accounts = ls_accounts(logisense)
    assert accounts[renamed[:15]]["name"] == "New Name Inc"
    assert accounts[renamed[:15]]["parentAccountId"] == accounts[parent[:15]]["identity"]
    assert accounts[unticked[:15]]["name"] == "Not Yet Synced"
    assert accounts[branch[:15]]["parentAccountId"] == accounts[old_parent[:15]]["identity"]
    for sfid in (parent, renamed, unticked, employer):
        for name in RESOLVED:
            assert accounts[sfid[:15]][name] == accounts[control[:15]][name], (sfid, name)
    contact = ls_contacts(logisense)[person[:15]]
    assert (contact["firstName"], contact["lastName"], contact["title"]) == (
        "Grace",
        "Hopper",
        "Commodore",
    )
    assert (contact["email"], contact["phone"]) == ("grace@example.com", "+1 555 0100")

    # Complete records cost no read.
    reads_after = soql_reads(salesforce)
    rep.Account.update(renamed, {"Name": "Newer Name Inc"})
    wait_until(
        lambda: ls_accounts(logisense)[renamed[:15]]["name"] == "Newer Name Inc",
        what="the second rename",
    )
    assert soql_reads(salesforce) == reads_after
