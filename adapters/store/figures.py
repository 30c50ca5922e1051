"""Read-only figures for metrics and dashboards: counts by state, due work, dead letters, and
this worker's recent history. The metrics collectors call these; they hold no SQL themselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adapters.store.leases import db_now
from adapters.store.models import SyncRecord, Transition
from statemachine.machine import ACTIVE_STATES


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


def states_of(session: Session, object_name: str) -> dict[str, int]:
    """Entities of ``object_name`` per state."""
    rows = session.execute(
        select(SyncRecord.state, func.count())
        .where(SyncRecord.object == object_name)
        .group_by(SyncRecord.state)
    ).all()
    return {str(state): int(count) for state, count in rows}


def states_by_object(session: Session) -> dict[tuple[str, str], int]:
    """Entities per (object, state)."""
    rows = session.execute(
        select(SyncRecord.object, SyncRecord.state, func.count()).group_by(
            SyncRecord.object, SyncRecord.state
        )
    ).all()
    return {(str(obj), str(state)): int(count) for obj, state, count in rows}


def settled_sfids(session: Session, object_name: str = "Account") -> set[str]:
    """Entities in ``pushed`` or ``failed`` with no work left and no lease."""
    rows = session.scalars(
        select(SyncRecord.sfid).where(
            SyncRecord.object == object_name,
            SyncRecord.state.in_(("pushed", "failed")),
            SyncRecord.next_attempt_at.is_(None),
            SyncRecord.lease_owner.is_(None),
        )
    )
    return {str(sfid) for sfid in rows}


def pushed_since(session: Session, since: float) -> int:
    """Entities pushed (and still pushed) by a move at or after ``since``."""
    return int(
        session.scalar(
            select(func.count(func.distinct(SyncRecord.id)))
            .select_from(Transition)
            .join(SyncRecord, SyncRecord.id == Transition.record_id)
            .where(
                Transition.to_state == "pushed",
                Transition.at >= since,
                SyncRecord.state == "pushed",
            )
        )
        or 0
    )


def first_push_after(session: Session, since: float) -> dict[str, float]:
    """Per sfid, the time of its first push at or after ``since``."""
    rows = session.execute(
        select(SyncRecord.sfid, func.min(Transition.at))
        .select_from(Transition)
        .join(SyncRecord, SyncRecord.id == Transition.record_id)
        .where(Transition.to_state == "pushed", Transition.at >= since)
        .group_by(SyncRecord.sfid)
    ).all()
    return {str(sfid): float(at) for sfid, at in rows}


def last_push_at(session: Session, since: float) -> float | None:
    """When the last push at or after ``since`` happened."""
    value = session.scalar(
        select(func.max(Transition.at)).where(
            Transition.to_state == "pushed", Transition.at >= since
        )
    )
    return float(value) if value is not None else None


def pushed_values(session: Session, object_name: str, sfid: str) -> dict[str, Any] | None:
    """The Salesforce values of the mapped fields last written to LogiSense."""
    values = session.scalar(
        select(SyncRecord.pushed_values).where(
            SyncRecord.object == object_name, SyncRecord.sfid == sfid
        )
    )
    return dict(values) if values else None


def failed_entities(session: Session) -> list[tuple[str, str | None]]:
    """(sfid, last error) of every failed entity."""
    rows = session.execute(
        select(SyncRecord.sfid, SyncRecord.last_error).where(SyncRecord.state == "failed")
    ).all()
    return [(str(sfid), error) for sfid, error in rows]
