"""What operators ask of the store: an entity's status and history, the failed ones, retries."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.store import records as store
from adapters.store.models import SyncRecord, Transition
from statemachine.machine import FAILED, STATES

OPERATOR = "operator"


@dataclass(frozen=True)
class HistoryRow:
    """One line of an entity's history."""

    at: float
    from_state: str
    to_state: str
    trigger: str
    reason: str | None
    attempt: int
    worker: str


@dataclass(frozen=True)
class EntityStatus:
    """Everything ``billsync status`` shows about one entity."""

    object: str
    sfid: str
    state: str
    in_scope: bool
    logisense_id: int | None
    attempts: int
    next_attempt_at: float | None
    waiting_for: str | None
    last_error: str | None
    snapshot: dict[str, Any]
    written: dict[str, Any] | None
    history: list[HistoryRow]

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return asdict(self)


def entity_status(sessions: sessionmaker[Session], sfid: str) -> list[EntityStatus]:
    """The entity (or entities: ids are unique per object) with this Salesforce id."""
    with sessions() as session:
        records = session.scalars(select(SyncRecord).where(SyncRecord.sfid == sfid)).all()
        return [_status(session, r) for r in records]


def _status(session: Session, record: SyncRecord) -> EntityStatus:
    rows = session.scalars(
        select(Transition).where(Transition.record_id == record.id).order_by(Transition.id)
    )
    return EntityStatus(
        object=record.object,
        sfid=record.sfid,
        state=record.state,
        in_scope=bool(record.in_scope),
        logisense_id=record.ls_id,
        attempts=record.attempts or 0,
        next_attempt_at=record.next_attempt_at,
        waiting_for=record.waiting_for,
        last_error=record.last_error,
        snapshot={k: v for k, v in (record.values or {}).items() if not k.startswith("__")},
        written=(record.detail or {}).get("written"),
        history=[
            HistoryRow(r.at, r.from_state, r.to_state, r.trigger, r.reason, r.attempt, r.worker)
            for r in rows
        ],
    )


def failed_entities(sessions: sessionmaker[Session], *, limit: int = 500) -> list[SyncRecord]:
    """Entities in ``failed``, most recent first."""
    with sessions() as session:
        return list(
            session.scalars(
                select(SyncRecord)
                .where(SyncRecord.state == FAILED)
                .order_by(SyncRecord.updated_at.desc(), SyncRecord.id.desc())
                .limit(limit)
            )
        )


def retry(sessions: sessionmaker[Session], sfids: list[str] | None) -> int:
    """failed -> pending for the given entities (all failed ones when ``sfids`` is None)."""
    now = time.time()
    with sessions.begin() as session:
        query = select(SyncRecord).where(SyncRecord.state == FAILED)
        if sfids is not None:
            query = query.where(SyncRecord.sfid.in_(sfids))
        records = list(session.scalars(query))
        for record in records:
            store.fire(
                session, record, "retry", reason="retried by an operator", worker=OPERATOR, at=now
            )
            record.attempts = 0
            record.claims = 0
            record.next_attempt_at = now
        return len(records)


def state_counts(sessions: sessionmaker[Session]) -> dict[str, dict[str, int]]:
    """Entities per object and state."""
    counts: dict[str, dict[str, int]] = {}
    with sessions() as session:
        rows = session.execute(
            select(SyncRecord.object, SyncRecord.state, func.count()).group_by(
                SyncRecord.object, SyncRecord.state
            )
        )
        for object_name, state, count in rows:
            counts.setdefault(object_name, dict.fromkeys(STATES, 0))[state] = int(count)
    return counts
