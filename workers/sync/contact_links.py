"""Which LogiSense accounts a contact is linked to, when Salesforce relations end.

A contact is linked to every in-scope account it relates to (its ``AccountId`` and its
AccountContactRelations). When every relation between the contact and an account has ended
(the relation was deleted or made inactive, or the contact moved to another account), the
LogiSense contact is unlinked from that account: LogiSense allows changing ``accountIds``, and the
account, the contact and their billing history all stay. A contact is never left linked to no
account: one with no in-scope relation left is not pushed at all (it waits for an account), so
its old links stay in LogiSense; ``stale_links`` finds them for ``billsync merges``.
"""

from __future__ import annotations

from adapters.store.db import Session
from adapters.store.models import SyncRecord
from adapters.store.relations import ended_account_ids


def linked_account_ids(
    session: Session, contact_sfid: str, synced: set[int], written: set[int]
) -> list[int]:
    """The ``accountIds`` to write: the synced accounts, and the earlier links (ours, or an
    earlier tool's on an adopted contact) minus those whose relations all ended."""
    return sorted(synced | (written - ended_account_ids(session, contact_sfid)))


def stale_links(session: Session, contact: SyncRecord) -> list[int]:
    """LogiSense accounts the contact is still linked to although every relation ended."""
    written = ((contact.detail or {}).get("written") or {}).get("accountIds") or []
    if not written:
        return []
    return sorted(set(written) & ended_account_ids(session, contact.sfid))
