"""Reading outcomes: what LogiSense holds and what state entities are in."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from sqlalchemy import select

from adapters.store.db import make_engine, session_factory
from adapters.store.models import SyncRecord, Transition


def ls_accounts(sim: Any) -> dict[str, dict[str, Any]]:
    """LogiSense accounts created by billsync, by sfdcid."""
    return {r["sfdcid"]: r for r in sim.state.account_views() if r.get("sfdcid")}


def ls_contacts(sim: Any) -> dict[str, dict[str, Any]]:
    """LogiSense contacts created by billsync, by sfdcid."""
    return {r["sfdcid"]: r for r in sim.state.contact_views() if r.get("sfdcid")}


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


def worker_process(
    broker: str, database: str, prefix: str, logisense: Any, **settings: str
) -> subprocess.Popen[bytes]:
    """``billsync worker`` as a separate process, configured through BILLSYNC_* variables."""
    from tests.conftest import logisense_env

    env = {
        **os.environ,
        "BILLSYNC_BROKER_URL": broker,
        "BILLSYNC_DATABASE_URL": database,
        "BILLSYNC_QUEUE_PREFIX": prefix,
        **logisense_env(logisense),
        "BILLSYNC_SWEEP_INTERVAL_S": "0.2",
    }
    env.update({f"BILLSYNC_{k.upper()}": v for k, v in settings.items()})
    return subprocess.Popen(
        [sys.executable, "-m", "billsync", "worker", "-c", "4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
