"""A worker killed after its LogiSense write and before recording it: after a restart, no
duplicate (issue 3 acceptance 7). Real processes on RabbitMQ and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.broker.publisher import publish_messages
from adapters.broker.topology import Topology
from tests.conftest import new_postgres_database, wait_until
from tests.core.helpers import Store, ls_accounts, worker_process
from tests.factories import account, account_id


@pytest.fixture
def production_pair(rabbitmq_url: str, postgres_server: str) -> Iterator[tuple[str, str, str]]:
    url, drop = new_postgres_database(postgres_server)
    yield rabbitmq_url, url, f"k{uuid.uuid4().hex[:8]}"
    drop()


def _worker(broker: str, database: str, prefix: str, logisense: Any) -> subprocess.Popen[bytes]:
    return worker_process(broker, database, prefix, logisense, lease_s="2", http_timeout_s="10")


def _state(store: Store, sfid: str, column: str = "state") -> Any:
    """A column of the entity's record; None until the worker's migration and intake ran."""
    try:
        return getattr(store.record(sfid), column)
    except Exception:
        return None


def _route_count(logisense: Any, route: str) -> int:
    return int(logisense.stats.as_json()["routes"].get(route, 0))


def test_killed_between_write_and_record_creates_no_duplicate(
    production_pair: tuple[str, str, str], logisense: Any
) -> None:
    broker, database, prefix = production_pair
    search = "POST /ResourceServer/api/v*/Account/Search"
    create = "POST /ResourceServer/api/v*/Account"
    first = _worker(broker, database, prefix, logisense)
    store = Store(database)
    try:
        # Warm the worker up (login, reference data) on another account, so that the only
        # request for account 77 is its create: a first create needs no search.
        publish_messages(broker, Topology(prefix=prefix), [account(76)])
        wait_until(lambda: _state(store, account_id(76)) == "pushed", what="warm-up")
        logisense.faults.latency_ms = 1500
        publish_messages(broker, Topology(prefix=prefix), [account(77)])
        wait_until(
            lambda: _state(store, account_id(77), "create_attempted_at"),
            timeout=60,
            what="create attempted",
        )
        time.sleep(0.5)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        wait_until(
            lambda: account_id(77) in ls_accounts(logisense),
            timeout=10,
            what="the in-flight create landed in LogiSense",
        )
    finally:
        if first.poll() is None:
            first.kill()
    logisense.faults.latency_ms = 0
    assert store.states()[account_id(77)] != "pushed"
    second = _worker(broker, database, prefix, logisense)
    try:
        wait_until(
            lambda: store.states().get(account_id(77)) == "pushed",
            timeout=40,
            what="pushed after restart",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    copies = [a for a in logisense.state.account_views() if a["sfdcid"] == account_id(77)]
    assert len(copies) == 1
    assert _route_count(logisense, create) == 2, "one create each for accounts 76 and 77"
    assert _route_count(logisense, search) >= 1, "the retry looked the create up by sfdcid"
    assert store.record(account_id(77)).ls_id == copies[0]["identity"]
