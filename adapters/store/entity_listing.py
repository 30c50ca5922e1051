"""The operators' entity listing: entities filtered by state, object, reason and time, with the
true total beside the page shown (a listing silently capped is a lie at 3 a.m.)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from adapters.store.models import SyncRecord


@dataclass(frozen=True)
class EntityFilter:
    """Which entities: every given criterion must hold (``None`` or empty: any)."""

    states: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    reason: str | None = None
    since: dt.datetime | None = None
    sfids: tuple[str, ...] = ()

    def apply(self, query: Select[Any]) -> Select[Any]:
        """``query`` narrowed to this filter."""
        if self.states:
            query = query.where(SyncRecord.state.in_(self.states))
        if self.objects:
            query = query.where(
                func.lower(SyncRecord.object).in_([o.lower() for o in self.objects])
            )
        if self.reason:
            pattern = "%" + _escape_like(self.reason.lower()) + "%"
            query = query.where(func.lower(SyncRecord.last_error).like(pattern, escape="\\"))
        if self.since is not None:
            query = query.where(SyncRecord.updated_at >= _naive_utc(self.since))
        if self.sfids:
            query = query.where(SyncRecord.sfid.in_(self.sfids))
        return query


@dataclass(frozen=True)
class EntityRow:
    """One entity as the listing shows it."""

    object: str
    sfid: str
    name: str | None
    state: str
    attempts: int
    reason: str | None
    waiting_for: str | None
    logisense_id: int | None
    updated_at: dt.datetime | None


def count_entities(session: Session, where: EntityFilter) -> int:
    """How many entities match, whatever the page size."""
    return int(session.scalar(where.apply(select(func.count()).select_from(SyncRecord))) or 0)


def list_entities(session: Session, where: EntityFilter, *, limit: int | None) -> list[EntityRow]:
    """Matching entities, most recently changed first, at most ``limit`` (None: all)."""
    query = where.apply(select(SyncRecord)).order_by(
        SyncRecord.updated_at.desc(), SyncRecord.id.desc()
    )
    if limit is not None:
        query = query.limit(limit)
    return [_row(r) for r in session.scalars(query)]


def matching_records(session: Session, where: EntityFilter) -> list[SyncRecord]:
    """The records themselves (for an action in the caller's transaction), oldest first."""
    return list(session.scalars(where.apply(select(SyncRecord)).order_by(SyncRecord.id)))


def known_states(session: Session, sfids: list[str]) -> dict[str, str]:
    """The state of each of ``sfids`` the store knows (ids it has never seen are left out)."""
    rows = session.execute(
        select(SyncRecord.sfid, SyncRecord.state).where(SyncRecord.sfid.in_(sfids))
    )
    return {sfid: state for sfid, state in rows}


def display_name(values: dict[str, Any] | None) -> str | None:
    """The record's name in Salesforce terms: ``Name``, else a contact's first and last name."""
    values = values or {}
    if values.get("Name"):
        return str(values["Name"])
    parts = [str(values[k]) for k in ("FirstName", "LastName") if values.get(k)]
    return " ".join(parts) or None


def _row(record: SyncRecord) -> EntityRow:
    updated = record.updated_at
    if updated is not None and updated.tzinfo is None:
        updated = updated.replace(tzinfo=dt.UTC)
    return EntityRow(
        object=record.object,
        sfid=record.sfid,
        name=display_name(record.values),
        state=record.state,
        attempts=record.attempts or 0,
        reason=record.last_error,
        waiting_for=record.waiting_for,
        logisense_id=record.ls_id,
        updated_at=updated,
    )


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
