"""A RabbitMQ memory alarm (issue 12, Build 7): publishers are blocked, and billsync's confirmed
publisher reports that as a transient failure (nothing counts as enqueued that the broker did
not confirm); the worker survives it; once the alarm clears, everything is pushed once.

It lowers the broker's memory watermark, which every user of the broker feels, so it runs only
when ``BILLSYNC_BROKER_ALARM_TEST=1`` or on CI's own broker (``CI=true``); the watermark is
restored in a ``finally`` block whatever happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any

import pytest

from adapters.broker.publisher import open_publisher
from adapters.broker.topology import Topology
from billsync.bootstrap import open_store
from billsync.errors import TransientError
from billsync.messages import encode
from tests.conftest import settings_for, wait_until
from tests.core.helpers import Store
from tests.factories import account, account_id
from tests.reliability.checker import check
from tests.reliability.report import record
from workers.ops import deadletters

ENABLED = os.environ.get("BILLSYNC_BROKER_ALARM_TEST") == "1" or os.environ.get("CI") == "true"

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.rabbitmq,
    pytest.mark.skipif(
        not ENABLED, reason="changes the shared broker: set BILLSYNC_BROKER_ALARM_TEST=1"
    ),
]


def _rabbitmqctl(*args: str) -> str:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed here")
    done = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def _watermark_args(shown: str) -> list[str]:
    """``rabbitmqctl set_vm_memory_high_watermark`` arguments for what ``eval`` showed: a
    fraction (``0.4``) or ``{absolute,N}``."""
    if shown.startswith("{absolute,"):
        return ["absolute", shown.removeprefix("{absolute,").rstrip("}")]
    return [shown]


@pytest.mark.parametrize("backend", ["rabbitmq-postgres"], indirect=True)
def test_memory_alarm_blocks_publishing_and_nothing_is_lost(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    logisense.faults.update({"record_writes": True})
    service = run_worker()
    started = time.monotonic()
    publish([account(n) for n in range(1, 6)])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([account_id(n) for n in range(1, 6)]), what="first pushed")

    watermark = _rabbitmqctl("eval", "vm_memory_monitor:get_vm_memory_high_watermark().")
    topology = Topology(prefix=backend.prefix)
    blocked = False
    publisher = None
    try:
        _rabbitmqctl("set_vm_memory_high_watermark", "0.0001")
        time.sleep(3)  # the memory monitor notices within its interval
        publisher = open_publisher(backend.broker_url, topology, window=8)
        for n in range(6, 11):
            publisher.publish(encode(account(n)))
        publisher.flush(timeout=5)
    except TransientError:
        blocked = True  # not confirmed: the producer must send these again
    finally:
        # Restore first: closing a blocked connection may wait for the broker.
        _rabbitmqctl("set_vm_memory_high_watermark", *_watermark_args(watermark))
        if publisher is not None:
            publisher.close()
    alarm_s = time.monotonic() - started
    assert blocked, "the memory alarm blocked the publisher"
    publish([account(n) for n in range(6, 11)])  # the producer's resend after the alarm
    ids = [account_id(n) for n in range(1, 11)]
    wait_until(lambda: store.settled(ids, ("pushed",)), timeout=60, what="all pushed")
    sessions = open_store(settings_for(backend, logisense), pool_size=2)
    outcome = check(
        fault="RabbitMQ memory alarm",
        duration_s=alarm_s,
        changes=10,
        database_url=backend.database_url,
        logisense=logisense,
        expected={i: {"name": f"Account {n}"} for n, i in enumerate(ids, start=1)},
        dead_lettered=len(deadletters.list_dead_letters(sessions)),
        notes="publisher blocked, unconfirmed batch re-sent after the alarm",
    )
    record(outcome)
    assert outcome.clean, outcome.row()
    assert outcome.dead_lettered == 0
    assert all(thread.is_alive() for thread in service._threads)
