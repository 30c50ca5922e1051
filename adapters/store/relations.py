"""Contact links and AccountContactRelations: which contact relates to which account (its own
AccountId and every relation), written by intake and read by the contact push and the drift
check."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.store.models import ContactLink, RelationRecord
from adapters.store.record_reads import account_logisense_ids


def complete(session: Session, sfids: Collection[str]) -> set[str]:
    """Which of the relations ``sfids`` are stored with both their account and contact."""
    if not sfids:
        return set()
    return set(
        session.scalars(
            select(RelationRecord.sfid).where(
                RelationRecord.sfid.in_(sorted(sfids)),
                RelationRecord.account_sfid.is_not(None),
                RelationRecord.contact_sfid.is_not(None),
            )
        )
    )


def relation(session: Session, sfid: str) -> RelationRecord:
    """The stored relation ``sfid``, or a new empty one added to the session."""
    found = session.get(RelationRecord, sfid)
    if found is None:
        found = RelationRecord(sfid=sfid, values={}, stamps={})
        session.add(found)
    return found


def set_link(
    session: Session, contact_sfid: str, account_sfid: str, source: str, *, active: bool, stamp: int
) -> None:
    """Mark the link from ``source`` (a relation id, or ``direct``) active or ended; a new link
    starts with ``stamp``."""
    link = session.get(ContactLink, (contact_sfid, account_sfid, source))
    if link is None:
        session.add(
            ContactLink(
                contact_sfid=contact_sfid,
                account_sfid=account_sfid,
                source=source,
                active=active,
                stamp=stamp,
            )
        )
    else:
        link.active = active


def direct_links(session: Session, contact_sfids: Collection[str]) -> dict[str, list[ContactLink]]:
    """Each contact's links from its own AccountId (active or not), in one query."""
    found: dict[str, list[ContactLink]] = {sfid: [] for sfid in contact_sfids}
    if not contact_sfids:
        return found
    rows = session.scalars(
        select(ContactLink).where(
            ContactLink.contact_sfid.in_(sorted(contact_sfids)), ContactLink.source == "direct"
        )
    )
    for link in rows:
        found[link.contact_sfid].append(link)
    return found


def add_direct_link(session: Session, contact_sfid: str, account_sfid: str, stamp: int) -> None:
    """A new active link from the contact's own AccountId."""
    session.add(
        ContactLink(
            contact_sfid=contact_sfid,
            account_sfid=account_sfid,
            source="direct",
            active=True,
            stamp=stamp,
        )
    )


def active_links(session: Session, contact_sfids: Collection[str]) -> list[tuple[str, str]]:
    """(contact, account) of every active link of ``contact_sfids``."""
    if not contact_sfids:
        return []
    rows = session.execute(
        select(ContactLink.contact_sfid, ContactLink.account_sfid).where(
            ContactLink.contact_sfid.in_(sorted(set(contact_sfids))),
            ContactLink.active.is_(True),
        )
    )
    return [(str(contact), str(account)) for contact, account in rows]


def linked_accounts_of(session: Session, contact_sfids: Collection[str]) -> dict[str, list[str]]:
    """Each contact's accounts by active link (sorted), in one query."""
    found: dict[str, set[str]] = defaultdict(set)
    for contact, account in active_links(session, contact_sfids):
        found[contact].add(account)
    return {sfid: sorted(found.get(sfid, ())) for sfid in contact_sfids}


def ended_account_ids(session: Session, contact_sfid: str) -> set[int]:
    """LogiSense ids of the accounts whose every relation to the contact has ended."""
    rows = session.execute(
        select(ContactLink.account_sfid, ContactLink.active).where(
            ContactLink.contact_sfid == contact_sfid
        )
    ).all()
    active = {account for account, is_active in rows if is_active}
    ended = {account for account, is_active in rows if not is_active} - active
    return account_logisense_ids(session, ended)
