"""The store-derived figures the metrics export: entities per object and state, due entities
and how long the oldest has waited, and the dead letters kept (read by the one process that
exports them, ``BILLSYNC_STORE_METRICS``); and each worker's own retries and failures from the
history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from adapters.store.models import DeadLetter, SyncRecord, Transition
from statemachine.machine import ACTIVE_STATES, STATES


@dataclass(frozen=True)
class StoreFigures:
    """What the store says at one moment."""

    entities: dict[str, dict[str, int]]
    due: int
    oldest_due_at: float | None
    dead_letters: int


def read_figures(session: Session, now: float) -> StoreFigures:
    """Read every figure in one session (four small aggregate queries)."""
    counts = session.execute(
        select(SyncRecord.object, SyncRecord.state, func.count()).group_by(
            SyncRecord.object, SyncRecord.state
        )
    ).all()
    due = and_(
        SyncRecord.state.in_(ACTIVE_STATES),
        SyncRecord.next_attempt_at.is_not(None),
        SyncRecord.next_attempt_at <= now,
    )
    due_count, oldest = session.execute(
        select(func.count(), func.min(SyncRecord.next_attempt_at)).where(due)
    ).one()
    letters = session.scalar(
        select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
    )
    entities: dict[str, dict[str, int]] = {}
    for object_name, state, count in counts:
        entities.setdefault(object_name, dict.fromkeys(STATES, 0))[state] = int(count)
    return StoreFigures(entities, int(due_count or 0), oldest, int(letters or 0))


def last_transition_id(session: Session) -> int:
    """The newest history row's id (0 when there is none)."""
    return int(session.scalar(select(func.max(Transition.id))) or 0)


def transitions_after(
    session: Session, after_id: int, worker: str
) -> list[tuple[int, str, str, str]]:
    """``(id, trigger, to_state, object)`` of the history rows ``worker`` wrote after
    ``after_id``, oldest first: a worker's own retries and failures, read incrementally."""
    rows = session.execute(
        select(Transition.id, Transition.trigger, Transition.to_state, SyncRecord.object)
        .join(SyncRecord, SyncRecord.id == Transition.record_id)
        .where(Transition.id > after_id, Transition.worker == worker)
        .order_by(Transition.id)
    ).all()
    return [(int(i), str(t), str(s), str(o)) for i, t, s, o in rows]
