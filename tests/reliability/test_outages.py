"""Outages are not crashes: PostgreSQL or RabbitMQ unreachable (through a TCP proxy the test
controls, never a restart of the shared servers), and the worker waits, keeps its broker
connection serviced, dead-letters nothing valid, and pushes everything once afterwards.

Each test runs a short outage in the normal test run, and the full length of issue 12 (2 minutes)
when ``BILLSYNC_LONG_FAULTS=1`` (``scripts/reliability`` sets it).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from billsync.bootstrap import open_store
from tests.conftest import settings_for, wait_until
from tests.core.helpers import Store
from tests.factories import account, account_id
from tests.reliability.checker import check
from tests.reliability.proxy import FaultProxy
from tests.reliability.report import record
from workers.ops import deadletters

LONG = os.environ.get("BILLSYNC_LONG_FAULTS") == "1"
SHORT_OUTAGE_S = 20
LONG_OUTAGE_S = 120

pytestmark = [pytest.mark.reliability, pytest.mark.rabbitmq, pytest.mark.postgres]


def long_only(*values: Any, id: str) -> Any:
    """A parameter set that runs only in the long suite (keeps the normal test run short)."""
    return pytest.param(
        *values,
        id=id,
        marks=[pytest.mark.skipif(not LONG, reason="variant run by scripts/reliability")],
    )


def lengths(short_s: int, long_s: int, long_id: str, what: str) -> list[Any]:
    """The short outage always; the long one (``what``) only in the long suite."""
    long = pytest.param(
        long_s,
        id=long_id,
        marks=[
            pytest.mark.slow,
            pytest.mark.timeout(long_s + 420),
            pytest.mark.skipif(not LONG, reason=f"{what}: scripts/reliability runs it"),
        ],
    )
    return [pytest.param(short_s, id="short"), long]


def outage_lengths() -> list[Any]:
    """The short outage always; the 2-minute one only in the long suite."""
    return lengths(SHORT_OUTAGE_S, LONG_OUTAGE_S, "2min", "2-minute outage")


#: Fault-test settings: quick heartbeats, timeouts and leases, and no attempt limit in sight.
FAULT_SETTINGS = {
    "broker_heartbeat_s": 5,
    "store_connect_timeout_s": 2,
    "store_statement_timeout_s": 10,
    "lease_s": 5,
    "max_attempts": 1000,
}


@pytest.fixture
def worker(run_worker: Callable[..., Any]) -> Callable[..., Any]:
    """Start a worker (in this process) with fault-test settings; stopped afterwards."""

    def start(**overrides: Any) -> Any:
        return run_worker(**{**FAULT_SETTINGS, **overrides})

    return start


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def _settle(backend: Any, logisense: Any, ids: list[str], timeout: float) -> None:
    store = Store(backend.database_url)
    wait_until(lambda: store.settled(ids, ("pushed",)), timeout=timeout, what="all pushed")


def _checked(
    fault: str, started: float, backend: Any, logisense: Any, count: int, notes: str
) -> None:
    """Run the outcome checker over the whole history (and the dead letters the store holds),
    record its row, and assert it clean."""
    sessions = open_store(settings_for(backend, logisense), pool_size=2)
    dead = len(deadletters.list_dead_letters(sessions))
    outcome = check(
        fault=fault,
        duration_s=time.monotonic() - started,
        changes=count,
        database_url=backend.database_url,
        logisense=logisense,
        expected={account_id(n): {"name": f"Account {n}"} for n in range(1, count + 1)},
        dead_lettered=dead,
        notes=notes,
    )
    record(outcome)
    assert outcome.clean, outcome.row()
    assert dead == 0, "no valid message dead-lettered"


@pytest.mark.parametrize("backend", ["rabbitmq-postgres"], indirect=True)
@pytest.mark.parametrize("seconds", outage_lengths())
def test_postgres_unreachable(
    backend: Any, logisense: Any, worker: Any, publish: Any, seconds: int, caplog: Any
) -> None:
    """The store refuses connections for ``seconds`` while changes arrive: the consumer pauses,
    keeps its AMQP connection (with 5 s heartbeats, an unserviced one drops within ~15 s),
    logs the outage once, and pushes every account once when the store is back."""
    caplog.set_level(logging.WARNING, logger="billsync")
    with FaultProxy(*_host_port(backend.database_url, 5432)) as proxy:
        logisense.faults.update({"record_writes": True})
        service = worker(database_url=proxy.url_for(backend.database_url))
        before = [account_id(n) for n in range(1, 4)]
        publish([account(n) for n in range(1, 4)])
        _settle(backend, logisense, before, 60)

        proxy.set_mode("refuse")
        started = time.monotonic()
        publish([account(n) for n in range(4, 24)])
        wait_until(
            lambda: service.consumer.store_down_since is not None,
            timeout=30,
            what="the consumer noticed the outage",
        )
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        assert service.consumer.store_down_since is not None, "still waiting at the end"
        assert proxy.cut >= 1, "the outage cut live connections"
        outage = time.monotonic() - started
        proxy.set_mode("pass")

        ids = [account_id(n) for n in range(1, 24)]
        _settle(backend, logisense, ids, 90)
    _checked(
        f"PostgreSQL unreachable (refused) {seconds} s",
        started,
        backend,
        logisense,
        23,
        f"outage {outage:.0f} s; {proxy.cut} connections cut; broker reconnects "
        f"{service.consumer.link.reconnects}",
    )
    assert service.consumer.link.reconnects == 0, "the broker connection survived the outage"
    assert service.consumer.store_outages == 1
    assert service.consumer.dead_lettered == 0
    outage_lines = [r for r in caplog.records if "holding the messages in hand" in r.message]
    back_lines = [r for r in caplog.records if "store available again" in r.message]
    assert (len(outage_lines), len(back_lines)) == (1, 1), "one line per state change"
    lines = [r for r in caplog.records if r.name.startswith("billsync")]
    assert len(lines) <= 12, "calm logs: " + " | ".join(r.getMessage()[:80] for r in lines)


@pytest.mark.parametrize("backend", ["rabbitmq-postgres"], indirect=True)
@pytest.mark.parametrize("mode", ["blackhole", long_only("refuse", id="refuse")])
@pytest.mark.parametrize("seconds", outage_lengths())
def test_rabbitmq_unreachable(
    backend: Any, logisense: Any, worker: Any, publish: Any, seconds: int, mode: str
) -> None:
    """The worker's broker link is cut (or blackholed: packets dropped, no reset) for
    ``seconds`` while changes keep arriving at the broker: the worker reconnects, nothing valid
    is dead-lettered, every account is pushed once."""
    with FaultProxy(*_host_port(backend.broker_url, 5672)) as proxy:
        logisense.faults.update({"record_writes": True})
        service = worker(broker_url=proxy.url_for(backend.broker_url))
        publish([account(n) for n in range(1, 4)])
        _settle(backend, logisense, [account_id(n) for n in range(1, 4)], 60)

        proxy.set_mode(mode)  # type: ignore[arg-type]
        started = time.monotonic()
        publish([account(n) for n in range(4, 24)])
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        proxy.set_mode("pass")

        ids = [account_id(n) for n in range(1, 24)]
        _settle(backend, logisense, ids, 90)
    _checked(
        f"RabbitMQ unreachable ({mode}) {seconds} s",
        started,
        backend,
        logisense,
        23,
        f"worker reconnected {service.consumer.link.reconnects} time(s)",
    )
    assert service.consumer.link.reconnects >= 1, "the outage was real"
    assert service.consumer.dead_lettered == 0
    assert all(thread.is_alive() for thread in service._threads)


LOGISENSE_SHORT_S = 10
LOGISENSE_LONG_S = 300


def logisense_lengths() -> list[Any]:
    """LogiSense down 10 s always; 5 minutes (issue 12, acceptance 2) in the long suite."""
    return lengths(LOGISENSE_SHORT_S, LOGISENSE_LONG_S, "5min", "5-minute outage")


def _production_retry_settings() -> dict[str, Any]:
    """The retry settings as shipped (the test fixtures shorten them), whatever they are."""
    from billsync.config import Settings

    names = ("backoff_base_s", "backoff_cap_s", "max_attempts")
    return {n: Settings.model_fields[n].default for n in names if n in Settings.model_fields}


@pytest.mark.parametrize(
    "backend", [long_only("embedded", id="embedded"), "rabbitmq-postgres"], indirect=True
)
@pytest.mark.parametrize("seconds", logisense_lengths())
def test_logisense_down(
    backend: Any, logisense: Any, worker: Any, publish: Any, seconds: int
) -> None:
    """LogiSense unreachable for ``seconds`` (connections refused) while changes arrive, with the
    retry settings as shipped: nothing dead-lettered, no entity failed, each account pushed once
    within a minute of LogiSense's return."""
    base = urlsplit(logisense.base_url)
    with FaultProxy(base.hostname or "127.0.0.1", base.port or 80) as proxy:
        logisense.faults.update({"record_writes": True})
        service = worker(
            ls_base_url=f"http://127.0.0.1:{proxy.port}", **_production_retry_settings()
        )
        publish([account(n) for n in range(1, 4)])
        _settle(backend, logisense, [account_id(n) for n in range(1, 4)], 60)

        proxy.set_mode("refuse")
        started = time.monotonic()
        publish([account(n) for n in range(4, 24)])
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        proxy.set_mode("pass")
        returned = time.monotonic()

        ids = [account_id(n) for n in range(1, 24)]
        store = Store(backend.database_url)
        deadline = returned + 60
        while not store.settled(ids, ("pushed",)) and time.monotonic() < deadline:
            time.sleep(0.5)
        caught_up = time.monotonic() - returned
        states = store.states()
    waiting = sorted(s for s in ids if states.get(s) != "pushed")
    _checked(
        f"LogiSense unreachable {seconds} s ({backend.name})",
        started,
        backend,
        logisense,
        23,
        f"all pushed {caught_up:.0f} s after LogiSense returned"
        if not waiting
        else f"{len(waiting)} not pushed 60 s after LogiSense returned",
    )
    assert not waiting, "every account pushed within a minute of LogiSense's return"
    assert service.consumer.dead_lettered == 0


