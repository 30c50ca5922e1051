"""Retries when LogiSense is flaky or down (issue 6 acceptance 1 and 2), on both backends.

1,000 accounts through 30 % HTTP 503 and 10 % timeouts all end pushed, once each, with every
retry in the history and no retry sooner than the policy allows; with LogiSense down and a
retry budget of a second, entities fail once the budget is spent, with the last error, and
``billsync retry --all`` (the real CLI) pushes them once LogiSense is back. Both runs keep the
circuit breaker closed (a threshold no run reaches): they are about one entity's schedule; the
breaker has its own tests (tests/core/test_outages.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import Result

from statemachine.lifecycle import RetryPolicy
from tests.core.helpers import Store
from tests.factories import account, account_id
from tests.operations.history import (
    RETRY_SCHEDULED,
    audit_retries,
    histories,
    ls_account_copies,
    states_total,
    wait_for_states,
)

pytestmark = pytest.mark.slow

ENTITIES = 1000
FLAKY = {"error_rate": 0.3, "error_status": 503, "timeout_rate": 0.1, "timeout_s": 1.5}
#: 30 % + 10 % of requests fail and an account push takes two or three requests, so an attempt
#: succeeds about 40 % of the time: 60 attempts leave a 1,000-entity run ~1e-10 to lose one.
FLAKY_POLICY = RetryPolicy(budget_s=3600.0, base_s=0.05, cap_s=1.0)
DOWN_POLICY = RetryPolicy(budget_s=0.3, base_s=0.05, cap_s=0.2)


def policy_settings(policy: RetryPolicy) -> dict[str, Any]:
    """The worker settings that make ``policy`` (breaker kept closed)."""
    return {
        "retry_budget_s": policy.budget_s,
        "backoff_base_s": policy.base_s,
        "backoff_cap_s": policy.cap_s,
        "circuit_threshold": 1_000_000,
    }


def test_flaky_logisense_every_entity_pushed_once_with_backoff(
    backend: Any, logisense: Any, run_worker: Callable[..., Any], publish: Callable[..., int]
) -> None:
    logisense.faults.update(FLAKY)
    run_worker(worker_concurrency=16, http_timeout_s=1.0, **policy_settings(FLAKY_POLICY))
    started = time.monotonic()
    publish([account(n) for n in range(1, ENTITIES + 1)])
    store = Store(backend.database_url)
    wait_for_states(store, {"pushed": ENTITIES}, timeout=240, fail_on="failed")
    took = time.monotonic() - started
    stats = logisense.stats.as_json()
    logisense.faults.update({"error_rate": 0.0, "timeout_rate": 0.0})

    assert states_total(store)["pushed"] == ENTITIES
    copies = ls_account_copies(logisense)
    assert set(copies) == {account_id(n) for n in range(1, ENTITIES + 1)}
    assert max(copies.values()) == 1, "an account was created twice in LogiSense"

    audit = audit_retries(histories(store), FLAKY_POLICY)
    print(
        f"\n[{backend.name}] {ENTITIES} accounts pushed in {took:.1f}s; {audit.summary()}; "
        f"LogiSense: {stats['requests_total']} requests, {stats['faults_injected']} faults "
        f"injected, {stats['writes_total']} writes"
    )
    assert audit.problems == [], audit.problems[:10]
    assert audit.retries > ENTITIES / 2, "the faults should have caused many retries"
    # Every failed attempt stops at its first failed request, so retries follow faults one to
    # one (plus the odd real timeout of a busy machine): no attempt is repeated without cause.
    assert audit.retries <= stats["faults_injected"] * 1.1 + 20


def test_logisense_down_fails_after_attempts_then_retry_all_pushes(
    backend: Any,
    logisense: Any,
    run_worker: Callable[..., Any],
    publish: Callable[..., int],
    cli: Callable[..., Result],
) -> None:
    count = 20
    sfids = [account_id(n) for n in range(1, count + 1)]
    logisense.faults.update({"error_rate": 1.0, "error_status": 503})
    run_worker(worker_concurrency=8, **policy_settings(DOWN_POLICY))
    publish([account(n) for n in range(1, count + 1)])
    store = Store(backend.database_url)
    wait_for_states(store, {"failed": count}, timeout=90)
    assert ls_account_copies(logisense) == {}

    history = histories(store)
    for sfid in sfids:
        record = store.record(sfid)
        assert record.state == "failed"
        assert record.attempts >= 2
        assert record.last_error and "(503)" in record.last_error
        scheduled = [s.attempt for s in history[sfid] if s.trigger == RETRY_SCHEDULED]
        assert scheduled == list(range(1, record.attempts))
        last = history[sfid][-1]
        assert last.trigger in ("reject", "fail")
        assert last.reason is not None
        assert last.reason.startswith(f"gave up after {record.attempts} attempts over ")
        assert last.reason.endswith(f"(retry budget 0s); last error: {record.last_error}")
    assert audit_retries(history, DOWN_POLICY).problems == []

    listed = cli("failed", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)["entities"]
    assert sorted(r["sfid"] for r in rows) == sfids
    assert all(r["attempts"] >= 2 and "(503)" in r["reason"] for r in rows)
    human = cli("failed")
    assert human.exit_code == 0, human.output
    assert f"{count} failed" in human.stdout and sfids[0] in human.stdout

    logisense.faults.update({"error_rate": 0.0})
    retried = cli("retry", "--all")
    assert retried.exit_code == 0, retried.output
    assert f"{count} entities moved from failed to pending" in retried.stdout
    wait_for_states(store, {"pushed": count}, timeout=60, fail_on="failed")
    assert ls_account_copies(logisense) == dict.fromkeys(sfids, 1)
    assert json.loads(cli("failed", "--json").stdout)["entities"] == []
    again = cli("retry", sfids[0])
    assert again.exit_code == 1, "retrying an entity that is not failed is refused"
    assert f"{sfids[0]} is pushed, not failed" in again.output
