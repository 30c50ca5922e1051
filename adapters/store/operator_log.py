"""The operators' audit trail: who (user@host) did what (retry, dlq replay, dlq purge), to what,
and when. Rows are only ever added; ``billsync status`` shows an entity's, and the rest are in
the store for whoever audits them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from adapters.store.models import Base


class OperatorAction(Base):
    """One operator action, as the CLI recorded it (migration 0003)."""

    __tablename__ = "operator_action"
    __table_args__ = (Index("ix_operator_action_target", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


@dataclass(frozen=True)
class ActionRow:
    """An operator action as the CLI shows it."""

    at: float
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


def record_action(
    session: Session,
    *,
    actor: str,
    action: str,
    targets: list[str],
    detail: dict[str, Any] | None = None,
    at: float | None = None,
) -> None:
    """Add one row per target (an entity's Salesforce id, ``dlq:<n>``) in the caller's
    transaction, so the action and its record commit together."""
    when = time.time() if at is None else at
    for target in targets:
        session.add(
            OperatorAction(
                at=when, actor=actor[:200], action=action, target=target[:200], detail=detail or {}
            )
        )


def actions_on(session: Session, target: str, *, limit: int = 50) -> list[ActionRow]:
    """The newest actions on ``target``, oldest first."""
    rows = session.scalars(
        select(OperatorAction)
        .where(OperatorAction.target == target)
        .order_by(OperatorAction.id.desc())
        .limit(limit)
    ).all()
    return [ActionRow(r.at, r.actor, r.action, r.target, dict(r.detail or {})) for r in rows][::-1]
