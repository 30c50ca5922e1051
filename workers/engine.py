"""The sync engine: takes a due entity's lease, advances it, and turns failures into retries or
``failed`` states, by the one retry policy.

A pool of threads (``--concurrency``) runs entities side by side; the consumer hands it the
entities each batch made due, and a sweeper finds the rest in the store (retries that came due,
waiters that were woken, leases of workers that died). Both paths go through the same lease, so an
entity is never worked on twice at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from adapters.store import records as store
from billsync.errors import PermanentError, TransientError
from statemachine import lifecycle
from workers.accounts import AccountSync
from workers.contacts import ContactSync
from workers.context import SyncContext
from workers.opportunities import OpportunitySync
from workers.outcomes import log_released
from workers.retries import CLOSED
from workers.steps import BatchScope, LeaseLost, ObjectSync, Plan, batch_transaction

log = logging.getLogger("billsync.engine")

#: How often a worker looks for waiting entities that missed their wake-up.
WAIT_REPAIR_INTERVAL_S = 3.0

#: An entity whose processing was cut short this many times (a worker died each time) is failed.
CRASH_LIMIT = 5


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

    def process(self, work: int | store.Claim) -> bool:
        """Advance one entity (an id, or a lease already taken) if it is due and free; False if
        another worker has it."""
        claim = work if isinstance(work, store.Claim) else self._claim(work)
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

    def process_batch(self, work: Sequence[int | store.Claim]) -> int:
        """Advance a batch: claim what is not claimed yet (one statement), plan every entity
        whose sync can be batched in one transaction (one read of the records), make their
        LogiSense calls side by side, and settle them in one transaction (one flush of the
        records, one history insert). Anything else, and any batch whose transaction fails,
        goes entity by entity. Returns how many entities it advanced."""
        ids = [w for w in work if isinstance(w, int)]
        claims = [w for w in work if isinstance(w, store.Claim)]
        if ids:
            with self.ctx.sessions.begin() as session:
                claims += store.claim_ids(
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

    def _run_batch(self, claims: list[store.Claim]) -> None:
        self.batched += len(claims)
        with self._active_lock:
            self.active.update({c.record_id: c.lease_version for c in claims})
        try:
            plans = self._plan_batch(claims)
            if plans is None:
                for claim in claims:
                    self.process(claim)
                return
            written = self._write_batch(plans)
            self._settle_batch(claims, plans, written)
        finally:
            with self._active_lock:
                for claim in claims:
                    self.active.pop(claim.record_id, None)

    def _plan_batch(self, claims: list[store.Claim]) -> dict[store.Claim, Plan] | None:
        """Plans of the batch from one transaction; None when it failed as a whole."""
        plans: dict[store.Claim, Plan] = {}
        try:
            with self.ctx.sessions.begin() as session:
                records = store.load_claimed(session, claims, self.ctx.worker_id)
                scope = BatchScope(session, records)
                with batch_transaction(scope):
                    for claim in claims:
                        if claim.record_id in records:
                            plan = self.syncs[claim.object].plan(claim.record_id)
                            if plan is not None:
                                plans[claim] = plan
                self._wake(session, scope.wake)
        except Exception as exc:
            log.info("batch of %d planned one by one (%s)", len(claims), type(exc).__name__)
            return None
        return plans

    def _write_batch(self, plans: dict[store.Claim, Plan]) -> dict[store.Claim, Any]:
        """Every plan's LogiSense calls, side by side; a value or the exception, per claim."""
        futures = {
            claim: self._writers.submit(self.syncs[claim.object].write, plan)
            for claim, plan in plans.items()
        }
        written: dict[store.Claim, Any] = {}
        for claim, future in futures.items():
            try:
                written[claim] = future.result()
            except Exception as exc:
                written[claim] = exc
        return written

    def _settle_batch(
        self,
        claims: list[store.Claim],
        plans: dict[store.Claim, Plan],
        written: dict[store.Claim, Any],
    ) -> None:
        done = {c: w for c, w in written.items() if not isinstance(w, Exception)}
        try:
            if done:
                with self.ctx.sessions.begin() as session:
                    records = store.load_claimed(session, list(done), self.ctx.worker_id)
                    accounts = [r.sfid for r in records.values() if r.object == "Account"]
                    scope = BatchScope(
                        session, records, contacts=store.contacts_of_accounts(session, accounts)
                    )
                    with batch_transaction(scope):
                        for claim, value in done.items():
                            if claim.record_id in records:
                                self.syncs[claim.object].settle(plans[claim], value)
                    self._wake(session, scope.wake)
        except Exception as exc:
            log.info("batch of %d settled one by one (%s)", len(done), type(exc).__name__)
            for claim, value in done.items():
                self._settle_alone(claim, plans[claim], value)
        for claim, value in written.items():
            if isinstance(value, Exception):
                self._settle_alone(claim, plans[claim], value)
        for claim in claims:
            try:
                self.release(claim)  # a no-op for every entity that gave its lease back
            except Exception:
                log.warning("could not give back the lease on record %s", claim.record_id)

    def _wake(self, session: Session, targets: list[str]) -> None:
        """Wake, in one statement, whoever waits for the entities a batch settled."""
        for woken in store.wake_waiters_of(session, targets, now=self.ctx.clock()):
            log_released([woken], "an entity of the same batch")

    def _settle_alone(self, claim: store.Claim, plan: Plan, value: Any) -> None:
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
                store.renew(session, held, owner=self.ctx.worker_id, lease_s=self.ctx.lease_s)

    def claim_due(self, limit: int) -> list[store.Claim]:
        """Take the leases of up to ``limit`` due entities in one statement."""
        with self.ctx.sessions.begin() as session:
            return store.claim_due(
                session, owner=self.ctx.worker_id, lease_s=self.ctx.lease_s, limit=limit
            )

    def _claim(self, record_id: int) -> store.Claim | None:
        with self.ctx.sessions.begin() as session:
            return store.claim(
                session, record_id, owner=self.ctx.worker_id, lease_s=self.ctx.lease_s
            )

    def _interrupted_too_often(self, claim: store.Claim) -> None:
        reason = (
            f"processing was interrupted {claim.claims - 1} times (a worker stopped while "
            "handling this entity); retry it once the cause is fixed"
        )
        self._settle_failure(claim, PermanentError(reason), count_attempt=False)

    def _settle_failure(
        self, claim: store.Claim, exc: Exception, *, count_attempt: bool = True
    ) -> None:
        """A failed round: a transient error schedules a retry within the budget, a permanent
        one fails the entity now (``statemachine.lifecycle`` decides)."""
        sync = self.syncs[claim.object]
        with self.ctx.sessions.begin() as session:
            record = store.load_owned(
                session, claim.record_id, self.ctx.worker_id, claim.lease_version
            )
            if record is None:
                return
            if isinstance(exc, TransientError):
                change = lifecycle.failed_transiently(
                    record,
                    str(exc),
                    now=self.ctx.clock(),
                    policy=self.ctx.retry,
                    retry_after=exc.retry_after,
                )
                sync.apply(session, record, change)
            else:
                sync.reject(session, record, [str(exc)], count_attempt=count_attempt)

    def _system_back(self, system: str) -> None:
        """An outside system answers again: every scheduled retry is due now."""
        try:
            with self.ctx.sessions.begin() as session:
                hastened = store.hasten_retries(session)
        except Exception:
            log.exception("could not make the scheduled retries due after %s came back", system)
            return
        log.info("%s is back: %d scheduled retries made due now", system, hastened)

    def release(self, claim: store.Claim) -> None:
        """Give back a lease this worker took (a no-op if another claim took over)."""
        with self.ctx.sessions.begin() as session:
            store.release_lease(session, claim.record_id, self.ctx.worker_id, claim.lease_version)


