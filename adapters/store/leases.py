"""Leases on sync records, judged on the database's clock, with a fencing token.

A worker reserves due entities with one conditional UPDATE (``claim``, ``claim_due``,
``claim_ids``), so two workers (threads or machines) never work on the same entity at once, on
SQLite and PostgreSQL alike, without holding row locks during the calls to LogiSense. Every "is
it due" and "has the lease expired" decision compares against the database's clock (``db_now``),
never a worker's wall clock, so a worker whose clock runs ahead cannot take a live lease; each
claim increments ``lease_version``, the fencing token a settle must present (``load_owned``,
``load_claimed``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Float, and_, func, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from adapters.store.models import SyncRecord
from statemachine.machine import ACTIVE_STATES


def db_now(session: Session) -> ColumnElement[float]:
    """The database's clock as seconds since the epoch, as an SQL expression."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", func.clock_timestamp()).cast(Float)
    # SQLite: julianday('now') has millisecond resolution.
    return (func.julianday("now") - literal(2440587.5)) * literal(86400.0)


def db_time(session: Session) -> float:
    """The database's clock now (one round trip)."""
    return float(session.connection().execute(select(db_now(session))).scalar_one())


def clock_reader(sessions: sessionmaker[Session]) -> Callable[[], float]:
    """A function that reads the database's clock. On SQLite the database is a file on this
    machine and its clock is the machine's (reading it through a session could also wait for
    the write lock the caller's own transaction holds)."""
    bind = sessions.kw.get("bind")
    if bind is not None and bind.dialect.name == "sqlite":
        return time.time

    def read() -> float:
        with sessions() as session:
            return db_time(session)

    return read


@dataclass(frozen=True)
class Claim:
    """A lease taken: the entity's object, how often it was claimed without being given back
    (a worker died each time), and the fencing token the settle must present."""

    record_id: int
    object: str
    claims: int
    lease_version: int


def _free_and_due(now: ColumnElement[float]) -> ColumnElement[bool]:
    return and_(
        SyncRecord.state.in_(ACTIVE_STATES),
        SyncRecord.next_attempt_at.is_not(None),
        SyncRecord.next_attempt_at <= now,
        or_(SyncRecord.lease_until.is_(None), SyncRecord.lease_until < now),
    )


_CLAIM_VALUES = {
    "claims": SyncRecord.claims + 1,
    "lease_version": SyncRecord.lease_version + 1,
}
_CLAIM_RETURNS = (SyncRecord.id, SyncRecord.object, SyncRecord.claims, SyncRecord.lease_version)


def claim(session: Session, record_id: int, *, owner: str, lease_s: float) -> Claim | None:
    """Take the lease on a due, active record, or None when someone else holds it or it is not
    due. One statement, no ORM load; the database's clock decides."""
    now = db_now(session)
    row = (
        session.connection()
        .execute(
            update(SyncRecord)
            .where(SyncRecord.id == record_id, _free_and_due(now))
            .values(lease_owner=owner, lease_until=now + lease_s, **_CLAIM_VALUES)
            .returning(*_CLAIM_RETURNS)
        )
        .first()
    )
    return Claim(int(row[0]), str(row[1]), int(row[2]), int(row[3])) if row is not None else None


