"""The lifecycle's events as pure functions: what each one changes (no store, no broker)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from statemachine import lifecycle
from statemachine.lifecycle import KEEP, Outcome, RetryPolicy
from statemachine.machine import IllegalTransition, Trigger

POLICY = RetryPolicy(budget_s=3600.0, base_s=1.0, cap_s=60.0)


@dataclass
class Entity:
    state: str = "pending"
    attempts: int = 0
    retry_since: float | None = None
    waiting_for: str | None = None


def test_a_timeout_schedules_a_retry_and_keeps_the_state() -> None:
    change = lifecycle.failed_transiently(
        Entity("account-synced"), "timed out", now=1000.0, policy=POLICY, rng=random.Random(1)
    )
    assert change.state == "account-synced"
    assert change.outcome is Outcome.RETRY_SCHEDULED
    assert change.attempts == 1
    assert change.retry_since == 1000.0
    assert isinstance(change.due_in, float) and 0.5 <= change.due_in <= 1.0
    assert change.last_error == "timed out"
    (row,) = change.history
    assert row.trigger is Trigger.RETRY_SCHEDULED and row.attempt == 1
    assert f"next in {change.due_in:.1f}s" in (row.reason or "")


def test_backoff_grows_to_the_cap_and_retry_after_is_a_floor() -> None:
    delays = [POLICY.delay(n, rng=random.Random(n)) for n in range(1, 12)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(60.0, 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert POLICY.delay(1, retry_after=30.0) >= 30.0
    assert POLICY.delay(1, retry_after=10_000.0) <= 60.0
    assert POLICY.delay(10_000) <= 60.0


def test_the_budget_counts_time_not_attempts() -> None:
    entity = Entity("validated", attempts=500, retry_since=1000.0)
    still = lifecycle.failed_transiently(entity, "503", now=1000.0 + 3599, policy=POLICY)
    assert still.state == "validated" and still.attempts == 501
    assert still.retry_since == 1000.0, "the run of failures keeps its start"
    spent = lifecycle.failed_transiently(entity, "503", now=1000.0 + 3600, policy=POLICY)
    assert spent.state == "failed" and spent.outcome is Outcome.FAILED
    assert spent.due_in is None and spent.wake_waiters
    assert "retry budget 3600s" in (spent.reason or "") and spent.last_error == "503"
    assert spent.history[0].trigger is Trigger.FAIL


def test_a_new_run_of_failures_starts_a_new_budget() -> None:
    # attempts were reset by a push or a change: an old retry_since no longer counts
    entity = Entity("pending", attempts=0, retry_since=1.0)
    change = lifecycle.failed_transiently(entity, "503", now=1_000_000.0, policy=POLICY)
    assert change.state == "pending" and change.retry_since == 1_000_000.0


def test_a_rejection_fails_at_once_from_pending_or_later() -> None:
    assert lifecycle.rejected(Entity("pending"), "no currency").history[0].trigger is Trigger.REJECT
    change = lifecycle.rejected(Entity("account-synced", attempts=2), "refused (400)")
    assert change.state == "failed" and change.due_in is None and change.retry_since is None
    assert change.history[0].trigger is Trigger.FAIL and change.attempts == 2
    assert lifecycle.rejected(Entity("validated"), "x", count_attempt=True).attempts == 1
    with pytest.raises(IllegalTransition):
        lifecycle.rejected(Entity("pushed"), "x")


def test_waiting_validates_once_and_notes_a_new_reason_only() -> None:
    first = lifecycle.waiting(Entity("pending"), "waits for parent account X")
    assert first.state == "validated" and first.due_in is None
    assert [r.trigger for r in first.history] == [Trigger.VALIDATE, Trigger.WAIT]
    again = lifecycle.waiting(
        Entity("validated", waiting_for="waits for parent account X"), "waits for parent account X"
    )
    assert again.history == () and again.outcome is Outcome.WAITING


def test_pushed_clears_retries_and_goes_round_again_on_a_newer_change() -> None:
    entity = Entity("account-synced", attempts=3, retry_since=5.0)
    done = lifecycle.pushed(entity, "written", newer_change=False, in_scope=True, coalesce_s=1.0)
    assert done.state == "pushed" and done.attempts == 0 and done.retry_since is None
    assert done.due_in is None and done.last_error is None
    again = lifecycle.pushed(entity, "written", newer_change=True, in_scope=True, coalesce_s=1.0)
    assert again.state == "pending" and again.due_in == 1.0
    assert [r.trigger for r in again.history] == [Trigger.PUSH, Trigger.CHANGE]


def test_released_and_changed() -> None:
    assert lifecycle.released(Entity("validated"), "parent ready").due_in == 0.0
    change = lifecycle.changed(Entity("failed", attempts=4), "newer change")
    assert change.state == "pending" and change.attempts == 0 and change.due_in is KEEP
    assert not change.release


def test_a_salesforce_change_sends_pushed_and_failed_entities_round_again() -> None:
    failed = lifecycle.changed_in_salesforce(
        Entity("failed", attempts=3), in_scope=True, needs_push=False, scheduled=False, due_in=0.0
    )
    assert failed is not None and failed.state == "pending" and failed.attempts == 0
    assert [(r.trigger, r.attempt) for r in failed.history] == [(Trigger.CHANGE, 3)]
    assert failed.due_in == 0.0 and failed.release is False
    unmapped = lifecycle.changed_in_salesforce(
        Entity("pushed"), in_scope=True, needs_push=False, scheduled=False, due_in=0.0
    )
    assert unmapped is None
    coalesced = lifecycle.changed_in_salesforce(
        Entity("pushed"), in_scope=True, needs_push=True, scheduled=False, due_in=5.0
    )
    assert coalesced is not None and coalesced.state == "pending" and coalesced.due_in == 5.0


def test_a_scheduled_entity_keeps_its_time_and_one_out_of_scope_is_not_due() -> None:
    retrying = lifecycle.changed_in_salesforce(
        Entity("validated", attempts=2), in_scope=True, needs_push=True, scheduled=True, due_in=0.0
    )
    assert retrying is not None and retrying.due_in is KEEP and retrying.attempts == 2
    assert retrying.history == ()
    gone = lifecycle.changed_in_salesforce(
        Entity("pending"), in_scope=False, needs_push=True, scheduled=True, due_in=0.0
    )
    assert gone is not None and gone.due_in is None and gone.state == "pending"


def test_a_push_request_makes_the_entity_due_now() -> None:
    again = lifecycle.push_requested(Entity("pushed"))
    assert again.state == "pending" and again.due_in == 0.0
    assert [r.trigger for r in again.history] == [Trigger.CHANGE]
    busy = lifecycle.push_requested(Entity("validated", attempts=1))
    assert busy.state == "validated" and busy.attempts == 1 and busy.due_in == 0.0
    assert [r.trigger for r in busy.history] == [Trigger.PUSH_REQUESTED]


def test_an_operator_retry_starts_afresh_and_gives_the_lease_back() -> None:
    change = lifecycle.retried_by_operator(Entity("failed", attempts=4), "ops@host")
    assert change.state == "pending" and change.attempts == 0 and change.due_in == 0.0
    assert change.release is True
    assert [(r.trigger, r.reason, r.attempt) for r in change.history] == [
        (Trigger.RETRY, "retried by ops@host", 4)
    ]
    with pytest.raises(IllegalTransition):
        lifecycle.retried_by_operator(Entity("pushed"), "ops@host")


def test_a_drift_repair_re_queues_a_pushed_entity_and_notes_any_other() -> None:
    pushed = lifecycle.repaired(Entity("pushed"), "drift repair: LogiSense differs in name")
    assert pushed.state == "pending" and pushed.due_in == 0.0
    assert [r.trigger for r in pushed.history] == [Trigger.CHANGE]
    busy = lifecycle.repaired(Entity("validated", attempts=1), "drift repair: x")
    assert busy.state == "validated" and busy.due_in is KEEP and busy.attempts == 1
    assert [r.trigger for r in busy.history] == [Trigger.DRIFT]
