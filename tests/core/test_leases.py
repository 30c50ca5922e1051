"""Leases on the database's clock, with a fencing token (issue 12 Build 6), on SQLite and
PostgreSQL: a worker whose clock runs 31 s ahead cannot take a live lease, and a worker whose
lease was taken over changes nothing when it settles."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from adapters.store import leases
from adapters.store.db import make_engine, migrate, session_factory
from adapters.store.models import SyncRecord
from workers.sync.context import DatabaseClock

SKEW_S = 31.0


def open_sessions(url: str) -> sessionmaker[Session]:
    migrate(url)
    return session_factory(make_engine(url, pool_size=2))


def due_record(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        now = leases.db_time(session)
        record = SyncRecord(
            object="Account",
            sfid="001000000000001AAA",
            state="pending",
            values={},
            stamps={},
            next_attempt_at=now - 1.0,
        )
        session.add(record)
        session.flush()
        return record.id


def skewed_clock(sessions: sessionmaker[Session], skew_s: float) -> Callable[[], float]:
    def read() -> float:
        with sessions() as session:
            return leases.db_time(session)

    return DatabaseClock(read, local=lambda: time.time() + skew_s)


def claim(sessions: sessionmaker[Session], record_id: int, owner: str, lease_s: float) -> Any:
    with sessions.begin() as session:
        return leases.claim(session, record_id, owner=owner, lease_s=lease_s)


def test_a_worker_ahead_of_the_clock_cannot_take_a_live_lease(backend: Any) -> None:
    sessions = open_sessions(backend.database_url)
    record_id = due_record(sessions)
    first = claim(sessions, record_id, "worker-a", lease_s=30.0)
    assert first is not None and first.lease_version == 1

    # Worker B's wall clock runs 31 s ahead; the lease is judged on the database's clock.
    ahead = skewed_clock(sessions, SKEW_S)
    with sessions() as session:
        assert abs(ahead() - leases.db_time(session)) < 1.0, "the worker's clock is the database's"
    assert claim(sessions, record_id, "worker-b", lease_s=30.0) is None
    with sessions.begin() as session:
        assert leases.claim_due(session, owner="worker-b", lease_s=30.0, limit=10) == []
        assert leases.due_ids(session, limit=10) == []
        assert leases.load_owned(session, record_id, "worker-a", first.lease_version) is not None


def test_a_settle_with_a_stale_fencing_token_changes_nothing(backend: Any) -> None:
    sessions = open_sessions(backend.database_url)
    record_id = due_record(sessions)
    stale = claim(sessions, record_id, "worker-a", lease_s=0.3)
    assert stale is not None
    time.sleep(0.6)  # worker A stalls past its lease
    # The same worker (another thread) takes the entity again: the owner is the same, the
    # token is not.
    fresh = claim(sessions, record_id, "worker-a", lease_s=30.0)
    assert fresh is not None and fresh.lease_version == stale.lease_version + 1
    with sessions.begin() as session:
        assert leases.load_owned(session, record_id, "worker-a", stale.lease_version) is None
        assert leases.load_owned(session, record_id, "worker-a", fresh.lease_version) is not None
        leases.release_lease(session, record_id, "worker-a", stale.lease_version)
    with sessions() as session:
        record = session.get(SyncRecord, record_id)
        assert record is not None and record.lease_owner == "worker-a", "a stale release is a no-op"


def test_one_statement_claims_a_batch_once(backend: Any) -> None:
    sessions = open_sessions(backend.database_url)
    with sessions.begin() as session:
        now = leases.db_time(session)
        session.add_all(
            SyncRecord(
                object="Account",
                sfid=f"001000000000{n:03d}AAA",
                state="pending",
                values={},
                stamps={},
                next_attempt_at=now - 1.0 if n < 8 else now + 3600.0,
            )
            for n in range(10)
        )
    with sessions.begin() as session:
        first = leases.claim_due(session, owner="a", lease_s=30.0, limit=5)
    with sessions.begin() as session:
        second = leases.claim_due(session, owner="b", lease_s=30.0, limit=5)
    assert len(first) == 5 and len(second) == 3, "only the 8 due ones, each once"
    assert not {c.record_id for c in first} & {c.record_id for c in second}
