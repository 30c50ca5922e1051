"""An entity's lifecycle: every event that can happen to a sync record, and what it changes.

Read this module to know what billsync does with an entity. Each function below takes the
entity as it is (its state, attempts, when its retries began) and returns a ``Change``: the new
state, attempts, when the entity is next due, its last error, and the history rows to write. No
I/O happens here; the store (``adapters.store.records.apply``) writes a ``Change`` in the same
transaction as the data it depends on, and is the only writer of sync records and history.

What happens to an entity when LogiSense times out (or answers 5xx, 429, or drops the
connection)? The sync raises ``TransientError``; ``failed_transiently`` counts the attempt,
notes when this run of failures began (``retry_since``), and schedules the next attempt after a
capped exponential backoff with jitter (``RetryPolicy.delay``; a server's ``Retry-After`` is a
floor). The entity keeps its state and stays due: no operator action is needed. Only when the
whole run of failures has lasted longer than the retry budget (``RetryPolicy.budget_s``, hours
by default) does the entity go to ``failed`` with the last error. Meanwhile the worker's circuit
breaker for that system (``workers.sync.retries``) stops claiming entities while the system is down
and probes it, so an outage costs one call per probe interval rather than one per entity; when
the system is back the breaker makes every scheduled retry due at once (``released``, which the
store applies to all of them in one statement, as it does for the waiters an entity wakes).

A permanent error (a rule, a 4xx that is not 408/429) is ``rejected``: ``failed`` at once, no
retry. An entity that needs another one first is ``waiting`` (no due time: the other one wakes
it). A write that succeeded is ``pushed``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from statemachine.machine import (
    ACCOUNT_SYNCED,
    FAILED,
    MACHINE,
    PENDING,
    PUSHED,
    VALIDATED,
    Trigger,
)

#: Default retry budget: how long a run of transient failures may last before ``failed``.
DEFAULT_RETRY_BUDGET_S = 6 * 3600.0


class Outcome(StrEnum):
    """What an event meant for the entity, as its outcome log line names it."""

    RETRY_SCHEDULED = "retry scheduled"
    WAITING = "waiting on"
    RELEASED = "released"
    PUSHED = "pushed"
    FAILED = "failed"
    PROGRESS = "progress"


class Entity(Protocol):
    """What the lifecycle reads of a sync record (a store row, or a plain object in tests)."""

    state: str
    attempts: int
    retry_since: float | None
    waiting_for: str | None


@dataclass(frozen=True)
class HistoryRow:
    """One row of the entity's history: a move, or an event that kept the state."""

    from_state: str
    to_state: str
    trigger: Trigger
    reason: str | None
    attempt: int


class _Keep:
    """Marks a field a ``Change`` leaves as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()


@dataclass(frozen=True)
class Change:
    """What an event changes. ``due_in`` is seconds from now on the database's clock (``None``:
    nothing scheduled; ``KEEP``: as it was); ``retry_since`` and ``last_error`` likewise."""

    state: str
    attempts: int
    outcome: Outcome
    reason: str | None = None
    due_in: float | _Keep | None = KEEP
    retry_since: float | _Keep | None = KEEP
    last_error: str | _Keep | None = KEEP
    waiting_for: str | _Keep | None = KEEP
    history: tuple[HistoryRow, ...] = field(default_factory=tuple)
    #: Whether the entities that wait for this one must be woken (it became ready, or failed).
    wake_waiters: bool = False
    #: Whether the lease is given back with this change (the end of this round of work).
    release: bool = True


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, within a time budget (not a count of attempts).

    Backoff is a pure function of the attempt number and a random draw, so every process
    computes the same schedule; the schedule is stored as the entity's due time, which survives
    restarts of any process and behaves the same on every broker transport.
    """

    budget_s: float = DEFAULT_RETRY_BUDGET_S
    base_s: float = 1.0
    cap_s: float = 300.0

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): a draw between half
        and all of ``base * 2**(attempt-1)``, capped; a server's ``Retry-After`` is a floor."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(62, max(0, attempt - 1))))
        draw = (rng or random).uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            draw = max(draw, min(retry_after, self.cap_s))
        return draw

    def exhausted(self, since: float, now: float) -> bool:
        """Whether a run of failures that began at ``since`` has used up the budget by ``now``."""
        return now - since >= self.budget_s


def _move(entity: Entity, trigger: Trigger, reason: str | None, attempt: int) -> HistoryRow:
    return HistoryRow(
        entity.state, MACHINE.next_state(entity.state, trigger), trigger, reason, attempt
    )


def _note(entity: Entity, trigger: Trigger, reason: str, attempt: int) -> HistoryRow:
    return HistoryRow(entity.state, entity.state, trigger, reason, attempt)


def failure_trigger(state: str) -> Trigger:
    """``reject`` from pending, ``fail`` from validated or account-synced."""
    return Trigger.REJECT if state == PENDING else Trigger.FAIL