class WorkPool:
    """``concurrency`` threads advancing the entities they are handed, plus a sweeper."""

    def __init__(
        self,
        engine: SyncEngine,
        *,
        concurrency: int,
        sweep_interval_s: float,
        batch_size: int = 1,
    ) -> None:
        self.engine = engine
        self.concurrency = concurrency
        self.batch_size = max(1, batch_size)
        self.sweep_interval_s = sweep_interval_s
        self._queue: queue.Queue[int | store.Claim] = queue.Queue()
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.processed = 0

    def start(self) -> None:
        """Start the threads."""
        for n in range(self.concurrency):
            thread = threading.Thread(target=self._work, name=f"sync-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        sweeper = threading.Thread(target=self._sweep, name="sweeper", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)

    def submit(self, record_ids: Iterable[int]) -> None:
        """Hand entities to the pool (duplicates of queued ones are dropped)."""
        with self._lock:
            for record_id in record_ids:
                if record_id not in self._queued:
                    self._queued.add(record_id)
                    self._queue.put(record_id)

    def backlog(self) -> int:
        """Entities handed over and not started yet."""
        return self._queue.qsize()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is running, then stop; leases claimed and not started are given back."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self.engine.close()
        while True:
            try:
                work = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(work, store.Claim):
                try:
                    self.engine.release(work)
                except Exception:
                    log.warning("could not give back the lease on record %s", work.record_id)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._queue.get(timeout=0.2)]
            except queue.Empty:
                continue
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            ids = [w for w in batch if isinstance(w, int)]
            if ids:
                with self._lock:
                    self._queued.difference_update(ids)
                if not self.engine.may_claim():
                    # An outside system is down: the sweeper finds these again later.
                    batch = [w for w in batch if not isinstance(w, int)]
            if not batch:
                continue
            try:
                if len(batch) == 1:
                    self.processed += int(self.engine.process(batch[0]))
                else:
                    self.processed += self.engine.process_batch(batch)
            except Exception:
                log.exception("a batch of %d: the store could not be reached", len(batch))

    def _sweep(self) -> None:
        last_repair = 0.0
        while not self._stop.wait(self.sweep_interval_s):
            if time.monotonic() - last_repair > WAIT_REPAIR_INTERVAL_S:
                last_repair = time.monotonic()
                self._repair_waits()
            try:
                self.engine.renew_leases()
            except Exception:
                log.exception("could not renew leases")
            if self.backlog() > self.concurrency:
                continue
            if self.engine.systems_up():
                limit = self.concurrency * self.batch_size
            elif self.engine.may_claim():
                limit = 1  # the probe of a system that was down
            else:
                continue
            try:
                claims = self.engine.claim_due(limit)
            except Exception:
                log.exception("sweep failed: the store could not be reached")
                continue
            for claim in claims:
                self._queue.put(claim)

    def _repair_waits(self) -> None:
        try:
            with self.engine.ctx.sessions.begin() as session:
                woken = store.wake_stale_waiters(session, now=self.engine.ctx.clock())
        except Exception:
            log.exception("wait repair failed: the store could not be reached")
            return
        if woken:
            log.info("woke %d waiting entities that had missed their wake-up", len(woken))
            self.submit(woken)
