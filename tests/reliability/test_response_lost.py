"""The "write applied, response lost" fault (issue 12, Build 7): LogiSense applies a write and the
connection drops before its answer. billsync cannot know the write happened, retries, and must
still end with each account in LogiSense exactly once (it looks up ``sfdcid`` before creating).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import wait_until
from tests.core.helpers import Store
from tests.factories import account, account_id

pytestmark = [pytest.mark.reliability]


def test_writes_whose_response_is_lost_are_not_repeated(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    logisense.faults.update({"response_lost_rate": 0.3})
    run_worker(max_attempts=1000)
    ids = [account_id(n) for n in range(1, 31)]
    publish([account(n) for n in range(1, 31)])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled(ids, ("pushed",)), timeout=120, what="all pushed")
    stats = logisense.stats.as_json()
    assert stats["responses_lost"] >= 3, "the fault was injected"
    with logisense.state.lock:
        sfdcids = [
            r["sfdcid"] for r in logisense.state.tables["Account"].values() if r.get("sfdcid")
        ]
    assert sorted(sfdcids) == sorted(ids), "each account exactly once"
