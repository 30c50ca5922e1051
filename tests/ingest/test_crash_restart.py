"""``billsync ingest`` SIGKILLed and restarted during a stream of changes: every change still
reaches LogiSense, whose final state equals Salesforce's (issue 4, acceptance 2 as written:
5 kills during 5,000 changes; about 20 s on the 2-core machine, so it runs in the default suite).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import backend_env, logisense_env, salesforce_env, wait_until
from tests.ingest.conftest import ACCOUNT_FIELDS, ls_accounts, rep_api


@dataclass(frozen=True)
class Stream:
    """A stream of account changes made through the REST API, and when the ingest is killed.

    Changes: ``accounts`` creates, as many invoicer updates, then ``rounds`` rounds of
    ``per_round`` renames; the ingest is SIGKILLed right after each round in ``kill_at``.
    """

    accounts: int
    rounds: int
    per_round: int
    kill_at: tuple[int, ...]

    @property
    def changes(self) -> int:
        """How many record changes the stream makes."""
        return 2 * self.accounts + self.rounds * self.per_round


STREAM = Stream(accounts=200, rounds=46, per_round=100, kill_at=(6, 14, 22, 30, 38))


def _ingest_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).parent / "billsync"), "ingest"]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _collection(rep: Any, method: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    typed = [{"attributes": {"type": "Account"}, **r} for r in records]
    body = {"allOrNone": True, "records": typed}
    return list(rep.restful("composite/sobjects", method=method, json=body))


def test_killed_five_times_during_5000_changes(
    backend: Any, logisense: Any, salesforce: Any, run_worker: Any, tmp_path: Path
) -> None:
    """Each incarnation is killed right after a round of changes, while it publishes them."""
    assert STREAM.changes == 5000 and len(STREAM.kill_at) == 5
    _killed_during(STREAM, backend, logisense, salesforce, run_worker, tmp_path)


def _killed_during(
    stream: Stream, backend: Any, logisense: Any, salesforce: Any, run_worker: Any, tmp_path: Path
) -> None:
    if backend.name == "embedded":
        pytest.skip("a separate ingest process needs a shared broker (RabbitMQ)")
    run_worker()
    env = {
        **os.environ,
        **backend_env(backend),
        **salesforce_env(salesforce),
        **logisense_env(logisense),
    }
    log = tmp_path / "ingest.log"
    process = _ingest_process(env, log)
    wait_until(lambda: b"ingest listening" in log.read_bytes(), timeout=30, what="ingest up")
    # Each incarnation is killed right after a round of changes, while it publishes them.
    rep = rep_api(salesforce)
    created = _collection(
        rep, "POST", [{"Name": f"Crash {n}", **ACCOUNT_FIELDS} for n in range(stream.accounts)]
    )
    ids = [r["id"] for r in created]
    _collection(
        rep,
        "PATCH",
        [
            {"Id": i, "Subscription_Invoice_Recipient__c": i, "Usage_Invoice_Recipient__c": i}
            for i in ids
        ],
    )
    kills = 0
    try:
        for number in range(stream.rounds):
            start = (number * stream.per_round) % stream.accounts
            chosen = ids[start:][: stream.per_round]
            _collection(rep, "PATCH", [{"Id": i, "Name": f"{i} v{number}"} for i in chosen])
            if number in stream.kill_at:
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                kills += 1
                process = _ingest_process(env, log)
                up = kills + 1
                wait_until(
                    lambda: log.read_bytes().count(b"ingest listening") == up,  # noqa: B023
                    timeout=30,
                    what="ingest up again",
                )
            time.sleep(0.15)
        expected = {
            r["Id"][:15]: r["Name"]
            for r in rep.query_all("SELECT Id, Name FROM Account")["records"]
        }

        def converged() -> bool:
            held = ls_accounts(logisense)
            return all(held.get(k, {}).get("name") == v for k, v in expected.items())

        wait_until(converged, timeout=300, what="LogiSense equal to Salesforce")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
    assert kills == len(stream.kill_at)
    assert process.returncode == 0, log.read_text()[-2000:]
    assert len(expected) == stream.accounts
