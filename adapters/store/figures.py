"""Read-only figures for metrics and dashboards: counts by state, due work, dead letters, and
this worker's recent history. The metrics collectors call these; they hold no SQL themselves."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adapters.store.leases import db_now
from adapters.store.models import DeadLetter, SyncRecord, Transition
from statemachine.machine import ACTIVE_STATES


def entities_by_object_and_state(session: Session) -> list[tuple[str, str, int]]:
    """(object, state, count) for every pair that has entities."""
    rows = session.execute(
        select(SyncRecord.object, SyncRecord.state, func.count()).group_by(
            SyncRecord.object, SyncRecord.state
        )
    ).all()
    return [(str(o), str(s), int(n)) for o, s, n in rows]


@dataclass(frozen=True)
class DueWork:
    """Entities due now, and how long the oldest of them has waited (database clock)."""

    count: int
    oldest_wait_s: float


def due_work(session: Session) -> DueWork:
    """Due entities now, on the database's clock."""
    now = db_now(session)
    count, oldest, at = session.execute(
        select(func.count(), func.min(SyncRecord.next_attempt_at), now).where(
            SyncRecord.state.in_(ACTIVE_STATES),
            SyncRecord.next_attempt_at.is_not(None),
            SyncRecord.next_attempt_at <= now,
        )
    ).one()
    wait = max(0.0, float(at) - float(oldest)) if oldest is not None else 0.0
    return DueWork(int(count or 0), wait)


def dead_letters_stored(session: Session) -> int:
    """Dead letters kept in the store and not replayed."""
    return int(
        session.scalar(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
        )
        or 0
    )


def last_history_id(session: Session) -> int:
    """The newest history row's id (0 when there is none)."""
    return int(session.scalar(select(func.max(Transition.id))) or 0)


def history_since(session: Session, after_id: int, worker: str) -> list[tuple[int, str, str, str]]:
    """(id, trigger, to state, object) of ``worker``'s history rows after ``after_id``."""
    rows = session.execute(
        select(Transition.id, Transition.trigger, Transition.to_state, SyncRecord.object)
        .join(SyncRecord, SyncRecord.id == Transition.record_id)
        .where(Transition.id > after_id, Transition.worker == worker)
        .order_by(Transition.id)
    ).all()
    return [(int(i), str(t), str(s), str(o)) for i, t, s, o in rows]
