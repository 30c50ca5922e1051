"""A message that makes a worker exit hard every time it is handled ends in the dead letters,
while every other message is processed (issue 6 acceptance 4).

Real ``billsync worker`` processes on RabbitMQ and PostgreSQL. The poison is made with the
testing aid ``BILLSYNC_FAULT_EXIT_ON_RECORD`` (the worker exits with status 70 while merging a
message for that record, holding its whole batch unacked). The test restarts the worker each
time it dies, as a supervisor would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.broker.publisher import publish_messages
from adapters.broker.topology import Topology
from adapters.store.models import InflightMessage, SyncRecord
from billsync.bootstrap import open_store
from billsync.config import load_settings
from billsync.errors import TransientError
from tests.conftest import Backend, cli_env, new_postgres_database
from tests.core.helpers import Store
from tests.factories import account, account_id
from tests.operations.history import ls_account_copies, states_total
from workers.ops import deadletters
from workers.sync.consumer import FAULT_EXIT_STATUS

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.slow]

GOOD = 300
POISON = 40  # early in the first batch: most of the batch is behind it
DELIVERY_LIMIT = 5  # the default: the consumer sets a message aside after 5 - 2 crashes
MAX_RESTARTS = 8


@pytest.fixture
def production_pair(rabbitmq_url: str, postgres_server: str) -> Iterator[Backend]:
    """RabbitMQ and a fresh PostgreSQL database, with a prefix of the test's own."""
    from tests.conftest import _delete_queues

    url, drop = new_postgres_database(postgres_server)
    prefix = f"p{uuid.uuid4().hex[:8]}"
    try:
        yield Backend("rabbitmq-postgres", rabbitmq_url, url, prefix)
    finally:
        _delete_queues(rabbitmq_url, prefix)
        drop()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m billsync worker``, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "billsync", "worker", "-c", "4"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stored_records(store: Store) -> int:
    """Sync records in the store: every merged message made one."""
    with store.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(SyncRecord)) or 0)


def test_poison_message_is_dead_lettered_and_the_rest_flow(
    production_pair: Backend, logisense: Any, tmp_path: Path
) -> None:
    backend = production_pair
    poison = account_id(POISON)
    good = [account_id(n) for n in range(1, GOOD + 2) if n != POISON]
    env = {
        **os.environ,
        **cli_env(backend, logisense),
        "BILLSYNC_FAULT_EXIT_ON_RECORD": poison,
        "BILLSYNC_DELIVERY_LIMIT": str(DELIVERY_LIMIT),
        "BILLSYNC_SWEEP_INTERVAL_S": "0.2",
        "BILLSYNC_LEASE_S": "5",
    }
    topology = Topology(prefix=backend.prefix, delivery_limit=DELIVERY_LIMIT)
    publish_messages(backend.broker_url, topology, [account(n) for n in range(1, GOOD + 2)])
    settings = load_settings(database_url=backend.database_url)
    sessions = open_store(settings, pool_size=2)
    store = Store(backend.database_url)
    log = tmp_path / "worker.log"

    exits: list[int] = []
    merged_at_exit: list[int] = []
    worker = start_worker(env, log)
    deadline = time.monotonic() + 120
    try:
        while True:
            if worker.poll() is not None:
                exits.append(worker.returncode)
                merged_at_exit.append(stored_records(store))
                assert len(exits) <= MAX_RESTARTS, f"worker died {len(exits)} times"
                worker = start_worker(env, log)
            letters = deadletters.list_dead_letters(sessions)
            if letters and states_total(store)["pushed"] == len(good):
                break
            assert time.monotonic() < deadline, (
                f"exits {exits}, {len(letters)} dead letters, states {states_total(store)}; "
                f"log tail: {log.read_text()[-3000:]}"
            )
            time.sleep(0.5)
        time.sleep(1.0)  # anything late (a second dead letter, a second create) shows up now
        assert worker.poll() is None, "the worker kept dying after the poison was set aside"
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()

    print(
        f"\nworker exits {exits}; records merged at each exit {merged_at_exit} "
        f"(of {len(good)} good)"
    )
    assert exits and all(code == FAULT_EXIT_STATUS for code in exits)
    # Set aside after delivery_limit - 2 counted crashes (the first crash, in a fresh batch,
    # counts nothing: the message was not yet known to be dangerous).
    assert len(exits) == DELIVERY_LIMIT - 2 + 1
    # Processed meanwhile: by the poison's last crash every good message had been taken in, so
    # none of them rode along with it towards the broker's delivery limit.
    assert merged_at_exit[-1] == len(good), merged_at_exit

    letters = deadletters.list_dead_letters(sessions, include_replayed=True)
    assert len(letters) == 1, [letter.reason for letter in letters]
    letter = deadletters.get_dead_letter(sessions, letters[0].id)
    assert letter is not None
    assert json.loads(letter.body)["record_id"] == poison
    assert "a worker stopped" in letter.reason

    states = store.states()
    assert poison not in states, "the poison never reached the store"
    assert {sfid: states.get(sfid) for sfid in good} == dict.fromkeys(good, "pushed")
    copies = ls_account_copies(logisense)
    assert copies == dict.fromkeys(good, 1), "every good account once, the poison never"
    with store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InflightMessage)) == 0
    assert _work_queue_ready(backend, topology) == 0


def _work_queue_ready(backend: Backend, topology: Topology) -> int:
    from adapters.broker.inspect import queue_figures

    try:
        figures = queue_figures(backend.broker_url, topology, "http://127.0.0.1:1")
    except TransientError:
        pytest.fail("the broker went away")
    return next(f.ready for f in figures if f.name == topology.work_queue_name)