def claim_due(session: Session, *, owner: str, lease_s: float, limit: int) -> list[Claim]:
    """Take the leases of up to ``limit`` due, free records in one statement, oldest due first
    (PostgreSQL skips rows another transaction is claiming instead of waiting for them)."""
    now = db_now(session)
    due = (
        select(SyncRecord.id)
        .where(_free_and_due(now))
        .order_by(SyncRecord.next_attempt_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # A CTE is evaluated once (PostgreSQL could run a plain IN subquery with LIMIT again).
    chosen = due.cte("chosen")
    rows = session.connection().execute(
        update(SyncRecord)
        .where(SyncRecord.id.in_(select(chosen.c.id)), _free_and_due(now))
        .values(lease_owner=owner, lease_until=now + lease_s, **_CLAIM_VALUES)
        .returning(*_CLAIM_RETURNS)
    )
    return [Claim(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]


def claim_ids(
    session: Session, record_ids: Sequence[int], *, owner: str, lease_s: float
) -> list[Claim]:
    """Take the leases of those of ``record_ids`` that are due and free, in one statement."""
    if not record_ids:
        return []
    now = db_now(session)
    rows = session.connection().execute(
        update(SyncRecord)
        .where(SyncRecord.id.in_(sorted(set(record_ids))), _free_and_due(now))
        .values(lease_owner=owner, lease_until=now + lease_s, **_CLAIM_VALUES)
        .returning(*_CLAIM_RETURNS)
    )
    return [Claim(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]


def load_claimed(session: Session, claims: Sequence[Claim], owner: str) -> dict[int, SyncRecord]:
    """The records of ``claims`` that ``owner`` still holds under those leases, in one read,
    locked in id order (so that two batches never deadlock on each other)."""
    if not claims:
        return {}
    versions = {c.record_id: c.lease_version for c in claims}
    rows = session.scalars(
        select(SyncRecord)
        .where(SyncRecord.id.in_(sorted(versions)))
        .order_by(SyncRecord.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {r.id: r for r in rows if r.lease_owner == owner and r.lease_version == versions[r.id]}


def release_lease(session: Session, record_id: int, owner: str, lease_version: int) -> None:
    """Give back ``owner``'s lease on a record if it still holds it (one statement)."""
    session.connection().execute(
        update(SyncRecord)
        .where(
            SyncRecord.id == record_id,
            SyncRecord.lease_owner == owner,
            SyncRecord.lease_version == lease_version,
        )
        .values(lease_owner=None, lease_until=None, claims=0)
    )


def release_leases(session: Session, claims: Sequence[Claim], owner: str) -> None:
    """``release_lease`` for many claims in one statement: each record whose lease ``owner``
    still holds under that claim's fencing token is given back; the others are left alone."""
    if not claims:
        return
    taken = sorted({(c.record_id, c.lease_version) for c in claims})
    session.connection().execute(
        update(SyncRecord)
        .where(
            tuple_(SyncRecord.id, SyncRecord.lease_version).in_(taken),
            SyncRecord.lease_owner == owner,
        )
        .values(lease_owner=None, lease_until=None, claims=0)
    )


def renew(session: Session, record_ids: list[int], *, owner: str, lease_s: float) -> None:
    """Extend ``owner``'s leases on ``record_ids`` to ``lease_s`` from now (database clock)."""
    held = select(SyncRecord.id).where(
        SyncRecord.id.in_(sorted(record_ids)), SyncRecord.lease_owner == owner
    )
    if session.get_bind().dialect.name == "postgresql":
        # Rows a batch of this worker has locked right now are being worked on: skip them
        # rather than wait (waiting on many rows at once can deadlock with that batch).
        held = held.order_by(SyncRecord.id).with_for_update(skip_locked=True)
    chosen = held.cte("held")
    session.connection().execute(
        update(SyncRecord)
        .where(SyncRecord.id.in_(select(chosen.c.id)))
        .values(lease_until=db_now(session) + lease_s)
    )


def due_ids(session: Session, *, limit: int) -> list[int]:
    """Active records whose next attempt is due and that nobody holds (database clock)."""
    rows = session.scalars(
        select(SyncRecord.id)
        .where(_free_and_due(db_now(session)))
        .order_by(SyncRecord.next_attempt_at)
        .limit(limit)
    )
    return list(rows)


def hasten_retries(session: Session) -> int:
    """Make every scheduled retry due now (an outside system is back); returns how many."""
    now = db_now(session)
    result = session.connection().execute(
        update(SyncRecord)
        .where(
            SyncRecord.state.in_(ACTIVE_STATES),
            SyncRecord.attempts > 0,
            SyncRecord.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def load_owned(
    session: Session, record_id: int, owner: str, lease_version: int | None = None
) -> SyncRecord | None:
    """The record if ``owner`` still holds the lease it took (``lease_version``, the fencing
    token, when given); None when another claim took over."""
    record = session.get(SyncRecord, record_id, populate_existing=True, with_for_update=True)
    if record is None or record.lease_owner != owner:
        return None
    if lease_version is not None and record.lease_version != lease_version:
        return None
    return record
