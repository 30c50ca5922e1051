"""How the ingest reads a cleared field from a CometD change event (no I/O).

Over CometD a cleared field is a ``null`` in the body; ``changedFields`` lists it; there is no
``nulledFields``. The resulting message clears the field in the snapshot under the same
newest-commit-wins rule as any other change.
"""

from __future__ import annotations

from typing import Any

from billsync.messages import ChangeMessage
from statemachine.snapshot import Snapshot, changes_of
from workers.ingest.events import interpret
from workers.sync.intake import stamp_of

ACCOUNT = "001000000000001AAA"
CONTACT = "003000000000001AAA"


def event(entity: str, record: str, change_type: str, body: dict[str, Any], **header: Any) -> Any:
    payload = {
        "ChangeEventHeader": {
            "entityName": entity,
            "recordIds": [record],
            "changeType": change_type,
            "changeOrigin": "com/salesforce/api/rest/59.0",
            "transactionKey": "tx",
            "sequenceNumber": 1,
            "commitTimestamp": header.pop("commit", 1_700_000_000_000),
            "commitNumber": 1,
            "commitUser": "005000000000001AAA",
            **header,
        },
        **body,
    }
    channel = f"/data/{entity}ChangeEvent"
    result = interpret(channel, 10, payload, call_client="billsync", received_ms=0)
    [message] = result.messages
    assert isinstance(message, ChangeMessage)
    return message


def test_a_null_in_an_update_body_clears_the_field() -> None:
    message = event(
        "Account",
        ACCOUNT,
        "UPDATE",
        {"ParentId": None, "Name": "Acme", "LastModifiedDate": "2026-01-01T00:00:00.000Z"},
        changedFields=["ParentId", "Name", "LastModifiedDate"],
    )
    assert message.nulled_fields == ["ParentId"]
    assert message.fields["Name"] == "Acme" and "ParentId" not in message.fields


def test_compound_subfields_set_to_null_are_cleared_by_their_flat_names() -> None:
    message = event(
        "Contact",
        CONTACT,
        "UPDATE",
        {"MailingAddress": {"City": None}, "Name": {"FirstName": None}, "Phone": None},
        changedFields=["MailingAddress.City", "Name.FirstName", "Phone"],
    )
    assert message.nulled_fields == ["FirstName", "MailingCity", "Phone"]


def test_nulls_that_changed_fields_leaves_out_clear_nothing() -> None:
    message = event(
        "Contact",
        CONTACT,
        "UPDATE",
        {"Phone": None, "Email": None, "Title": "CTO"},
        changedFields=["Title"],
    )
    assert message.nulled_fields == []
    assert message.fields == {"Title": "CTO"}


def test_a_listed_nulled_field_is_still_honoured() -> None:
    message = event(
        "Account", ACCOUNT, "UPDATE", {"Type": None}, changedFields=[], nulledFields=["Type"]
    )
    assert message.nulled_fields == ["Type"]


def test_clearing_follows_newest_commit_wins() -> None:
    older = event(
        "Contact", CONTACT, "UPDATE", {"Phone": "+1 555 0100"}, changedFields=["Phone"], commit=1
    )
    cleared = event(
        "Contact", CONTACT, "UPDATE", {"Phone": None}, changedFields=["Phone"], commit=2
    )
    for order in ((older, cleared), (cleared, older)):
        snapshot = Snapshot()
        for message in order:
            fields = changes_of(message.change_type, message.fields, message.nulled_fields)
            snapshot.merge(fields, stamp_of(message))
        assert snapshot.values["Phone"] is None
