"""Reading what a run left behind: state counts, every entity's history, LogiSense's accounts."""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from adapters.store.models import SyncRecord, Transition
from billsync.bootstrap import open_store
from billsync.config import load_settings
from statemachine.lifecycle import RetryPolicy
from tests.core.helpers import Store
from workers.ops.admin import state_counts
from workers.ops.deadletters import DeadLetterView, list_dead_letters

RETRY_SCHEDULED = "retry-scheduled"
#: Triggers after which an entity's attempts count from 1 again (a success, an operator retry).
ATTEMPTS_RESET_BY = frozenset({"push", "retry"})
STATED_DELAY = re.compile(r"next in (\d+(?:\.\d+)?)s")
#: The history's times are floats written by one clock; allow for their rounding only.
CLOCK_TOLERANCE_S = 0.005
#: The history states each delay with one decimal.
STATED_ROUNDING_S = 0.05


def states_total(store: Store) -> Counter[str]:
    """Entities per state, all objects together."""
    total: Counter[str] = Counter()
    for per_state in state_counts(store.sessions).values():
        total.update(per_state)
    return total


def wait_for_states(
    store: Store, expected: dict[str, int], *, timeout: float, fail_on: str | None = None
) -> float:
    """Poll (once a second) until the state counts include ``expected``; the seconds it took.

    ``fail_on``: a state that must not appear (fail at once, with reasons, instead of waiting).
    """
    started = time.monotonic()
    while True:
        counts = states_total(store)
        if all(counts[state] >= n for state, n in expected.items()):
            return time.monotonic() - started
        if fail_on and counts[fail_on]:
            with store.sessions() as session:
                reasons = session.scalars(
                    select(SyncRecord.last_error).where(SyncRecord.state == fail_on).limit(5)
                ).all()
            pytest.fail(f"{counts[fail_on]} entities reached {fail_on}: {reasons}")
        if time.monotonic() - started > timeout:
            pytest.fail(f"after {timeout}s the states are {dict(counts)}, expected {expected}")
        time.sleep(1.0)


@dataclass(frozen=True)
class Step:
    """One history row, as the delay check needs it."""

    trigger: str
    attempt: int
    at: float
    reason: str


def histories(store: Store) -> dict[str, list[Step]]:
    """Every entity's history in order, by Salesforce id (one query)."""
    found: dict[str, list[Step]] = defaultdict(list)
    with store.sessions() as session:
        rows = session.execute(
            select(
                SyncRecord.sfid,
                Transition.trigger,
                Transition.attempt,
                Transition.at,
                Transition.reason,
            )
            .join(SyncRecord, SyncRecord.id == Transition.record_id)
            .order_by(Transition.record_id, Transition.id)
        )
        for sfid, trigger, attempt, at, reason in rows:
            found[sfid].append(Step(trigger, attempt, at, reason or ""))
    return dict(found)


@dataclass
class RetryAudit:
    """What the histories say about retries, and every place they broke the policy."""

    retries: int = 0
    max_attempt: int = 0
    attempts_per_entity: Counter[int] = field(default_factory=Counter)
    shortest_ratio: float = float("inf")
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The figures, for the test log and the report."""
        spread = dict(sorted(self.attempts_per_entity.items()))
        return (
            f"{self.retries} retries scheduled, highest attempt {self.max_attempt}, "
            f"entities by failed attempts {spread}, shortest wait / policy floor "
            f"{self.shortest_ratio:.2f}"
        )


def audit_retries(history: dict[str, list[Step]], policy: RetryPolicy) -> RetryAudit:
    """Check every ``retry-scheduled`` row against the policy.

    For failed attempt ``n`` the policy draws a delay between half and all of
    ``min(cap, base * 2**(n-1))``. The row states the delay drawn (it must lie in that range), and
    whatever comes next in the entity's history (the next failure, or progress) must come at
    least that long after it: no retry sooner than half the ceiling, i.e. no hot loop. Attempt
    numbers of one entity must count up 1, 2, 3, ... between successes.
    """
    audit = RetryAudit()
    for sfid, steps in history.items():
        expected_attempt = 1
        failed_attempts = 0
        for index, step in enumerate(steps):
            if step.trigger in ATTEMPTS_RESET_BY:
                expected_attempt = 1
            if step.trigger != RETRY_SCHEDULED:
                continue
            audit.retries += 1
            failed_attempts += 1
            n = step.attempt
            audit.max_attempt = max(audit.max_attempt, n)
            if n != expected_attempt:
                audit.problems.append(f"{sfid}: attempt {n} where {expected_attempt} was due")
            expected_attempt = n + 1
            ceiling = min(policy.cap_s, policy.base_s * 2 ** (n - 1))
            floor = ceiling / 2
            stated = STATED_DELAY.search(step.reason)
            if stated is None:
                audit.problems.append(f"{sfid}: no delay stated in {step.reason!r}")
            else:
                delay = float(stated.group(1))
                if not floor - STATED_ROUNDING_S <= delay <= ceiling + STATED_ROUNDING_S:
                    audit.problems.append(
                        f"{sfid}: attempt {n} scheduled {delay}s, policy {floor:.3f}-{ceiling:.3f}s"
                    )
            if index + 1 == len(steps):
                audit.problems.append(f"{sfid}: a retry was scheduled and nothing followed")
                continue
            waited = steps[index + 1].at - step.at
            audit.shortest_ratio = min(audit.shortest_ratio, waited / floor)
            if waited < floor - CLOCK_TOLERANCE_S:
                audit.problems.append(
                    f"{sfid}: attempt {n + 1} came {waited:.3f}s after attempt {n} failed, "
                    f"sooner than the policy's floor {floor:.3f}s"
                )
        audit.attempts_per_entity[failed_attempts] += 1
    return audit


def wait_for_dead_letters(
    database_url: str, count: int, *, timeout: float = 60.0
) -> list[DeadLetterView]:
    """Poll the store until it keeps ``count`` dead letters (not replayed); them, newest first."""
    sessions = open_store(load_settings(database_url=database_url), pool_size=2)
    deadline = time.monotonic() + timeout
    while True:
        letters = list_dead_letters(sessions, limit=1000)
        if len(letters) >= count:
            return letters
        if time.monotonic() > deadline:
            pytest.fail(
                f"after {timeout}s the store keeps {len(letters)} dead letters, not {count}"
            )
        time.sleep(0.2)


def ls_account_copies(sim: Any) -> Counter[str]:
    """How many LogiSense accounts carry each sfdcid (duplicates show as counts above 1)."""
    return Counter(str(r["sfdcid"]) for r in sim.state.account_views() if r.get("sfdcid"))
