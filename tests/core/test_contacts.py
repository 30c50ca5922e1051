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
    with logisense.state.lock:
        assert (
            sum(
                1
                for c in logisense.state.tables["Contact"].values()
                if c.get("sfdcid") == contact_id(1)
            )
            == 1
        )
