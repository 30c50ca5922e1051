"""The "write applied, response lost" fault (issue 12, Build 7): LogiSense applies a write and the
connection drops before its answer. billsync cannot know the write happened, retries, and must
still end with each account in LogiSense exactly once (it looks up ``sfdcid`` before creating).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.core.helpers import Store
from tests.factories import account, account_id
from tests.reliability.checker import check
from tests.reliability.report import record

pytestmark = [pytest.mark.reliability]


def test_writes_whose_response_is_lost_are_not_repeated(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    logisense.faults.update({"response_lost_rate": 0.3, "record_writes": True})
    run_worker(max_attempts=1000)
    started = time.monotonic()
    ids = [account_id(n) for n in range(1, 31)]
    publish([account(n) for n in range(1, 31)])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled(ids, ("pushed",)), timeout=120, what="all pushed")
    stats = logisense.stats.as_json()
    assert stats["responses_lost"] >= 3, "the fault was injected"
    outcome = check(
        fault=f"LogiSense write applied, response lost (30 %, {backend.name})",
        duration_s=time.monotonic() - started,
        changes=30,
        database_url=backend.database_url,
        logisense=logisense,
        expected={account_id(n): {"name": f"Account {n}"} for n in range(1, 31)},
        notes=f"{stats['responses_lost']} responses lost",
    )
    record(outcome)
    assert outcome.clean, outcome.row()
