"""The fast tier: the engine driven through a stub broker (``tests/core/stub_broker.py``), with no
RabbitMQ and no threads, against SQLite (a copy of one migrated file per test) and the in-process
LogiSense simulator. The clock of the worker is injected: a worker whose clock runs an hour ahead
behaves the same (leases and due times are judged on the database's clock)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.logisense import LogiSenseClient
from adapters.store import leases
from adapters.store.db import make_engine, migrate, session_factory
from statemachine.fieldmap import FieldMap
from statemachine.lifecycle import RetryPolicy
from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER
from tests.core.helpers import Store, ls_accounts
from tests.core.stub_broker import StubBroker
from tests.factories import account, account_id, contact, contact_id
from workers.sync.context import DatabaseClock, ReferenceCache, SyncContext
from workers.sync.engine import SyncEngine
from workers.sync.intake import Intake
from workers.sync.retries import CircuitBreaker, GuardedClient

AHEAD_S = 3600.0


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test works on a copy (milliseconds, not a migration)."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    migrate(f"sqlite:///{path}")
    return path


@dataclass
class Worker:
    broker: StubBroker
    engine: SyncEngine
    store: Store


@pytest.fixture
def worker(migrated: Path, tmp_path: Path, logisense: Any) -> Iterator[Worker]:
    path = tmp_path / "store.db"
    shutil.copyfile(migrated, path)
    url = f"sqlite:///{path}"
    sessions = session_factory(make_engine(url, pool_size=4))
    breaker = CircuitBreaker("logisense", threshold=3, probe_s=0.05)
    client: Any = GuardedClient(
        LogiSenseClient(
            logisense.base_url, username=LS_USER, password=LS_PASSWORD, client_id=LS_CLIENT
        ),
        breaker,
    )
    # A worker whose wall clock is an hour ahead, on the database's clock as in production.
    clock = DatabaseClock(leases.clock_reader(sessions), local=lambda: time.time() + AHEAD_S)
    ctx = SyncContext(
        sessions=sessions,
        logisense=client,
        salesforce=None,
        references=ReferenceCache(client),
        field_map=FieldMap.load(None),
        retry=RetryPolicy(budget_s=60.0, base_s=0.01, cap_s=0.02),
        worker_id="direct",
        coalesce_s=0.0,
        clock=clock,
        breakers={"logisense": breaker},
    )
    engine = SyncEngine(ctx, writers=4)
    intake = Intake(sessions, ctx.field_map, worker_id="direct", clock=clock)
    yield Worker(StubBroker(intake, engine), engine, Store(url))
    engine.close()


def test_a_batch_of_accounts_and_a_contact(worker: Worker, logisense: Any) -> None:
    worker.broker.publish([*[account(n) for n in range(1, 6)], contact(1, 1)])
    worker.broker.join()
    assert set(worker.store.states().values()) == {"pushed"}
    assert set(ls_accounts(logisense)) == {account_id(n) for n in range(1, 6)}
    assert worker.store.states()[contact_id(1)] == "pushed"
    assert worker.engine.batched >= 5


def test_a_transient_failure_is_retried_on_the_database_clock(
    worker: Worker, logisense: Any
) -> None:
    logisense.faults.update({"error_rate": 1.0, "error_status": 503})
    worker.broker.publish([account(7)])
    record = worker.store.record(account_id(7))
    assert record.state == "pending" and record.attempts == 1
    assert record.next_attempt_at is not None
    # The worker's clock is an hour ahead, yet the retry is due within the policy's delay.
    assert record.next_attempt_at - time.time() < 1.0
    logisense.faults.update({"error_rate": 0.0})
    time.sleep(0.05)
    worker.broker.join()
    assert worker.store.record(account_id(7)).state == "pushed"
