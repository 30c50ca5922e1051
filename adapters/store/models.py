"""The store's tables (SPEC §7), as SQLAlchemy 2 declarative models.

The schema itself is created and changed only by the Alembic migrations in ``migrations/``;
these models must match them (a test compares the two).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every billsync table."""


class SyncRecord(Base):
    """One synced Salesforce entity: its state, its merged snapshot and its LogiSense id.

    ``version`` grows with every change that moves a field; ``pushed_version`` is the version
    last written to LogiSense, and ``pushed_values`` the Salesforce values of the mapped fields
    then (to tell a mapped change from an unmapped one). ``next_attempt_at`` is NULL when nothing
    is scheduled (done, or waiting for another entity). ``lease_*`` stop two workers from
    working on one entity at once.
    """

    __tablename__ = "sync_record"
    __table_args__ = (
        UniqueConstraint("object", "sfid", name="uq_sync_record_object_sfid"),
        UniqueConstraint("object", "ls_id", name="uq_sync_record_object_ls_id"),
        Index("ix_sync_record_due", "next_attempt_at"),
        Index("ix_sync_record_state", "state"),
        Index("ix_sync_record_sfid", "sfid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    object: Mapped[str] = mapped_column(String(40))
    sfid: Mapped[str] = mapped_column(String(18))
    state: Mapped[str] = mapped_column(String(20))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stamps: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    pushed_version: Mapped[int] = mapped_column(Integer, default=0)
    pushed_values: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    ls_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pinned: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    rejection: Mapped[str | None] = mapped_column(Text, nullable=True)
    in_scope: Mapped[bool] = mapped_column(Boolean, default=False)
    push_requested_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claims: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The fencing token: grows with every claim; a settle checks it, so a worker whose lease
    #: was taken over (even by itself, on another thread) changes nothing.
    lease_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When the current run of transient failures began (the retry budget counts from here).
    retry_since: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: When a LogiSense create was first attempted; ``None``: none can have happened, so the
    #: first write skips the search by sfdcid. 0 for records that existed before billsync saw
    #: them (an earlier tool may have made their LogiSense record: search first).
    create_attempted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    waiting_for: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Transition(Base):
    """One row of an entity's history: a transition, or an event that left the state as it was
    (a retry scheduled, a delete seen, leaving scope)."""

    __tablename__ = "transition"
    __table_args__ = (Index("ix_transition_record", "record_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("sync_record.id", ondelete="CASCADE"))
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[float] = mapped_column(Float)
    worker: Mapped[str] = mapped_column(String(120))


class DependencyWait(Base):
    """An entity waiting in ``validated``/``account-synced`` for another to reach a state."""

    __tablename__ = "dependency_wait"
    __table_args__ = (Index("ix_dependency_wait_target", "target_sfid"),)

    record_id: Mapped[int] = mapped_column(
        ForeignKey("sync_record.id", ondelete="CASCADE"), primary_key=True
    )
    target_sfid: Mapped[str] = mapped_column(String(18), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    since: Mapped[float] = mapped_column(Float)


class ContactLink(Base):
    """Which contact relates to which account: the contact's own AccountId and every
    AccountContactRelation. Newest commit wins, as for snapshots."""

    __tablename__ = "contact_link"
    __table_args__ = (Index("ix_contact_link_account", "account_sfid"),)

    contact_sfid: Mapped[str] = mapped_column(String(18), primary_key=True)
    account_sfid: Mapped[str] = mapped_column(String(18), primary_key=True)
    source: Mapped[str] = mapped_column(String(18), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    stamp: Mapped[int] = mapped_column(BigInteger, default=0)


class RelationRecord(Base):
    """An AccountContactRelation seen on the stream (its ids are fixed after creation)."""

    __tablename__ = "relation_record"

    sfid: Mapped[str] = mapped_column(String(18), primary_key=True)
    account_sfid: Mapped[str | None] = mapped_column(String(18), nullable=True)
    contact_sfid: Mapped[str | None] = mapped_column(String(18), nullable=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stamps: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StreamCursor(Base):
    """The last replay id per channel that is safely in the broker, and when it was seen."""

    __tablename__ = "stream_cursor"

    channel: Mapped[str] = mapped_column(String(120), primary_key=True)
    replay_id: Mapped[int] = mapped_column(BigInteger)
    event_time_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[float] = mapped_column(Float)


class DeadLetter(Base):
    """A message the workers could not use, with the reason, kept until replayed or purged."""

    __tablename__ = "dead_letter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    source_queue: Mapped[str | None] = mapped_column(String(120), nullable=True)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[float] = mapped_column(Float)
    replayed_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class InflightMessage(Base):
    """A redelivered message being handled alone: if a worker dies while handling it, the count
    grows, and past the limit the message is dead-lettered instead of crashing workers again."""

    __tablename__ = "inflight_message"

    message_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    crashes: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[float] = mapped_column(Float)
