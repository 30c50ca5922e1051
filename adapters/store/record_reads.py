"""Read-only lookups of sync records by Salesforce id and object: which are known, what they
hold, their history, and the batches the drift check and the operator views walk through.
Writes are in ``adapters.store.records``."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adapters.store.models import SyncRecord, Transition


def with_sfid(session: Session, sfid: str) -> list[SyncRecord]:
    """Every record with this Salesforce id (ids are unique per object)."""
    return list(session.scalars(select(SyncRecord).where(SyncRecord.sfid == sfid)))


def history_of(session: Session, record_id: int) -> list[Transition]:
    """The record's history rows, oldest first."""
    return list(
        session.scalars(
            select(Transition).where(Transition.record_id == record_id).order_by(Transition.id)
        )
    )


def known_sfids(session: Session, object_name: str, sfids: Iterable[str]) -> set[str]:
    """Which of ``sfids`` have a record of ``object_name``."""
    wanted = sorted(set(sfids))
    if not wanted:
        return set()
    return set(
        session.scalars(
            select(SyncRecord.sfid).where(
                SyncRecord.object == object_name, SyncRecord.sfid.in_(wanted)
            )
        )
    )


def all_sfids(session: Session, object_name: str) -> set[str]:
    """The Salesforce id of every record of ``object_name``."""
    return set(session.scalars(select(SyncRecord.sfid).where(SyncRecord.object == object_name)))


def values_of(
    session: Session, object_name: str, sfids: Collection[str]
) -> dict[str, dict[str, Any]]:
    """The stored snapshot of each known record of ``object_name`` among ``sfids``."""
    if not sfids:
        return {}
    rows = session.execute(
        select(SyncRecord.sfid, SyncRecord.values).where(
            SyncRecord.object == object_name, SyncRecord.sfid.in_(sorted(sfids))
        )
    )
    return {str(row[0]): row[1] or {} for row in rows}


def detached(session: Session, object_name: str, sfids: Collection[str]) -> dict[str, SyncRecord]:
    """Records of ``object_name`` among ``sfids``, detached from the session (read after it
    closes)."""
    rows = list(
        session.scalars(
            select(SyncRecord).where(
                SyncRecord.object == object_name, SyncRecord.sfid.in_(sorted(set(sfids)))
            )
        )
    )
    session.expunge_all()
    return {r.sfid: r for r in rows}


def every_record(session: Session) -> list[SyncRecord]:
    """Every sync record (the demo's small store)."""
    return list(session.scalars(select(SyncRecord)))


def any_seen(session: Session) -> bool:
    """Whether the store holds any sync record."""
    return session.scalar(select(SyncRecord.id).limit(1)) is not None


def count_synced(session: Session, object_name: str) -> int:
    """Records of ``object_name`` that have a LogiSense id."""
    return int(
        session.scalar(
            select(func.count()).where(
                SyncRecord.object == object_name, SyncRecord.ls_id.is_not(None)
            )
        )
        or 0
    )


def synced_after(session: Session, object_name: str, after_id: int, limit: int) -> list[SyncRecord]:
    """The next ``limit`` records of ``object_name`` with a LogiSense id, by id after
    ``after_id`` (a keyset page)."""
    return list(
        session.scalars(
            select(SyncRecord)
            .where(
                SyncRecord.object == object_name,
                SyncRecord.ls_id.is_not(None),
                SyncRecord.id > after_id,
            )
            .order_by(SyncRecord.id)
            .limit(limit)
        )
    )


def merged_losers(session: Session, objects: Collection[str]) -> list[SyncRecord]:
    """Out-of-scope records of ``objects`` (merge losers are among them)."""
    return list(
        session.scalars(
            select(SyncRecord).where(SyncRecord.object.in_(objects), SyncRecord.in_scope.is_(False))
        )
    )


def logisense_ids(session: Session, sfids: Collection[str]) -> dict[tuple[str, str], int | None]:
    """(object, Salesforce id) -> LogiSense id of every record with one of ``sfids``."""
    if not sfids:
        return {}
    rows = session.scalars(select(SyncRecord).where(SyncRecord.sfid.in_(sorted(set(sfids)))))
    return {(r.object, r.sfid): r.ls_id for r in rows}


def synced_contacts(session: Session) -> list[SyncRecord]:
    """Contacts that have a LogiSense id."""
    return list(
        session.scalars(
            select(SyncRecord).where(SyncRecord.object == "Contact", SyncRecord.ls_id.is_not(None))
        )
    )


def account_logisense_ids(session: Session, account_sfids: Collection[str]) -> set[int]:
    """LogiSense ids of the synced accounts among ``account_sfids``."""
    if not account_sfids:
        return set()
    ids = session.scalars(
        select(SyncRecord.ls_id).where(
            SyncRecord.object == "Account",
            SyncRecord.sfid.in_(sorted(set(account_sfids))),
            SyncRecord.ls_id.is_not(None),
        )
    )
    return {int(i) for i in ids if i is not None}
