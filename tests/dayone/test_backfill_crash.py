"""A Bulk API 2.0 backfill SIGKILLed halfway and started again ends with every account once in
LogiSense (issue 10, acceptance 4, at 2,000 accounts; ``billsync bench`` runs 100,000)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import select

from adapters.store.backfill import BackfillCursor
from adapters.store.db import make_engine, session_factory
from tests.conftest import wait_until
from tests.dayone.test_backfill import cli_env
from tests.ingest.conftest import silent_account

ACCOUNTS = 2_000
SET_SIZE = 100


def backfill_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "billsync", "backfill", "--object", "Account", "--json"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_backfill_killed_halfway_resumes_without_duplicates(
    backend: Any, logisense: Any, salesforce: Any, sf_worker: Any
) -> None:
    if backend.name == "embedded":
        pytest.skip("a separate backfill process needs a shared broker (RabbitMQ)")
    ids = {silent_account(salesforce, f"Bulk Customer {n}") for n in range(ACCOUNTS)}
    sf_worker(worker_concurrency=8)
    env = {
        **cli_env(backend, logisense, salesforce),
        "BILLSYNC_BACKFILL_BULK_THRESHOLD": "0",
        "BILLSYNC_BACKFILL_SET_SIZE": str(SET_SIZE),
    }
    salesforce.faults.latency_ms = 40.0  # about 25 result sets a second: time to kill it midway
    sessions = session_factory(make_engine(backend.database_url, pool_size=1))

    def published() -> int:
        with sessions() as session:
            row = session.scalar(select(BackfillCursor).where(BackfillCursor.object == "Account"))
            return row.published if row is not None else 0

    first = backfill_process(env)
    try:
        wait_until(lambda: published() >= ACCOUNTS // 2, timeout=60, what="half published")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = published()
    assert at_kill < ACCOUNTS, "the backfill finished before it could be killed"
    salesforce.faults.latency_ms = 0.0

    second = backfill_process(env)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()[-2000:]
    report = json.loads(out)["objects"][0]
    assert report["resumed"] is True and report["mode"] == "bulk"
    assert report["read"] <= ACCOUNTS - at_kill + SET_SIZE  # went on, did not start over

    def every_account_once() -> bool:
        sfdcids = [r["sfdcid"] for r in logisense.state.account_views() if r.get("sfdcid")]
        return len(sfdcids) == ACCOUNTS and set(sfdcids) == ids

    wait_until(every_account_once, timeout=120, what="every account in LogiSense once")
