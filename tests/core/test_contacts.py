"""Contacts: pushed with their account, unmarked never, shared once (issue 3 acceptance 4)."""

from __future__ import annotations

from typing import Any

from tests.conftest import wait_until
from tests.core.helpers import Store, ls_accounts, ls_contacts
from tests.factories import account, account_id, contact, contact_id, relation, update


def test_contacts_travel_with_their_accounts(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    run_worker()
    publish(
        [
            contact(1, 50),
            contact(2, 50, sync=False),
            contact(3, 51),
            account(50),
            account(51),
            relation(1, 1, 51),
        ]
    )
    store = Store(backend.database_url)
    wait_until(
        lambda: store.settled([account_id(50), account_id(51), contact_id(1), contact_id(3)]),
        what="settled",
    )
    held, accounts = ls_contacts(logisense), ls_accounts(logisense)
    assert set(held) == {contact_id(1), contact_id(3)}
    shared = held[contact_id(1)]
    assert sorted(shared["accountIds"]) == sorted(
        [accounts[account_id(50)]["identity"], accounts[account_id(51)]["identity"]]
    )
    assert store.states()[account_id(50)] == "pushed"
    account_history = [h.to_state for h in store.history(account_id(50))]
    contact_pushed = [h.at for h in store.history(contact_id(1)) if h.to_state == "pushed"]
    account_pushed = [h.at for h in store.history(account_id(50)) if h.to_state == "pushed"]
    assert "account-synced" in account_history
    assert account_pushed[-1] >= contact_pushed[0]
    publish([update("Contact", contact_id(1), Title="CFO")])
    wait_until(
        lambda: ls_contacts(logisense)[contact_id(1)].get("title") == "CFO", what="contact update"
    )
    assert len([c for c in ls_contacts(logisense) if c == contact_id(1)]) == 1
    assert sum(1 for c in logisense.state.contact_views() if c["sfdcid"] == contact_id(1)) == 1


def test_contact_points_and_address_land_as_documented(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    """Issue 11, acceptance 2: a billing-type contact with e-mail, phone, sfdcid and an address
    whose country and state are LogiSense ids found by ISO code; shared, never duplicated."""
    from simulators.logisense import seed

    run_worker()
    address = {
        "MailingStreet": "1 Infinite Loop",
        "MailingCity": "Cupertino",
        "MailingPostalCode": "95014",
        "MailingCountryCode": "US",
        "MailingStateCode": "CA",
    }
    publish(
        [
            account(60),
            account(61),
            contact(6, 60, Phone="+1 408 555 0100", **address),
            relation(6, 6, 61),
            account(62),
            contact(7, 62, MailingCountryCode="US", MailingStateCode="ZZ"),
            contact(8, 62, MailingCountryCode="XX"),
        ]
    )
    store = Store(backend.database_url)
    ids = [account_id(60), account_id(61), contact_id(6), contact_id(7), contact_id(8)]
    wait_until(lambda: store.settled(ids), what="settled")
    state = logisense.state
    held, accounts = ls_contacts(logisense), ls_accounts(logisense)
    person = held[contact_id(6)]
    billing = state.tables["ContactType"][person["contactTypeId"]]["name"]
    assert billing == "Billing"
    assert (person["email"], person["phone"], person["sfdcid"]) == (
        "pat6@example.com",
        "+1 408 555 0100",
        contact_id(6),
    )
    point_types = {
        state.name_of("contact_point_type", p["contactPointTypeId"])
        for p in person["contactPoints"]
    }
    assert point_types == {"email", "phone", "sfdcid", "address"}
    kinds = state.tables["ContactPointType"]
    assert all(
        kinds[p["contactPointTypeId"]]["contactTypeId"] == person["contactTypeId"]
        for p in person["contactPoints"]
    )
    where = person["address"]
    california = next(
        i for i, s in state.tables["State"].items() if (s["code"], s["countryId"]) == ("CA", 1)
    )
    assert (where["address1"], where["city"], where["zip"]) == (
        "1 Infinite Loop",
        "Cupertino",
        "95014",
    )
    assert (where["countryId"], where["stateId"]) == (1, california)
    assert state.tables["Country"][where["countryId"]]["countryCode"] == "US"
    # shared: one LogiSense contact, linked to both accounts, one sfdcid contact point
    assert person["accountIds"] == [
        accounts[account_id(60)]["identity"],
        accounts[account_id(61)]["identity"],
    ]
    assert sum(1 for c in state.contact_views() if c["sfdcid"] == contact_id(6)) == 1
    assert store.states()[contact_id(7)] == "failed"
    assert "State 'ZZ' of country 'US' is not set up" in (
        store.record(contact_id(7)).last_error or ""
    )
    assert "Country 'XX' is not set up" in (store.record(contact_id(8)).last_error or "")
    assert person["contactTypeId"] == seed.BILLING

    publish([update("Contact", contact_id(6), Phone=None, MailingStateCode="NY")])
    wait_until(
        lambda: (
            ls_contacts(logisense)[contact_id(6)].get("phone") is None
            and ls_contacts(logisense)[contact_id(6)]["address"]["stateId"] != california
        ),
        what="phone cleared, state changed",
    )


def test_a_contact_field_may_choose_the_contact_type(
    backend: Any, logisense: Any, run_worker: Any, publish: Any, tmp_path: Any
) -> None:
    """The official app syncs contact types: a deployment names the Salesforce field that holds
    the type in the mapping file's [salesforce] table; its points are that type's points."""
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[salesforce]\ncontact_type_field = "Department"\n')
    run_worker(ls_mapping_file=str(mapping))
    publish([account(90), contact(9, 90, Department="Shipping"), contact(10, 90)])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([account_id(90), contact_id(9), contact_id(10)]), what="ok")
    state = logisense.state
    held = ls_contacts(logisense)
    shipping = held[contact_id(9)]
    assert state.tables["ContactType"][shipping["contactTypeId"]]["name"] == "Shipping"
    kinds = state.tables["ContactPointType"]
    assert {kinds[p["contactPointTypeId"]]["contactTypeId"] for p in shipping["contactPoints"]} == {
        shipping["contactTypeId"]
    }
    assert state.tables["ContactType"][held[contact_id(10)]["contactTypeId"]]["name"] == "Billing"
