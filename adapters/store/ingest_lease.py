"""The one-active-ingest lease: a row per stream that names its holder and when the hold ends.

``billsync ingest`` publishes only while it holds the lease of its stream; a second ingest
against the same store waits as a standby and takes the lease over once the holder stops
renewing it (it died, or lost the store). A lease row works the same on SQLite and PostgreSQL,
needs no open connection to be held (unlike an advisory lock, which a pooled connection or a
PgBouncer in transaction mode would lose silently), and shows who holds it.

Taking and renewing are single conditional UPDATEs, so two processes can never both believe
they hold it; ``epoch`` grows at each takeover and fences the writes of a holder that has not
noticed yet (a cursor save checks it in the same transaction).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, String, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from adapters.store.models import Base


class IngestLease(Base):
    """Who publishes a stream now (``holder``), until when, and the takeover count."""

    __tablename__ = "ingest_lease"

    stream: Mapped[str] = mapped_column(String(120), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120), nullable=True)
    until: Mapped[float] = mapped_column(Float)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)


def try_take(session: Session, stream: str, holder: str, *, now: float, ttl_s: float) -> int | None:
    """Take the lease if it is free, expired, or ours already; its epoch, or None if held."""
    row = session.execute(
        update(IngestLease)
        .where(
            IngestLease.stream == stream,
            (IngestLease.holder == holder)
            | (IngestLease.until < now)
            | IngestLease.holder.is_(None),
        )
        .values(
            epoch=IngestLease.epoch + 1,
            holder=holder,
            until=now + ttl_s,
        )
        .returning(IngestLease.epoch)
    ).first()
    if row is not None:
        return int(row[0])
    exists = session.scalar(select(IngestLease.stream).where(IngestLease.stream == stream))
    if exists is not None:
        return None
    try:
        with session.begin_nested():
            session.execute(
                insert(IngestLease).values(stream=stream, holder=holder, until=now + ttl_s, epoch=1)
            )
    except IntegrityError:
        return None  # another process created it first
    return 1


def renew(
    session: Session, stream: str, holder: str, epoch: int, *, now: float, ttl_s: float
) -> bool:
    """Extend our hold; False when the lease is no longer ours (taken over: stop publishing)."""
    result = session.execute(
        update(IngestLease)
        .where(
            IngestLease.stream == stream,
            IngestLease.holder == holder,
            IngestLease.epoch == epoch,
        )
        .values(until=now + ttl_s)
        .returning(IngestLease.stream)
    ).first()
    return result is not None


def holds(session: Session, stream: str, holder: str, epoch: int, *, now: float) -> bool:
    """True while ``holder`` still holds the lease at ``epoch`` (checked inside a write)."""
    row = session.execute(
        select(IngestLease.holder, IngestLease.epoch, IngestLease.until).where(
            IngestLease.stream == stream
        )
    ).first()
    return row is not None and row[0] == holder and row[1] == epoch and row[2] >= now


def release(session: Session, stream: str, holder: str, epoch: int) -> None:
    """Give the lease up at a clean stop, so a standby takes over at once."""
    session.execute(
        update(IngestLease)
        .where(
            IngestLease.stream == stream,
            IngestLease.holder == holder,
            IngestLease.epoch == epoch,
        )
        .values(holder=None, until=0.0)
    )
