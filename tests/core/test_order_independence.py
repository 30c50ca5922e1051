"""Shuffled, duplicated delivery ends in the same LogiSense state as in-order delivery, with no
duplicates (issue 3 acceptance 6). Runs the real worker on the embedded default."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.broker.publisher import publish_messages
from adapters.broker.topology import Topology
from billsync.bootstrap import worker_service
from tests.conftest import Backend, settings_for, wait_until
from tests.core.helpers import Store, ls_accounts, ls_contacts
from tests.factories import account, account_id, contact, contact_id, update

CHANGES = [
    account(1, ts=1000),
    account(2, parent=1, ts=1001),
    contact(1, 2, ts=1002),
    update("Account", account_id(1), ts=1003, Name="Root v2"),
    update("Account", account_id(2), ts=1004, Name="Child v2"),
    update("Contact", contact_id(1), ts=1005, LastName="Smith"),
    update("Account", account_id(1), ts=1006, Name="Root v3"),
    update("Account", account_id(2), ts=1007, LogiSense_Bill_Group__c="Monthly 15th"),
]


def _final_state(logisense: Any) -> tuple[Any, ...]:
    accounts, contacts = ls_accounts(logisense), ls_contacts(logisense)
    by_identity = {a["identity"]: s for s, a in accounts.items()}
    return (
        sorted(
            (s, a["name"], a["billGroupId"], by_identity.get(a.get("parentAccountId")))
            for s, a in accounts.items()
        ),
        sorted(
            (s, c["lastName"], tuple(by_identity[i] for i in c["accountIds"]))
            for s, c in contacts.items()
        ),
    )


def _run(order: list[Any], logisense: Any, tmp: Path) -> tuple[Any, ...]:
    logisense.reset()
    prefix = f"p{uuid.uuid4().hex[:8]}"
    backend = Backend("embedded", f"memory://{prefix}", f"sqlite:///{tmp}/{prefix}.db", prefix)
    service = worker_service(settings_for(backend, logisense))
    service.start()
    try:
        publish_messages(backend.broker_url, Topology(prefix=prefix), order)
        store = Store(backend.database_url)
        wait_until(
            lambda: (
                store.settled([account_id(1), account_id(2), contact_id(1)])
                and _final_state(logisense) == EXPECTED.get("value", _final_state(logisense))
                and store.states()[account_id(1)] == "pushed"
            ),
            timeout=20,
            what="settled",
        )
        return _final_state(logisense)
    finally:
        service.stop(timeout=10)


EXPECTED: dict[str, Any] = {}


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(CHANGES), duplicates=st.lists(st.sampled_from(CHANGES), max_size=6))
def test_shuffled_duplicated_delivery_converges(
    order: list[Any], duplicates: list[Any], logisense_sim: Any, tmp_path: Path
) -> None:
    if "value" not in EXPECTED:
        EXPECTED["value"] = _run(list(CHANGES), logisense_sim, tmp_path)
    shuffled = list(order) + list(duplicates)
    assert _run(shuffled, logisense_sim, tmp_path) == EXPECTED["value"]
    sfdcids = [a["sfdcid"] for a in logisense_sim.state.account_views()]
    assert len([s for s in sfdcids if s]) == len({s for s in sfdcids if s}) == 2
