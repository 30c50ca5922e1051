"""15- and 18-character ids of one record are one entity wherever they enter (issue 10, build 5):
messages, id-valued fields, CDC record ids, platform events, and what LogiSense ends with."""

from __future__ import annotations

from typing import Any

import pytest

from billsync.errors import InvalidMessage
from billsync.messages import change, parse_payload, push_request
from billsync.sfid import canonical
from tests.conftest import wait_until
from tests.core.helpers import Store
from tests.factories import account
from workers.ingest.events import interpret

MIXED = "001Ab00000Xy7aQ"  # upper and lower case: a suffix other than AAA


def test_messages_keep_the_18_character_form() -> None:
    full = canonical(MIXED)
    assert full != MIXED + "AAA"
    message = change("Contact", MIXED.replace("001", "003"), {"AccountId": MIXED, "LastName": "X"})
    assert message.record_id == canonical(MIXED.replace("001", "003"))
    assert message.fields["AccountId"] == full
    assert push_request("006Ab00000Xy7aQ").record_id == canonical("006Ab00000Xy7aQ")
    # case matters: a different record, a different 18-character id
    assert change("Account", MIXED.lower(), {}).record_id != change("Account", MIXED, {}).record_id
    with pytest.raises(InvalidMessage):
        change("Account", MIXED + "AAA", {})  # a suffix that does not belong to the id


def test_cdc_and_platform_events_are_normalised() -> None:
    event = {
        "ChangeEventHeader": {
            "entityName": "Account",
            "changeType": "UPDATE",
            "recordIds": [MIXED, canonical(MIXED).lower()[:15] + "zzz"],
            "commitTimestamp": 1_700_000_000_000,
            "changedFields": ["Name"],
        },
        "Name": "Renamed",
    }
    meaning = interpret("/data/AccountChangeEvent", 5, event, call_client="billsync", received_ms=0)
    assert [m.record_id for m in meaning.messages] == [canonical(MIXED)]  # the bad one dropped
    push = interpret(
        "/event/LogiSense_Sync_Request__e",
        6,
        {"Record_Id__c": "006Ab00000Xy7aQ", "CreatedDate": "2026-12-01T10:00:00.000Z"},
        call_client="billsync",
        received_ms=0,
    )
    assert push.messages[0].record_id == canonical("006Ab00000Xy7aQ")


def test_both_forms_make_one_logisense_account(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    run_worker()
    full = account(7)
    short = full.model_copy(update={"record_id": full.record_id[:15]})
    as_json = short.model_dump(by_alias=True)
    publish([parse_payload(as_json), full])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([full.record_id], ("pushed",)), what="pushed")
    sfdcids = [r["sfdcid"] for r in logisense.state.account_views() if r.get("sfdcid")]
    assert sfdcids == [full.record_id]
    assert list(store.states("Account")) == [full.record_id]
