"""A field cleared in Salesforce is cleared in LogiSense (issue 10, acceptance 5).

Over CometD a cleared field arrives as ``null`` in the UPDATE body and the header carries no
``nulledFields`` (Salesforce documents that list for the Pub/Sub API only). The whole path runs:
the simulator's REST write, its change event, ``billsync ingest``, the broker, a worker, and the
LogiSense simulator.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import wait_until
from tests.ingest.conftest import ls_accounts, ls_contacts, new_account
from tests.simulators.bayeux import DOCUMENTED_HEADER, MiniBayeux


def ls_phone(logisense: Any, contact_id: str) -> Any:
    """The phone LogiSense holds for a Salesforce contact (None when it holds none).

    The one place that knows where LogiSense keeps a contact's phone.
    """
    return ls_contacts(logisense).get(contact_id[:15], {}).get("phone")


def ls_parent(logisense: Any, account_id: str) -> Any:
    """The LogiSense id of the parent LogiSense holds for a Salesforce account (None if none)."""
    return ls_accounts(logisense).get(account_id[:15], {}).get("parentAccountId")


def test_cleared_parent_and_phone_are_cleared_in_logisense(
    logisense: Any, salesforce: Any, rep: Any, run_worker: Any, run_ingest: Any
) -> None:
    run_worker()
    run_ingest()
    parent = new_account(rep, "Holding Co")
    child = new_account(rep, "Subsidiary Co", ParentId=parent)
    contact = rep.Contact.create(
        {
            "FirstName": "Grace",
            "LastName": "Hopper",
            "AccountId": child,
            "Phone": "+1 555 0100",
            "LogiSense_Sync__c": True,
        }
    )["id"]

    def linked() -> bool:
        accounts = ls_accounts(logisense)
        return (
            parent[:15] in accounts
            and ls_parent(logisense, child) == accounts[parent[:15]]["identity"]
            and ls_phone(logisense, contact) == "+1 555 0100"
        )

    wait_until(linked, timeout=30, what="the child under its parent and the phone in LogiSense")

    rep.Account.update(child, {"ParentId": None})
    rep.Contact.update(contact, {"Phone": None})
    wait_until(
        lambda: ls_parent(logisense, child) is None and not ls_phone(logisense, contact),
        timeout=30,
        what="the parent and the phone cleared in LogiSense",
    )
    assert ls_accounts(logisense)[child[:15]]["name"] == "Subsidiary Co"
    assert ls_contacts(logisense)[contact[:15]]["lastName"] == "Hopper"


def test_cometd_update_events_have_the_documented_header_and_nulls_in_the_body(
    salesforce: Any, rep: Any
) -> None:
    account = rep.Account.create({"Name": "Raw Co", "Type": "Customer"})["id"]
    rep.Account.update(account, {"Type": None, "Name": "Raw Company"})
    stream = MiniBayeux(salesforce, salesforce.new_session())
    stream.start("/data/AccountChangeEvent", replay=-2)
    create, update = stream.wait_for(2)
    header = update["data"]["payload"]["ChangeEventHeader"]
    assert header["changeType"] == "UPDATE" and header["recordIds"] == [account]
    assert set(header) == DOCUMENTED_HEADER
    assert sorted(header["changedFields"]) == ["LastModifiedDate", "Name", "Type"]
    assert update["data"]["payload"]["Type"] is None
    assert update["data"]["payload"]["Name"] == "Raw Company"
    assert set(create["data"]["payload"]["ChangeEventHeader"]) == DOCUMENTED_HEADER
