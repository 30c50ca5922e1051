"""One active ingest (issue 10, acceptance 7): a second ``billsync ingest`` waits as a standby,
takes over within 10 s of the active one being SIGKILLed, and the 1,000 changes made meanwhile
all reach LogiSense once. Real processes, RabbitMQ and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.dayone.test_backfill import cli_env
from tests.ingest.conftest import ls_accounts, new_account, rep_api

CHANGES = 1_000
BATCH = 200
LISTENING = b"ingest listening"


def ingest_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).parent / "billsync"), "ingest"]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def create_accounts(rep: Any, payer: str, names: list[str]) -> list[str]:
    from tests.ingest.conftest import ACCOUNT_FIELDS

    records = [
        {
            "attributes": {"type": "Account"},
            "Name": name,
            **ACCOUNT_FIELDS,
            "Subscription_Invoice_Recipient__c": payer,
            "Usage_Invoice_Recipient__c": payer,
        }
        for name in names
    ]
    answer = rep.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
    )
    return [str(r["id"]) for r in answer]


def test_standby_takes_over_and_nothing_is_lost_or_doubled(
    backend: Any, logisense: Any, salesforce: Any, sf_worker: Any, tmp_path: Path
) -> None:
    if backend.name == "embedded":
        pytest.skip("separate ingest processes need a shared broker and store")
    sf_worker(worker_concurrency=8)
    env = {**os.environ, **cli_env(backend, logisense, salesforce)}  # the default lease: 5 s
    active_log, standby_log = tmp_path / "active.log", tmp_path / "standby.log"
    active = ingest_process(env, active_log)
    standby: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: LISTENING in active_log.read_bytes(), timeout=30, what="active up")
        # On an empty store, the first thing it says is how to load what already exists.
        assert b"empty store" in active_log.read_bytes()
        assert b"billsync backfill --dry-run" in active_log.read_bytes()
        standby = ingest_process(env, standby_log)
        wait_until(lambda: b"standby" in standby_log.read_bytes(), timeout=30, what="standby")
        rep = rep_api(salesforce)
        payer = new_account(rep, "Payer Co")
        wait_until(lambda: payer[:15] in ls_accounts(logisense), what="payer in LogiSense")
        assert LISTENING not in standby_log.read_bytes()  # one publisher at a time

        active.send_signal(signal.SIGKILL)
        active.wait(10)
        killed_at = time.monotonic()
        ids: list[str] = []
        for start in range(0, CHANGES, BATCH):
            ids += create_accounts(
                rep, payer, [f"Meanwhile {n}" for n in range(start, start + BATCH)]
            )
        wait_until(lambda: LISTENING in standby_log.read_bytes(), timeout=15, what="takeover")
        took_over_s = time.monotonic() - killed_at
        assert took_over_s <= 10, f"standby took {took_over_s:.1f} s to take over"

        def all_once() -> bool:
            counts = Counter(
                r["sfdcid"] for r in logisense.state.account_views() if r.get("sfdcid")
            )
            return all(counts.get(i) == 1 for i in ids)

        wait_until(all_once, timeout=180, what="the 1,000 accounts in LogiSense")
        counts = Counter(r["sfdcid"] for r in logisense.state.account_views() if r.get("sfdcid"))
        assert max(counts.values()) == 1 and len(counts) == CHANGES + 1
    finally:
        for process in (active, standby):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
