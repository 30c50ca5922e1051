"""`billsync status`, `failed` and `retry` as an operator runs them."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from billsync.cli import app
from tests.conftest import wait_until
from tests.core.helpers import Store
from tests.factories import account, account_id


def _env(backend: Any, logisense: Any) -> dict[str, str]:
    return {
        "BILLSYNC_DATABASE_URL": backend.database_url,
        "BILLSYNC_BROKER_URL": backend.broker_url,
        "BILLSYNC_QUEUE_PREFIX": backend.prefix,
        "BILLSYNC_LS_BASE_URL": logisense.base_url,
        "COLUMNS": "200",
    }


def test_status_shows_state_snapshot_id_and_history(
    backend: Any, logisense: Any, run_worker: Any, publish: Any
) -> None:
    run_worker()
    publish([account(1), account(2, parent=1), account(3, CurrencyIsoCode=None)])
    store = Store(backend.database_url)
    wait_until(lambda: store.settled([account_id(n) for n in (1, 2, 3)]), what="settled")
    runner = CliRunner()
    shown = runner.invoke(app, ["status", account_id(2)], env=_env(backend, logisense))
    assert shown.exit_code == 0, shown.output
    for text in (
        "pushed",
        "Account 2",
        "validated",
        "account-synced",
        "history",
        "ParentId",
        "LogiSense account",
    ):
        assert text in shown.output, text
    as_json = runner.invoke(app, ["status", account_id(2), "--json"], env=_env(backend, logisense))
    entity = json.loads(as_json.output)
    assert entity["state"] == "pushed" and entity["logisense_id"]
    assert [h["to_state"] for h in entity["history"]][-1] == "pushed"
    unknown = runner.invoke(app, ["status", account_id(99)], env=_env(backend, logisense))
    assert unknown.exit_code == 4
    failed = runner.invoke(app, ["failed", "--json"], env=_env(backend, logisense))
    reasons = {f["sfid"]: f["reason"] for f in json.loads(failed.output)["entities"]}
    assert "Currency (CurrencyIsoCode) is required" in reasons[account_id(3)]
    retried = runner.invoke(app, ["retry", account_id(3)], env=_env(backend, logisense))
    assert retried.exit_code == 0 and "1 entities moved" in retried.output
    wait_until(
        lambda: store.states()[account_id(3)] == "failed" and len(store.history(account_id(3))) > 3,
        what="failed again after retry",
    )
