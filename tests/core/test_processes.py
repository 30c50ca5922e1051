"""Two worker processes on RabbitMQ and PostgreSQL: a 3-level hierarchy enqueued child-first ends
pushed with the right parent links; an invoice recipient is pushed before the account naming it
(issue 3 acceptance 2)."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.broker.publisher import publish_messages
from adapters.broker.topology import Topology
from adapters.store.db import migrate
from tests.conftest import _delete_queues, new_postgres_database, wait_until
from tests.core.helpers import Store, ls_accounts, worker_process
from tests.factories import account, account_id


@pytest.fixture
def production_pair(rabbitmq_url: str, postgres_server: str) -> Iterator[tuple[str, str, str]]:
    url, drop = new_postgres_database(postgres_server)
    migrate(url)
    prefix = f"w{uuid.uuid4().hex[:8]}"
    yield rabbitmq_url, url, prefix
    _delete_queues(rabbitmq_url, prefix)
    drop()


def test_two_worker_processes_honour_the_hierarchy(
    production_pair: tuple[str, str, str], logisense: Any
) -> None:
    broker, database, prefix = production_pair
    workers = [worker_process(broker, database, prefix, logisense) for _ in range(2)]
    try:
        grandchildren = [account(100 + n, parent=10 + n % 3) for n in range(9)]
        children = [account(10 + n, parent=1) for n in range(3)]
        payer, paid = account(50), account(51, invoicer=50)
        publish_messages(
            broker, Topology(prefix=prefix), [*grandchildren, *children, paid, account(1), payer]
        )
        store = Store(database)
        ids = [m.record_id for m in (*grandchildren, *children, payer, paid)] + [account_id(1)]
        wait_until(lambda: store.settled(ids), what="all settled")
        assert {store.states()[i] for i in ids} == {"pushed"}
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            process.wait(30)
    held = ls_accounts(logisense)
    identity = {sfid: a["identity"] for sfid, a in held.items()}
    for n in range(9):
        assert held[account_id(100 + n)]["parentAccountId"] == identity[account_id(10 + n % 3)]
    for n in range(3):
        assert held[account_id(10 + n)]["parentAccountId"] == identity[account_id(1)]
    assert held[account_id(51)]["invoicerAccountId"] == identity[account_id(50)]
    assert held[account_id(51)]["usageInvoicerAccountId"] == identity[account_id(50)]
    assert len(held) == len(ids)
