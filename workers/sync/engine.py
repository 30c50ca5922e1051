"""The sync engine: takes a due entity's lease, advances it, and turns failures into retries or
``failed`` states, by the one retry policy.

A pool of threads (``workers.sync.pool``) hands it entities: those each intake batch made due, and
those a sweeper finds in the store (retries that came due, waiters that were woken, leases of
workers that died). Both paths go through the same lease, so an entity is never worked on twice
at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from adapters.store import leases
from adapters.store import records as store
from adapters.store.db import Session
from adapters.store.models import SyncRecord
from billsync.errors import PermanentError, QuotaExhausted, TransientError
from statemachine import lifecycle
from workers.sync.accounts import AccountSync
from workers.sync.contacts import ContactSync
from workers.sync.context import SyncContext
from workers.sync.opportunities import OpportunitySync
from workers.sync.outcomes import log_released
from workers.sync.retries import CLOSED
from workers.sync.steps import BatchScope, LeaseLost, ObjectSync, Plan, batch_transaction

log = logging.getLogger("billsync.engine")

#: An entity whose processing was cut short this many times (a worker died each time) is failed.
CRASH_LIMIT = 5

#: Once one LogiSense call of a batch has finished, how long the batch waits for more of its
#: calls to finish before settling what has finished (they share one settle transaction).
SETTLE_GATHER_S = 0.01


def _outcome(future: Future[Any]) -> Any:
    """A finished call's value, or its exception."""
    try:
        return future.result()
    except Exception as exc:
        return exc


