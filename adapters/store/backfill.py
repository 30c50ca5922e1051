"""The backfill's place in the store: one row per object being loaded, so that a backfill
stopped at any point (a crash, SIGKILL, Ctrl-C) resumes where its last confirmed page ended.

A position is written only after every message of the pages before it is confirmed by the
broker: a restart may publish the page in flight again (harmless: a snapshot merged twice is
merged once) and never skips one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import BigInteger, Boolean, Float, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from adapters.store.models import Base


class BackfillCursor(Base):
    """Where the backfill of one object stands.

    ``mode`` is ``rest`` (``last_id``: the highest id published, the query runs ``ORDER BY
    Id``) or ``bulk`` (``job_id`` and ``locator``: the Bulk API 2.0 query job and its next
    result set, which Salesforce keeps as long as the job exists).
    """

    __tablename__ = "backfill_cursor"

    object: Mapped[str] = mapped_column(String(40), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10))
    last_id: Mapped[str | None] = mapped_column(String(18), nullable=True)
    job_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    locator: Mapped[str | None] = mapped_column(String(200), nullable=True)
    published: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


@dataclass
class Position:
    """A copy of a cursor row that code can hold outside a session."""

    object: str
    mode: str
    last_id: str | None = None
    job_id: str | None = None
    locator: str | None = None
    published: int = 0
    total: int = 0
    done: bool = False
    started_at: float = 0.0


class BackfillCursors:
    """Reads and writes ``backfill_cursor`` rows (one short transaction a call)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def load(self, object_name: str) -> Position | None:
        """The stored position of ``object_name``, or None before its first page."""
        with self.sessions() as session:
            row = session.get(BackfillCursor, object_name)
            if row is None:
                return None
            return Position(
                row.object,
                row.mode,
                row.last_id,
                row.job_id,
                row.locator,
                row.published,
                row.total,
                row.done,
                row.started_at,
            )

    def save(self, position: Position) -> None:
        """Insert or update the row of ``position.object``."""
        now = time.time()
        with self.sessions.begin() as session:
            row = session.get(BackfillCursor, position.object)
            if row is None:
                row = BackfillCursor(object=position.object, started_at=position.started_at or now)
                session.add(row)
            row.mode = position.mode
            row.last_id = position.last_id
            row.job_id = position.job_id
            row.locator = position.locator
            row.published = position.published
            row.total = position.total
            row.done = position.done
            row.updated_at = now

    def forget(self, object_name: str) -> None:
        """Drop the row, so the next backfill of ``object_name`` starts from the beginning."""
        with self.sessions.begin() as session:
            row = session.get(BackfillCursor, object_name)
            if row is not None:
                session.delete(row)


def published(session: Session, object_name: str) -> int:
    """How many records of ``object_name`` the backfill has published so far (0 before any)."""
    found = session.scalar(
        select(BackfillCursor.published).where(BackfillCursor.object == object_name)
    )
    return int(found or 0)
