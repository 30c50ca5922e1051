"""Reading outcomes: what LogiSense holds and what state entities are in."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from adapters.store.db import make_engine, session_factory
from adapters.store.models import SyncRecord, Transition


def ls_accounts(sim: Any) -> dict[str, dict[str, Any]]:
    """LogiSense accounts created by billsync, by sfdcid."""
    with sim.state.lock:
        return {
            r["sfdcid"]: dict(r) for r in sim.state.tables["Account"].values() if r.get("sfdcid")
        }


def ls_contacts(sim: Any) -> dict[str, dict[str, Any]]:
    """LogiSense contacts created by billsync, by sfdcid."""
    with sim.state.lock:
        return {
            r["sfdcid"]: dict(r) for r in sim.state.tables["Contact"].values() if r.get("sfdcid")
        }


def ls_writes(sim: Any) -> int:
    """Data writes LogiSense has served."""
    return int(sim.stats.as_json()["writes_total"])


class Store:
    """Read-only look at a test's store."""

    def __init__(self, url: str) -> None:
        self.sessions = session_factory(make_engine(url, pool_size=2))

    def states(self, object_name: str | None = None) -> dict[str, str]:
        with self.sessions() as session:
            query = select(SyncRecord)
            if object_name:
                query = query.where(SyncRecord.object == object_name)
            return {r.sfid: r.state for r in session.scalars(query)}

    def record(self, sfid: str) -> SyncRecord:
        with self.sessions() as session:
            found = session.scalars(select(SyncRecord).where(SyncRecord.sfid == sfid)).one()
            return found

    def history(self, sfid: str) -> list[Transition]:
        with self.sessions() as session:
            record = session.scalars(select(SyncRecord).where(SyncRecord.sfid == sfid)).one()
            return list(
                session.scalars(
                    select(Transition)
                    .where(Transition.record_id == record.id)
                    .order_by(Transition.id)
                )
            )

    def settled(self, sfids: list[str], states: tuple[str, ...] = ("pushed", "failed")) -> bool:
        current = self.states()
        return all(current.get(s) in states for s in sfids)
