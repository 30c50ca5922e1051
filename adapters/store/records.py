"""Queries and updates on sync records that more than one worker module needs.

Leases are taken with one conditional UPDATE, so two workers (threads or machines) never work on
the same entity at once, on SQLite and PostgreSQL alike, without holding row locks during the
calls to LogiSense.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import and_, delete, event, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from adapters.store.models import ContactLink, DependencyWait, SyncRecord, Transition
from statemachine.machine import ACTIVE_STATES, MACHINE, PUSHED

HISTORY_KEY = "billsync.history"


def record_history(
    session: Session,
    record: SyncRecord,
    *,
    from_state: str,
    to_state: str,
    trigger: str,
    reason: str | None,
    worker: str,
    at: float,
) -> None:
    """Add one history row for ``record`` to the caller's transaction. Rows are kept on the
    session and written in one INSERT just before the commit (``write_history``)."""
    if record.id is None:
        session.flush()
    session.info.setdefault(HISTORY_KEY, []).append(
        {
            "record_id": record.id,
            "from_state": from_state,
            "to_state": to_state,
            "trigger": trigger,
            "reason": reason,
            "attempt": record.attempts or 0,
            "at": at,
            "worker": worker,
        }
    )


@event.listens_for(Session, "before_commit")
def write_history(session: Session) -> None:
    """Write the history rows a transaction collected, in one statement, before it commits."""
    rows = session.info.pop(HISTORY_KEY, None)
    if rows:
        session.connection().execute(insert(Transition), rows)


@event.listens_for(Session, "after_rollback")
def _forget_history(session: Session) -> None:
    session.info.pop(HISTORY_KEY, None)


def fire(
    session: Session,
    record: SyncRecord,
    trigger: str,
    *,
    reason: str | None = None,
    worker: str,
    at: float,
) -> None:
    """Move ``record`` through the shared machine and write the history row with it."""
    source, target = MACHINE.fire(record, trigger)
    record_history(
        session,
        record,
        from_state=source,
        to_state=target,
        trigger=trigger,
        reason=reason,
        worker=worker,
        at=at,
    )


def note(
    session: Session, record: SyncRecord, trigger: str, reason: str, *, worker: str, at: float
) -> None:
    """A history row for an event that leaves the state as it is."""
    record_history(
        session,
        record,
        from_state=record.state,
        to_state=record.state,
        trigger=trigger,
        reason=reason,
        worker=worker,
        at=at,
    )


def claim(
    session: Session, record_id: int, *, owner: str, now: float, lease_s: float
) -> tuple[str, int] | None:
    """Take the lease on a due, active record: (object, claims so far), or None when someone
    else holds it or it is not due. One statement, no ORM load."""
    row = (
        session.connection()
        .execute(
            update(SyncRecord)
            .where(
                SyncRecord.id == record_id,
                SyncRecord.state.in_(ACTIVE_STATES),
                SyncRecord.next_attempt_at.is_not(None),
                SyncRecord.next_attempt_at <= now,
                or_(SyncRecord.lease_until.is_(None), SyncRecord.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=now + lease_s, claims=SyncRecord.claims + 1)
            .returning(SyncRecord.object, SyncRecord.claims)
        )
        .first()
    )
    return (str(row[0]), int(row[1])) if row is not None else None


def release_lease(session: Session, record_id: int, owner: str) -> None:
    """Give back ``owner``'s lease on a record if it still holds one (one statement)."""
    session.connection().execute(
        update(SyncRecord)
        .where(SyncRecord.id == record_id, SyncRecord.lease_owner == owner)
        .values(lease_owner=None, lease_until=None, claims=0)
    )


def renew(session: Session, record_ids: list[int], *, owner: str, until: float) -> None:
    """Extend ``owner``'s leases on ``record_ids``."""
    session.execute(
        update(SyncRecord)
        .where(SyncRecord.id.in_(record_ids), SyncRecord.lease_owner == owner)
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )


def due_ids(session: Session, *, now: float, limit: int) -> list[int]:
    """Active records whose next attempt is due and that nobody holds."""
    rows = session.scalars(
        select(SyncRecord.id)
        .where(
            SyncRecord.next_attempt_at.is_not(None),
            SyncRecord.next_attempt_at <= now,
            SyncRecord.state.in_(ACTIVE_STATES),
            or_(SyncRecord.lease_until.is_(None), SyncRecord.lease_until < now),
        )
        .order_by(SyncRecord.next_attempt_at)
        .limit(limit)
    )
    return list(rows)


