"""The engine driven directly, with no broker and no threads: messages go through ``Intake.apply``
and due entities through ``SyncEngine.process_batch`` in the test's own thread, against SQLite and
the in-process LogiSense simulator. The clock of the worker is injected: a worker whose clock
runs an hour ahead behaves the same (leases and due times are judged on the database's clock)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.logisense import LogiSenseClient
from adapters.store import leases
from adapters.store.db import make_engine, migrate, session_factory
from statemachine.fieldmap import FieldMap
from statemachine.lifecycle import RetryPolicy
from tests.conftest import LS_CLIENT, LS_PASSWORD, LS_USER
from tests.core.helpers import Store, ls_accounts
from tests.factories import account, account_id, contact, contact_id
from workers.context import DatabaseClock, ReferenceCache, SyncContext
from workers.engine import SyncEngine
from workers.intake import Intake
from workers.retries import CircuitBreaker, GuardedClient

AHEAD_S = 3600.0


@pytest.fixture
def engine(tmp_path: Any, logisense: Any) -> Iterator[tuple[SyncEngine, Intake, Store]]:
    url = f"sqlite:///{tmp_path}/store.db"
    migrate(url)
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
    sync = SyncEngine(ctx, writers=4)
    intake = Intake(sessions, ctx.field_map, worker_id="direct", clock=time.time)
    yield sync, intake, Store(url)
    sync.close()


def run_until_settled(sync: SyncEngine, intake: Intake, store: Store, sfids: list[str]) -> None:
    deadline = time.monotonic() + 20
    while not store.settled(sfids):
        due = sync.claim_due(16)
        if due:
            sync.process_batch(due)
        else:
            time.sleep(0.01)
        if time.monotonic() > deadline:
            for sfid in sfids:
                print(sfid, [(t.trigger, t.to_state, t.reason) for t in store.history(sfid)])
                r = store.record(sfid)
                print(sfid, r.state, r.next_attempt_at, r.lease_owner, r.lease_until, time.time())
            pytest.fail(f"not settled: {store.states()}")


def test_a_batch_of_accounts_and_a_contact(engine: Any, logisense: Any) -> None:
    sync, intake, store = engine
    intake.apply([*[account(n) for n in range(1, 6)], contact(1, 1)])
    sfids = [*[account_id(n) for n in range(1, 6)], contact_id(1)]
    run_until_settled(sync, intake, store, sfids)
    assert set(store.states().values()) == {"pushed"}
    assert set(ls_accounts(logisense)) == {account_id(n) for n in range(1, 6)}
    assert sync.batched >= 5


def test_a_transient_failure_is_retried_on_the_database_clock(engine: Any, logisense: Any) -> None:
    sync, intake, store = engine
    intake.apply([account(7)])
    logisense.faults.update({"error_rate": 1.0, "error_status": 503})
    sync.process_batch(sync.claim_due(16))
    record = store.record(account_id(7))
    assert record.state == "pending" and record.attempts == 1
    assert record.next_attempt_at is not None
    # The worker's clock is an hour ahead, yet the retry is due within the policy's delay.
    assert record.next_attempt_at - time.time() < 1.0
    logisense.faults.update({"error_rate": 0.0})
    run_until_settled(sync, intake, store, [account_id(7)])
    assert store.record(account_id(7)).state == "pushed"
