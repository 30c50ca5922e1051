"""Batches: many new accounts are claimed, planned and settled together, their LogiSense calls
side by side, one call per new account (no search: no create was ever attempted)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import wait_until
from tests.core.helpers import Store, ls_accounts
from tests.factories import account, account_id
from tests.operations.history import histories

SEARCH = "POST /ResourceServer/api/v*/Account/Search"
CREATE = "POST /ResourceServer/api/v*/Account"


def test_new_accounts_in_batches_one_call_each(
    backend: Any, logisense: Any, run_worker: Callable[..., Any], publish: Callable[..., int]
) -> None:
    count = 120
    store = Store(backend.database_url)
    service = run_worker(worker_concurrency=4, batch_size=16)
    publish([account(n) for n in range(1, count + 1)])
    sfids = [account_id(n) for n in range(1, count + 1)]
    wait_until(lambda: store.settled(sfids, ("pushed",)), timeout=120, what="all pushed")

    assert set(ls_accounts(logisense)) == set(sfids)
    routes = logisense.stats.as_json()["routes"]
    assert routes.get(CREATE) == count, "one create per account"
    assert routes.get(SEARCH, 0) == 0, "no search before a first create"
    assert service.engine.batched > 0, "nothing went through the batch path"
    for sfid, steps in histories(store).items():
        moves = [s.trigger for s in steps if s.trigger not in ("received", "scope")]
        assert moves == ["validate", "sync_account", "push"], (sfid, moves)
