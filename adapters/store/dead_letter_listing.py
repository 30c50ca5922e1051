"""The operators' view of stored dead letters: filtered by id, reason and time, with the true
total; and the selection that ``dlq replay`` and ``dlq purge`` act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from adapters.store.models import DeadLetter


@dataclass(frozen=True)
class LetterFilter:
    """Which dead letters: every given criterion must hold."""

    ids: tuple[int, ...] = ()
    reason: str | None = None
    since: float | None = None
    include_replayed: bool = False

    def apply(self, query: Select[Any]) -> Select[Any]:
        """``query`` narrowed to this filter."""
        if self.ids:
            query = query.where(DeadLetter.id.in_(self.ids))
        if not self.include_replayed:
            query = query.where(DeadLetter.replayed_at.is_(None))
        if self.reason:
            escaped = self.reason.lower().replace("\\", "\\\\").replace("%", "\\%")
            pattern = "%" + escaped.replace("_", "\\_") + "%"
            query = query.where(func.lower(DeadLetter.reason).like(pattern, escape="\\"))
        if self.since is not None:
            query = query.where(DeadLetter.received_at >= self.since)
        return query


def count_letters(session: Session, where: LetterFilter) -> int:
    """How many dead letters match."""
    return int(session.scalar(where.apply(select(func.count()).select_from(DeadLetter))) or 0)


def find_letters(
    session: Session, where: LetterFilter, *, limit: int | None = None
) -> list[DeadLetter]:
    """Matching dead letters, newest first."""
    query = where.apply(select(DeadLetter)).order_by(DeadLetter.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def existing_ids(session: Session, ids: list[int]) -> set[int]:
    """Which of ``ids`` are stored dead letters (replayed or not)."""
    return set(session.scalars(select(DeadLetter.id).where(DeadLetter.id.in_(ids))))


def delete_letters(session: Session, ids: list[int]) -> None:
    """Delete the dead letters ``ids``."""
    session.execute(delete(DeadLetter).where(DeadLetter.id.in_(ids)))


def not_replayed_from(session: Session, queue_prefix: str) -> list[DeadLetter]:
    """Dead letters not replayed yet whose source queue starts with ``queue_prefix``."""
    return list(
        session.scalars(
            select(DeadLetter).where(
                DeadLetter.source_queue.like(f"{queue_prefix}%"),
                DeadLetter.replayed_at.is_(None),
            )
        )
    )
