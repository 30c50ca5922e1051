"""``billsync backfill --dry-run`` over 1,000 existing accounts, some invalid (issue 10,
acceptance 3): counts by outcome, each invalid one's reason, and nothing written anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from billsync.cli import app
from tests.dayone.conftest import sim_stats
from tests.dayone.test_backfill import cli_env
from tests.ingest.conftest import silent_account

ACCOUNTS = 1_000
NO_TERM = range(0, ACCOUNTS, 50)  # 20 accounts without an AR term
BAD_GROUP = range(7, ACCOUNTS, 100)  # 10 accounts naming a bill group LogiSense does not have


def _org(sim: Any) -> tuple[set[str], set[str]]:
    no_term, bad_group = set(), set()
    for n in range(ACCOUNTS):
        fields: dict[str, Any] = {}
        if n in NO_TERM:
            fields["LogiSense_AR_Term__c"] = None
        elif n in BAD_GROUP:
            fields["LogiSense_Bill_Group__c"] = "Fortnightly"
        sfid = silent_account(sim, f"Existing {n}", **fields)
        (no_term if n in NO_TERM else bad_group if n in BAD_GROUP else set()).add(sfid)
    return no_term, bad_group


def test_dry_run_previews_without_writing(backend: Any, logisense: Any, salesforce: Any) -> None:
    no_term, bad_group = _org(salesforce)
    env = {**cli_env(backend, logisense, salesforce), "BILLSYNC_BACKFILL_BULK_THRESHOLD": "500"}
    writes_before = logisense.stats.writes_total
    runner = CliRunner()

    shown = runner.invoke(app, ["backfill", "--object", "Account", "--dry-run"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "nothing was written" in shown.output
    total_row = next(line for line in shown.output.splitlines() if " total " in line)
    cells = [c for c in total_row.replace("│", " ").split() if c]
    valid = ACCOUNTS - len(no_term) - len(bad_group)
    assert cells[1:6] == [str(valid), "0", "0", str(len(no_term) + len(bad_group)), "0"]
    for sfid in no_term:
        assert f"fail    Account {sfid}" in shown.output
    assert "Accounts receivable term (LogiSense_AR_Term__c) is required" in shown.output
    assert "'Fortnightly' (LogiSense_Bill_Group__c) does not exist in LogiSense" in shown.output

    as_json = runner.invoke(app, ["backfill", "--dry-run", "--json"], env=env)
    preview = json.loads(as_json.stdout)
    assert preview["totals"]["create"] == valid
    failed = {n["sfid"]: n["reason"] for n in preview["notes"] if n["outcome"] == "fail"}
    assert set(failed) == no_term | bad_group
    # Above the threshold, the accounts were read by a Bulk API 2.0 query job.
    assert sim_stats(salesforce)["routes"].get("POST /services/data/jobs/query", 0) == 2

    assert logisense.stats.writes_total == writes_before
    _assert_store_untouched(backend)
    _assert_broker_untouched(backend)

    # The real run shows its progress and what it read and published.
    loaded = runner.invoke(app, ["backfill", "--object", "Account"], env=env)
    assert loaded.exit_code == 0, loaded.output
    assert "Account" in loaded.output and f"{ACCOUNTS}/{ACCOUNTS}" in loaded.output
    row = next(line for line in loaded.output.splitlines() if line.startswith("│ Account"))
    assert [c for c in row.replace("│", " ").split() if c][1:5] == ["bulk", "1000", "1000", "1000"]


def _assert_store_untouched(backend: Any) -> None:
    url = backend.database_url
    if url.startswith("sqlite:///"):
        assert not Path(url[len("sqlite:///") :]).exists()
        return
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def _assert_broker_untouched(backend: Any) -> None:
    if not backend.broker_url.startswith("amqp"):
        return  # the in-memory transport lives in this process: nothing to look at
    import kombu

    with kombu.Connection(backend.broker_url) as conn:
        channel = conn.channel()
        with pytest.raises(Exception, match="NOT_FOUND"):
            channel.queue_declare(f"{backend.prefix}.changes", passive=True)
