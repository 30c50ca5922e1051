"""Merging records, as Salesforce's ``merge()`` call (SOAP API, Apex ``Database.merge``) does:
``POST /__sim/merge`` ``{"object": "Account"|"Contact", "winner": id, "losers": [id, ...]}``.

The losers' children move to the winner (for accounts: contacts, opportunities and child
accounts; each move is an ordinary UPDATE event), then each loser is deleted with
``MasterRecordId`` set to the winner. As in Salesforce, the change event of a merged loser is a
plain DELETE; ``MasterRecordId`` is read from the deleted record with ``queryAll``.
"""

from __future__ import annotations

from typing import Any

from simulators.salesforce.errors import ApiError
from simulators.salesforce.ids import to_18
from simulators.salesforce.store import OrgStore

MOVED_CHILDREN: dict[str, tuple[tuple[str, str], ...]] = {
    "Account": (("Contact", "AccountId"), ("Opportunity", "AccountId"), ("Account", "ParentId")),
    "Contact": (),
}
MAX_LOSERS = 2


def merge_records(store: OrgStore, body: dict[str, Any]) -> dict[str, Any]:
    """Merge up to two losers into the winner; the losers' ids."""
    sobject = str(body.get("object", ""))
    if sobject not in MOVED_CHILDREN:
        raise ValueError(f"merge is supported for Account and Contact, not {sobject!r}")
    winner = to_18(str(body.get("winner", "")))
    losers = [to_18(str(i)) for i in body.get("losers") or ()]
    if winner is None or not losers or None in losers or len(losers) > MAX_LOSERS:
        raise ValueError("merge needs a winner and one or two loser ids")
    if winner in losers:
        raise ValueError("a record cannot be merged into itself")
    try:
        _merge(store, sobject, winner, [str(i) for i in losers])
    except ApiError as exc:
        raise ValueError(f"{exc.error_code}: {exc.message}") from None
    return {"winner": winner, "losers": losers}


def _merge(store: OrgStore, sobject: str, winner: str, losers: list[str]) -> None:
    with store.transaction() as tx:
        store.read(sobject, winner)
        for loser in losers:
            for child, field in MOVED_CHILDREN[sobject]:
                for row in tx.live_rows(child, field, loser):
                    tx.update(child, row["Id"], {field: winner})
            store.tables[sobject][loser]["MasterRecordId"] = winner
            tx.delete(sobject, loser)
