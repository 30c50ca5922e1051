"""Crash marks of messages in hand: a message whose handling killed the worker is counted on its
next delivery, and dead-lettered once it has killed too many."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.store.models import InflightMessage


def crash_counted(session: Session, keys: Collection[str]) -> set[str]:
    """Which of the message ``keys`` carry a crash mark."""
    rows = session.scalars(
        select(InflightMessage.message_key).where(InflightMessage.message_key.in_(keys))
    )
    return set(rows)


def count_crash(session: Session, key: str, *, now: float) -> int:
    """Mark the message ``key`` as in hand, or count one more crash on it; the crashes so far."""
    row = session.get(InflightMessage, key)
    if row is None:
        session.add(InflightMessage(message_key=key, crashes=0, first_seen=now))
        return 0
    row.crashes += 1
    return row.crashes


def forget(session: Session, key: str) -> None:
    """Clear the message's crash mark (it was handled)."""
    row = session.get(InflightMessage, key)
    if row is not None:
        session.delete(row)