def load_owned(session: Session, record_id: int, owner: str) -> SyncRecord | None:
    """The record if ``owner`` still holds its lease (else another worker took over)."""
    record = session.get(SyncRecord, record_id, populate_existing=True, with_for_update=True)
    if record is None or record.lease_owner != owner:
        return None
    return record


def release(record: SyncRecord) -> None:
    """Give the lease back; the crash counter restarts."""
    record.lease_owner = None
    record.lease_until = None
    record.claims = 0


def by_sfids(
    session: Session, object_name: str, sfids: Iterable[str], *, lock: bool = False
) -> dict[str, SyncRecord]:
    """Records of one object by Salesforce id; ``lock`` takes their row locks (in id order, so
    that two transactions locking overlapping sets cannot deadlock on each other)."""
    wanted = sorted(set(sfids))
    if not wanted:
        return {}
    query = select(SyncRecord).where(SyncRecord.object == object_name, SyncRecord.sfid.in_(wanted))
    if lock:
        query = query.order_by(SyncRecord.id).with_for_update()
    rows = session.scalars(query.execution_options(populate_existing=True))
    return {r.sfid: r for r in rows}


def set_waits(
    session: Session, record: SyncRecord, waits: Sequence[tuple[str, str]], *, now: float
) -> None:
    """Replace the record's dependency waits with ``waits`` (target id, kind)."""
    connection = session.connection()
    connection.execute(delete(DependencyWait).where(DependencyWait.record_id == record.id))
    rows = [
        {"record_id": record.id, "target_sfid": target, "kind": kind, "since": now}
        for target, kind in dict(waits).items()
    ]
    if rows:
        connection.execute(insert(DependencyWait), rows)


def wake_waiters(session: Session, target_sfid: str, *, now: float) -> int:
    """Make every entity that waits for ``target_sfid`` due now; returns how many."""
    connection = session.connection()
    waiting = list(
        connection.execute(
            select(DependencyWait.record_id).where(DependencyWait.target_sfid == target_sfid)
        ).scalars()
    )
    if not waiting:
        return 0
    result = connection.execute(
        update(SyncRecord)
        .where(SyncRecord.id.in_(waiting), SyncRecord.state.in_(ACTIVE_STATES))
        .values(next_attempt_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def wake_stale_waiters(session: Session, *, now: float, limit: int = 500) -> list[int]:
    """Make due the waiting entities whose target is ready although nobody woke them.

    Waking is normally immediate (``wake_waiters`` in the target's transaction), but a waiter
    that committed its wait while the target was committing can miss it; this repair, run by the
    sweeper every few seconds, closes that gap. It only picks waiters that will make progress:
    an account target that has a LogiSense id, a contact target that is pushed.
    """
    waiter = aliased(SyncRecord)
    target = aliased(SyncRecord)
    ready = or_(
        and_(
            DependencyWait.kind != "contact", target.object == "Account", target.ls_id.is_not(None)
        ),
        and_(DependencyWait.kind == "contact", target.object == "Contact", target.state == PUSHED),
    )
    ids = list(
        session.scalars(
            select(DependencyWait.record_id)
            .join(waiter, waiter.id == DependencyWait.record_id)
            .join(target, target.sfid == DependencyWait.target_sfid)
            .where(ready, waiter.next_attempt_at.is_(None), waiter.state.in_(ACTIVE_STATES))
            .distinct()
            .limit(limit)
        )
    )
    if ids:
        session.connection().execute(
            update(SyncRecord).where(SyncRecord.id.in_(ids)).values(next_attempt_at=now)
        )
    return ids


def linked_accounts(session: Session, contact_sfid: str) -> list[str]:
    """Accounts an active link relates the contact to."""
    rows = session.scalars(
        select(ContactLink.account_sfid).where(
            ContactLink.contact_sfid == contact_sfid, ContactLink.active.is_(True)
        )
    )
    return sorted(set(rows))


def contacts_of(session: Session, account_sfid: str) -> dict[str, SyncRecord]:
    """The Contact records an active link relates to the account, in one query."""
    linked = select(ContactLink.contact_sfid).where(
        ContactLink.account_sfid == account_sfid, ContactLink.active.is_(True)
    )
    with session.no_autoflush:
        rows = session.scalars(
            select(SyncRecord).where(SyncRecord.object == "Contact", SyncRecord.sfid.in_(linked))
        )
        return {r.sfid: r for r in rows}
