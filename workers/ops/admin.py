"""What operators ask of the store and do to it: an entity's status and history, listings with
filters, retries in bulk; every action recorded with who did it (``adapters.store.operator_log``).
"""

from __future__ import annotations

import getpass
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from adapters.store import figures, record_reads
from adapters.store import records as store
from adapters.store.db import Session, Sessions
from adapters.store.entity_listing import (
    EntityFilter,
    EntityRow,
    count_entities,
    display_name,
    known_states,
    list_entities,
    matching_records,
)
from adapters.store.models import SyncRecord
from adapters.store.operator_log import ActionRow, actions_on, record_action
from statemachine import lifecycle
from statemachine.machine import FAILED, STATES


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
    name: str | None = None
    actions: list[ActionRow] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return asdict(self)


def entity_status(sessions: Sessions, sfid: str) -> list[EntityStatus]:
    """The entity (or entities: ids are unique per object) with this Salesforce id."""
    with sessions() as session:
        records = record_reads.with_sfid(session, sfid)
        return [_status(session, r) for r in records]


def _status(session: Session, record: SyncRecord) -> EntityStatus:
    rows = record_reads.history_of(session, record.id)
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
        name=display_name(record.values),
        actions=actions_on(session, record.sfid),
    )


def operator_identity() -> str:
    """user@host of whoever runs the command: the "who" of the audit trail."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class Listing:
    """A page of entities and how many match in all."""

    total: int
    rows: list[EntityRow]


def entities(sessions: Sessions, where: EntityFilter, *, limit: int | None) -> Listing:
    """Entities matching ``where``, newest change first, with the true total."""
    with sessions() as session:
        return Listing(count_entities(session, where), list_entities(session, where, limit=limit))


def failed_entities(sessions: Sessions, *, limit: int = 500) -> list[EntityRow]:
    """Entities in ``failed``, most recent first."""
    return entities(sessions, EntityFilter(states=(FAILED,)), limit=limit).rows


@dataclass(frozen=True)
class RetryOutcome:
    """What ``retry`` did (or, with ``dry_run``, would do), and the ids it could not retry with
    their state (``None``: never seen)."""

    retried: list[str]
    refused: dict[str, str | None]
    dry_run: bool


def retry(
    sessions: Sessions,
    where: EntityFilter,
    *,
    dry_run: bool = False,
    actor: str | None = None,
) -> RetryOutcome:
    """failed -> pending for the failed entities matching ``where``; the action is recorded per
    entity with ``actor`` (user@host) in the same transaction."""
    now = time.time()
    where = EntityFilter(
        states=(FAILED,),
        objects=where.objects,
        reason=where.reason,
        since=where.since,
        sfids=where.sfids,
    )
    with sessions.begin() as session:
        records = matching_records(session, where)
        retried = [r.sfid for r in records]
        refused: dict[str, str | None] = {}
        if where.sfids:
            states = known_states(session, list(where.sfids))
            refused = {s: states.get(s) for s in where.sfids if s not in retried}
        if dry_run:
            session.rollback()
            return RetryOutcome(retried, refused, True)
        who = actor or operator_identity()
        for record in records:
            change = lifecycle.retried_by_operator(record, who)
            store.apply(session, record, change, worker=who[:120], at=now, now=now)
        record_action(
            session,
            actor=who,
            action="retry",
            targets=retried,
            at=now,
        )
        return RetryOutcome(retried, refused, False)


def state_counts(sessions: Sessions) -> dict[str, dict[str, int]]:
    """Entities per object and state."""
    counts: dict[str, dict[str, int]] = {}
    with sessions() as session:
        for (object_name, state), count in figures.states_by_object(session).items():
            counts.setdefault(object_name, dict.fromkeys(STATES, 0))[state] = count
    return counts
