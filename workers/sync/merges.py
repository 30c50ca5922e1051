"""Merges in Salesforce, as billsync records them (nothing is deleted in LogiSense).

When Salesforce merges accounts or contacts, every loser is deleted and keeps ``MasterRecordId``,
the winner's id, readable only with ``queryAll``; its change event is a plain DELETE. For each
DELETE of a record billsync knows, ``MergeReader`` reads ``MasterRecordId`` (one batched
``queryAll`` per object, deletes are rare) and adds it to the DELETE message, so that the loser's
snapshot keeps the winner. ``merged`` lists the losers for ``billsync merges``: their LogiSense
records stay, with their billing history, beside the winner's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from adapters.salesforce.reads import query_all
from adapters.salesforce.rest import IDS_PER_QUERY, SalesforceClient, require_id
from adapters.store import record_reads
from adapters.store.db import Sessions
from billsync.messages import ChangeMessage, Message
from billsync.sfid import canonical_or_none
from workers.sync.contact_links import stale_links

log = logging.getLogger("billsync.merges")

MASTER = "MasterRecordId"
MERGEABLE = ("Account", "Contact")


class MergeReader:
    """Adds the winner's id to the DELETE messages of merged losers."""

    def __init__(self, salesforce: SalesforceClient) -> None:
        self.salesforce = salesforce

    def annotate(self, messages: Sequence[Message], known: dict[str, set[str]]) -> list[Message]:
        """``messages`` with ``MasterRecordId`` on the DELETEs of merged, known records."""
        deleted: dict[str, set[str]] = {}
        for m in messages:
            is_delete = isinstance(m, ChangeMessage) and m.change_type == "DELETE"
            if is_delete and m.record_id in known.get(m.object, set()):
                deleted.setdefault(m.object, set()).add(m.record_id)
        if not deleted:
            return list(messages)
        winners: dict[str, str] = {}
        for object_name, ids in deleted.items():
            winners.update(self.masters(object_name, sorted(ids)))
        out: list[Message] = []
        for m in messages:
            winner = winners.get(m.record_id) if isinstance(m, ChangeMessage) else None
            if isinstance(m, ChangeMessage) and m.change_type == "DELETE" and winner:
                m = m.model_copy(update={"fields": {**m.fields, MASTER: winner}})
                log.info("%s %s was merged into %s", m.object, m.record_id, winner)
            out.append(m)
        return out

    def masters(self, object_name: str, ids: list[str]) -> dict[str, str]:
        """Loser id → winner id, for the deleted records among ``ids`` that were merged."""
        found: dict[str, str] = {}
        for start in range(0, len(ids), IDS_PER_QUERY):
            batch = ", ".join(f"'{require_id(i)}'" for i in ids[start : start + IDS_PER_QUERY])
            soql = (
                f"SELECT Id, {MASTER} FROM {object_name} WHERE Id IN ({batch}) AND IsDeleted = true"
            )
            for record in query_all(self.salesforce, soql):
                loser = canonical_or_none(record.get("Id"))
                winner = canonical_or_none(record.get(MASTER))
                if loser and winner:
                    found[loser] = winner
        return found


@dataclass(frozen=True)
class MergedRecord:
    """A merged loser and where its LogiSense record is, beside the winner's."""

    object: str
    loser: str
    loser_logisense_id: int | None
    winner: str
    winner_logisense_id: int | None


@dataclass(frozen=True)
class KeptLink:
    """A contact still linked in LogiSense to an account it no longer relates to."""

    contact: str
    contact_logisense_id: int | None
    accounts: tuple[int, ...]


def merged(sessions: Sessions) -> list[MergedRecord]:
    """Every merged loser billsync knows, with the winner's ids."""
    with sessions() as session:
        rows = record_reads.merged_losers(session, MERGEABLE)
        losers = [r for r in rows if (r.values or {}).get(MASTER)]
        winners = record_reads.logisense_ids(
            session, [str((r.values or {})[MASTER]) for r in losers]
        )
        return [
            MergedRecord(
                r.object,
                r.sfid,
                r.ls_id,
                str(r.values[MASTER]),
                winners.get((r.object, str(r.values[MASTER]))),
            )
            for r in sorted(losers, key=lambda r: (r.object, r.sfid))
        ]


def kept_links(sessions: Sessions) -> list[KeptLink]:
    """Contacts still linked in LogiSense to accounts whose relations all ended (they wait for
    an in-scope account, so they are not pushed, and their old links stay)."""
    out: list[KeptLink] = []
    with sessions() as session:
        rows = record_reads.synced_contacts(session)
        for record in rows:
            stale = stale_links(session, record)
            if stale:
                out.append(KeptLink(record.sfid, record.ls_id, tuple(stale)))
    return out