class SyncEngine:
    """Advances entities; ``process`` is safe to call from many threads."""

    def __init__(self, ctx: SyncContext, *, writers: int = 8) -> None:
        self.ctx = ctx
        self.syncs: dict[str, ObjectSync] = {
            "Account": AccountSync(ctx),
            "Contact": ContactSync(ctx),
            "Opportunity": OpportunitySync(ctx),
        }
        self.active: dict[int, int] = {}
        #: Entities advanced through the batch path (plan and settle shared with others).
        self.batched = 0
        self._active_lock = threading.Lock()
        self._writers = ThreadPoolExecutor(
            max_workers=max(1, writers), thread_name_prefix="logisense-write"
        )
        for breaker in ctx.breakers.values():
            breaker.on_close.append(self._system_back)

    def may_claim(self) -> bool:
        """Whether entities may be claimed now: not while an outside system's circuit is open
        (except one probe per interval)."""
        return all(breaker.may_claim() for breaker in self.ctx.breakers.values())

    def systems_up(self) -> bool:
        """Whether every outside system's circuit is closed."""
        return all(breaker.state == CLOSED for breaker in self.ctx.breakers.values())

    def process(self, work: int | leases.Claim) -> bool:
        """Advance one entity (an id, or a lease already taken) if it is due and free; False if
        another worker has it."""
        claim = work if isinstance(work, leases.Claim) else self._claim(work)
        if claim is None:
            return False
        record_id = claim.record_id
        with self._active_lock:
            self.active[record_id] = claim.lease_version
        released = False
        try:
            if claim.claims > CRASH_LIMIT:
                self._interrupted_too_often(claim)
                released = True
            else:
                released = self.syncs[claim.object].run(record_id, claim.lease_version)
        except LeaseLost:
            released = True
            log.warning("lease on record %s lost to another worker", record_id)
        except TransientError as exc:
            self._settle_failure(claim, exc)
            released = True
        except PermanentError as exc:
            self._settle_failure(claim, exc)
            released = True
        except Exception as exc:
            log.exception("unexpected error on record %s", record_id)
            self._settle_failure(claim, TransientError(f"internal error: {exc!r}"))
            released = True
        finally:
            try:
                if not released:
                    self.release(claim)
            finally:
                # Even when the store is away (the release raised), stop renewing this lease,
                # or the entity stays leased to a live worker that no longer works on it.
                with self._active_lock:
                    self.active.pop(record_id, None)
        return True

    def process_batch(self, work: Sequence[int | leases.Claim]) -> int:
        """Advance a batch: claim what is not claimed yet (one statement), plan every entity
        whose sync can be batched in one transaction (one read of the records), make their
        LogiSense calls side by side, and settle them as they finish (one transaction, one
        history insert for the calls that finish together). Anything else, and any batch whose
        transaction fails, goes entity by entity. Returns how many entities it advanced."""
        ids = [w for w in work if isinstance(w, int)]
        claims = [w for w in work if isinstance(w, leases.Claim)]
        if ids:
            with self.ctx.sessions.begin() as session:
                claims += leases.claim_ids(
                    session, ids, owner=self.ctx.worker_id, lease_s=self.ctx.lease_s
                )
        batch = [c for c in claims if self.syncs[c.object].batchable and c.claims <= CRASH_LIMIT]
        alone = [c for c in claims if c not in batch]
        if len(batch) == 1:
            alone, batch = alone + batch, []
        for claim in alone:
            self.process(claim)
        if batch:
            self._run_batch(batch)
        return len(claims)

    def _run_batch(self, claims: list[leases.Claim]) -> None:
        """Plan the batch in one transaction, then keep its LogiSense calls in flight and settle
        them as they finish: the calls that finish together (within ``SETTLE_GATHER_S`` of the
        first) share one settle transaction and one statement giving their leases back, so an
        entity never waits for the slowest call of its batch."""
        self.batched += len(claims)
        with self._active_lock:
            self.active.update({c.record_id: c.lease_version for c in claims})
        try:
            plans = self._plan_batch(claims)
            if plans is None:
                for claim in claims:
                    self.process(claim)
                return
            futures = {
                self._writers.submit(self.syncs[claim.object].write, plan): claim
                for claim, plan in plans.items()
            }
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                if pending:
                    more, pending = wait(pending, timeout=SETTLE_GATHER_S)
                    done |= more
                written = {futures[f]: _outcome(f) for f in done}
                self._settle_batch(plans, written)
        finally:
            with self._active_lock:
                for claim in claims:
                    self.active.pop(claim.record_id, None)

    def _plan_batch(self, claims: list[leases.Claim]) -> dict[leases.Claim, Plan] | None:
        """Plans of the batch from one transaction; None when it failed as a whole."""
        plans: dict[leases.Claim, Plan] = {}
        try:
            with self.ctx.sessions.begin() as session:
                records = leases.load_claimed(session, claims, self.ctx.worker_id)
                scope = BatchScope(session, records)
                with batch_transaction(scope):
                    for claim in claims:
                        if claim.record_id in records:
                            plan = self.syncs[claim.object].plan(claim.record_id)
                            if plan is not None:
                                plans[claim] = plan
                self._wake(session, scope.wake)
                # Entities with nothing to write (rejected, waiting) give their leases back here.
                self._release_held(records, [c for c in claims if c not in plans])
        except Exception as exc:
            log.info("batch of %d planned one by one (%s)", len(claims), type(exc).__name__)
            return None
        return plans

    def _settle_batch(
        self, plans: dict[leases.Claim, Plan], written: dict[leases.Claim, Any]
    ) -> None:
        """Settle finished writes: the successful ones in one transaction (one by one if it
        fails), the failed ones alone; then give back, in one statement, the leases that a
        settle did not give back already."""
        done = {c: w for c, w in written.items() if not isinstance(w, Exception)}
        try:
            if done:
                with self.ctx.sessions.begin() as session:
                    records = leases.load_claimed(session, list(done), self.ctx.worker_id)
                    accounts = [r.sfid for r in records.values() if r.object == "Account"]
                    scope = BatchScope(
                        session, records, contacts=store.contacts_of_accounts(session, accounts)
                    )
                    with batch_transaction(scope):
                        for claim, value in done.items():
                            if claim.record_id in records:
                                self.syncs[claim.object].settle(plans[claim], value)
                    self._wake(session, scope.wake)
                    self._release_held(records, list(done))
        except Exception as exc:
            log.info("batch of %d settled one by one (%s)", len(done), type(exc).__name__)
            for claim, value in done.items():
                self._settle_alone(claim, plans[claim], value)
            self._give_back(list(done))
        failed = [c for c, w in written.items() if isinstance(w, Exception)]
        for claim in failed:
            self._settle_alone(claim, plans[claim], written[claim])
        self._give_back(failed)
        with self._active_lock:
            for claim in written:
                self.active.pop(claim.record_id, None)

    def _release_held(self, records: dict[int, SyncRecord], claims: list[leases.Claim]) -> None:
        """In the batch's transaction: give back the leases of ``claims`` that their records
        (loaded under those leases) still hold."""
        for claim in claims:
            record = records.get(claim.record_id)
            if record is not None and record.lease_owner == self.ctx.worker_id:
                store.release(record)

    def _give_back(self, claims: list[leases.Claim]) -> None:
        """Give back, in one statement, the leases of ``claims`` still held (a no-op for every
        entity whose settle gave its lease back)."""
        if not claims:
            return
        try:
            with self.ctx.sessions.begin() as session:
                leases.release_leases(session, claims, self.ctx.worker_id)
        except Exception:
            # The store is away (the pool logs that once); the leases simply expire.
            log.debug("could not give back the leases of %d records", len(claims))

    def _wake(self, session: Session, targets: list[str]) -> None:
        """Wake, in one statement, whoever waits for the entities a batch settled."""
        for woken in store.wake_waiters_of(session, targets, now=self.ctx.clock()):
            log_released([woken], "an entity of the same batch")

    def _settle_alone(self, claim: leases.Claim, plan: Plan, value: Any) -> None:
        sync = self.syncs[claim.object]
        sync._local.lease_version = claim.lease_version
        try:
            if isinstance(value, Exception):
                raise value
            sync.settle(plan, value)
        except LeaseLost:
            log.warning("lease on record %s lost to another worker", claim.record_id)
        except (TransientError, PermanentError) as exc:
            self._settle_failure(claim, exc)
        except Exception as exc:
            log.exception("unexpected error on record %s", claim.record_id)
            self._settle_failure(claim, TransientError(f"internal error: {exc!r}"))

    def close(self) -> None:
        """Stop the writer threads (after the running batches)."""
        self._writers.shutdown(wait=False)

    def renew_leases(self) -> None:
        """Extend the leases of the entities in hand, so a slow sync never loses its lease to
        another worker while it is still running (a dead worker stops renewing)."""
        with self._active_lock:
            held = sorted(self.active)
        if held:
            with self.ctx.sessions.begin() as session:
                leases.renew(session, held, owner=self.ctx.worker_id, lease_s=self.ctx.lease_s)

    def claim_due(self, limit: int) -> list[leases.Claim]:
        """Take the leases of up to ``limit`` due entities in one statement."""
        with self.ctx.sessions.begin() as session:
            return leases.claim_due(
                session, owner=self.ctx.worker_id, lease_s=self.ctx.lease_s, limit=limit
            )

    def _claim(self, record_id: int) -> leases.Claim | None:
        with self.ctx.sessions.begin() as session:
            return leases.claim(
                session, record_id, owner=self.ctx.worker_id, lease_s=self.ctx.lease_s
            )

    def _interrupted_too_often(self, claim: leases.Claim) -> None:
        reason = (
            f"processing was interrupted {claim.claims - 1} times (a worker stopped while "
            "handling this entity); retry it once the cause is fixed"
        )
        self._settle_failure(claim, PermanentError(reason), count_attempt=False)

    def _settle_failure(
        self, claim: leases.Claim, exc: Exception, *, count_attempt: bool = True
    ) -> None:
        """A failed round: a transient error schedules a retry within the budget, a permanent
        one fails the entity now (``statemachine.lifecycle`` decides)."""
        sync = self.syncs[claim.object]
        with self.ctx.sessions.begin() as session:
            record = leases.load_owned(
                session, claim.record_id, self.ctx.worker_id, claim.lease_version
            )
            if record is None:
                return
            if isinstance(exc, QuotaExhausted):  # a spent quota returns: wait, never give up
                change = lifecycle.waiting_for_quota(
                    record, str(exc), policy=self.ctx.retry, retry_after=exc.retry_after
                )
            elif isinstance(exc, TransientError):
                change = lifecycle.failed_transiently(
                    record,
                    str(exc),
                    now=self.ctx.clock(),
                    policy=self.ctx.retry,
                    retry_after=exc.retry_after,
                )
            else:
                sync.reject(session, record, [str(exc)], count_attempt=count_attempt)
                return
            sync.apply(session, record, change)

    def _system_back(self, system: str) -> None:
        """An outside system answers again: every scheduled retry is due now."""
        try:
            with self.ctx.sessions.begin() as session:
                hastened = leases.hasten_retries(session)
        except Exception:
            log.exception("could not make the scheduled retries due after %s came back", system)
            return
        log.info("%s is back: %d scheduled retries made due now", system, hastened)

    def release(self, claim: leases.Claim) -> None:
        """Give back a lease this worker took (a no-op if another claim took over)."""
        with self.ctx.sessions.begin() as session:
            leases.release_lease(session, claim.record_id, self.ctx.worker_id, claim.lease_version)
