"""Stored stream cursors: where each CDC channel's ingest resumes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.store.models import StreamCursor


def every_cursor(session: Session) -> list[StreamCursor]:
    """Every stored cursor."""
    return list(session.scalars(select(StreamCursor)))


def any_cursor(session: Session) -> bool:
    """Whether any channel has a stored cursor (an ingest started once)."""
    return session.scalar(select(StreamCursor.channel).limit(1)) is not None


def locked(session: Session, channel: str) -> StreamCursor | None:
    """The channel's cursor row, locked for update, or None."""
    return session.get(StreamCursor, channel, with_for_update=True)
