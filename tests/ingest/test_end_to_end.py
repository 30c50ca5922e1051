"""Records created and changed through the Salesforce REST API reach LogiSense through the
streaming ingest and the workers, with no manual enqueueing (issue 4, acceptance 1)."""

from __future__ import annotations

from typing import Any

from adapters.store.db import make_engine, session_factory
from tests.conftest import wait_until
from tests.ingest.conftest import ls_accounts, ls_contacts, new_account
from workers.ingest.cursors import CursorStore


def test_rest_changes_reach_logisense(
    backend: Any, logisense: Any, salesforce: Any, rep: Any, run_worker: Any, run_ingest: Any
) -> None:
    run_worker()
    ingest = run_ingest()
    parent = new_account(rep, "Parent Co")
    child = new_account(rep, "Child Co", ParentId=parent)
    contact = rep.Contact.create(
        {
            "FirstName": "Ada",
            "LastName": "Byron",
            "AccountId": child,
            "LogiSense_Sync__c": True,
            "MailingCity": "London",
            "MailingCountryCode": "GB",  # a LogiSense address needs its country
        }
    )["id"]
    wait_until(
        lambda: {parent[:15], child[:15]} <= ls_accounts(logisense).keys(),
        what="both accounts in LogiSense",
    )
    rep.Account.update(child, {"Name": "Child Company Ltd"})
    rep.Contact.update(contact, {"LastName": "Lovelace", "Email": "ada@example.com"})

    def synced() -> bool:
        accounts, contacts = ls_accounts(logisense), ls_contacts(logisense)
        person = contacts.get(contact[:15], {})
        return (
            accounts.get(child[:15], {}).get("name") == "Child Company Ltd"
            and person.get("lastName") == "Lovelace"
            and person.get("email") == "ada@example.com"
        )

    wait_until(synced, timeout=30, what="updates in LogiSense")
    held = ls_accounts(logisense)
    assert held[child[:15]]["parentAccountId"] == held[parent[:15]]["identity"]
    assert ls_contacts(logisense)[contact[:15]]["firstName"] == "Ada"
    where = ls_contacts(logisense)[contact[:15]]["address"]  # through CDC's MailingAddress
    assert (where["city"], where["countryId"]) == ("London", 3)
    # Confirms are collected when the stream goes idle (about 0.1 s after the last batch).
    wait_until(
        lambda: ingest.metrics.messages_confirmed == ingest.metrics.messages_published,
        what="every published message confirmed",
    )
    figures = ingest.metrics.as_dict()
    assert figures["messages_confirmed"] == figures["messages_published"] >= 7

    # Once the stream is idle, each channel's stored cursor is its last event: no batch after
    # it was needed to save it.
    cursors = CursorStore(session_factory(make_engine(backend.database_url, pool_size=1)))

    def cursors_at_last_events() -> bool:
        stored = {c: cursor.replay_id for c, cursor in cursors.load_all().items()}
        channels = ("/data/AccountChangeEvent", "/data/ContactChangeEvent")
        last = {c: salesforce.bus.retained(c)[-1]["event"]["replayId"] for c in channels}
        return all(stored.get(c) == last[c] for c in channels)

    wait_until(cursors_at_last_events, what="cursors saved at the last events")
    assert figures["skipped_own_writes"] == 0
