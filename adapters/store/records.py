"""Queries and updates on sync records: the one writer of their lifecycle and history
(``apply`` writes what ``statemachine.lifecycle`` decides), their dependency waits and wake-ups.
Leases are in ``adapters.store.leases``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    and_,
    delete,
    event,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from adapters.store.models import ContactLink, DependencyWait, SyncRecord, Transition
from statemachine.lifecycle import KEEP, Change, HistoryRow
from statemachine.machine import ACTIVE_STATES, MACHINE, PENDING, PUSHED

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
    attempt: int | None = None,
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
            "attempt": (record.attempts or 0) if attempt is None else attempt,
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


def record_moves(
    session: Session, record: SyncRecord, rows: Iterable[HistoryRow], *, worker: str, at: float
) -> None:
    """Move ``record`` along ``rows`` (from the lifecycle) and add their history rows."""
    for row in rows:
        record.state = row.to_state
        record_history(
            session,
            record,
            from_state=row.from_state,
            to_state=row.to_state,
            trigger=str(row.trigger),
            reason=row.reason,
            worker=worker,
            at=at,
            attempt=row.attempt,
        )


def apply(
    session: Session,
    record: SyncRecord,
    change: Change,
    *,
    worker: str,
    at: float,
    now: float,
) -> list[Woken]:
    """Write a lifecycle ``Change`` to ``record`` with its history rows, in the caller's
    transaction. ``now`` is the database-clock time due times count from. Returns the entities
    the change woke."""
    record_moves(session, record, change.history, worker=worker, at=at)
    record.state = change.state
    record.attempts = change.attempts
    if change.due_in is not KEEP:
        record.next_attempt_at = None if change.due_in is None else now + float(change.due_in)  # type: ignore[arg-type]
    if change.retry_since is not KEEP:
        record.retry_since = change.retry_since  # type: ignore[assignment]
    if change.last_error is not KEEP:
        record.last_error = change.last_error  # type: ignore[assignment]
    if change.waiting_for is not KEEP:
        if change.waiting_for is None and record.waiting_for is not None:
            set_waits(session, record, [], now=now)
        record.waiting_for = change.waiting_for  # type: ignore[assignment]
    woken = wake_waiters(session, record.sfid, now=now) if change.wake_waiters else []
    if change.release:
        release(record)
    return woken


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


@dataclass(frozen=True)
class NewRecord:
    """An entity seen for the first time. ``search_first``: it was not born while billsync
    watched, so its first write searches LogiSense by sfdcid and adopts what it finds."""

    object: str
    sfid: str
    search_first: bool


def add_records(session: Session, wanted: Sequence[NewRecord]) -> dict[tuple[str, str], SyncRecord]:
    """New ``pending`` records, inserted together (one multi-row INSERT ... RETURNING: the
    records come back persistent in the session, without the unit of work's per-object flush)."""
    rows: list[dict[str, Any]] = [
        {
            "object": new.object,
            "sfid": new.sfid,
            "state": PENDING,
            "values": {},
            "stamps": {},
            "version": 0,
            "pushed_version": 0,
            "attempts": 0,
            "claims": 0,
            "create_attempted_at": 0.0 if new.search_first else None,
        }
        for new in wanted
    ]
    if not rows:
        return {}
    records = session.scalars(insert(SyncRecord).returning(SyncRecord), rows).all()
    return {(record.object, record.sfid): record for record in records}


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


@dataclass(frozen=True)
class Woken:
    """An entity made due because what it waited for is ready (or failed)."""

    record_id: int
    object: str
    sfid: str
    attempts: int


def wake_waiters(session: Session, target_sfid: str, *, now: float) -> list[Woken]:
    """Make every entity that waits for ``target_sfid`` due now; returns them."""
    connection = session.connection()
    waiting = list(
        connection.execute(
            select(SyncRecord.id, SyncRecord.object, SyncRecord.sfid, SyncRecord.attempts)
            .join(DependencyWait, DependencyWait.record_id == SyncRecord.id)
            .where(DependencyWait.target_sfid == target_sfid, SyncRecord.state.in_(ACTIVE_STATES))
        )
    )
    if not waiting:
        return []
    connection.execute(
        update(SyncRecord)
        .where(SyncRecord.id.in_([row[0] for row in waiting]))
        .values(next_attempt_at=now)
    )
    return [Woken(int(r[0]), str(r[1]), str(r[2]), int(r[3] or 0)) for r in waiting]


def wake_waiters_of(session: Session, target_sfids: Sequence[str], *, now: float) -> list[Woken]:
    """``wake_waiters`` for many targets at once (one read, one update)."""
    targets = sorted(set(target_sfids))
    if not targets:
        return []
    connection = session.connection()
    waiting = list(
        connection.execute(
            select(SyncRecord.id, SyncRecord.object, SyncRecord.sfid, SyncRecord.attempts)
            .join(DependencyWait, DependencyWait.record_id == SyncRecord.id)
            .where(DependencyWait.target_sfid.in_(targets), SyncRecord.state.in_(ACTIVE_STATES))
            .distinct()
        )
    )
    if not waiting:
        return []
    connection.execute(
        update(SyncRecord)
        .where(SyncRecord.id.in_(sorted({int(row[0]) for row in waiting})))
        .values(next_attempt_at=now)
    )
    return [Woken(int(r[0]), str(r[1]), str(r[2]), int(r[3] or 0)) for r in waiting]


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


def contacts_of_accounts(
    session: Session, account_sfids: Sequence[str]
) -> dict[str, dict[str, SyncRecord]]:
    """``contacts_of`` for many accounts in one query: account id -> contact id -> record."""
    found: dict[str, dict[str, SyncRecord]] = {sfid: {} for sfid in account_sfids}
    if not account_sfids:
        return found
    with session.no_autoflush:
        rows = session.execute(
            select(ContactLink.account_sfid, SyncRecord)
            .join(SyncRecord, SyncRecord.sfid == ContactLink.contact_sfid)
            .where(
                ContactLink.account_sfid.in_(sorted(set(account_sfids))),
                ContactLink.active.is_(True),
                SyncRecord.object == "Contact",
            )
        ).all()
    for account_sfid, contact in rows:
        found[str(account_sfid)][contact.sfid] = contact
    return found