def failed_transiently(
    entity: Entity,
    error: str,
    *,
    now: float,
    policy: RetryPolicy,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> Change:
    """A timeout, 5xx, 429 or lost connection: retry after a backoff, or fail once the run of
    failures has lasted longer than the budget."""
    attempts = (entity.attempts or 0) + 1
    since = entity.retry_since if entity.attempts and entity.retry_since is not None else now
    if policy.exhausted(since, now):
        reason = (
            f"gave up after {attempts} attempts over {now - since:.0f}s (retry budget "
            f"{policy.budget_s:.0f}s); last error: {error}"
        )
        return _failed(entity, reason, attempts, last_error=error)
    delay = policy.delay(attempts, retry_after=retry_after, rng=rng)
    reason = f"attempt {attempts} failed: {error}; next in {delay:.1f}s"
    return Change(
        entity.state,
        attempts,
        Outcome.RETRY_SCHEDULED,
        reason,
        due_in=delay,
        retry_since=since,
        last_error=error,
        history=(_note(entity, Trigger.RETRY_SCHEDULED, reason, attempts),),
    )


def waiting_for_quota(
    entity: Entity,
    error: str,
    *,
    policy: RetryPolicy,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> Change:
    """Salesforce's daily API limit is spent: the quota comes back, so wait without spending an
    attempt or the retry budget, and never give up."""
    delay = policy.delay(1, retry_after=retry_after, rng=rng)
    reason = f"waiting for the quota: {error}; next in {delay:.1f}s"
    return Change(
        entity.state,
        entity.attempts or 0,
        Outcome.RETRY_SCHEDULED,
        reason,
        due_in=delay,
        last_error=error,
        history=(_note(entity, Trigger.QUOTA_WAIT, reason, entity.attempts or 0),),
    )


def rejected(entity: Entity, reason: str, *, count_attempt: bool = False) -> Change:
    """A rule failed, or LogiSense refused the write for good: ``failed`` now, no retry."""
    attempts = (entity.attempts or 0) + (1 if count_attempt else 0)
    return _failed(entity, reason, attempts, last_error=reason)


def _failed(entity: Entity, reason: str, attempts: int, *, last_error: str) -> Change:
    """``failed`` with ``reason``: nothing due, the retry run over, whoever waited woken."""
    row = _move(entity, failure_trigger(entity.state), reason, attempts)
    return Change(
        row.to_state,
        attempts,
        Outcome.FAILED,
        reason,
        due_in=None,
        retry_since=None,
        last_error=last_error,
        waiting_for=None,
        history=(row,),
        wake_waiters=True,
    )


def validated(entity: Entity, reason: str = "rules passed") -> tuple[HistoryRow, ...]:
    """pending -> validated when the rules pass; nothing from any later state."""
    if entity.state != PENDING:
        return ()
    return (_move(entity, Trigger.VALIDATE, reason, entity.attempts or 0),)


def waiting(entity: Entity, why: str) -> Change:
    """The entity needs another one first: it passes the rules and waits, with no due time,
    until that one wakes it (``released``). A repeated identical wait writes no history."""
    rows = validated(entity)
    state = rows[-1].to_state if rows else entity.state
    if why != entity.waiting_for:
        rows += (HistoryRow(state, state, Trigger.WAIT, why, entity.attempts or 0),)
    return Change(
        state,
        entity.attempts or 0,
        Outcome.WAITING,
        why,
        due_in=None,
        waiting_for=why,
        history=rows,
    )


def released(entity: Entity, why: str) -> Change:
    """What it waited for is ready (or a system came back): due now. The store applies this to
    many entities in one statement (``wake_waiters``, ``hasten_retries``)."""
    return Change(entity.state, entity.attempts or 0, Outcome.RELEASED, why, due_in=0.0)


def due_now(entity: Entity, why: str) -> Change:
    """``released`` for an entity another worker does not hold, keeping its crash count: due
    now, nothing else changes (no history row)."""
    return Change(
        entity.state, entity.attempts or 0, Outcome.RELEASED, why, due_in=0.0, release=False
    )


def account_synced(entity: Entity, reason: str) -> tuple[HistoryRow, ...]:
    """pending|validated -> account-synced once the owning LogiSense account exists."""
    rows = validated(entity)
    state = rows[-1].to_state if rows else entity.state
    if state == VALIDATED:
        rows += (
            HistoryRow(
                VALIDATED, ACCOUNT_SYNCED, Trigger.SYNC_ACCOUNT, reason, entity.attempts or 0
            ),
        )
    return rows


def pushed(
    entity: Entity, reason: str, *, newer_change: bool, in_scope: bool, coalesce_s: float
) -> Change:
    """The entity's own write succeeded: ``pushed``, attempts and retries cleared. A mapped
    change that came in during the write sends it round again (after the coalescing delay)."""
    rows: tuple[HistoryRow, ...] = ()
    state = entity.state
    if state == ACCOUNT_SYNCED:
        rows += (HistoryRow(state, PUSHED, Trigger.PUSH, reason, entity.attempts or 0),)
        state = PUSHED
    due: float | None = None
    if newer_change and state == PUSHED and in_scope:
        rows += (
            HistoryRow(PUSHED, PENDING, Trigger.CHANGE, "newer change arrived during the push", 0),
        )
        state = PENDING
        due = coalesce_s
    return Change(
        state,
        0,
        Outcome.PUSHED,
        reason,
        due_in=due,
        retry_since=None,
        last_error=None,
        waiting_for=None,
        history=rows,
    )


def changed(entity: Entity, reason: str, *, due_in: float | _Keep | None = KEEP) -> Change:
    """A newer change (or an operator's retry) for a pushed or failed entity: back to pending
    (due in ``due_in`` seconds, or when it is due already)."""
    trigger = Trigger.CHANGE
    row = _move(entity, trigger, reason, 0)
    return Change(
        row.to_state,
        0,
        Outcome.PROGRESS,
        reason,
        due_in=due_in,
        retry_since=None,
        history=(row,),
        release=False,
    )


def _back_to_pending(entity: Entity, trigger: Trigger, reason: str) -> HistoryRow:
    """The move of a pushed or failed entity back to ``pending`` (the row keeps the attempts
    the entity had)."""
    return _move(entity, trigger, reason, entity.attempts or 0)


def received(entity: Entity) -> Change:
    """The first change of an entity billsync had never seen: a new ``pending`` record."""
    return Change(
        entity.state,
        0,
        Outcome.PROGRESS,
        "first change seen",
        history=(_note(entity, Trigger.RECEIVED, "first change seen", 0),),
        release=False,
    )


def noted(entity: Entity, trigger: Trigger, reason: str) -> Change:
    """Something happened to the entity's data (deleted, undeleted, in or out of scope) that
    leaves its state and schedule as they are: one history row."""
    return Change(
        entity.state,
        entity.attempts or 0,
        Outcome.PROGRESS,
        reason,
        history=(_note(entity, trigger, reason, entity.attempts or 0),),
        release=False,
    )


def changed_in_salesforce(
    entity: Entity,
    *,
    in_scope: bool,
    needs_push: bool,
    scheduled: bool,
    due_in: float,
    reason: str = "newer change from Salesforce",
) -> Change | None:
    """A change from Salesforce was merged into the entity. Out of scope: nothing is due. A
    pushed entity whose mapped fields did not move needs nothing (None). Otherwise a pushed or
    failed entity goes back to ``pending`` with its attempts cleared, and the entity is due in
    ``due_in`` seconds, unless it is already scheduled: a retry keeps its backoff, a burst keeps
    coalescing, and one already due stays due."""
    if not in_scope:
        return Change(
            entity.state,
            entity.attempts or 0,
            Outcome.PROGRESS,
            "out of scope",
            due_in=None,
            release=False,
        )
    if entity.state == PUSHED and not needs_push:
        return None
    rows: tuple[HistoryRow, ...] = ()
    attempts = entity.attempts or 0
    if entity.state in (PUSHED, FAILED):
        rows = (_back_to_pending(entity, Trigger.CHANGE, reason),)
        attempts = 0
    return Change(
        rows[-1].to_state if rows else entity.state,
        attempts,
        Outcome.PROGRESS,
        reason,
        due_in=KEEP if scheduled else due_in,
        history=rows,
        release=False,
    )


def push_requested(entity: Entity, reason: str = "push requested") -> Change:
    """Someone asked for the entity to be pushed: due now, and back to ``pending`` with its
    attempts cleared when it was pushed or failed."""
    if entity.state in (PUSHED, FAILED):
        row = _back_to_pending(entity, Trigger.CHANGE, reason)
        return Change(
            row.to_state, 0, Outcome.PROGRESS, reason, due_in=0.0, history=(row,), release=False
        )
    return Change(
        entity.state,
        entity.attempts or 0,
        Outcome.PROGRESS,
        reason,
        due_in=0.0,
        history=(_note(entity, Trigger.PUSH_REQUESTED, reason, entity.attempts or 0),),
        release=False,
    )


def retried_by_operator(entity: Entity, who: str) -> Change:
    """An operator retries a failed entity: ``failed -> pending``, due now, with fresh attempts
    and no lease or crash count left from before."""
    reason = f"retried by {who}"
    row = _back_to_pending(entity, Trigger.RETRY, reason)
    return Change(row.to_state, 0, Outcome.PROGRESS, reason, due_in=0.0, history=(row,))


def repaired(entity: Entity, reason: str) -> Change:
    """The drift check found LogiSense different from what was pushed: a pushed entity goes
    back to ``pending``, due now, so the ordinary sync writes it again; any other entity (its
    work is under way) only gets a history row."""
    if entity.state == PUSHED:
        row = _back_to_pending(entity, Trigger.CHANGE, reason)
        return Change(
            row.to_state, 0, Outcome.PROGRESS, reason, due_in=0.0, history=(row,), release=False
        )
    return noted(entity, Trigger.DRIFT, reason)