@pytest.mark.parametrize("backend", ["rabbitmq-postgres"], indirect=True)
def test_a_worker_stopped_during_a_store_outage_exits_cleanly(
    backend: Any, logisense: Any, publish: Any
) -> None:
    """``billsync worker`` processes: one is stopped (SIGTERM) while the store is unreachable
    and exits 0 promptly, holding nothing; a worker started after the outage pushes everything
    once. The kills and the exit codes are counted."""
    import signal

    from tests.core.helpers import worker_process

    settings = {"broker_heartbeat_s": "5", "store_connect_timeout_s": "2"}
    logisense.faults.update({"record_writes": True})
    open_store(settings_for(backend, logisense), pool_size=2)  # migrated first
    exits: list[int | None] = []
    with FaultProxy(*_host_port(backend.database_url, 5432)) as proxy:
        first = worker_process(
            backend.broker_url,
            proxy.url_for(backend.database_url),
            backend.prefix,
            logisense,
            **settings,
        )
        try:
            publish([account(n) for n in range(1, 4)])
            _settle(backend, logisense, [account_id(n) for n in range(1, 4)], 60)
            proxy.set_mode("refuse")
            started = time.monotonic()
            publish([account(n) for n in range(4, 14)])
            time.sleep(8)
            first.send_signal(signal.SIGTERM)
            exits.append(first.wait(timeout=40))
            stopped_in = time.monotonic() - started - 8
        finally:
            if first.poll() is None:
                first.kill()
    second = worker_process(
        backend.broker_url, backend.database_url, backend.prefix, logisense, **settings
    )
    try:
        _settle(backend, logisense, [account_id(n) for n in range(1, 14)], 90)
    finally:
        second.send_signal(signal.SIGTERM)
        exits.append(second.wait(timeout=40))
    _checked(
        "worker SIGTERMed during a store outage, another started after",
        started,
        backend,
        logisense,
        13,
        f"1 SIGTERM; exit codes {exits}; stopped {stopped_in:.1f} s after the signal",
    )
    assert exits == [0, 0], "both workers exit 0"
    assert stopped_in < 30


@pytest.mark.parametrize("backend", ["rabbitmq-postgres"], indirect=True)
def test_a_held_consumer_takes_no_new_messages(
    backend: Any, logisense: Any, worker: Any, publish: Any
) -> None:
    """While the consumer's ``hold`` gives a reason (the hook for an outside system's circuit
    breaker), it takes no new messages (``basic.cancel``: they stay ready in the queue) and keeps
    its connection; when the hold ends, they are consumed and pushed."""
    import pika

    from adapters.broker.topology import Topology
    from adapters.broker.urls import pika_parameters

    service = worker()
    held: list[str | None] = ["LogiSense is down (test)"]
    service.consumer.hold = lambda: held[0]
    wait_until(lambda: service.consumer.held_for is not None, what="holding")
    publish([account(n) for n in range(1, 6)])
    time.sleep(3)
    connection = pika.BlockingConnection(pika_parameters(backend.broker_url))
    try:
        queue = Topology(prefix=backend.prefix).work_queue_name
        ready = connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()
    assert ready == 5, "nothing taken while held"
    assert Store(backend.database_url).states() == {}
    held[0] = None
    _settle(backend, logisense, [account_id(n) for n in range(1, 6)], 60)
    assert service.consumer.link.reconnects == 0
